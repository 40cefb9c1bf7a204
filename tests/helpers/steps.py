"""A callback that makes a CLI run's progress visible (and slow enough to interrupt), for the signal tests."""

import time

import lightning as L


class PrintSteps(L.Callback):
    """Prints "trained epoch E batch B" after every training batch (flushed), and waits `delay_s` before each
    batch, so a test can wait for a line and send a signal while the run is mid-epoch."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        time.sleep(self.delay_s)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        print(f"trained epoch {trainer.current_epoch} batch {args[-1]}", flush=True)
