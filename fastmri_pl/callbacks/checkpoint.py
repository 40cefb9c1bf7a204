"""RunCheckpoint: Lightning's ModelCheckpoint with a `last.ckpt` that a resume can trust.

- `last.ckpt` is rewritten after every validation and at every epoch end, whether or not the monitored metric
  improved (Lightning >= 2.6 refreshes it only together with a new best checkpoint, so a run that stopped
  improving resumed from its last improvement);
- every `train_time_interval_min` minutes of training it is also rewritten mid-epoch, right after an
  optimizer step (never with half-accumulated gradients, which a checkpoint does not hold), so a kill costs at
  most that much work; `ReconDataModule`'s loader puts its place in the epoch into the same checkpoint;
- the global random states (torch, CUDA, NumPy, Python) travel in the checkpoint and are put back just before
  the first resumed step, so random operations in a step draw what the uninterrupted run drew;
- under `fast_dev_run` nothing is written: every path to `last.ckpt`, Lightning's `on_train_end` included,
  goes through `_save_last_checkpoint`, which skips it there.
"""

import random
import time
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn

from fastmri_pl.callbacks.nonfinite import FiniteModelCheckpoint


class RunCheckpoint(FiniteModelCheckpoint):
    """`ModelCheckpoint`'s arguments (those of epoch-end saving; Lightning's step and time triggers would stop
    the epoch-end ones) plus `train_time_interval_min`: None for `last.ckpt` at epoch ends only, 0 for after
    every optimizer step. Never ranks a NaN score as the best (`FiniteModelCheckpoint`)."""

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str | None = None,
        monitor: str | None = None,
        mode: str = "min",
        save_last: bool = True,
        save_top_k: int = 1,
        auto_insert_metric_name: bool = True,
        save_weights_only: bool = False,
        every_n_epochs: int | None = None,
        verbose: bool = False,
        train_time_interval_min: float | None = None,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            mode=mode,
            save_last=save_last,
            save_top_k=save_top_k,
            auto_insert_metric_name=auto_insert_metric_name,
            save_weights_only=save_weights_only,
            every_n_epochs=every_n_epochs,
            verbose=verbose,
        )
        if train_time_interval_min is not None and not train_time_interval_min >= 0:
            raise ValueError(
                f"train_time_interval_min must be >= 0 minutes or null, got {train_time_interval_min!r}"
            )
        self.train_time_interval_min = train_time_interval_min
        self._trained_since_last = False  # a training step happened after last.ckpt was written
        self._step_at_batch_start = 0
        self._interval_start = time.monotonic()
        self._random_states_to_restore: dict[str, Any] | None = None

    def _writes(self, trainer: L.Trainer) -> bool:
        return bool(
            self.save_last
            and not trainer.fast_dev_run
            and not trainer.sanity_checking
            and trainer.state.fn == TrainerFn.FITTING
        )

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        if not trainer.fast_dev_run:
            super()._save_last_checkpoint(trainer, monitor_candidates)
            self._trained_since_last = False
            self._interval_start = time.monotonic()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._interval_start = time.monotonic()

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._random_states_to_restore is not None:
            set_random_states(self._random_states_to_restore)
            self._random_states_to_restore = None
        self._step_at_batch_start = trainer.global_step

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        self._trained_since_last = True
        if self._mid_epoch_save_due(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def _mid_epoch_save_due(self, trainer: L.Trainer) -> bool:
        """Time is up, an optimizer step was just taken, and this is not the epoch's last batch (the epoch-end
        save follows it). Rank zero's clock decides for every rank."""
        if self.train_time_interval_min is None or not self._writes(trainer):
            return False
        stepped = trainer.global_step > self._step_at_batch_start
        last_batch = trainer.fit_loop.epoch_loop.batch_progress.is_last_batch
        elapsed = time.monotonic() - self._interval_start >= 60.0 * self.train_time_interval_min
        return bool(trainer.strategy.broadcast(stepped and not last_batch and elapsed))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Where Lightning ranks checkpoints after validation rather than at the epoch end (validation not
        every epoch, or by time), `last.ckpt` follows every validation too."""
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._refresh_last(trainer)

    def _refresh_last(self, trainer: L.Trainer) -> None:
        """Write `last.ckpt` if training went on since it was written (here or along with a best one)."""
        if self._trained_since_last and self._writes(trainer):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "random_states": random_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._random_states_to_restore = state_dict.get("random_states")


def random_states() -> dict[str, Any]:
    """The global generators' states as tensors and plain values (readable by `torch.load(weights_only=True)`,
    as `reconstruct` loads checkpoints)."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gauss),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_random_states(states: dict[str, Any]) -> None:
    """Put back what `random_states` took (CUDA only onto as many devices as it was taken from)."""
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
