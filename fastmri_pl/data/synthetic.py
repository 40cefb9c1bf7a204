"""Synthetic multi-coil brain or knee data written as real HDF5 files in the SNU or fastMRI layout.

So that the first command works on a fresh machine and every test runs the real reading code. Usage:
`python -m fastmri_pl.data.synthetic --root DIR [--layout snu|fastmri] [--preset cpu|challenge] ...`.

Scale matches the SNU data: targets peak at 3e-4 to 8e-4 and the air stays below 5e-5 (the challenge's
brain foreground threshold; 2e-5 for knee). `anatomy=knee` writes knee-like volumes named as the 2026
challenge's (`knee_acc4_1.h5`, `knee_test1.h5`) whose image files carry the lesions' boxes as JSON in
`attrs['annotations']` (see `challenge.annotations`), at the 2026 geometry: k-space narrower than the square
target, which is the RSS image cropped to its rows and zero-padded to its width (`KNEE_PRESETS`).
`ensure_synthetic` generates once and records its parameters in `synthetic.json`; a later call with other
parameters deletes the files that marker lists and generates again.
"""

import argparse
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from rich.progress import track

from fastmri_pl.challenge.annotations import ANNOTATIONS_ATTR, Box, annotations_json
from fastmri_pl.data.h5checks import target_crop
from fastmri_pl.data.phantom import BrainPhantom, KneePhantom, birdcage_sensitivities, normalised_grid
from fastmri_pl.data.synthetic_files import atomic_h5_files, fastmri_header
from fastmri_pl.errors import DataError
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.crop import center_crop_or_pad
from fastmri_pl.mri.fft import fft2c, ifft2c
from fastmri_pl.mri.masks import default_center_fraction, equispaced_mask, stable_seed

MARKER = "synthetic.json"
LAYOUTS = ("snu", "fastmri")
ANATOMIES = ("brain", "knee")
LESION_LABEL = "synthetic lesion"


@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. `coils` and `widths` are cycled over the volumes, so one folder mixes them."""

    layout: str = "snu"
    anatomy: str = "brain"
    seed: int = 0
    num_train: int = 6
    num_val: int = 2
    num_leaderboard: int = 2
    slices: int = 8
    coils: tuple[int, ...] = (4, 6)
    height: int = 160
    widths: tuple[int, ...] = (84, 80)
    crop: tuple[int, int] = (80, 80)
    accelerations: tuple[int, ...] = (4, 8)
    leaderboard_accelerations: tuple[int, ...] = (4, 8)
    noise_level: float = 0.004
    scale_range: tuple[float, float] = (3e-4, 8e-4)

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"synthetic layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.anatomy not in ANATOMIES:
            raise ValueError(f"synthetic anatomy must be one of {ANATOMIES}, got {self.anatomy!r}")
        # the files must pass the reader's rule: an SNU target may be larger than the k-space image (the 2026
        # knee), a fastMRI one must fit unless narrower (brain "FLAIR 203", a W x W square)
        for width in self.widths:
            try:
                target_crop(Path("synthetic"), "crop", self.crop, self.height, width, self.layout)
            except DataError as error:
                raise ValueError(error.problem) from None


PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {},
    "challenge": {
        "height": 768,
        "widths": (396, 392),
        "crop": (384, 384),
        "coils": (16, 18, 20),
        "slices": 16,
        "num_train": 8,
        "num_val": 4,
        "num_leaderboard": 4,
    },
}


# anatomy=knee: the 2026 knee geometry, k-space narrower than its square target as in the organisers' files
# (tutorial knee_acc4_1.h5: 15 coils, 640 x 368 k-space, 384 x 384 image_label); cpu keeps its ratios at 1/4
KNEE_PRESETS: dict[str, dict[str, Any]] = {
    "cpu": {"height": 160, "widths": (92, 88), "crop": (96, 96)},
    "challenge": {"height": 640, "widths": (368,), "crop": (384, 384), "coils": (15,)},
}


def synthetic_config(preset: str = "cpu", **overrides: Any) -> SyntheticConfig:
    """A preset (cpu: seconds to generate; challenge: the SNU geometry, brain or knee) with some fields
    overridden."""
    if preset not in PRESETS:
        raise ValueError(f"synthetic preset must be one of {sorted(PRESETS)}, got {preset!r}")
    geometry = KNEE_PRESETS[preset] if overrides.get("anatomy") == "knee" else {}
    values = {**PRESETS[preset], **geometry, **overrides}
    known = {f.name for f in fields(SyntheticConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown synthetic parameters {unknown}; known: {sorted(known)}")
    as_tuple = {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in values.items()}
    return SyntheticConfig(**as_tuple)


@dataclass(frozen=True)
class VolumePlan:
    """One volume to write: where, at which acceleration, with how many coils and which width."""

    folder: str  # relative to the root: train, val, leaderboard/acc4 (SNU) or train, val (fastMRI)
    name: str
    acceleration: int
    coils: int
    width: int
    leaderboard: bool = False

    def paths(self, layout: str) -> list[str]:
        if layout == "fastmri":
            return [f"{self.folder}/{self.name}"]
        return [f"{self.folder}/kspace/{self.name}", f"{self.folder}/image/{self.name}"]


def plan_volumes(cfg: SyntheticConfig) -> list[VolumePlan]:
    """Every volume the config asks for, with names unique across splits (they seed the volumes)."""
    plans: list[VolumePlan] = []
    counter = 0
    for folder, count in (("train", cfg.num_train), ("val", cfg.num_val)):
        for _ in range(count):
            acceleration = cfg.accelerations[counter % len(cfg.accelerations)]
            counter += 1
            name = (
                f"file_{cfg.anatomy}_{counter}.h5"
                if cfg.layout == "fastmri"
                else f"{cfg.anatomy}_acc{acceleration}_{counter}.h5"
            )
            plans.append(_with_geometry(cfg, folder, name, acceleration, len(plans)))
    if cfg.layout == "snu":
        for acceleration in cfg.leaderboard_accelerations:
            for n in range(1, cfg.num_leaderboard + 1):
                folder = f"leaderboard/acc{acceleration}"
                plan = _with_geometry(cfg, folder, f"{cfg.anatomy}_test{n}.h5", acceleration, len(plans))
                plans.append(VolumePlan(**{**asdict(plan), "leaderboard": True}))
    return plans


def _with_geometry(cfg: SyntheticConfig, folder: str, name: str, acceleration: int, index: int) -> VolumePlan:
    coils = cfg.coils[index % len(cfg.coils)]
    width = cfg.widths[index % len(cfg.widths)]
    return VolumePlan(folder, name, acceleration, coils, width)


class SimulatedVolume:
    """A volume's fully sampled k-space, slice by slice (the challenge preset holds one slice in memory)."""

    def __init__(self, cfg: SyntheticConfig, plan: VolumePlan) -> None:
        self.generator = torch.Generator().manual_seed(stable_seed(f"{cfg.seed}/{plan.folder}/{plan.name}"))
        self.cfg, self.plan = cfg, plan
        phantom = KneePhantom if cfg.anatomy == "knee" else BrainPhantom
        self.phantom = phantom(self.generator)
        low, high = cfg.scale_range
        self.scale = low + (high - low) * float(torch.rand((), generator=self.generator))
        self.y, self.x = normalised_grid(cfg.height, plan.width, cfg.crop)
        self.sens = birdcage_sensitivities(plan.coils, self.y, self.x)
        fraction = default_center_fraction(plan.acceleration)
        self.mask = equispaced_mask(plan.width, plan.acceleration, fraction, self.generator)

    def slice_positions(self) -> list[float]:
        """z of each slice: the cuts span z = -0.6 to 0.6."""
        return torch.linspace(-0.6, 0.6, self.cfg.slices).tolist()

    def annotations(self) -> dict[int, list[Box]]:
        """Slice index -> the knee phantom's lesion boxes in the crop (the brain phantom has none)."""
        if not isinstance(self.phantom, KneePhantom):
            return {}
        return {
            index: [Box(*box, label=LESION_LABEL) for box in self.phantom.lesion_boxes(z, self.cfg.crop)]
            for index, z in enumerate(self.slice_positions())
        }

    def kspace_slices(self) -> Iterator[torch.Tensor]:
        """(C, H, W) complex64 noisy k-space per slice, at `slice_positions`."""
        edge = 1.5 / (self.cfg.crop[0] / 2)
        sigma = self.cfg.noise_level * self.scale
        for z in self.slice_positions():
            image = self.phantom.slice_image(z, self.y, self.x, edge) * self.scale
            kspace = fft2c((image * self.sens).to(torch.complex64))
            noise = torch.randn(kspace.shape, generator=self.generator, dtype=torch.complex64) * sigma
            yield kspace + noise


def _rss_crop(kspace: torch.Tensor, crop: tuple[int, int]) -> np.ndarray:
    """The RSS image centre-cropped where larger than the crop and zero-padded where smaller, as the
    organisers' baseline brings its output to a 2026 `image_label` (a knee image 368 wide in 384 x 384; a
    fastMRI brain file narrower than its 320 x 320 target alike)."""
    return center_crop_or_pad(rss(ifft2c(kspace), dim=0), crop).numpy()


def write_volume(root: Path, cfg: SyntheticConfig, plan: VolumePlan) -> None:
    """Simulate one volume and write its file(s), each under a temporary name renamed when complete."""
    volume = SimulatedVolume(cfg, plan)
    shape = (cfg.slices, plan.coils, cfg.height, plan.width)
    crop_shape = (cfg.slices, *cfg.crop)
    snu = cfg.layout == "snu"
    with atomic_h5_files([root / p for p in plan.paths(cfg.layout)]) as files:
        kfile, ifile = files[0], files[-1]
        kspace_ds = kfile.create_dataset("kspace", shape=shape, dtype=np.complex64)
        label_ds = ifile.create_dataset(
            "image_label" if snu else "reconstruction_rss", crop_shape, np.float32
        )
        input_ds = ifile.create_dataset("image_input", crop_shape, np.float32) if snu else None
        mask = volume.mask.to(torch.complex64)
        for s, kspace in enumerate(volume.kspace_slices()):
            kspace_ds[s] = (kspace * mask if plan.leaderboard else kspace).numpy()
            label_ds[s] = _rss_crop(kspace, cfg.crop)
            if input_ds is not None:
                input_ds[s] = _rss_crop(kspace * mask, cfg.crop)
        labels = label_ds[()]
        ifile.attrs["max"] = np.float32(labels.max())
        ifile.attrs["norm"] = np.float32(np.linalg.norm(labels))
        if cfg.anatomy == "knee":
            ifile.attrs[ANNOTATIONS_ATTR] = annotations_json(volume.annotations())
        if not snu:
            _fastmri_metadata(kfile, cfg, plan)
        else:
            kfile.create_dataset("mask", data=volume.mask.numpy().astype(np.float32))
            # No GRAPPA here: image_grappa is the zero-filled image, kept so SNU-shaped code finds the key.
            ifile.create_dataset("image_grappa", data=input_ds[()])


def _fastmri_metadata(f: h5py.File, cfg: SyntheticConfig, plan: VolumePlan) -> None:
    encoding = (cfg.height, plan.width, 1)
    recon = (*cfg.crop, 1)
    f.attrs["acquisition"] = "AXT2"
    f.attrs["padding_left"] = 0
    f.attrs["padding_right"] = plan.width
    f.attrs["encoding_size"] = np.array(encoding, dtype=np.int64)
    f.attrs["recon_size"] = np.array(recon, dtype=np.int64)
    f.create_dataset("ismrmrd_header", data=np.bytes_(fastmri_header(encoding, recon)))


def generate(root: str | Path, cfg: SyntheticConfig, progress: bool = True) -> list[Path]:
    """Write every planned volume under `root` (overwriting) and the marker last; returns the files."""
    root = Path(root)
    plans = plan_volumes(cfg)
    files = [p for plan in plans for p in plan.paths(cfg.layout)]
    _write_marker(root, cfg, files, complete=False)
    threads = torch.get_num_threads()
    # Per-slice tensors are small: one thread is faster, and on shared cores far faster than several.
    torch.set_num_threads(1)
    try:
        for plan in track(plans, description=f"synthetic {cfg.layout} data", disable=not progress):
            write_volume(root, cfg, plan)
    finally:
        torch.set_num_threads(threads)
    _write_marker(root, cfg, files, complete=True)
    return [root / f for f in files]


def _config_json(cfg: SyntheticConfig) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(cfg)))


def _write_marker(root: Path, cfg: SyntheticConfig, files: list[str], complete: bool) -> None:
    root.mkdir(parents=True, exist_ok=True)
    marker = {
        "generator": "fastmri_pl.data.synthetic",
        "complete": complete,
        "config": _config_json(cfg),
        "files": files,
    }
    tmp = root / f".{MARKER}.tmp"
    tmp.write_text(json.dumps(marker, indent=1))
    tmp.replace(root / MARKER)


def ensure_synthetic(
    root: str | Path, cfg: SyntheticConfig | Mapping[str, Any], progress: bool = True
) -> Path:
    """Generate synthetic data under `root` on first use; reuse it when the marker matches `cfg`.

    A marker with other parameters (or an interrupted generation) -> its files are deleted and regenerated.
    A non-empty folder without a marker is refused: it may hold real data.
    """
    root = Path(root)
    if not isinstance(cfg, SyntheticConfig):
        cfg = synthetic_config(**dict(cfg))
    marker_path = root / MARKER
    if marker_path.is_file():
        try:
            marker = json.loads(marker_path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(marker_path, f"unreadable synthetic-data marker ({error}); delete it") from error
        files = [root / f for f in marker.get("files", [])]
        if (
            marker.get("complete")
            and marker.get("config") == _config_json(cfg)
            and all(f.is_file() for f in files)
        ):
            return root
        for f in files:
            f.unlink(missing_ok=True)
    elif root.is_dir() and any(root.iterdir()):
        raise DataError(root, f"not empty and has no {MARKER}: refusing to write synthetic data over it")
    generate(root, cfg, progress=progress)
    return root


def _parse_args(argv: list[str] | None) -> tuple[Path, str, dict[str, Any]]:
    parser = argparse.ArgumentParser(description="Write synthetic multi-coil brain or knee HDF5 files.")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--layout", choices=LAYOUTS)
    parser.add_argument("--anatomy", choices=ANATOMIES, help="knee: 2026-style names and lesion annotations")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--num-train", type=int)
    parser.add_argument("--num-val", type=int)
    parser.add_argument("--num-leaderboard", type=int, help="volumes per leaderboard acceleration (SNU)")
    parser.add_argument("--slices", type=int)
    parser.add_argument("--coils", type=int, nargs="+", help="coil counts cycled over volumes")
    parser.add_argument("--height", type=int)
    parser.add_argument("--widths", type=int, nargs="+", help="k-space widths cycled over volumes")
    parser.add_argument("--crop", type=int, nargs=2)
    parser.add_argument("--accelerations", type=int, nargs="+")
    parser.add_argument("--leaderboard-accelerations", type=int, nargs="+", help="e.g. 5 9 for 2024")
    args = vars(parser.parse_args(argv))
    root, preset = args.pop("root"), args.pop("preset")
    return root, preset, {k: v for k, v in args.items() if v is not None}


def main(argv: list[str] | None = None) -> None:
    root, preset, overrides = _parse_args(argv)
    cfg = synthetic_config(preset, **overrides)
    try:
        ensure_synthetic(root, cfg)
    except DataError as error:
        raise SystemExit(f"error: {error}") from error
    print(f"synthetic {cfg.anatomy} {cfg.layout} data ready in {root} ({len(plan_volumes(cfg))} volumes)")


if __name__ == "__main__":
    main()
