"""The ways a command ends other than success, each with its exit code: bad input (`DataError`, which names
the file or config key and what is wrong with it), a stop that kept the work (`Stopped`), an interrupt."""

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_OUT_OF_MEMORY = 3
_MARKER = "DataError: "

log = logging.getLogger("fastmri_pl")


class DataError(ValueError):
    """A data file or folder, or a config value, that cannot be used; every command prints it as one line."""

    def __init__(self, path: str | Path, problem: str | None = None) -> None:
        if problem is None:
            # A DataLoader worker re-raises its error as `DataError(message)`, the message ending with the
            # original traceback's last line "...DataError: <path>: <problem>": keep just that line.
            last_line = str(path).strip().splitlines()[-1] if str(path).strip() else ""
            path, _, problem = last_line.split(_MARKER, 1)[-1].partition(": ")
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class Stopped(Exception):
    """A command that stopped before its end on purpose, its work kept: an interrupt after the last
    checkpoint was written, an out-of-memory error after saving. The message says what was kept and how to
    go on; `exit_code` is the process's (130 for SIGINT, 143 for SIGTERM, 3 for out of memory)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster sends before it preempts a job) raised as the exception Ctrl-C raises, so every
    command stops the same way for both and keeps what it has."""

    signum = signal.SIGTERM


class Requeued(KeyboardInterrupt):
    """A cluster's warning ahead of the job's time limit (`hardware.requeue_signal`, e.g. SLURM's SIGUSR1),
    raised as an interrupt: the run keeps its work as for Ctrl-C, then the job is requeued
    (`runtime.slurm`)."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.signum = signum


def interrupt_exit_code(interrupt: KeyboardInterrupt) -> int:
    """128 + the signal's number, as a shell reports a process ended by it: 130 (SIGINT), 143 (SIGTERM)."""
    return 128 + int(getattr(interrupt, "signum", signal.SIGINT))


@contextmanager
def exit_on_data_error() -> Iterator[None]:
    """A `DataError` ends the command with one `error:` line on stderr (and in the run's log) and exit code 2,
    not a traceback wall."""
    try:
        yield
    except DataError as error:
        log.error(f"error: {error}")
        raise SystemExit(EXIT_BAD_INPUT) from None
