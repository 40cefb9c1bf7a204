"""ReconImages: every N validation epochs, an image panel per acceleration and a per-volume metrics table.

The panels (zero-filled, reconstruction, target, error map on fixed colour scales, drawn by
`evaluation.figures`) are saved as PNG files in the run folder for every logger, and also sent to W&B with the
per-volume table when a `WandbLogger` is attached. The first validation slice of each acceleration is
shown, so the same slice is compared from one epoch to the next.
"""

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.trainer.states import TrainerFn

from fastmri_pl.evaluation.figures import GalleryRow, save_worst_gallery
from fastmri_pl.mri.crop import center_crop

TABLE_COLUMNS = ["method", "volume", "acceleration", "slices", "ssim", "psnr", "nmse"]


class ReconImages(L.Callback):
    """Image panels and a per-volume table every `every_n_epochs` validation epochs (rank zero only)."""

    def __init__(self, dirpath: str, every_n_epochs: int = 1) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.dirpath = Path(dirpath)
        self.every_n_epochs = every_n_epochs
        self.rows: dict[float, GalleryRow] = {}
        self.saved: list[Path] = []

    def _due(self, trainer: L.Trainer) -> bool:
        """Every N-th epoch of fitting, and always in a standalone `validate` (the best checkpoint)."""
        if trainer.sanity_checking:
            return False
        return trainer.state.fn == TrainerFn.VALIDATING or trainer.current_epoch % self.every_n_epochs == 0

    def _tag(self, trainer: L.Trainer) -> str:
        return "validate" if trainer.state.fn == TrainerFn.VALIDATING else f"epoch{trainer.current_epoch:03d}"

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.rows = {}

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
        acceleration = float(batch["acceleration"][0])
        if not trainer.is_global_zero or not self._due(trainer) or acceleration in self.rows:
            return
        target = batch["target"][0].float()
        recon = pl_module(batch)[0].float()
        zero_filled = pl_module.zero_filled(
            batch["masked_kspace"], batch["mask"], batch["num_low_frequencies"]
        )
        self.rows[acceleration] = GalleryRow(
            label=f"{batch['fname'][0]} slice {int(batch['slice_num'][0])}",
            recon=recon.cpu(),
            target=target.cpu(),
            max_value=float(batch["max_value"][0]),
            zero_filled=center_crop(zero_filled, target.shape[-2:])[0].float().cpu(),
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self._due(trainer):
            return
        tag = self._tag(trainer)
        panels = {}
        for acceleration, row in sorted(self.rows.items()):
            key = f"images/val_acc{acceleration:g}"
            path = self.dirpath / f"val_acc{acceleration:g}_{tag}.png"
            panels[key] = save_worst_gallery(path, f"{acceleration:g}x, {tag}: {row.label}", [row])
            self.saved.append(path)
        table = volume_table(pl_module)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                for key, path in panels.items():
                    logger.log_image(key=key, images=[str(path)], step=trainer.global_step)
                logger.log_table(key="val/volumes_table", columns=TABLE_COLUMNS, data=table)


def volume_table(pl_module: L.LightningModule) -> list[list[Any]]:
    """One row per (method, volume) of the module's merged validation metrics."""
    rows = []
    for (method, fname), sums in sorted(pl_module.val_metrics.volumes.items()):
        scores = sums.scores()
        rows.append(
            [method, fname, sums.acceleration, sums.slices, scores["ssim"], scores["psnr"], scores["nmse"]]
        )
    return rows
