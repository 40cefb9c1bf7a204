"""Find reconstruction / target file pairs in both layouts and read them, refusing files that do not match.

SNU: targets `<root>/<split>/<acc>/image/<name>.h5` (`image_label`, attrs `max`, `image_input` zero-filled),
reconstructions `<recon_dir>/<acc>/<name>.h5`. fastMRI: targets `<root>/<split>/<name>.h5`
(`reconstruction_rss`, data range = the volume's max), reconstructions `<recon_dir>/<name>.h5`, all in one
group named after the split. Reconstructions hold `reconstruction` with exactly the target's shape, except
that a fastMRI volume narrower than its target is compared on a W x W square (`_compared_shape`).
SNU image files may carry fastMRI+ lesion boxes in `attrs['annotations']` (scored by the 2026 rules).
"""

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import torch

from fastmri_pl.challenge.annotations import ANNOTATIONS_ATTR, Box, parse_annotations
from fastmri_pl.data.h5checks import LAYOUTS, open_h5, require_attr, require_finite_slices, target_crop
from fastmri_pl.data.volumes import acceleration_subfolders
from fastmri_pl.errors import DataError
from fastmri_pl.mri.crop import center_crop

TARGET_KEYS = {"snu": "image_label", "fastmri": "reconstruction_rss"}
ZERO_FILLED_KEY = "image_input"
RECON_KEY = "reconstruction"


@dataclass(frozen=True)
class VolumePair:
    """One volume to score: its group (acceleration folder, or the split for fastMRI) and both files."""

    group: str
    name: str
    target_path: Path
    recon_path: Path


@dataclass(frozen=True)
class Volume:
    """Slices of one volume as float32 (S, H, W) tensors; zero_filled only where the file has it;
    annotations: slice index -> lesion boxes (empty where the file has none)."""

    recon: torch.Tensor
    target: torch.Tensor
    max_value: float
    zero_filled: torch.Tensor | None = None
    annotations: dict[int, list[Box]] = field(default_factory=dict)


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def find_pairs(root: str | Path, recon_dir: str | Path, layout: str, split: str) -> list[VolumePair]:
    """Every target volume under root/split with the reconstruction it must have, by group and name."""
    _check_layout(layout)
    split_dir, recon_dir = Path(root) / split, Path(recon_dir)
    if not split_dir.is_dir():
        raise DataError(split_dir, "no such folder (check data.root and split)")
    if layout == "snu":
        pairs = [
            VolumePair(acc_dir.name, target.name, target, recon_dir / acc_dir.name / target.name)
            for acc_dir in acceleration_subfolders(split_dir)
            for target in sorted((acc_dir / "image").glob("*.h5"))
        ]
        expected = "<acc>/image/*.h5 target files"
    else:
        pairs = [VolumePair(split, t.name, t, recon_dir / t.name) for t in sorted(split_dir.glob("*.h5"))]
        expected = "*.h5 target files"
    if not pairs:
        raise DataError(split_dir, f"holds no {expected} for the {layout} layout")
    return pairs


def _dataset(file: h5py.File, key: str, path: Path) -> h5py.Dataset:
    if key not in file:
        raise DataError(path, f"has no '{key}' dataset (found: {sorted(file.keys())})")
    return file[key]


def check_pair(pair: VolumePair, layout: str) -> None:
    """Fail before scoring when a reconstruction is missing, lacks its key or has a wrong shape / dtype."""
    _check_layout(layout)
    if not os.path.lexists(pair.recon_path):  # anything else there (a folder, a dangling link): open_h5 says
        raise DataError(pair.recon_path, f"missing reconstruction for target {pair.target_path}")
    with open_h5(pair.target_path) as target_file, open_h5(pair.recon_path) as recon_file:
        target = _dataset(target_file, TARGET_KEYS[layout], pair.target_path)
        recon = _dataset(recon_file, RECON_KEY, pair.recon_path)
        expected = _compared_shape(target_file, pair.target_path, layout)
        if recon.shape != expected:
            narrow = "" if expected == target.shape else f", compared on {expected} (fastMRI's square crop)"
            raise DataError(
                pair.recon_path,
                f"'{RECON_KEY}' has shape {recon.shape} but target {pair.target_path.name} has"
                f" {target.shape}{narrow} (slices, height, width)",
            )
        if recon.dtype.kind != "f":
            raise DataError(pair.recon_path, f"'{RECON_KEY}' must be real floating point, got {recon.dtype}")
        if layout == "snu":  # the SSIM data range, checked as when training data is indexed
            require_attr(target_file, pair.target_path, "max", positive=True)
        _annotations(target_file, pair.target_path)


def _compared_shape(target_file: h5py.File, path: Path, layout: str) -> tuple[int, ...]:
    """(slices, h, w) a reconstruction must have: the target's, or for a fastMRI volume narrower than its
    target fastMRI's W x W square (`data.h5checks.target_crop`, as training compares it)."""
    target = target_file[TARGET_KEYS[layout]]
    if layout != "fastmri" or "kspace" not in target_file:
        return tuple(target.shape)
    height, width = target_file["kspace"].shape[-2:]
    crop = target_crop(path, TARGET_KEYS[layout], target.shape, height, width, layout)
    return (target.shape[0], *crop)


def _annotations(file: h5py.File, path: Path) -> dict[int, list[Box]]:
    text = file.attrs.get(ANNOTATIONS_ATTR)
    return {} if text is None else parse_annotations(text, path)


def read_volume(pair: VolumePair, layout: str, slices: slice = slice(None)) -> Volume:
    """The selected slices of a checked pair (see `check_pair`); max_value is the whole volume's.

    Non-finite pixels in the reconstruction or target are refused naming file and slice."""
    with open_h5(pair.target_path) as target_file, open_h5(pair.recon_path) as recon_file:
        target_data = target_file[TARGET_KEYS[layout]]
        indices = range(*slices.indices(target_data.shape[0]))
        if layout == "snu":
            max_value = float(target_file.attrs["max"])
            target = target_data[slices]
        else:  # fastMRI: the data range is the compared volume's max
            whole = target_data[()]
            compared = _compared_shape(target_file, pair.target_path, layout)
            if whole.shape != compared:
                whole = center_crop(torch.from_numpy(whole), compared[-2:]).numpy()
            max_value, target = float(whole.max()), whole[slices]
        zero_filled = target_file[ZERO_FILLED_KEY][slices] if ZERO_FILLED_KEY in target_file else None
        recon = recon_file[RECON_KEY][slices]
        annotations = _annotations(target_file, pair.target_path)
    # a NaN or Inf pixel would make its volume's score NaN (reported as null)
    require_finite_slices(recon, pair.recon_path, f"'{RECON_KEY}'", indices)
    require_finite_slices(target, pair.target_path, f"'{TARGET_KEYS[layout]}'", indices)
    return Volume(
        recon=_as_tensor(recon),
        target=_as_tensor(target),
        max_value=max_value,
        zero_filled=None if zero_filled is None else _as_tensor(zero_filled),
        annotations=annotations,
    )


def _as_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(array, dtype=np.float32))
