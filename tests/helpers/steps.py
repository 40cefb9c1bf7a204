"""For the signal tests: a callback that makes a CLI run's progress visible (and slow enough to interrupt),
and a runner that signals the command once a given line appears."""

import os
import subprocess
import time
from pathlib import Path

import lightning as L

REPO = Path(__file__).resolve().parents[2]  # the working directory of the commands: `tests` importable
WAIT_S = 300  # generous: the machine may be loaded


class PrintSteps(L.Callback):
    """Prints "trained epoch E batch B" after every training batch of rank zero (flushed), and waits `delay_s`
    before each batch, so a test can wait for a line and send a signal while the run is mid-epoch. Rank zero
    only: under DDP another rank's line can come before rank zero has finished that step, and a signal sent to
    rank zero then finds nothing new to keep (seen as a flaky test under load)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        time.sleep(self.delay_s)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, *args) -> None:
        if trainer.is_global_zero:
            print(f"trained epoch {trainer.current_epoch} batch {args[-1]}", flush=True)


def run_and_signal(
    arguments: list[str], signum: int, after: str, group: bool = False, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Start the command, send `signum` once a line containing `after` was printed (to its whole process
    group: the DataLoader workers too), return its exit code and output."""
    process = subprocess.Popen(
        arguments,
        cwd=REPO,  # `tests.helpers` importable by the child
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=group,
        env=env,
    )
    lines = []
    deadline = time.monotonic() + WAIT_S
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if after in line and time.monotonic() < deadline:
                deadline = 0.0  # once
                os.killpg(process.pid, signum) if group else process.send_signal(signum)
        return process.wait(timeout=WAIT_S), "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
