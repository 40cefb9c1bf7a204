"""The sample shapes a data config delivers, read from the HDF5 headers (no k-space is loaded).

Each volume's samples reach the network as (coils, height, width): coils capped at `data.virtual_coils`, the
k-space height cropped to the target's with `data.readout_crop` (reconstruction: to the output crop's; all
rows where the target is higher), the width as stored; the target as stored (the output is cropped or
zero-padded to it). The planner plans for the largest sample of a split, "largest" meaning the most k-space
pixels per adjacent slice, coils x height x width: every sample of a run has the same adjacent slices and
batch size, and the traced need grows with those pixels (coil images in the sensitivity net, the FFTs and
data consistency) or with height x width alone (the cascades' U-Nets), never with anything else.
Indexing goes through `data.readers.index_volumes`, so a bad file is the same one-line `DataError`.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fastmri_pl.data.leaderboard import LEADERBOARD_DIR, acceleration_folders
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import ensure_synthetic, synthetic_config
from fastmri_pl.data.volumes import FileFilter, Volume
from fastmri_pl.memory.batch import SNU_TARGET_SIZE, BatchShape
from fastmri_pl.mri.readout import readout_height


@dataclass(frozen=True)
class SampleShape:
    """The samples of one volume as the network gets them; `file` is the path below the data root."""

    file: str
    coils: int
    height: int
    width: int
    slices: int
    target_size: tuple[int, int]

    @property
    def pixels(self) -> int:
        """The ranking proxy for the traced need: coils x height x width."""
        return self.coils * self.height * self.width

    @property
    def geometry(self) -> tuple[int, int, int]:
        return self.coils, self.height, self.width

    def batch(self, adj_slices: int, batch_size: int = 1) -> BatchShape:
        return BatchShape(
            coils=self.coils,
            height=self.height,
            width=self.width,
            adj_slices=adj_slices,
            batch_size=batch_size,
            target_size=self.target_size,
        )

    def as_json(self, adj_slices: int) -> dict[str, Any]:
        """The `planned_for` entry (a contract: docs/interfaces.md)."""
        return {
            "coils": self.coils,
            "height": self.height,
            "width": self.width,
            "adj_slices": adj_slices,
            "file": self.file,
        }


@dataclass(frozen=True)
class DataShapes:
    """Every training volume's samples (the epoch) and the inference volumes' (validation, leaderboard)."""

    train: tuple[SampleShape, ...]
    infer: tuple[SampleShape, ...]
    source: str

    @property
    def largest_train(self) -> SampleShape:
        return largest(self.train)

    @property
    def largest_infer(self) -> SampleShape:
        return largest(self.infer)

    @property
    def train_slices(self) -> int:
        return sum(sample.slices for sample in self.train)

    def histogram(self) -> list[list[int]]:
        """[coils, height, width, slices] per distinct training shape: what the epoch's time depends on."""
        counts: Counter[tuple[int, int, int]] = Counter()
        for sample in self.train:
            counts[sample.geometry] += sample.slices
        return [[*geometry, slices] for geometry, slices in sorted(counts.items())]


def largest(samples: Iterable[SampleShape]) -> SampleShape:
    """The sample with the most coils x height x width (ties: the first file by name)."""
    ordered = sorted(samples, key=lambda s: (-s.pixels, s.file))
    if not ordered:
        raise ValueError("no samples to plan for")
    return ordered[0]


def volume_sample(
    volume: Volume,
    root: Path,
    readout_crop: bool,
    virtual_coils: int | None,
    crop: tuple[int, int] | None = None,
) -> SampleShape:
    """A volume's sample shape: the k-space as the network gets it (its height the target's with the readout
    crop, `mri.readout.readout_height`; its width as stored) and the target as delivered (`Volume.crop`, which
    may be wider than the k-space: the 2026 knee's 384 x 384 against 368 columns). `crop` (reconstruction's
    output size) wins over the volume's own; a k-space-only volume gets the SNU 384 x 384."""
    target = crop or volume.crop or (SNU_TARGET_SIZE, SNU_TARGET_SIZE)
    return SampleShape(
        file=_relative(volume.kspace_path, root),
        coils=min(volume.num_coils, virtual_coils) if virtual_coils else volume.num_coils,
        height=readout_height(volume.height, target[0]) if readout_crop else volume.height,
        width=volume.width,
        slices=volume.num_slices,
        target_size=(int(target[0]), int(target[1])),
    )


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return path.name


def data_shapes(data: DictConfig) -> DataShapes:
    """The training split's samples and the inference ones (validation split, plus `<root>/leaderboard/acc*`
    in the SNU layout when present) of a `conf/data` config; synthetic data is generated first if absent."""
    root = Path(data.root)
    if data.get("synthetic"):
        synthetic = OmegaConf.to_container(data.synthetic, resolve=True)
        ensure_synthetic(root, synthetic_config(**{"layout": data.layout, **synthetic}), progress=False)
    file_filter = FileFilter(
        **dict(OmegaConf.to_container(data.filters, resolve=True) if data.filters else {})
    )

    def samples(folder: Path, require_image: bool = True) -> list[SampleShape]:
        volumes = index_volumes(data.layout, folder, file_filter, require_image=require_image)
        return [
            volume_sample(v, root, bool(data.readout_crop), data.get("virtual_coils") or None)
            for v in volumes
        ]

    train = samples(root / data.train_dir)
    infer = samples(root / data.val_dir)
    if data.layout == "snu" and (root / LEADERBOARD_DIR).is_dir():
        for folder in acceleration_folders(root):
            infer += samples(folder, require_image=False)
    return DataShapes(tuple(train), tuple(infer), f"{root / data.train_dir}")


def leaderboard_shapes(
    cropped: Iterable[tuple[Volume, tuple[int, int]]],
    root: Path,
    readout_crop: bool,
    virtual_coils: int | None,
) -> tuple[SampleShape, ...]:
    """The samples `reconstruct` runs: each leaderboard volume with the output crop it is reconstructed at."""
    return tuple(volume_sample(volume, root, readout_crop, virtual_coils, crop) for volume, crop in cropped)
