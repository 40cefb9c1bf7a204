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
  goes through `_save_last_checkpoint`, which skips it there;
- a stop keeps the work (`save_now`): Ctrl-C, SIGTERM, a cluster's requeue signal, a run of non-finite steps
  (`NonFiniteStop`) or a bad data file met mid-epoch (`DataError`) writes `last.ckpt` as the time-based save
  would have at the last completed optimizer step: the loop counters, loader position and random states taken
  right after that step stand in for the current ones (batches trained after it, half-accumulated gradients
  included, are trained again on resume), and a signal arriving during the step itself is held until the step
  is complete (`DeferredSignals`), so the weights and optimizer state are never half-updated. Only rank zero
  writes, without a barrier: another rank may already be gone;
- `last.ckpt` is rewritten in place, never as Lightning's versioned `last-v1.ckpt`, and a run folder that was
  moved or copied keeps track of its best and last checkpoints under its new path.
"""

import copy
import logging
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only

from fastmri_pl.callbacks.nonfinite import FiniteModelCheckpoint, NonFiniteStop
from fastmri_pl.errors import DataError, interrupt_exit_code
from fastmri_pl.runs.atomic import WriteError
from fastmri_pl.runtime.signals import DeferredSignals, signals_ignored

log = logging.getLogger(__name__)
# the checkpoint state's paths that name files in the checkpoint folder
_PATH_KEYS = ("best_model_path", "kth_best_model_path", "last_model_path")


@dataclass(frozen=True)
class Position:
    """Where training was: the epoch (from 0, as the checkpoint names count), how many of its batches were
    trained (None: not known) of how many, and the optimizer steps taken in all."""

    epoch: int
    batch: int | None
    batches: int | None
    step: int

    def __str__(self) -> str:
        where = f"epoch {self.epoch}"
        if self.batch is not None:
            where += f", batch {self.batch}" + (f" of {self.batches}" if self.batches else "")
        return f"{where} (optimizer step {self.step})"


@dataclass(frozen=True)
class Kept:
    """What a stopped run leaves to resume from: `path` (the checkpoint, "" when there is none) at
    `position`, whether the stop itself wrote it, and what kept it from writing one (`problem`)."""

    path: str
    position: Position | None
    written: bool
    problem: str = ""

    def __str__(self) -> str:
        if self.written:
            return f"kept {self.path} at {self.position}"
        held = f"{self.path} ({self.position})" if self.position else self.path
        if self.problem:
            return self.problem + (f"; {held} kept" if self.path else "")
        if self.path:
            return f"nothing trained since {held}, kept"
        return "nothing to keep (no optimizer step yet): no checkpoint written"


@dataclass(frozen=True)
class _StepState:
    """What changes between optimizer steps besides the weights: taken right after each step."""

    position: Position
    fit_loop: dict[str, Any]  # loop counters and the training loader's place in the epoch
    random_states: dict[str, Any]


class RunCheckpoint(FiniteModelCheckpoint):
    """`ModelCheckpoint`'s arguments (those of epoch-end saving; Lightning's step and time triggers would stop
    the epoch-end ones) plus `train_time_interval_min`: None for `last.ckpt` at epoch ends only, 0 for after
    every optimizer step. Never ranks a NaN score as the best (`FiniteModelCheckpoint`). After a stop, `kept`
    says what `last.ckpt` holds."""

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
        self.kept: Kept | None = None
        self._trained_since_last = False  # a training step happened after last.ckpt was written
        self._step_at_batch_start = 0
        self._interval_start = time.monotonic()
        self._random_states_to_restore: dict[str, Any] | None = None
        self._step_signals = DeferredSignals()
        self._in_step = False  # between the step's start and its state being taken
        self._unsaved: _StepState | None = None  # the last step's state, when last.ckpt is older
        self._writing: _StepState | None = None  # the state `save_now` is writing
        self._last: tuple[str, Position] | None = None  # last.ckpt (or the resumed file) and what it holds
        self._resumed_from: str | None = None

    def _writes(self, trainer: L.Trainer) -> bool:
        return bool(
            self.save_last
            and not trainer.fast_dev_run
            and not trainer.sanity_checking
            and trainer.state.fn == TrainerFn.FITTING
        )

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict[str, torch.Tensor]) -> None:
        if trainer.fast_dev_run or not self.save_last:
            return
        # this run's last.ckpt is rewritten in place: Lightning's version counter would write last-v1.ckpt
        # beside one it did not write itself (a moved or copied run folder), which ckpt_path=last never reads
        self.last_model_path = self._last_path(monitor_candidates)
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._written(self.last_model_path, _position_now(trainer))

    def _last_path(self, monitor_candidates: dict[str, torch.Tensor]) -> str:
        return self.format_checkpoint_name(monitor_candidates, self.CHECKPOINT_NAME_LAST)

    def _written(self, path: str, position: Position) -> None:
        self._trained_since_last = False
        self._unsaved = None
        self._interval_start = time.monotonic()
        self._last = (path, position)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_start(trainer, pl_module)
        self._interval_start = time.monotonic()
        if trainer.ckpt_path and self._last is None:  # resumed: what a stop before the first step keeps
            resumed = Position(trainer.current_epoch, None, None, trainer.global_step)
            self._last = (str(trainer.ckpt_path), resumed)

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._random_states_to_restore is not None:
            set_random_states(self._random_states_to_restore)
            self._random_states_to_restore = None
        self._step_at_batch_start = trainer.global_step

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """The step begins: a stop signal waits until its state is taken (`on_train_batch_end`)."""
        if self._writes(trainer):
            self._in_step = True
            self._step_signals.open()

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step > self._step_at_batch_start and self._writes(trainer):
            self._unsaved = _StepState(
                _position_now(trainer), copy.deepcopy(trainer.fit_loop.state_dict()), random_states()
            )
        self._in_step = False
        self._step_signals.close()  # a signal held during the step raises here: the state above is whole
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

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """An interrupt (Ctrl-C, SIGTERM, a requeue signal), a run of non-finite steps or a bad data file met
        mid-epoch (a NaN in a slice read for the next batch) keeps the work."""
        self._step_signals.close(replay=False)  # stopping already
        if isinstance(exception, KeyboardInterrupt):
            name = signal.Signals(interrupt_exit_code(exception) - 128).name
            self.kept = self.save_now(trainer, f"stopped by {name}")
        elif isinstance(exception, DataError):
            self.kept = self.save_now(trainer, f"stopped by {_data_stop(exception)}")

    def save_now(self, trainer: L.Trainer, reason: str) -> Kept:
        """Write `last.ckpt` at the last completed optimizer step, now, and say what it holds.

        For a stop that keeps the work: an interrupt, non-finite steps, an out-of-memory error. Nothing is
        written when nothing was trained since `last.ckpt` (or no step was taken at all), under
        `fast_dev_run`, or from inside an optimizer step (its weights and optimizer state may be half
        updated: `last.ckpt` stays as it was). A failed write leaves the previous file whole and is named in
        `Kept.problem`. Stop signals are ignored while the file is written; rank zero writes, without a
        barrier. `reason` starts the log line ("stopped by SIGINT: writing ... at ...").
        """
        if trainer.fast_dev_run:
            return Kept("", None, False, "fast_dev_run writes no checkpoint")
        if not self.save_last:
            return self._kept_before("callbacks.model_checkpoint.save_last is false: last.ckpt not written")
        if self._in_step:
            return self._kept_before(
                "stopped inside an optimizer step, whose state may be half-updated: not saved"
            )
        state = self._unsaved
        if state is None:
            return self._kept_before()
        path = self._last_path(self._monitor_candidates(trainer))
        _log_rank_zero(f"{reason}: writing {path} at {state.position}")
        # during validation the loops are whole as they are, and Lightning resumes there by validating again
        self._writing = None if trainer.validating else state
        try:
            with signals_ignored():
                self._write_on_rank_zero(trainer, path)
        except WriteError as error:
            return self._kept_before(f"could not write {error}")
        finally:
            self._writing = None
        self._written(path, state.position)
        return Kept(path, state.position, True)

    def _kept_before(self, problem: str = "") -> Kept:
        path, position = self._last or ("", None)
        return Kept(path, position, False, problem)

    def _write_on_rank_zero(self, trainer: L.Trainer, path: str) -> None:
        """`trainer.save_checkpoint` without its closing barrier, which would wait forever for a rank that
        stopped before it: every rank holds the same weights after a step, rank zero writes them."""
        self.last_model_path = path  # part of the state written
        if trainer.is_global_zero:
            checkpoint = trainer._checkpoint_connector.dump_checkpoint(self.save_weights_only)
            trainer.strategy.save_checkpoint(checkpoint, path)
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = path

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        """`save_now`'s checkpoint: the loops as the last step left them, not as the stop found them."""
        if self._writing is not None:
            checkpoint["loops"]["fit_loop"] = self._writing.fit_loop
            position = self._writing.position
            checkpoint["epoch"], checkpoint["global_step"] = position.epoch, position.step

    def state_dict(self) -> dict[str, Any]:
        states = self._writing.random_states if self._writing is not None else random_states()
        return {**super().state_dict(), "random_states": states}

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        self._resumed_from = str(trainer.ckpt_path) if trainer.ckpt_path else None

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(self._in_this_folder(state_dict))
        self._random_states_to_restore = state_dict.get("random_states")

    def _in_this_folder(self, state: dict[str, Any]) -> dict[str, Any]:
        """A run folder moved or copied since the checkpoint was written (the resumed file lies in this
        callback's folder, the state names another): its paths are renamed into this folder, so the best
        checkpoint is still ranked and removed and `last.ckpt` rewritten, not copied to `last-v1.ckpt`."""
        old = state.get("dirpath")
        if not old or self.dirpath is None or self._resumed_from is None:
            return state
        here = Path(self.dirpath).resolve()
        if Path(old).resolve() == here or Path(self._resumed_from).resolve().parent != here:
            return state

        def moved(path: str) -> str:
            inside = bool(path) and Path(path).is_relative_to(old)
            return str(here / Path(path).relative_to(old)) if inside else path

        state = {**state, "dirpath": self.dirpath}
        state.update({key: moved(state[key]) for key in _PATH_KEYS if isinstance(state.get(key), str)})
        if isinstance(state.get("best_k_models"), dict):
            state["best_k_models"] = {moved(k): v for k, v in state["best_k_models"].items()}
        return state


def _position_now(trainer: L.Trainer) -> Position:
    """Where training is at a step's end or an epoch's: inside `on_train_batch_end` the batch is processed but
    not yet counted as completed."""
    progress = trainer.fit_loop.epoch_loop.batch_progress.current
    batches = trainer.num_training_batches
    return Position(
        trainer.current_epoch,
        max(progress.completed, progress.processed),
        int(batches) if batches != float("inf") else None,
        trainer.global_step,
    )


def _data_stop(error: DataError) -> str:
    """What stopped the run, for the save's log line."""
    return "non-finite steps" if isinstance(error, NonFiniteStop) else f"bad data ({error.path})"


@rank_zero_only
def _log_rank_zero(message: str) -> None:
    log.info(message)


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
