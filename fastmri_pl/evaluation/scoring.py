"""Scores: per-slice SSIM by the layout's and year's rule, lesion-box SSIM, per-volume PSNR / NMSE, summary.

SNU (`challenge.rules`): foreground mask m = `snu_foreground_mask(target, the file's anatomy threshold)`, data
range = the image file's attrs `max`. 2023-2025 (`masked_ssim`): SSIM of recon*m vs target*m, the mean of its
valid windows. 2026 (`full_bbox`): SSIM_full = the SSIM map of recon*m vs target*m averaged with the mask at
each window's centre as weight (a slice with an empty mask is skipped, stored as NaN), and SSIM_bbox = the
SSIM inside each lesion box (unmasked images; boxes clipped to the image, those under the window skipped).
Per acceleration: the mean over every scored slice (box) of every volume (`aggregation="slices"`).
fastMRI: plain SSIM with data range = the volume max, averaged per volume and then over volumes
(`aggregation="volumes"`, as fastMRI's `evaluate.py`), so a 2-slice volume weighs as much as a 12-slice one.
PSNR and NMSE follow fastMRI (whole volume, no mask, same data range) and are averaged over volumes in both
layouts; every total is the mean over groups.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from fastmri_pl.challenge.rules import ChallengeRules
from fastmri_pl.challenge.score import WIN_SIZE, leaderboard_slice_ssim
from fastmri_pl.evaluation.pairs import Volume, VolumePair
from fastmri_pl.mri.metrics import nmse, psnr
from fastmri_pl.mri.ssim import ssim

METRICS = ("ssim", "psnr", "nmse")
AGGREGATIONS = {"snu": "slices", "fastmri": "volumes"}
BOX_METRICS = ("ssim_full", "ssim_bbox")


@dataclass(frozen=True)
class VolumeScore:
    """One volume's scores; slice_ssim keeps every slice (NaN where the rule skips it) for the summary, the
    plots and the worst slices; box_ssim every scored lesion box (2026)."""

    pair: VolumePair
    slice_ssim: tuple[float, ...]
    psnr: float
    nmse: float
    box_ssim: tuple[float, ...] = ()

    @property
    def slices(self) -> int:
        return len(self.slice_ssim)

    @property
    def scored_ssim(self) -> list[float]:
        return [value for value in self.slice_ssim if not math.isnan(value)]

    @property
    def ssim(self) -> float:
        return _mean(self.scored_ssim)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def box_ssim(volume: Volume, min_box: int) -> list[float]:
    """SSIM inside every lesion box of the volume's slices, boxes smaller than min_box on a side skipped."""
    slices, height, width = volume.target.shape
    values = []
    for index, boxes in sorted(volume.annotations.items()):
        if index >= slices:
            continue  # the organisers' harness only looks up the volume's own slices
        for box in boxes:
            row0, row1, col0, col1 = box.clipped(height, width)
            if row1 - row0 < min_box or col1 - col0 < min_box:
                continue
            recon = volume.recon[index, row0:row1, col0:col1]
            target = volume.target[index, row0:row1, col0:col1]
            values.append(float(ssim(recon[None], target[None], volume.max_value, win_size=WIN_SIZE)))
    return values


def slice_ssim(volume: Volume, layout: str, rules: ChallengeRules, target_path: Path) -> torch.Tensor:
    """(S,) SSIM of each slice by the layout's rule (SNU: the year's, as validation scores it)."""
    recon, target = volume.recon, volume.target
    if layout != "snu":
        return ssim(recon, target, data_range=volume.max_value, reduction="none")
    return leaderboard_slice_ssim(recon, target, volume.max_value, rules, rules.threshold(target_path))


def scores_boxes(layout: str, rules: ChallengeRules) -> bool:
    """Lesion boxes are scored on the SNU layout under a year that scores them (2026)."""
    return layout == "snu" and rules.scores_boxes


def score_volume(pair: VolumePair, volume: Volume, layout: str, rules: ChallengeRules) -> VolumeScore:
    return VolumeScore(
        pair=pair,
        slice_ssim=tuple(slice_ssim(volume, layout, rules, pair.target_path).tolist()),
        psnr=float(psnr(volume.target, volume.recon, volume.max_value)),
        nmse=float(nmse(volume.target, volume.recon)),
        box_ssim=tuple(box_ssim(volume, rules.min_box)) if scores_boxes(layout, rules) else (),
    )


def aggregation(layout: str) -> str:
    """How a layout's SSIM is averaged: "slices" (SNU leaderboard) or "volumes" (fastMRI)."""
    if layout not in AGGREGATIONS:
        raise ValueError(f"layout must be one of {tuple(AGGREGATIONS)}, got {layout!r}")
    return AGGREGATIONS[layout]


def _or_zero(value: float) -> float:
    """The organisers' 2026 `recon_eval`: an acceleration with no scored slice (box) scores 0.0, and that 0.0
    is averaged into the total like any other value."""
    return 0.0 if math.isnan(value) else value


def _mean_ssim(members: list[VolumeScore], over: str) -> float:
    if over == "volumes":
        return _mean([score.ssim for score in members])
    return _mean([value for score in members for value in score.scored_ssim])


def summarize(
    scores: list[VolumeScore], over: str, with_boxes: bool = False
) -> dict[str, dict[str, float | int]]:
    """{group: {ssim, psnr, nmse, slices[, ssim_full, ssim_bbox, boxes]}, ..., "total": {...}} in group order,
    SSIM averaged `over` "slices" or "volumes" (see `aggregation`); with_boxes adds the 2026 scores
    (ssim_full is the same value as ssim; a group with nothing scored gets 0.0, as the organisers' code)."""
    groups: dict[str, list[VolumeScore]] = {}
    for score in scores:
        groups.setdefault(score.pair.group, []).append(score)
    summary: dict[str, dict[str, float | int]] = {}
    for group, members in groups.items():
        row: dict[str, float | int] = {
            "ssim": _mean_ssim(members, over),
            "psnr": sum(score.psnr for score in members) / len(members),
            "nmse": sum(score.nmse for score in members) / len(members),
            "slices": sum(score.slices for score in members),
        }
        if with_boxes:
            boxes = [value for score in members for value in score.box_ssim]
            row["ssim"] = _or_zero(row["ssim"])
            row.update(ssim_full=row["ssim"], ssim_bbox=_or_zero(_mean(boxes)), boxes=len(boxes))
        summary[group] = row
    per_group = list(summary.values())
    metrics = METRICS + (BOX_METRICS if with_boxes else ())
    total: dict[str, float | int] = {m: sum(row[m] for row in per_group) / len(per_group) for m in metrics}
    total["slices"] = sum(row["slices"] for row in per_group)
    if with_boxes:
        total["boxes"] = sum(row["boxes"] for row in per_group)
    summary["total"] = total
    return summary


def worst_slices(scores: list[VolumeScore], group: str, count: int) -> list[tuple[VolumeScore, int]]:
    """The `count` (volume, slice index) of a group with the lowest SSIM, worst first (skipped slices out)."""
    candidates = [
        (value, score, index)
        for score in scores
        if score.pair.group == group
        for index, value in enumerate(score.slice_ssim)
        if not math.isnan(value)
    ]
    candidates.sort(key=lambda item: item[0])
    return [(score, index) for _, score, index in candidates[:count]]
