"""Opening HDF5 files and checking what they hold, each failure a `DataError` naming file and problem."""

import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import h5py
import numpy as np

from fastmri_pl.errors import DataError

# the data layouts (docs/data.md): how files are paired and how a target meets the image (`target_crop`)
LAYOUTS = ("snu", "fastmri")
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# where HDF5 looks for its signature: offset 0, then after a user block of 512, 1024, 2048, ... bytes
_SIGNATURE_OFFSETS = (0, *(512 * 2**n for n in range(12)))


@contextlib.contextmanager
def open_h5(path: Path) -> Iterator[h5py.File]:
    """Open read-only; a file that cannot be opened becomes a DataError saying why (`unreadable_reason`)."""
    try:
        f = h5py.File(path, "r")
    except OSError as error:
        raise DataError(path, unreadable_reason(Path(path), error)) from None
    with f:
        yield f


def unreadable_reason(path: Path, error: OSError) -> str:
    """Why h5py could not open `path`, in the user's terms: missing (a dangling link names its target), a
    folder, permission denied, empty, truncated, or not HDF5 at all. Asked only after a failed open, so the
    readable file costs nothing."""
    if path.is_symlink() and not path.exists():
        return f"is a link to {os.readlink(path)}, which does not exist"
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            head = file.read(len(HDF5_SIGNATURE))
            signed = any(_signature_at(file, offset) for offset in _SIGNATURE_OFFSETS if offset < size)
    except FileNotFoundError:
        return "not found"
    except IsADirectoryError:
        return "is a folder, not an HDF5 file"
    except PermissionError:
        return "cannot be read: permission denied"
    except OSError as os_error:
        return f"cannot be read: {os_error.strerror or os_error}"
    if size == 0:
        return "is empty (0 bytes)"
    if signed:
        stored = re.search(r"stored_eof = (\d+)", str(error))
        if stored:
            return f"is truncated: {size} of its {int(stored.group(1))} bytes (copy or download it again)"
        return f"is a damaged HDF5 file ({_h5_reason(error)})"
    if HDF5_SIGNATURE.startswith(head):
        return f"is truncated: {size} bytes, too short to be an HDF5 file"
    return f"is not an HDF5 file (no HDF5 signature in its {size} bytes)"


def _signature_at(file: BinaryIO, offset: int) -> bool:
    file.seek(offset)
    return file.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE


def _h5_reason(error: OSError) -> str:
    """h5py's text without its "Unable to synchronously open file" preamble."""
    text = str(error)
    inner = re.search(r"\((.*)\)\s*$", text, re.DOTALL)
    return (inner.group(1) if inner else text).splitlines()[0]


def slice_list(indices: Iterable[int]) -> str:
    """`slice 3` or `slices 0-2, 5`: exactly the listed slices, runs of consecutive ones as ranges."""
    ordered = sorted(set(int(i) for i in indices))
    runs: list[list[int]] = []
    for index in ordered:
        if runs and index == runs[-1][-1] + 1:
            runs[-1].append(index)
        else:
            runs.append([index])
    text = ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}" for run in runs)
    return f"slice {text}" if len(ordered) == 1 else f"slices {text}"


def require_finite_slices(array: np.ndarray, path: Path, key: str, indices: Sequence[int]) -> None:
    """Refuse NaN/Inf in (S, ...) `array` whose slice s is the file's slice `indices[s]`, naming exactly the
    bad slices (one bad pixel would make every weight NaN after one step, or a volume's score NaN)."""
    bad = {indices[position] for position in non_finite_slices(array)}
    if bad:
        verb = "contains" if len(bad) == 1 else "contain"
        raise DataError(path, f"{key} {slice_list(bad)} {verb} NaN or Inf")


def non_finite_slices(array: np.ndarray) -> list[int]:
    """Indices along the first axis of the slices holding a NaN or Inf (one summing pass first: cheap)."""
    if np.isfinite(array.sum()):
        return []
    finite = np.isfinite(array).reshape(array.shape[0], -1).all(axis=1)
    return [int(i) for i in np.flatnonzero(~finite)]


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


def target_crop(
    path: Path, key: str, target_shape: tuple[int, ...], height: int, width: int, layout: str
) -> tuple[int, int]:
    """The (h, w) a volume's targets and outputs are compared at, for a target of `target_shape` and a k-space
    image of height x width; the network's output meets it through `mri.crop.center_crop_or_pad`.

    snu: the target's own size, whatever the image's: the organisers' baseline centre-crops its output where
    larger and zero-pads it where smaller, axis by axis (their 2026 knee k-space is 640 x 368, its targets
    384 x 384: the image is cropped to 384 rows and padded to 384 columns).
    fastmri: the target's own size, which must fit in the image; except that an image narrower than its
    target is compared on a W x W square, as fastMRI's own VarNet and U-Net code does for such brain volumes
    (its "FLAIR 203" check), both target and output centre-cropped to it."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    target_height, target_width = (int(n) for n in target_shape[-2:])
    if min(target_height, target_width) < 1:
        raise DataError(path, f"{key} is empty ({target_height} x {target_width} pixels per slice)")
    if layout == "snu":
        return target_height, target_width
    if width < target_width and width <= min(target_height, height):
        return width, width
    if target_height > height or target_width > width:
        raise DataError(
            path,
            f"{key} is {target_height} x {target_width}, larger than the k-space image {height} x {width}"
            " it is cropped from",
        )
    return target_height, target_width


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
