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

from fastmri_pl.runs.atomic import write_atomically

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
