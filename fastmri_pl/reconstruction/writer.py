"""Reconstruction files written atomically: built in memory, then written under a temporary name in the
destination folder, synced and renamed (`fastmri_pl.runs.atomic`).

A crash (or Ctrl-C) while a volume is being reconstructed leaves the earlier volumes complete and nothing of
the interrupted one. The HDF5 file is assembled in memory (one volume's float32 slices, a few MB) because
HDF5 failing to write to a full disk leaves h5py objects that crash the interpreter when collected; the
bytes are then written with plain file writes, whose failure is one `WriteError` line.
"""

import io
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import torch

from fastmri_pl.data.h5checks import non_finite_slices, open_h5
from fastmri_pl.errors import DataError
from fastmri_pl.runs.atomic import TEMPORARY, write_atomically

RECON_KEY = "reconstruction"


def write_reconstruction(path: Path, slices: Iterable[torch.Tensor], shape: tuple[int, int, int]) -> None:
    """Stream (h, w) slices into `path`'s dataset `reconstruction` (S, h, w) float32 as they are produced."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as file:
        dataset = file.create_dataset(RECON_KEY, shape=shape, dtype=np.float32)
        count = 0
        for index, image in enumerate(slices):
            dataset[index] = image.detach().to("cpu", torch.float32).numpy()
            count += 1
        if count != shape[0]:
            raise RuntimeError(f"{path.name}: got {count} slices, expected {shape[0]}")
    write_atomically(path, buffer.getbuffer())


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy a finished file (submission folders) under a temporary name, then rename it into place."""
    write_atomically(destination, source.read_bytes())


def is_complete(path: Path, shape: tuple[int, int, int]) -> bool:
    """Whether `path` holds a finished reconstruction: a readable HDF5 file whose `reconstruction` has exactly
    `shape`, a float dtype and only finite values. What `resume=true` skips; anything less is redone."""
    try:
        with open_h5(path) as file:
            dataset = file.get(RECON_KEY)
            if not isinstance(dataset, h5py.Dataset) or dataset.shape != shape or dataset.dtype.kind != "f":
                return False
            return not non_finite_slices(dataset[()])
    except (DataError, OSError):
        return False


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files (`runs.atomic.temporary_name`) a killed run left under `folder`."""
    removed = [p for p in folder.rglob(".*.tmp") if p.is_file() and TEMPORARY.fullmatch(p.name)]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
