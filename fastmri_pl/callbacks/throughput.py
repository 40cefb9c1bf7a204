"""Throughput: training slices per second (all ranks together) and the model's parameter count."""

import time
from typing import Any

import lightning as L


class Throughput(L.Callback):
    """Logs `throughput/train_slices_per_s` each epoch and `model/parameters` once at the start of fitting.

    The clock runs from one training batch's end to the next (so data loading counts, validation does not);
    each rank's rate is summed across ranks, which is the rate of the whole job.
    """

    def __init__(self) -> None:
        self.slices = 0
        self.seconds = 0.0
        self.last = 0.0

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        counts = {
            "model/parameters": sum(p.numel() for p in pl_module.parameters()),
            "model/trainable_parameters": sum(p.numel() for p in pl_module.parameters() if p.requires_grad),
        }
        for logger in trainer.loggers:
            logger.log_hyperparams(counts)
            logger.log_metrics({key: float(value) for key, value in counts.items()}, step=0)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.slices, self.seconds, self.last = 0, 0.0, time.perf_counter()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        now = time.perf_counter()
        self.seconds += now - self.last
        self.last = now
        self.slices += int(batch["target"].shape[0])

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.last = time.perf_counter()  # validation inside an epoch does not count as training time

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.seconds > 0:
            rate = self.slices / self.seconds
            pl_module.log("throughput/train_slices_per_s", rate, sync_dist=True, reduce_fx="sum")
