"""The run folder's guard rails: resume, no overwrite, one live run at a time.

A fresh run never starts in a folder that already holds checkpoints, and a second run never starts in a
folder a live run holds (an OS lock on `<run folder>/.run.lock`, released by the kernel when its process ends
however it ends, so the lock of a killed run is simply taken over). From the command line both checks run in
a Hydra callback before Hydra writes `.hydra/*.yaml`, so a refused run changes nothing in the folder; `train`
repeats them for in-process runs and multirun jobs (whose `.hydra` Hydra writes before any callback). A resume
keeps the config of every earlier start: Hydra then writes the resume's own `.hydra/*.yaml` over them.
"""

import fcntl
import itertools
import json
import os
import socket
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.errors import DataError, exit_on_data_error
from fastmri_pl.runs.atomic import write_atomically

LOCK_FILE = ".run.lock"
HYDRA_FILES = ("config.yaml", "hydra.yaml", "overrides.yaml")  # what Hydra writes into `hydra.output_subdir`
_held: dict[Path, int] = {}  # run folders this process holds the lock of -> the lock file's descriptor


def restarted() -> bool:
    """This SLURM job was requeued (or restarted after a node failure): it should resume, not start afresh."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str | Path) -> str | None:
    """`last` -> the run folder's checkpoints/last.ckpt, which must exist; any other value must be a file.
    Unset in a SLURM job that was requeued (`restarted`): the folder's last.ckpt if there is one, as the
    stopped job's line said (its command line, which SLURM runs again, cannot say it)."""
    last = Path(output_dir) / "checkpoints" / "last.ckpt"
    if ckpt_path is None and restarted() and last.is_file():
        return str(last)
    if ckpt_path is None:
        return None
    path = last if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        hint = " (resume in the killed run's folder: hydra.run.dir=<that folder> ckpt_path=last)"
        raise DataError(path, "no checkpoint to resume from" + (hint if ckpt_path == "last" else ""))
    return str(path)


def check_output_folder(output_dir: str | Path, resuming: bool) -> None:
    """Refuse to start a fresh run in a folder that already holds checkpoints: they would be overwritten."""
    folder = Path(output_dir) / "checkpoints"
    if not resuming and folder.is_dir() and any(folder.glob("*.ckpt")):
        raise DataError(
            folder, "already holds checkpoints; resume with ckpt_path=last or choose another hydra.run.dir"
        )


def keep_earlier_configs(hydra_dir: str | Path) -> None:
    """Copy the `.hydra/{config,hydra,overrides}.yaml` found in `hydra_dir` to `<name>.<n>.yaml` before a
    resume's Hydra writes its own there.

    n counts the starts of the run: 0 for the original one, then one per resume, so `overrides.0.yaml` always
    says how the run was started and the unnumbered files describe its latest start. Nothing is overwritten.
    """
    folder = Path(hydra_dir)
    present = [name for name in HYDRA_FILES if (folder / name).is_file()]
    number = next(n for n in itertools.count() if not any(folder.glob(f"*.{n}.yaml")))
    for name in present:
        write_atomically(folder / _numbered(name, number), (folder / name).read_bytes())


def _numbered(name: str, number: int) -> str:
    stem, suffix = os.path.splitext(name)
    return f"{stem}.{number}{suffix}"


def acquire_lock(output_dir: str | Path) -> bool:
    """Hold the run folder's lock until `release_lock` or the end of this process; False if already held.

    Only rank 0 of a job locks (DDP ranks started after it run in the same folder on purpose). A live holder
    is refused naming its PID and host; on a file system without locks the run goes on with a warning.
    """
    folder = Path(output_dir).resolve()
    if folder in _held or rank_zero_only.rank != 0:
        return False
    path = folder / LOCK_FILE
    try:
        folder.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:  # read-only or not ours: nothing could be saved there either
        raise DataError(folder, f"cannot write in the run folder ({error.strerror})") from error
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(descriptor)
        os.close(descriptor)
        raise DataError(
            path,
            f"another run ({holder}) is using this folder; wait for its end or choose another hydra.run.dir",
        ) from None
    except OSError as error:  # e.g. a network file system mounted without lock support
        os.close(descriptor)
        warnings.warn(f"{path}: cannot lock the run folder ({error}); two runs here would mix", stacklevel=2)
        return False
    os.ftruncate(descriptor, 0)
    os.write(descriptor, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
    _held[folder] = descriptor
    return True


def release_lock(output_dir: str | Path) -> None:
    """Let another run use the folder (the file stays: deleting it would race with a starting run)."""
    descriptor = _held.pop(Path(output_dir).resolve(), None)
    if descriptor is not None:
        os.close(descriptor)  # closing the last descriptor releases the lock


@contextmanager
def run_folder_lock(output_dir: str | Path) -> Iterator[None]:
    """The lock for the duration of a block, unless this process already held it (then it keeps it)."""
    acquired = acquire_lock(output_dir)
    try:
        yield
    finally:
        if acquired:
            release_lock(output_dir)


def _holder(descriptor: int) -> str:
    try:
        holder = json.loads(os.pread(descriptor, 4096, 0) or b"{}")
        return f"PID {holder['pid']} on {holder['host']}"
    except (ValueError, KeyError, TypeError):
        return "a process that has not written its PID yet"


class RunFolderGuard(Callback):
    """Hydra callback (`hydra.callbacks.run_folder_guard` in `train.yaml`): the folder checks and the lock of
    a single run, before Hydra writes anything into the folder; a refusal is one line and exit code 2. A
    resume that passes them keeps the earlier starts' `.hydra` files (`keep_earlier_configs`)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        HydraConfig.instance().set_config(config)  # as Hydra's run_job does next: `hydra:` keys resolve
        output_dir = os.path.abspath(str(OmegaConf.select(config, "hydra.run.dir")))
        if rank_zero_only.rank != 0:
            return
        with exit_on_data_error():
            resuming = resolve_ckpt_path(config.get("ckpt_path"), output_dir) is not None
            check_output_folder(output_dir, resuming)
            acquire_lock(output_dir)
            subdir = OmegaConf.select(config, "hydra.output_subdir")
            if resuming and subdir is not None:
                keep_earlier_configs(Path(output_dir) / str(subdir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        release_lock(os.path.abspath(str(OmegaConf.select(config, "hydra.run.dir"))))
