"""The one error type for bad input files: it names the file and says what is wrong with it."""

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
