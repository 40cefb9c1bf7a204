"""The first optimizer steps of a fit on CUDA measure what the card holds (`memory.calibration`)."""

import time
from collections.abc import Callable
from typing import Any

import lightning as L
import torch

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.calibration import Calibration, Measured, read_card
from fastmri_pl.runtime.sync import synchronize

# (the largest batch's shape, the measurement, the optimizer steps measured) -> the calibration, recorded
Judge = Callable[[BatchShape, Measured, int], Calibration]


class CalibrationFallback(Exception):
    """The calibration steps need more than the card holds: `train` starts again with other levers."""

    def __init__(self, calibration: Calibration) -> None:
        super().__init__(calibration.verdict())
        self.calibration = calibration


def batch_shape(batch: dict[str, Any], adj_slices: int) -> BatchShape:
    """A training batch's sizes (`docs/interfaces.md`: k-space (B, adj x coils, H, W), target (B, h, w))."""
    b, stacked, height, width = batch["masked_kspace"].shape[:4]
    target = tuple(int(size) for size in batch["target"].shape[-2:])
    return BatchShape(
        coils=int(stacked) // adj_slices,
        height=int(height),
        width=int(width),
        adj_slices=adj_slices,
        batch_size=int(b),
        target_size=(target[0], target[1]),
    )


def _pixels(shape: BatchShape) -> int:
    return shape.batch_size * shape.coils * shape.height * shape.width


class CalibrationSteps(L.Callback):
    """Measures the first `steps` optimizer steps of a fit on CUDA: the largest batch's shape, the allocator's
    peaks (`max_memory_allocated`, `max_memory_reserved`), the memory outside the allocator at their end
    (`mem_get_info`), and the mean seconds per step after the first (the first pays for cuDNN's autotuning
    and lazy kernel loading). Then `judge` compares and records them; a need that passes the card raises
    `CalibrationFallback`. It decides early when validation, the epoch or the fit comes first. `train`
    adds it only where a GPU profile runs on a CUDA card (`fit.calibrate`).

    free_before: the card's free bytes before this process started CUDA (`runtime.nvml`; None: unknown).
    """

    def __init__(self, steps: int, judge: Judge, free_before: int | None, adj_slices: int) -> None:
        self.steps, self.judge, self.free_before, self.adj_slices = steps, judge, free_before, adj_slices
        self.decided = False  # until then an out-of-memory error is the calibration's to handle
        self.active = False
        self._reset()

    def _reset(self) -> None:
        self.largest: BatchShape | None = None
        self.max_allocated = self.max_reserved = 0
        self.step_ends: list[float] = []
        self._step_at_batch_start = 0

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.active = stage == "fit" and self.steps > 0
        self.decided = not self.active

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.active and not self.decided:
            self._reset()
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if not self.active or self.decided:
            return
        self._step_at_batch_start = trainer.global_step
        shape = batch_shape(batch, self.adj_slices)
        if self.largest is None or _pixels(shape) > _pixels(self.largest):
            self.largest = shape

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.active or self.decided:
            return
        device = pl_module.device
        # the peaks since the batch started (`PeakMemory` resets them there) or since the fit started
        self.max_allocated = max(self.max_allocated, torch.cuda.max_memory_allocated(device))
        self.max_reserved = max(self.max_reserved, torch.cuda.max_memory_reserved(device))
        if trainer.global_step > self._step_at_batch_start:  # an optimizer step was taken
            synchronize(device)
            self.step_ends.append(time.perf_counter())
            if len(self.step_ends) >= self.steps:
                self._decide(trainer, pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._decide_early(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._decide_early(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._decide_early(trainer, pl_module)

    def _decide_early(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Fewer steps than asked came before validation or the epoch's end: judge what was measured."""
        if self.active and not self.decided and not trainer.sanity_checking:
            if self.largest is None:  # not a batch trained: nothing to measure
                self.decided = True
                return
            self._decide(trainer, pl_module)

    def _decide(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert self.largest is not None
        ends = self.step_ends
        step_s = (ends[-1] - ends[0]) / (len(ends) - 1) if len(ends) > 1 else None
        peaks = (self.max_allocated, self.max_reserved)
        measured = read_card(pl_module.device, *peaks, self.free_before, step_s)
        self.decided = True
        calibration = self.judge(self.largest, measured, max(1, len(ends)))
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.log_metrics(calibration.metrics(), step=trainer.global_step)
        # every rank starts again if one does not fit
        if not trainer.strategy.reduce_boolean_decision(calibration.fits, all=True):
            raise CalibrationFallback(calibration)
