"""Opening HDF5 files and checking what they hold, each failure a `DataError` naming file and problem."""

import contextlib
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np

from fastmri_pl.errors import DataError


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[h5py.File]:
    """Open read-only; an unreadable, truncated or non-HDF5 file becomes a DataError."""
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DataError(path, f"cannot be read as HDF5 (truncated or not an HDF5 file): {error}") from error
    with f:
        yield f


def require_dataset(
    f: h5py.File, path: Path, key: str, rank: int, complex_valued: bool = False
) -> h5py.Dataset:
    """The dataset `key` with `rank` axes (and a complex dtype if asked); otherwise a DataError."""
    if key not in f or not isinstance(f[key], h5py.Dataset):
        raise DataError(path, f"missing dataset {key!r} (has {sorted(f.keys())})")
    dataset = f[key]
    if dataset.ndim != rank:
        raise DataError(
            path, f"dataset {key!r} has rank {dataset.ndim} (shape {dataset.shape}), expected {rank}"
        )
    if complex_valued and not np.issubdtype(dataset.dtype, np.complexfloating):
        raise DataError(
            path, f"dataset {key!r} has dtype {dataset.dtype}, expected a complex dtype (complex64)"
        )
    if not complex_valued and not np.issubdtype(dataset.dtype, np.number):
        raise DataError(path, f"dataset {key!r} has non-numeric dtype {dataset.dtype}")
    return dataset


def require_attr(f: h5py.File, path: Path, key: str, positive: bool = False) -> float:
    """A finite scalar attribute (such as `max`) as a float; `positive` also refuses values <= 0 (a data
    range of 0 or less would turn SSIM, PSNR and the L1 losses into NaN or nonsense an epoch later)."""
    if key not in f.attrs:
        raise DataError(path, f"missing attribute {key!r} (has {sorted(f.attrs.keys())})")
    value = float(np.asarray(f.attrs[key]).reshape(-1)[0])
    if not np.isfinite(value):
        raise DataError(path, f"attribute {key!r} is {value}")
    if positive and value <= 0:
        raise DataError(path, f"attribute {key!r} is {value}, expected > 0 (it is the SSIM data range)")
    return value


def require_target_fits(path: Path, key: str, target_shape: tuple[int, ...], height: int, width: int) -> None:
    """The target (h, w) must fit in the k-space image (H, W) it is cropped from."""
    target_height, target_width = target_shape[-2:]
    if target_height > height or target_width > width:
        raise DataError(
            path,
            f"{key} is {target_height} x {target_width}, larger than the k-space image {height} x {width}"
            " it is cropped from",
        )


def require_mask(f: h5py.File, path: Path, width: int) -> np.ndarray:
    """The (W,) 0/1 `mask` dataset, its length equal to the k-space width."""
    mask = np.asarray(require_dataset(f, path, "mask", rank=1)[()]).reshape(-1)
    if mask.shape[0] != width:
        raise DataError(path, f"mask length {mask.shape[0]} != k-space width {width}")
    if not np.isin(mask, (0, 1)).all():
        raise DataError(path, "mask holds values other than 0 and 1")
    if not mask.any():
        raise DataError(path, "mask samples no phase-encode line (all zero)")
    return mask.astype(np.float32)
