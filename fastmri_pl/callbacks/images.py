"""ReconImages: every N validation epochs, the central slice of one volume per acceleration, and a per-volume
metrics table.

The slice is the middle one of the first validation volume of each acceleration (a volume's first slice lies
at its edge, with little anatomy), the same slice from one epoch to the next. Its zero-filled image,
reconstruction, target and error map are saved as one PNG strip in the run folder for every logger, and go to
W&B as four images at the data's own resolution (`images/val_acc4/reconstruction`, ...): images on the fixed
scale 0 .. the volume's max, the error |recon - target| / max on 0 .. `ERROR_SCALE` (inferno), so colours
mean the same in every epoch. A standalone validation of a checkpoint logs under `best/images/...`.
"""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn
from matplotlib import colormaps

from fastmri_pl.evaluation.figures import ERROR_SCALE, GalleryRow, save_worst_gallery

TABLE_COLUMNS = ["method", "volume", "acceleration", "slices", "ssim", "psnr", "nmse"]


class ReconImages(L.Callback):
    """Image panels and a per-volume table every `every_n_epochs` validation epochs (rank zero only)."""

    def __init__(self, dirpath: str, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.dirpath = Path(dirpath)
        self.every_n_epochs = every_n_epochs
        self.slices: dict[float, dict[int, GalleryRow]] = {}  # acceleration -> slice number -> images
        self.volumes: dict[float, str] = {}  # acceleration -> the volume shown
        self.saved: list[Path] = []

    def _due(self, trainer: L.Trainer) -> bool:
        """Every N-th epoch of fitting, and always in a standalone `validate` (the best checkpoint)."""
        if trainer.sanity_checking:
            return False
        return trainer.state.fn == TrainerFn.VALIDATING or trainer.current_epoch % self.every_n_epochs == 0

    def _tag(self, trainer: L.Trainer) -> str:
        return "validate" if trainer.state.fn == TrainerFn.VALIDATING else f"epoch{trainer.current_epoch:03d}"

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.slices, self.volumes = {}, {}

    @torch.no_grad()
    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: dict[str, Any],
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keeps each slice of the first volume of every acceleration (the module's images, no recompute)."""
        acceleration, fname = float(batch["acceleration"][0]), batch["fname"][0]
        if not trainer.is_global_zero or not self._due(trainer):
            return
        if self.volumes.setdefault(acceleration, fname) != fname:
            return
        self.slices.setdefault(acceleration, {})[int(batch["slice_num"][0])] = GalleryRow(
            label=f"{fname} slice {int(batch['slice_num'][0])}",
            recon=outputs["prediction"][0].float().cpu(),
            target=batch["target"][0].float().cpu(),
            max_value=float(batch["max_value"][0]),
            zero_filled=outputs["zero_filled"][0].float().cpu(),
        )

    def central_rows(self) -> dict[float, GalleryRow]:
        """The middle slice kept for each acceleration."""
        rows = {}
        for acceleration, by_slice in sorted(self.slices.items()):
            numbers = sorted(by_slice)
            rows[acceleration] = by_slice[numbers[len(numbers) // 2]]
        return rows

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self._due(trainer):
            return
        tag, prefix = self._tag(trainer), getattr(pl_module, "metric_prefix", "")
        rows = self.central_rows()
        for acceleration, row in rows.items():
            path = self.dirpath / f"val_acc{acceleration:g}_{tag}.png"
            self.saved.append(save_worst_gallery(path, f"{acceleration:g}x, {tag}: {row.label}", [row]))
        table = volume_table(pl_module)
        for logger in trainer.loggers:
            if not isinstance(logger, WandbLogger):
                continue
            for acceleration, row in rows.items():
                for panel, image in panel_images(row).items():
                    key = f"{prefix}images/val_acc{acceleration:g}/{panel}"
                    logger.log_image(key=key, images=[image], caption=[row.label], step=trainer.global_step)
            logger.log_table(key=f"{prefix}val/volumes_table", columns=TABLE_COLUMNS, data=table)


def to_uint8(image: torch.Tensor, top: float) -> np.ndarray:
    """`image` on the fixed scale 0 .. `top` as 8-bit grey levels, one pixel per pixel."""
    return (image.clamp(0, top) / top * 255).round().to(torch.uint8).numpy()


def panel_images(row: GalleryRow) -> dict[str, np.ndarray]:
    """The four panels at the data's resolution: grey images on 0 .. max, the error map in inferno colours."""
    panels = {"zero_filled": row.zero_filled, "reconstruction": row.recon, "target": row.target}
    images = {name: to_uint8(image, row.max_value) for name, image in panels.items() if image is not None}
    error = ((row.recon - row.target).abs() / row.max_value).clamp(0, ERROR_SCALE) / ERROR_SCALE
    images["error"] = (colormaps["inferno"](error.numpy())[..., :3] * 255).round().astype(np.uint8)
    return images


def volume_table(pl_module: L.LightningModule) -> list[list[Any]]:
    """One row per (method, volume) of the module's merged validation metrics."""
    rows = []
    for (method, fname), sums in sorted(pl_module.val_metrics.volumes.items()):
        scores = sums.scores()
        rows.append(
            [method, fname, sums.acceleration, sums.slices, scores["ssim"], scores["psnr"], scores["nmse"]]
        )
    return rows
