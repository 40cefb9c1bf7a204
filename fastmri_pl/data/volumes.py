"""What a reader knows about one volume, file filtering for quick runs, and reading its slices.

Indexing opens every file once to validate it (keys, dtypes, ranks, mask length), so a bad file fails at
start-up with its name rather than hours into an epoch; the slices themselves are read per sample.
"""

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fastmri_pl.data.h5checks import open_h5, require_finite_slices
from fastmri_pl.errors import DataError
from fastmri_pl.mri.crop import center_crop

_ACCELERATION = re.compile(r"acc(\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Volume:
    """One validated volume: where its k-space and target live and the shapes it holds.

    crop: the (h, w) targets and outputs are compared at (`h5checks.target_crop`): the target's size, or
    fastMRI's square for a volume narrower than its target; outputs are centre-cropped or zero-padded to it
    (`mri.crop.center_crop_or_pad`: an SNU target may be wider than the image), targets only ever cropped.
    target_path, max_value and crop are None only for k-space-only volumes
    (`index_volumes(require_image=False)`).
    """

    fname: str
    kspace_path: Path
    target_path: Path | None
    target_key: str
    num_slices: int
    num_coils: int
    height: int
    width: int
    has_mask: bool
    acceleration: float | None
    max_value: float | None
    crop: tuple[int, int] | None = None


@dataclass(frozen=True)
class FileFilter:
    """Keep files whose name matches a glob, whose nominal acceleration is listed, at most `max_files`."""

    pattern: str | None = None
    accelerations: Sequence[float] | None = None
    max_files: int | None = None

    def apply(self, paths: list[Path]) -> list[Path]:
        kept = sorted(paths, key=lambda p: p.name)
        if self.pattern is not None:
            kept = [p for p in kept if fnmatch.fnmatch(p.name, self.pattern)]
        if self.accelerations is not None:
            wanted = {float(a) for a in self.accelerations}
            kept = [p for p in kept if nominal_acceleration(p) in wanted]
        return kept if self.max_files is None else kept[: self.max_files]

    def describe(self) -> str:
        """The filter in words for messages ("" when it keeps everything)."""
        parts = [f"names matching {self.pattern!r}"] if self.pattern is not None else []
        if self.accelerations is not None:
            parts.append(f"accelerations {', '.join(f'{float(a):g}' for a in self.accelerations)}")
        if self.max_files is not None:
            parts.append(f"at most {self.max_files} files")
        return "; ".join(parts)


def nominal_acceleration(path: Path) -> float | None:
    """The acceleration a path names (`brain_acc4_1.h5`, `leaderboard/acc8/...`), else None."""
    for part in (path.name, *reversed(path.parent.parts)):
        match = _ACCELERATION.search(part)
        if match:
            return float(match.group(1))
    return None


def acceleration_subfolders(folder: Path) -> list[Path]:
    """The `acc<N>` folders directly under `folder` (the SNU leaderboard's) in order of acceleration (acc4
    before acc10): what `reconstruct` reads and `evaluate` scores; other entries are left out."""
    folders = {p: _ACCELERATION.fullmatch(p.name) for p in folder.iterdir() if p.is_dir()}
    named = {p: float(match.group(1)) for p, match in folders.items() if match}
    return sorted(named, key=lambda p: (named[p], p.name))


def h5_files(folder: Path) -> list[Path]:
    """The `.h5` files of a folder (temporary `.name.tmp` files of an interrupted write are not listed)."""
    if not folder.is_dir():
        raise DataError(folder, "folder not found")
    return [p for p in folder.iterdir() if p.suffix == ".h5" and not p.name.startswith(".")]


def read_kspace_slices(volume: Volume, slice_indices: Sequence[int]) -> np.ndarray:
    """(S, C, H, W) complex64 k-space of the listed slices, read straight into one array; NaN/Inf refused."""
    out = np.empty((len(slice_indices), volume.num_coils, volume.height, volume.width), dtype=np.complex64)
    with open_h5(volume.kspace_path) as f:
        dataset = f["kspace"]
        for position, index in enumerate(slice_indices):
            dataset.read_direct(out, np.s_[index], np.s_[position])
    require_finite_slices(out, volume.kspace_path, "kspace", slice_indices)
    return out


def read_mask(volume: Volume) -> np.ndarray:
    """(W,) float32 own mask of the volume's k-space file."""
    with open_h5(volume.kspace_path) as f:
        return np.asarray(f["mask"][()], dtype=np.float32).reshape(-1)


def read_target(volume: Volume, slice_index: int) -> np.ndarray:
    """(h, w) float32 reference image of one slice, centre-cropped to `volume.crop`; NaN/Inf refused (one bad
    pixel would make every weight NaN after one step)."""
    with open_h5(volume.target_path) as f:
        target = np.asarray(f[volume.target_key][slice_index], dtype=np.float32)
    require_finite_slices(target[None], volume.target_path, volume.target_key, [slice_index])
    if volume.crop is not None and target.shape != volume.crop:
        target = np.ascontiguousarray(center_crop(torch.from_numpy(target), volume.crop).numpy())
    return target
