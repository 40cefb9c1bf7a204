"""SLURM's warning ahead of a job's time limit, turned into a stop that keeps the work and requeues the job.

`hardware=slurm` asks SLURM for `hardware.requeue_signal` (`USR1@90`: SIGUSR1 90 s before the time limit,
the sbatch `--signal` the launcher config passes). While `train` runs in a SLURM job, that signal raises
`errors.Requeued`, an interrupt: `last.ckpt` is written at the last completed optimizer step as for Ctrl-C,
then rank zero asks `scontrol requeue <job>`. The requeued job runs the same command again; SLURM sets
`SLURM_RESTART_COUNT` in it, and `runs.folder.resolve_ckpt_path` then resumes from the run folder's
`last.ckpt` without `ckpt_path=last` on the command line. Lightning's own SLURM requeue (a SIGUSR1 handler
that writes `hpc_ckpt_<n>.ckpt` wherever the signal lands, mid optimizer step included) is switched off by the
profile's `SLURMEnvironment(auto_requeue=false)`; this handler, installed first, also keeps Lightning from
registering its own.
"""

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from fastmri_pl.errors import DataError, Requeued

SIGNAL_KEY = "hardware.requeue_signal"
REQUEUE_TIMEOUT_S = 60


def parse_signal(spec: str | None) -> signal.Signals | None:
    """`USR1@90`, `USR1`, `SIGUSR1` or `10` (sbatch's `--signal` forms, no `B:`) -> SIGUSR1; None stays."""
    if spec is None:
        return None
    text = str(spec).split("@", 1)[0].strip().upper()
    try:
        if text.isdigit():
            return signal.Signals(int(text))
        return signal.Signals[text if text.startswith("SIG") else f"SIG{text}"]
    except (KeyError, ValueError):
        raise DataError(SIGNAL_KEY, f"{spec!r} is not a signal (e.g. USR1@90)") from None


def job_id() -> str | None:
    """The SLURM job to requeue (an array job's task as `<array job>_<task>`); None outside SLURM."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


@contextmanager
def requeue_on(spec: str | None) -> Iterator[None]:
    """While the block runs in a SLURM job, the requeue signal raises `Requeued` (main thread only)."""
    signum = parse_signal(spec)
    if signum is None or job_id() is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def requeue(received: int, frame: FrameType | None) -> None:
        raise Requeued(received)

    previous = signal.signal(signum, requeue)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def requeue_job() -> str:
    """`scontrol requeue <this job>`; what happened, as words for the stop line."""
    job = job_id()
    if job is None or not re.fullmatch(r"[0-9_]+", job):
        return f"not requeued (no SLURM job id, got {job!r})"
    try:
        result = subprocess.run(
            ["scontrol", "requeue", job], capture_output=True, text=True, timeout=REQUEUE_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"scontrol requeue {job} failed ({error}); resubmit the job"
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        return f"scontrol requeue {job} failed ({reason[-1] if reason else f'exit {result.returncode}'})"
    return f"requeued SLURM job {job}: it resumes from last.ckpt"
