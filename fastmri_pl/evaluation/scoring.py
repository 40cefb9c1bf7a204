"""Scores: per-slice SSIM by the layout's rule, per-volume PSNR / NMSE, and the per-group summary.

SNU leaderboard: SSIM of recon*m vs target*m (m = `snu_foreground_mask(target)`), data range = the image
file's attrs `max`; the mean over all slices of all volumes of an acceleration; total = mean over
accelerations. fastMRI: plain SSIM with data range = the volume max. PSNR and NMSE follow fastMRI (whole
volume, no mask, same data range) and are averaged over volumes; their total is also the mean over groups.
"""

from dataclasses import dataclass

import torch

from fastmri_pl.evaluation.pairs import Volume, VolumePair
from fastmri_pl.mri.foreground import snu_foreground_mask
from fastmri_pl.mri.metrics import nmse, psnr
from fastmri_pl.mri.ssim import ssim

METRICS = ("ssim", "psnr", "nmse")


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


def summarize(scores: list[VolumeScore]) -> dict[str, dict[str, float | int]]:
    """{group: {ssim, psnr, nmse, slices}, ..., "total": {...}} in group order (the metrics.json content)."""
    groups: dict[str, list[VolumeScore]] = {}
    for score in scores:
        groups.setdefault(score.pair.group, []).append(score)
    summary: dict[str, dict[str, float | int]] = {}
    for group, members in groups.items():
        all_slices = [value for score in members for value in score.slice_ssim]
        summary[group] = {
            "ssim": sum(all_slices) / len(all_slices),
            "psnr": sum(score.psnr for score in members) / len(members),
            "nmse": sum(score.nmse for score in members) / len(members),
            "slices": len(all_slices),
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
