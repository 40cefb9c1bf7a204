"""The one error type for bad input files: it names the file and says what is wrong with it."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_MARKER = "DataError: "


class DataError(ValueError):
    """A data file or folder that cannot be used; the command-line entry points print it as one line."""

    def __init__(self, path: str | Path, problem: str | None = None) -> None:
        if problem is None:
            # A DataLoader worker re-raises its error as `DataError(message)`, the message ending with the
            # original traceback's last line "...DataError: <path>: <problem>": keep just that line.
            last_line = str(path).strip().splitlines()[-1] if str(path).strip() else ""
            path, _, problem = last_line.split(_MARKER, 1)[-1].partition(": ")
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@contextmanager
def exit_on_data_error() -> Iterator[None]:
    """For command-line entry points: a `DataError` ends the command with one line on stderr and exit code 2,
    not a traceback wall."""
    try:
        yield
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
