"""Scores: per-slice SSIM by the layout's rule, per-volume PSNR / NMSE, and the per-group summary.

SNU leaderboard: SSIM of recon*m vs target*m (m = `snu_foreground_mask(target)`), data range = the image
file's attrs `max`; the mean over all slices of all volumes of an acceleration (`aggregation="slices"`);
total = mean over accelerations. fastMRI: plain SSIM with data range = the volume max, averaged per volume and
then over volumes (`aggregation="volumes"`, as fastMRI's `evaluate.py`), so a 2-slice volume weighs as much as
a 12-slice one. PSNR and NMSE follow fastMRI (whole volume, no mask, same data range) and are averaged over
volumes in both layouts; every total is the mean over groups.
"""

from dataclasses import dataclass

import torch

from fastmri_pl.evaluation.pairs import Volume, VolumePair
from fastmri_pl.mri.foreground import snu_foreground_mask
from fastmri_pl.mri.metrics import nmse, psnr
from fastmri_pl.mri.ssim import ssim

METRICS = ("ssim", "psnr", "nmse")
AGGREGATIONS = {"snu": "slices", "fastmri": "volumes"}


@dataclass(frozen=True)
class VolumeScore:
    """One volume's scores; slice_ssim keeps every slice for the summary, the plots and the worst slices."""

    pair: VolumePair
    slice_ssim: tuple[float, ...]
    psnr: float
    nmse: float

    @property
    def slices(self) -> int:
        return len(self.slice_ssim)

    @property
    def ssim(self) -> float:
        return sum(self.slice_ssim) / self.slices


def slice_ssim(volume: Volume, layout: str) -> torch.Tensor:
    """(S,) SSIM of each slice, masked to the foreground for the SNU leaderboard."""
    recon, target = volume.recon, volume.target
    if layout == "snu":
        mask = snu_foreground_mask(target)
        recon, target = recon * mask, target * mask
    return ssim(recon, target, data_range=volume.max_value, reduction="none")


def score_volume(pair: VolumePair, volume: Volume, layout: str) -> VolumeScore:
    return VolumeScore(
        pair=pair,
        slice_ssim=tuple(slice_ssim(volume, layout).tolist()),
        psnr=float(psnr(volume.target, volume.recon, volume.max_value)),
        nmse=float(nmse(volume.target, volume.recon)),
    )


def aggregation(layout: str) -> str:
    """How a layout's SSIM is averaged: "slices" (SNU leaderboard) or "volumes" (fastMRI)."""
    if layout not in AGGREGATIONS:
        raise ValueError(f"layout must be one of {tuple(AGGREGATIONS)}, got {layout!r}")
    return AGGREGATIONS[layout]


def _mean_ssim(members: list[VolumeScore], over: str) -> float:
    if over == "volumes":
        return sum(score.ssim for score in members) / len(members)
    all_slices = [value for score in members for value in score.slice_ssim]
    return sum(all_slices) / len(all_slices)


def summarize(scores: list[VolumeScore], over: str) -> dict[str, dict[str, float | int]]:
    """{group: {ssim, psnr, nmse, slices}, ..., "total": {...}} in group order, SSIM averaged `over` "slices"
    or "volumes" (see `aggregation`)."""
    groups: dict[str, list[VolumeScore]] = {}
    for score in scores:
        groups.setdefault(score.pair.group, []).append(score)
    summary: dict[str, dict[str, float | int]] = {}
    for group, members in groups.items():
        summary[group] = {
            "ssim": _mean_ssim(members, over),
            "psnr": sum(score.psnr for score in members) / len(members),
            "nmse": sum(score.nmse for score in members) / len(members),
            "slices": sum(score.slices for score in members),
        }
    per_group = list(summary.values())
    summary["total"] = {metric: sum(row[metric] for row in per_group) / len(per_group) for metric in METRICS}
    summary["total"]["slices"] = sum(row["slices"] for row in per_group)
    return summary


def worst_slices(scores: list[VolumeScore], group: str, count: int) -> list[tuple[VolumeScore, int]]:
    """The `count` (volume, slice index) of a group with the lowest SSIM, worst first."""
    candidates = [
        (value, score, index)
        for score in scores
        if score.pair.group == group
        for index, value in enumerate(score.slice_ssim)
    ]
    candidates.sort(key=lambda item: item[0])
    return [(score, index) for _, score, index in candidates[:count]]
