"""A stop keeps the work (`RunCheckpoint.save_now`), on a tiny model: an interrupt anywhere in training writes
`last.ckpt` at the last completed optimizer step and the resumed run ends on the uninterrupted run's weights;
nothing is written before the first step or under fast_dev_run; a signal inside an optimizer step waits for
its end; a second signal cannot cut the write; non-finite steps keep the last finite weights; a moved or
copied run folder rewrites its own `last.ckpt`."""

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import pytest
import torch

from fastmri_pl.callbacks.checkpoint import Kept, Position, RunCheckpoint
from fastmri_pl.callbacks.nonfinite import NonFiniteGuard, NonFiniteStop
from fastmri_pl.errors import Terminated
from fastmri_pl.runs.checkpoint_io import AtomicCheckpointIO
from tests.callbacks.test_nonfinite import OneWeight, samples
from tests.runs.test_checkpoint import Tiny

BATCHES = 4  # Tiny: 8 samples in batches of 2


@pytest.fixture(autouse=True)
def signal_handlers() -> Iterator[None]:
    """Lightning leaves SIGINT ignored after it handled a KeyboardInterrupt: put the handlers back."""
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


class Interrupt(L.Callback):
    """Raises KeyboardInterrupt at training batch `batch` of `epoch`, at its start or in its backward pass,
    or at validation batch `batch` of `epoch`."""

    def __init__(self, epoch: int, batch: int, where: str = "batch_start") -> None:
        self.epoch, self.batch, self.where = epoch, batch, where

    def _now(self, trainer: L.Trainer, where: str, batch_idx: int) -> None:
        if where == self.where and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            raise KeyboardInterrupt

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx
    ) -> None:
        self._now(trainer, "batch_start", batch_idx)

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss) -> None:
        self._now(trainer, "backward", trainer.fit_loop.epoch_loop.batch_idx)

    def on_validation_batch_start(self, trainer: L.Trainer, pl_module, batch, batch_idx, *args) -> None:
        if not trainer.sanity_checking:
            self._now(trainer, "validation", batch_idx)


def fit(
    folder: Path,
    module: L.LightningModule,
    *extra: L.Callback,
    ckpt_path: str | None = None,
    callback: RunCheckpoint | None = None,
    **trainer: Any,
) -> RunCheckpoint:
    callback = callback or RunCheckpoint(dirpath=str(folder), monitor="val/score", mode="max")
    options = {"max_epochs": 3, "logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    L.Trainer(
        callbacks=[callback, *extra],
        plugins=[AtomicCheckpointIO()],
        deterministic=True,
        **{**options, **trainer},
    ).fit(module, ckpt_path=ckpt_path)
    return callback


def stopped(folder: Path, module: L.LightningModule, *extra: L.Callback, **trainer: Any) -> Kept | None:
    """Fit until the interrupt; Lightning handles it and exits 1. What the checkpoint callback kept."""
    callback = RunCheckpoint(dirpath=str(folder), monitor="val/score", mode="max")
    with pytest.raises(SystemExit) as exit_info:
        fit(folder, module, *extra, callback=callback, **trainer)
    assert exit_info.value.code == 1 and isinstance(exit_info.value.__context__, KeyboardInterrupt)
    return callback.kept


def load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_resumes_like_straight(tmp_path: Path, make: type[L.LightningModule], **trainer: Any) -> None:
    L.seed_everything(0)
    straight = make()
    fit(tmp_path / "straight", straight, **trainer)
    L.seed_everything(123)  # a resumed process starts from another random state
    resumed = make()
    last = tmp_path / "stopped" / "last.ckpt"
    fit(tmp_path / "stopped", resumed, ckpt_path=str(last), **trainer)
    for name, weight in straight.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[name], weight, rtol=0, atol=0, msg=name)
    ends = [load(tmp_path / run / "last.ckpt") for run in ("straight", "stopped")]
    assert ends[0]["global_step"] == ends[1]["global_step"]
    torch.testing.assert_close(ends[1]["optimizer_states"], ends[0]["optimizer_states"], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("where", "epoch", "batch", "accumulate", "position", "written"),
    [
        ("batch_start", 1, 2, 1, Position(1, 2, BATCHES, 6), True),
        ("backward", 1, 2, 1, Position(1, 2, BATCHES, 6), True),  # batch 2 trained again
        ("validation", 1, 1, 1, Position(1, BATCHES, BATCHES, 8), True),  # validation runs again
        ("backward", 1, 3, 3, Position(1, 3, BATCHES, 3), True),  # batch 3 of an accumulation
        ("batch_start", 1, 1, 3, Position(0, BATCHES, BATCHES, 2), False),  # no step yet in epoch 1
    ],
    ids=["batch-start", "mid-batch", "validation", "mid-accumulation", "no-step-since-epoch-end"],
)
def test_interrupt_keeps_the_last_step_and_resumes_to_the_uninterrupted_weights(
    where, epoch, batch, accumulate, position, written, tmp_path
):
    """Whatever the interrupt cut (a forward pass, half-accumulated gradients, validation), `last.ckpt` holds
    the state right after the last optimizer step, and a resume from it trains exactly what is missing."""
    L.seed_everything(0)
    kept = stopped(
        tmp_path / "stopped", Tiny(), Interrupt(epoch, batch, where), accumulate_grad_batches=accumulate
    )
    last = tmp_path / "stopped" / "last.ckpt"
    assert kept == Kept(str(last), position, written)
    assert (load(last)["epoch"], load(last)["global_step"]) == (position.epoch, position.step)
    assert_resumes_like_straight(tmp_path, Tiny, accumulate_grad_batches=accumulate)


class HalfwayInterruptedSGD(torch.optim.SGD):
    """SGD that receives SIGINT from its own process after updating its first parameter of step `at`."""

    at = 0
    steps = 0

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        with torch.enable_grad():
            loss = closure()
        type(self).steps += 1
        for index, parameter in enumerate(self.param_groups[0]["params"]):
            if type(self).steps == self.at and index == 1:
                os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode, between two updates
            parameter.add_(parameter.grad, alpha=-self.param_groups[0]["lr"])
        return loss


class TinyInterruptedInStep(Tiny):
    def configure_optimizers(self) -> dict:
        optimizer = HalfwayInterruptedSGD(self.parameters(), lr=0.1)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def test_a_signal_inside_an_optimizer_step_waits_for_its_end(tmp_path, monkeypatch):
    """Ctrl-C between two parameter updates of step 6: the step completes and is kept (weights and counters
    of one step), so the resumed run is the uninterrupted one."""
    monkeypatch.setattr(HalfwayInterruptedSGD, "at", 6)
    L.seed_everything(0)
    kept = stopped(tmp_path / "stopped", TinyInterruptedInStep())
    assert kept is not None and kept.written and kept.position == Position(1, 2, BATCHES, 6)
    monkeypatch.setattr(HalfwayInterruptedSGD, "at", 0)
    assert_resumes_like_straight(tmp_path, TinyInterruptedInStep)


def test_nothing_is_kept_before_the_first_optimizer_step(tmp_path):
    kept = stopped(tmp_path / "run", Tiny(), Interrupt(0, 1, "batch_start"), accumulate_grad_batches=2)
    assert kept == Kept("", None, False) and not (tmp_path / "run").exists()
    assert str(kept) == "nothing to keep (no optimizer step yet): no checkpoint written"


def test_fast_dev_run_writes_nothing(tmp_path):
    kept = stopped(tmp_path / "run", Tiny(), Interrupt(0, 0, "validation"), fast_dev_run=True)
    assert (
        kept == Kept("", None, False, "fast_dev_run writes no checkpoint") and not (tmp_path / "run").exists()
    )


class SignalledWhileSaving(AtomicCheckpointIO):
    """Sends SIGINT and SIGTERM to its own process while it writes the interrupt's checkpoint."""

    def save_checkpoint(self, checkpoint: dict, path: Any, storage_options: Any = None) -> None:
        if checkpoint["global_step"] == 6:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
        super().save_checkpoint(checkpoint, path, storage_options)


def test_a_second_signal_cannot_cut_the_interrupts_write(tmp_path):
    """The door raises `Terminated` on SIGTERM; Ctrl-C again or the cluster's SIGTERM while `last.ckpt` is
    written is ignored: the file is complete and the run ends as the first interrupt said."""

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    signal.signal(signal.SIGTERM, terminate)
    callback = RunCheckpoint(dirpath=str(tmp_path), monitor="val/score", mode="max")
    trainer = L.Trainer(
        max_epochs=3,
        callbacks=[callback, Interrupt(1, 2)],
        plugins=[SignalledWhileSaving()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    try:
        trainer.fit(Tiny())
    except BaseException as stop:  # a KeyboardInterrupt escaping here would end the test session
        ended = stop
    assert type(ended) is SystemExit, repr(ended)
    assert callback.kept == Kept(str(tmp_path / "last.ckpt"), Position(1, 2, BATCHES, 6), True)
    assert load(tmp_path / "last.ckpt")["global_step"] == 6


def test_non_finite_stop_keeps_the_last_finite_weights(tmp_path):
    """Two finite steps, then NaN losses: the first is skipped, the second stops the run; `last.ckpt` holds
    the weights of step 2 at the skipped step 3, the batch after it is next."""
    callback = RunCheckpoint(dirpath=str(tmp_path), monitor="val/ssim", mode="max")
    module = OneWeight()
    trainer = L.Trainer(
        max_epochs=1,
        callbacks=[NonFiniteGuard(max_consecutive=2), callback],
        plugins=[AtomicCheckpointIO()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = torch.utils.data.DataLoader(samples([1.0, 1.0, float("nan"), float("nan")]), batch_size=1)
    with pytest.warns(RuntimeWarning, match="skipped optimizer step"), pytest.raises(NonFiniteStop):
        trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)
    last = load(tmp_path / "last.ckpt")
    assert callback.kept == Kept(str(tmp_path / "last.ckpt"), Position(0, 3, 4, 3), True)
    assert last["state_dict"]["w"] == module.w.detach() == pytest.approx(1.0 - 0.1 - 0.1)


def test_a_failed_write_keeps_the_previous_last_checkpoint_and_says_so(tmp_path, full_disk):
    """Epoch 0's checkpoints are written, then the disk is full: the interrupt's write fails, epoch 0's
    `last.ckpt` is intact and named."""
    full_disk(after=2)
    kept = stopped(tmp_path, Tiny(), Interrupt(1, 2))
    last = tmp_path / "last.ckpt"
    assert kept is not None and not kept.written and kept.path == str(last)
    assert kept.position == Position(0, BATCHES, BATCHES, 4)
    assert "No space left on device" in kept.problem and str(kept).endswith(
        f"; {last} ({kept.position}) kept"
    )
    assert load(last)["global_step"] == 4


@pytest.mark.parametrize("how", [shutil.copytree, shutil.move], ids=["copied", "moved"])
def test_a_copied_or_moved_run_folder_continues_its_own_last_checkpoint(how, tmp_path):
    """One epoch in A; A copied (or moved) to B; a resume in B writes B/last.ckpt itself (Lightning wrote
    last-v1.ckpt beside it, and ckpt_path=last then resumed from the old epoch again) and ranks its best
    checkpoint among B's."""
    fit(tmp_path / "A", Tiny(), max_epochs=1)
    how(tmp_path / "A", tmp_path / "B")
    callback = fit(tmp_path / "B", Tiny(), ckpt_path=str(tmp_path / "B" / "last.ckpt"), max_epochs=2)
    names = sorted(p.name for p in (tmp_path / "B").iterdir())
    assert "last-v1.ckpt" not in names and len([n for n in names if n.startswith("epoch")]) == 1, names
    assert load(tmp_path / "B" / "last.ckpt")["epoch"] == 1
    assert (
        Path(callback.best_model_path).parent == tmp_path / "B" and Path(callback.best_model_path).is_file()
    )
    callback = fit(tmp_path / "B", Tiny(), ckpt_path=str(tmp_path / "B" / "last.ckpt"), max_epochs=3)
    assert load(tmp_path / "B" / "last.ckpt")["epoch"] == 2
