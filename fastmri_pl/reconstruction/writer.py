"""Reconstruction files written atomically: a temporary name in the destination folder, then `os.replace`.

A crash (or Ctrl-C) while a volume is being reconstructed leaves the earlier volumes complete and nothing of
the interrupted one: the temporary `.name.<pid>.tmp` file is removed, and readers never glob it anyway.
"""

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from fastmri_pl.data.synthetic_files import atomic_h5_files

RECON_KEY = "reconstruction"


def write_reconstruction(path: Path, slices: Iterable[torch.Tensor], shape: tuple[int, int, int]) -> None:
    """Stream (h, w) slices into `path`'s dataset `reconstruction` (S, h, w) float32 as they are produced."""
    with atomic_h5_files([path]) as (file,):
        dataset = file.create_dataset(RECON_KEY, shape=shape, dtype=np.float32)
        count = 0
        for index, image in enumerate(slices):
            dataset[index] = image.detach().to("cpu", torch.float32).numpy()
            count += 1
        if count != shape[0]:
            raise RuntimeError(f"{path.name}: got {count} slices, expected {shape[0]}")


def copy_atomically(source: Path, destination: Path) -> None:
    """Copy a finished file (submission folders) under a temporary name, then rename it into place."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        os.replace(tmp, destination)
    finally:
        tmp.unlink(missing_ok=True)
