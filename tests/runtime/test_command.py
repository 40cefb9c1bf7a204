"""The one door: every command checks its config first and ends in one line and an exit code, kept in the
run's log file; SIGTERM and Ctrl-C stop a command the same way."""

import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR, bench, evaluate, reconstruct, train
from fastmri_pl.errors import DataError, Stopped
from fastmri_pl.memory import cli as memory_cli
from fastmri_pl.runtime import command as door
from fastmri_pl.weights import cli as weights_cli

COMMANDS = [train, reconstruct, evaluate, bench, memory_cli, weights_cli]


def end_of(work: Callable, **options) -> tuple[int, list[str]]:
    """The exit code `run_command` ends `work` with, and the lines it logged."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("fastmri_pl")
    logger.addHandler(handler)
    try:
        with pytest.raises(SystemExit) as exit_info:
            door.run_command("probe", work, OmegaConf.create({}), **options)
    finally:
        logger.removeHandler(handler)
    return exit_info.value.code, [record.getMessage() for record in records]


def test_bad_input_is_one_error_line_and_exit_2() -> None:
    def work(cfg):
        raise DataError("/data/x.h5", "holds no k-space")

    assert end_of(work) == (2, ["error: /data/x.h5: holds no k-space"])


def test_out_of_memory_is_exit_3_with_the_commands_advice() -> None:
    def work(cfg):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    assert end_of(work, oom_advice=lambda cfg: "try hardware.levers=auto") == (
        3,
        ["try hardware.levers=auto"],
    )
    code, lines = end_of(work)
    assert code == 3 and lines[0].startswith("error: CUDA out of memory in probe")


def test_a_stop_that_kept_its_work_says_so_with_its_own_code() -> None:
    def work(cfg):
        raise Stopped("kept last.ckpt at epoch 2, batch 7; resume with ckpt_path=last", 130)

    assert end_of(work) == (130, ["kept last.ckpt at epoch 2, batch 7; resume with ckpt_path=last"])


def test_ctrl_c_is_exit_130() -> None:
    def work(cfg):
        raise KeyboardInterrupt

    assert end_of(work) == (130, ["probe stopped by SIGINT"])


def test_a_real_sigterm_stops_the_command_like_ctrl_c_with_exit_143() -> None:
    before = signal.getsignal(signal.SIGTERM)

    def work(cfg):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 5)  # the handler runs on the next bytecode: never reached
        raise AssertionError("SIGTERM did not stop the command")

    assert end_of(work) == (143, ["probe stopped by SIGTERM"])
    assert signal.getsignal(signal.SIGTERM) is before  # the command's handler is gone with it


def test_success_logs_the_end_and_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    finished: list[bool] = []
    monkeypatch.setattr(door, "finish_runs", lambda failed: finished.append(failed))
    assert door.run_command("probe", lambda cfg: 7, OmegaConf.create({})) == 7

    def work(cfg):
        raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError, match="a bug"):  # not turned into an exit code: report it
        door.run_command("probe", work, OmegaConf.create({}))
    assert finished == [True]  # the failed command's W&B run is finished as failed; the success left it


def test_every_command_goes_through_the_door(
    monkeypatch: pytest.MonkeyPatch, run_main, tmp_path: Path
) -> None:
    """The config check runs first in every command: stood in for by one that refuses, each says the same line
    and exits 2 before its own work."""

    def refuse(cfg, top_level=None, nodes=None):
        raise DataError("probe.key", "refused by the door")

    monkeypatch.setattr(door, "check_config_types", refuse)
    monkeypatch.chdir(tmp_path)
    for module in COMMANDS:
        code, stderr = run_main(module, f"hydra.run.dir={tmp_path / 'run'}")
        assert (code, stderr) == (2, "error: probe.key: refused by the door\n"), module.__name__


def test_run_folder_log_keeps_the_commands_story(run_main, tmp_path: Path) -> None:
    """Hydra's per-run log file holds the project's messages: here the one line a refused run ends with."""
    run = tmp_path / "run"
    code, stderr = run_main(evaluate, "data=snu", "data.root=/nonexistent", f"hydra.run.dir={run}")
    assert code == 2 and stderr.startswith("error: ")
    log = (run / "evaluate.log").read_text()
    assert "[fastmri_pl][ERROR] - " + stderr.strip() in log


def test_a_mandatory_value_left_unset_names_its_key(run_main, tmp_path: Path) -> None:
    code, stderr = run_main(evaluate, f"hydra.run.dir={tmp_path / 'run'}")
    assert (code, stderr) == (2, "error: recon_dir: must be set: add recon_dir=... to the command\n")


@pytest.fixture
def multirun_job() -> Iterator[None]:
    """Inside a Hydra multirun job of `train` with two overrides, as the door sees it."""
    saved = HydraConfig.instance().cfg
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["hydra.mode=MULTIRUN", "+trainer.limit_train_batches=2", "~logger"],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    yield
    HydraConfig.instance().cfg = saved


def test_in_a_multirun_a_stop_after_a_signal_ends_the_sweep_other_errors_the_job(multirun_job) -> None:
    """Hydra takes an Exception for one failed job and goes on with the next: a stop after Ctrl-C would
    not stop the sweep (nor would submitit see a requeued job as unfinished)."""

    def interrupted(cfg):
        raise Stopped("kept last.ckpt", 130)

    def out_of_memory(cfg):
        raise Stopped("kept last.ckpt", 3)

    assert end_of(interrupted) == (130, ["kept last.ckpt"])
    with pytest.raises(Stopped):
        door.run_command("probe", out_of_memory, OmegaConf.create({}))


def test_rerun_command_keeps_the_runs_own_overrides_less_the_dropped_keys(multirun_job) -> None:
    assert door.rerun_command("train", drop=("limit_train_batches",), add=["x=1"]) == (
        "python -m fastmri_pl.train +trainer.limit_train_batches=2 '~logger' x=1"
    )
    assert door.rerun_command("train", drop=("trainer.limit_train_batches", "logger")) == (
        "python -m fastmri_pl.train"
    )
    assert door.rerun_command("reconstruct") is None  # not this command's run: the caller says it in words
