"""ReconModule: any reconstruction network trained with an image loss against the centre slice's target."""

from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from torch import nn

from fastmri_pl.challenge.rules import load_rules
from fastmri_pl.challenge.score import leaderboard_slice_ssim
from fastmri_pl.models.zero_filled import ZeroFilled
from fastmri_pl.mri.crop import center_crop_or_pad
from fastmri_pl.mri.foreground import SNU_THRESHOLD
from fastmri_pl.mri.ssim import ssim
from fastmri_pl.training.losses import build_loss
from fastmri_pl.training.volume_metrics import SliceScores, VolumeMetrics

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., Any]


class ReconModule(L.LightningModule):
    """Wraps a network with its loss, optimiser, scheduler and per-volume validation metrics.

    Validation logs `val/ssim|psnr|nmse` (and per acceleration `..._acc4`) for the model and `val_zf/...` for
    zero-filled, so every dashboard shows how far the model is above the baseline, the SNU leaderboard
    score `val/ssim_masked`, which a challenge run's checkpoint monitors, and `val/loss`; all at the end of
    the epoch, from every validation slice counted once whatever the number of DDP ranks. `challenge` (a year;
    None: threshold 5e-5 for every file) sets the leaderboard score's rule: the foreground threshold of each
    file's anatomy and, for 2026, SSIM_full (slices whose mask is empty are left out, as the organisers do).
    A standalone validation of a checkpoint (train's check of the best one) logs the same keys under `best/`
    (`best/val/ssim`, ...), apart from the curves of fitting.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory | None = None,
        scheduler: SchedulerFactory | None = None,
        loss: str = "ssim",
        challenge: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.rules = None if challenge is None else load_rules(challenge)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.loss_name = loss
        self.loss_fn = build_loss(loss)
        self.zero_filled = ZeroFilled(self.num_adj_slices)
        self.val_metrics = VolumeMetrics()
        self.save_hyperparameters(
            ignore=["net", "optimizer", "scheduler"], logger=False
        )  # the run config has them

    @property
    def num_adj_slices(self) -> int:
        return int(getattr(self.net, "num_adj_slices", 1))

    @property
    def has_trainable_parameters(self) -> bool:
        return any(p.requires_grad for p in self.net.parameters())

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        """The network's centre-slice image at the target's size (B, h, w): centre-cropped where larger,
        zero-padded where smaller (a 2026 knee image is narrower than its target: `h5checks.target_crop`)."""
        image = self.net(batch["masked_kspace"], batch["mask"], batch["num_low_frequencies"])
        return center_crop_or_pad(image, batch["target"].shape[-2:])

    def compute_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """The training objective of one batch; also what the memory estimator traces."""
        return self.loss_fn(self(batch), batch["target"], batch["max_value"])

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        loss = self.compute_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["target"].shape[0])
        return loss

    @property
    def metric_prefix(self) -> str:
        """`best/` while validating a checkpoint on its own (`trainer.validate(ckpt_path=...)`), else ""."""
        trainer = self._trainer
        checkpoint = trainer is not None and trainer.state.fn == TrainerFn.VALIDATING and trainer.ckpt_path
        return "best/" if checkpoint else ""

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, torch.Tensor]:
        """Scores the batch; returns the cropped images for the image callback (no second forward pass)."""
        target, max_value = batch["target"].float(), batch["max_value"].float()
        prediction = self(batch).float()
        zero_filled = center_crop_or_pad(
            self.zero_filled(batch["masked_kspace"], batch["mask"], batch["num_low_frequencies"]),
            target.shape[-2:],
        )
        losses = [
            float(self.loss_fn(prediction[i : i + 1], target[i : i + 1], max_value[i : i + 1]))
            for i in range(len(target))
        ]
        thresholds = [
            SNU_THRESHOLD if self.rules is None else self.rules.threshold(f) for f in batch["fname"]
        ]
        for method, image in (("val", prediction), ("val_zf", zero_filled)):
            slice_ssim = ssim(image, target, max_value, reduction="none")
            masked_ssim = leaderboard_slice_ssim(image, target, max_value, self.rules, thresholds)
            for i, fname in enumerate(batch["fname"]):
                scores = SliceScores.of(
                    image[i],
                    target[i],
                    acceleration=float(batch["acceleration"][i]),
                    max_value=float(max_value[i]),
                    ssim=float(slice_ssim[i]),
                    masked_ssim=float(masked_ssim[i]),
                    loss=losses[i] if method == "val" else None,
                )
                self.val_metrics.update(method, fname, int(batch["slice_num"][i]), scores)
        return {"prediction": prediction, "zero_filled": zero_filled}

    def on_validation_epoch_end(self) -> None:
        """Every metric, `val/loss` included, from the slices of all ranks, each slice once (see
        `VolumeMetrics`); every rank then holds the same values, and "max" over ranks keeps them bit-exact
        where a mean of copies could round."""
        self.val_metrics.sync()
        for name, value in self.val_metrics.compute().items():
            self.log(self.metric_prefix + name, value, sync_dist=True, reduce_fx="max")

    def configure_optimizers(self) -> Any:
        if not self.has_trainable_parameters or self.optimizer_factory is None:
            return None
        optimizer = self.optimizer_factory(params=[p for p in self.parameters() if p.requires_grad])
        if self.scheduler_factory is None:
            return optimizer
        scheduler = self.scheduler_factory(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
