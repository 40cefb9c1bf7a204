"""A callback that stops a training run as a kill would, for the resume tests."""

import lightning as L


class Kill(L.Callback):
    """Raises at batch `batch` of epoch `epoch` (None: at that epoch's start), like a kill; records what the
    run trained on."""

    def __init__(self, epoch: int | None = None, batch: int | None = None) -> None:
        self.epoch, self.batch = epoch, batch
        self.trained: list[tuple[int, int]] = []

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.batch is None and trainer.current_epoch == self.epoch:
            raise KeyError("killed")

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        batch_idx = args[-1]
        if trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise KeyError("killed")
        self.trained.append((trainer.current_epoch, batch_idx))
