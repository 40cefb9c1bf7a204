"""Index a folder into validated volumes, one function per layout.

SNU: `<folder>/kspace/X.h5` (kspace, mask) paired by name with `<folder>/image/X.h5` (image_label, attrs max);
with `require_image=False` (leaderboard reconstruction) a k-space file needs no image twin, and a volume
without one has `target_path` and `max_value` None. A target may be larger than the k-space image (2026
knee: 640 x 368 k-space, 384 x 384 targets): outputs are cropped or padded to it (`h5checks.target_crop`).
fastMRI: `<folder>/X.h5` (kspace, reconstruction_rss, attrs max; a `mask` is used when present); a volume
narrower than its target is compared on a W x W square, as fastMRI does (`h5checks.target_crop`).
Coil counts and widths may differ between files.
"""

from pathlib import Path

import h5py

from fastmri_pl.data.h5checks import (
    LAYOUTS,
    open_h5,
    require_attr,
    require_dataset,
    require_mask,
    target_crop,
)
from fastmri_pl.data.volumes import FileFilter, Volume, h5_files, nominal_acceleration
from fastmri_pl.errors import DataError


def index_volumes(
    layout: str, folder: str | Path, file_filter: FileFilter | None = None, require_image: bool = True
) -> list[Volume]:
    """Validated volumes of a folder in the given layout; an empty selection is a DataError.

    require_image=False (SNU only) indexes k-space files whose image twin is absent, for inference.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"data layout must be one of {LAYOUTS}, got {layout!r}")
    folder = Path(folder)
    file_filter = file_filter or FileFilter()
    if layout == "snu":
        volumes = _index_snu(folder, file_filter, require_image)
    else:
        volumes = _index_fastmri(folder, file_filter)
    if not volumes:
        kept = file_filter.describe()
        keeping = f", keeping {kept}" if kept else ""
        raise DataError(folder, f"no .h5 files to read ({layout} layout{keeping})")
    return volumes


def _index_snu(folder: Path, file_filter: FileFilter, require_image: bool = True) -> list[Volume]:
    kspace_dir, image_dir = folder / "kspace", folder / "image"
    kspace_files = {p.name: p for p in h5_files(kspace_dir)}
    if not require_image:
        images = {p.name: p for p in h5_files(image_dir)} if image_dir.is_dir() else {}
        selected = file_filter.apply(list(kspace_files.values()))
        return [snu_volume(path, images.get(path.name)) for path in selected]
    image_files = {p.name: p for p in h5_files(image_dir)}
    image_only = sorted(set(image_files) - set(kspace_files))
    if image_only:
        raise DataError(image_files[image_only[0]], f"image file without its k-space twin in {kspace_dir}")
    kspace_only = sorted(set(kspace_files) - set(image_files))
    if kspace_only:
        raise DataError(kspace_files[kspace_only[0]], f"k-space file without its image twin in {image_dir}")
    selected = file_filter.apply(list(kspace_files.values()))
    return [snu_volume(path, image_files[path.name]) for path in selected]


def snu_volume(kspace_path: Path, image_path: Path | None) -> Volume:
    """One validated SNU volume: its k-space file (kspace, mask) and, unless None, its image twin."""
    with open_h5(kspace_path) as f:
        slices, coils, height, width = _kspace_shape(f, kspace_path)
        mask = require_mask(f, kspace_path, width)
    max_value, crop = None, None
    if image_path is not None:
        with open_h5(image_path) as f:
            label = require_dataset(f, image_path, "image_label", rank=3)
            if label.shape[0] != slices:
                raise DataError(
                    image_path, f"image_label has {label.shape[0]} slices, its k-space file {slices}"
                )
            crop = target_crop(image_path, "image_label", label.shape, height, width, "snu")
            max_value = require_attr(f, image_path, "max", positive=True)
    acceleration = nominal_acceleration(kspace_path) or width / max(float(mask.sum()), 1.0)
    return Volume(
        fname=kspace_path.name,
        kspace_path=kspace_path,
        target_path=image_path,
        target_key="image_label",
        num_slices=slices,
        num_coils=coils,
        height=height,
        width=width,
        has_mask=True,
        acceleration=acceleration,
        max_value=max_value,
        crop=crop,
    )


def _index_fastmri(folder: Path, file_filter: FileFilter) -> list[Volume]:
    return [_fastmri_volume(path) for path in file_filter.apply(h5_files(folder))]


def _fastmri_volume(path: Path) -> Volume:
    with open_h5(path) as f:
        slices, coils, height, width = _kspace_shape(f, path)
        target = require_dataset(f, path, "reconstruction_rss", rank=3)
        if target.shape[0] != slices:
            raise DataError(path, f"reconstruction_rss has {target.shape[0]} slices, kspace {slices}")
        crop = target_crop(path, "reconstruction_rss", target.shape, height, width, "fastmri")
        max_value = require_attr(f, path, "max", positive=True)
        has_mask = "mask" in f
        acceleration = None
        if has_mask:
            mask = require_mask(f, path, width)
            acceleration = float(f.attrs.get("acceleration", width / max(float(mask.sum()), 1.0)))
    return Volume(
        fname=path.name,
        kspace_path=path,
        target_path=path,
        target_key="reconstruction_rss",
        num_slices=slices,
        num_coils=coils,
        height=height,
        width=width,
        has_mask=has_mask,
        acceleration=acceleration,
        max_value=max_value,
        crop=crop,
    )


def _kspace_shape(f: h5py.File, path: Path) -> tuple[int, int, int, int]:
    kspace = require_dataset(f, path, "kspace", rank=4, complex_valued=True)
    if 0 in kspace.shape:
        raise DataError(path, f"kspace is empty (shape {kspace.shape})")
    return tuple(int(n) for n in kspace.shape)  # type: ignore[return-value]
