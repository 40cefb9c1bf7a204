"""Non-finite guards: a NaN/Inf loss or gradient never reaches the weights, and a NaN score is never 'best'.

One NaN pixel used to turn every weight into NaN within a step; the run then went on for days, exited 0 and
kept `epoch000-ssimnan.ckpt` as its best checkpoint.
"""

import warnings
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities import rank_zero_warn

from fastmri_pl.errors import DataError

MAX_CONSECUTIVE_KEY = "callbacks.nonfinite_guard.max_consecutive"


class NonFiniteStop(DataError):
    """`NonFiniteGuard`'s stop: bad input, and a stop that keeps the work (`RunCheckpoint` writes `last.ckpt`
    first: every step before the skipped ones was finite)."""


def _slice_names(batch: dict[str, Any]) -> list[str]:
    return [
        f"{fname} slice {int(index)}" for fname, index in zip(batch["fname"], batch["slice_num"], strict=True)
    ]


class NonFiniteGuard(L.Callback):
    """Skips an optimizer step whose loss or gradients hold NaN/Inf, warning with the file and slice of each
    batch it came from, and stops the run (one line, `NonFiniteStop`) after `max_consecutive` skips in a row.

    The check runs after backward, so under DDP every rank skips the same step (the decision is reduced over
    ranks; gradients are already all-reduced). With fp16 loss scaling, overflowing gradients are the
    scaler's business (it skips the step and lowers the scale), so only a non-finite loss counts there.
    Checks are kept on the device until the step: one synchronisation per optimizer step.
    """

    def __init__(self, max_consecutive: int = 10) -> None:
        if max_consecutive < 1:
            raise ValueError(f"{MAX_CONSECUTIVE_KEY} must be >= 1, got {max_consecutive}")
        self.max_consecutive = max_consecutive
        self.consecutive = 0
        self._batch: dict[str, Any] = {}
        self._pending: list[tuple[dict[str, Any], torch.Tensor]] = []  # (batch, loss finite) since last step

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._batch = {"fname": batch["fname"], "slice_num": batch["slice_num"]}

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        self._pending.append((self._batch, torch.isfinite(loss.detach()).all()))

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        pending, self._pending = self._pending, []
        checks = [finite for _, finite in pending]
        if getattr(trainer.precision_plugin, "scaler", None) is None:
            checks += [
                torch.isfinite(p.grad).all()
                for g in optimizer.param_groups
                for p in g["params"]
                if p.grad is not None
            ]
        finite = torch.stack([c.to(checks[0].device) for c in checks]).tolist() if checks else []
        if not trainer.strategy.reduce_boolean_decision(not all(finite), all=False):
            self.consecutive = 0
            return
        optimizer.zero_grad(set_to_none=True)  # optimizers skip parameters without a gradient
        self.consecutive += 1
        step_slices = [name for batch, _ in pending for name in _slice_names(batch)]
        bad_loss = [
            name
            for (batch, _), ok in zip(pending, finite, strict=False)
            if not ok
            for name in _slice_names(batch)
        ]
        if bad_loss:
            kind, where = "non-finite loss", bad_loss
        elif not all(finite):
            kind, where = "non-finite gradient", step_slices
        else:
            kind, where = "non-finite loss or gradient on another rank", step_slices
        if self.consecutive >= self.max_consecutive:
            raise NonFiniteStop(
                (where or ["training"])[-1],
                f"{kind}, {self.consecutive} optimizer steps in a row ({MAX_CONSECUTIVE_KEY}="
                f"{self.max_consecutive}); training stopped with the weights of the last finite step. Check "
                "that file, lower model.optimizer.lr or use hardware.precision=32-true",
            )
        warnings.warn(
            f"skipped optimizer step {trainer.global_step}: {kind} on {', '.join(where)} "
            f"({self.consecutive} in a row; the run stops at {self.max_consecutive})",
            RuntimeWarning,
            stacklevel=1,
        )


class FiniteModelCheckpoint(ModelCheckpoint):
    """A `ModelCheckpoint` that never ranks a NaN/Inf score: Lightning's keeps the first checkpoint whatever
    its score, so a NaN model was saved as the best one (`...ssimnan.ckpt`) and validated as the result."""

    def check_monitor_top_k(self, trainer: L.Trainer, current: torch.Tensor | None = None) -> bool:
        if current is not None and not bool(torch.isfinite(current)):
            rank_zero_warn(
                f"{self.monitor} is {float(current)}: this epoch is not saved as a best checkpoint"
            )
            return False
        return super().check_monitor_top_k(trainer, current)
