"""Real signals to a real `python -m fastmri_pl.train`: Ctrl-C (SIGINT) and SIGTERM mid-epoch end with exit
130 / 143 and one line saying what was kept and the command that resumes it; that command ends on the
uninterrupted run's weights, bit for bit; the run folder's log ends with the same line. A non-finite loss
stops the run the same way, exit 2."""

import os
import shlex
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from tests.helpers.steps import REPO, WAIT_S, run_and_signal

pytestmark = pytest.mark.slow  # end-to-end runs of the command

BATCHES_PER_EPOCH = 6  # the tiny folder: 2 training volumes of 3 slices


def command(run_dir: Path, overrides: list[str], delay_s: float = 0.0) -> list[str]:
    """`train` for two epochs on the tiny data, printing a line per batch (tests.helpers.steps.PrintSteps),
    waiting `delay_s` before each batch so that a signal lands mid-epoch."""
    return [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        *overrides,
        "model=varnet_small",
        "validate_best=false",
        "trainer.max_epochs=2",
        "print_config=false",
        "+callbacks.steps._target_=tests.helpers.steps.PrintSteps",
        f"+callbacks.steps.delay_s={delay_s}",
        f"hydra.run.dir={run_dir}",
    ]


def stop_line(output: str, signal_name: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith(f"train stopped by {signal_name}")]
    return line


def resume_command(line: str) -> list[str]:
    """The command the stop line gives, run with this interpreter."""
    arguments = shlex.split(line.split("; resume with: ", 1)[1])
    assert arguments[:3] == ["python", "-m", "fastmri_pl.train"], arguments
    return [sys.executable, *arguments[1:]]


def load_last(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory, data_snu_root: Path) -> Path:
    """The uninterrupted run the interrupted ones must end on."""
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    tiny = [f"data.root={data_snu_root}", "data.synthetic=null", "hardware=cpu", "logger=csv"]
    result = subprocess.run(command(run_dir, tiny), cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def assert_same_end(resumed_dir: Path, straight_dir: Path) -> None:
    straight, resumed = load_last(straight_dir), load_last(resumed_dir)
    assert resumed["global_step"] == straight["global_step"] == 2 * BATCHES_PER_EPOCH
    for name, weight in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], weight, rtol=0, atol=0, msg=name)
    torch.testing.assert_close(
        resumed["optimizer_states"], straight["optimizer_states"], rtol=0, atol=0, msg="optimizer state"
    )


@pytest.mark.parametrize(
    ("signum", "code", "workers", "group"),
    [(signal.SIGINT, 130, 0, False), (signal.SIGTERM, 143, 1, True)],
    ids=["ctrl-c", "sigterm-to-the-process-group-with-a-loader-worker"],
)
def test_interrupted_train_keeps_the_epoch_and_resumes_to_the_uninterrupted_weights(
    signum, code, workers, group, straight_run, data_snu_root, tmp_path
):
    """`hardware=cpu` writes no time-based checkpoint: the interrupt's own save keeps epoch 1 so far. The
    second case is what a cluster does: SIGTERM to every process of the job, the loader's worker included."""
    run_dir = tmp_path / "run"
    tiny = [f"data.root={data_snu_root}", "data.synthetic=null", "hardware=cpu", "logger=csv"]
    arguments = command(run_dir, [*tiny, f"hardware.num_workers={workers}"], delay_s=0.3)
    exit_code, output = run_and_signal(arguments, signum, after="trained epoch 1 batch 1", group=group)
    assert exit_code == code, output[-3000:]
    line = stop_line(output, signal.Signals(signum).name)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert line.startswith(f"train stopped by {signal.Signals(signum).name}: kept {last} at epoch 1, batch ")
    assert line.endswith(f"hydra.run.dir={run_dir} ckpt_path=last") and "Traceback" not in output
    at_stop = load_last(run_dir)
    assert at_stop["epoch"] == 1 and BATCHES_PER_EPOCH < at_stop["global_step"] < 2 * BATCHES_PER_EPOCH
    assert (run_dir / "train.log").read_text().splitlines()[-1].endswith(line)
    resumed = subprocess.run(resume_command(line), cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_end(run_dir, straight_run)
    log = (run_dir / "train.log").read_text()
    assert f"resuming from {last}" in log and "train completed in" in log.splitlines()[-1]


def test_slurm_time_limit_signal_keeps_the_work_requeues_and_the_requeued_job_resumes(
    straight_run, data_snu_root, tmp_path
):
    """As in a SLURM job (SLURM_JOB_ID set, `scontrol` a stand-in that records its arguments): SIGUSR1, the
    warning `hardware=slurm` asks for ahead of the time limit, keeps epoch 1 so far and requeues the job
    (exit 138). SLURM then runs the same command again with SLURM_RESTART_COUNT=1: it resumes from
    last.ckpt by itself and ends on the uninterrupted run's weights."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = bin_dir / "scontrol.args"
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    (bin_dir / "scontrol").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "SLURM_JOB_ID": "4242"}
    env.pop("SLURM_RESTART_COUNT", None)
    run_dir = tmp_path / "run"
    tiny = [f"data.root={data_snu_root}", "data.synthetic=null", "hardware=cpu", "logger=csv"]
    arguments = command(run_dir, [*tiny, "+hardware.requeue_signal=USR1@90"], delay_s=0.3)
    exit_code, output = run_and_signal(arguments, signal.SIGUSR1, after="trained epoch 1 batch 1", env=env)
    assert exit_code == 138, output[-3000:]
    line = stop_line(output, "SIGUSR1")
    assert f"kept {run_dir / 'checkpoints' / 'last.ckpt'} at epoch 1, batch " in line
    assert line.endswith("ckpt_path=last; requeued SLURM job 4242: it resumes from last.ckpt")
    assert record.read_text() == "requeue 4242\n"
    again = subprocess.run(
        arguments,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
        env={**env, "SLURM_RESTART_COUNT": "1"},
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "(SLURM requeued this job)" in (run_dir / "train.log").read_text()
    assert_same_end(run_dir, straight_run)


def overflowing(kspace) -> None:
    kspace[1] = kspace[1] * np.float32(1e36)


def not_a_number(kspace) -> None:
    kspace[1, 0, 0, 0] = np.nan


@pytest.mark.parametrize(
    "corrupt, problem",
    [
        (overflowing, "{name} slice 1: non-finite loss"),
        (not_a_number, "{path}: kspace slice 1 contains NaN or Inf"),
    ],
    ids=["loss-overflows", "nan-in-the-file"],
)
def test_a_bad_slice_stops_after_keeping_the_finite_steps(corrupt, problem, data_snu_root, tmp_path):
    """Slice 1 of one training file scaled by 1e36 (finite in the file, overflowing in the loss: the step is
    skipped), or holding a NaN (refused when read): the run stops with its `error:` line, `last.ckpt` written
    at the step before; with the file put right, the command the line gives finishes the run."""
    data = tmp_path / "data"
    shutil.copytree(data_snu_root, data)
    broken = sorted((data / "train" / "kspace").glob("*.h5"))[0]
    original = broken.read_bytes()
    with h5py.File(broken, "r+") as f:
        kspace = f["kspace"][()]
        corrupt(kspace)
        f["kspace"][()] = kspace
    run_dir = tmp_path / "run"
    tiny = [f"data.root={data}", "data.synthetic=null", "hardware=cpu", "logger=csv"]
    arguments = command(run_dir, [*tiny, "callbacks.nonfinite_guard.max_consecutive=1"])
    result = subprocess.run(arguments, cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert result.returncode == 2, result.stderr[-3000:]
    (line,) = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("error:")]
    last = run_dir / "checkpoints" / "last.ckpt"
    expected = problem.format(name=broken.name, path=broken)
    assert line.startswith(f"error: {expected}") and f"; kept {last} at " in line
    kept = load_last(run_dir)
    assert all(torch.isfinite(w).all() for w in kept["state_dict"].values())
    assert (run_dir / "train.log").read_text().splitlines()[-1].endswith(line)
    broken.write_bytes(original)
    resumed = subprocess.run(resume_command(line), cwd=REPO, capture_output=True, text=True, timeout=WAIT_S)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert load_last(run_dir)["global_step"] == 2 * BATCHES_PER_EPOCH  # the stopped step trained again
