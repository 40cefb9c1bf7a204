"""Files written whole or not at all: a temporary name in the destination folder, flushed to disk, renamed.

A kill, a full disk or a read-only folder leaves the earlier file under the final name untouched, never a
truncated one; the failure is a `WriteError` naming the file and the cause, which the command-line entry
points print as one line.
"""

import contextlib
import os
import re
from pathlib import Path

from fastmri_pl.errors import DataError


class WriteError(DataError):
    """A file that could not be written (full disk, read-only or missing folder); earlier files are intact."""

    def __init__(self, path: str | Path, error: OSError) -> None:
        cause = _cause(Path(path), error)
        super().__init__(path, f"cannot be written ({cause}); files written before are intact")


def _cause(path: Path, error: OSError) -> str:
    """The OS's reason, or which part of the path is a file where a folder should be."""
    if isinstance(error, FileExistsError | NotADirectoryError):
        blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
        if blocking is not None:
            return f"{blocking} is a file, not a folder"
    return error.strerror or str(error)


TEMPORARY = re.compile(r"\..+\.\d+\.tmp")  # the names `temporary_name` gives


def temporary_name(path: Path) -> Path:
    """`.name.<pid>.tmp` beside `path`: same file system (so the rename is atomic), globbed by no reader."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomically(path: str | Path, data: bytes | memoryview) -> None:
    """Write `data` to `path` through a synced temporary file; raise `WriteError` if any step fails."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
        sync_folder(path.parent)
    except OSError as error:
        raise WriteError(path, error) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (a power cut after it must not bring the old file back).

    Some systems cannot open or sync a folder; the rename itself has then still happened.
    """
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def check_writable_folder(folder: str | Path) -> None:
    """Create `folder` and write and remove a probe file in it, so a run learns at its start, not after an
    epoch, that its checkpoints could not be saved."""
    folder = Path(folder)
    probe = temporary_name(folder / "write_probe")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise WriteError(folder, error) from None
