"""Real unreadable files and read-only folders for tests that may run as root, where chmod blocks nothing.

`as_unprivileged()` drops the effective user to `nobody` for a block (root's real user id stays, so it can
come back): the kernel then checks permissions as for any user. `read_only(folder)` makes a folder refuse new
files: `chattr +i` where the machine allows it (it binds root too), else chmod for a non-root user, else a
fake of the atomic writer that fails as a read-only folder does.
"""

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastmri_pl.runs import atomic

NOBODY = 65534


@contextlib.contextmanager
def as_unprivileged() -> Iterator[None]:
    """The block runs with effective user `nobody` when the test runs as root (else as the user it is)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@contextlib.contextmanager
def reachable_folder() -> Iterator[Path]:
    """A fresh folder `nobody` can reach (pytest's tmp_path lies under a private folder), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="fastmri_pl_perm_"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", flag, str(path)], capture_output=True)
    return result.returncode == 0


@contextlib.contextmanager
def read_only(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Files cannot be created in `folder` during the block; yields how: "chattr", "chmod" or "fake"."""
    if _chattr("+i", folder):
        try:
            yield "chattr"
        finally:
            _chattr("-i", folder)
        return
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield "chmod"
        finally:
            folder.chmod(mode)
        return
    real_open = open

    def refusing_open(name: str, mode: str = "r", *args: object, **kwargs: object):  # noqa: ANN202
        if "w" in mode and Path(name).resolve().is_relative_to(folder.resolve()):
            raise PermissionError(errno.EACCES, "Permission denied", str(name))
        return real_open(name, mode, *args, **kwargs)

    monkeypatch.setattr(atomic, "open", refusing_open, raising=False)
    yield "fake"
    monkeypatch.undo()
