"""The one error type for bad input files: it names the file and says what is wrong with it."""

from pathlib import Path


class DataError(ValueError):
    """A data file or folder that cannot be used; the command-line entry points print it as one line."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
