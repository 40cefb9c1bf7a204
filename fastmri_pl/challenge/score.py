"""The leaderboard's SSIM of a slice, one function for validation (`val/ssim_masked`) and `evaluate`.

fastMRI's validation calls the same `ssim` as its evaluation script, so the number a checkpoint is kept for is
the number it is scored by; here both call `leaderboard_slice_ssim`. Foreground mask m =
`snu_foreground_mask(target, the file's anatomy threshold)`; 2023-2025 (`masked_ssim`): the mean SSIM of
recon*m vs target*m over its valid 7x7 windows; 2026 (`full_bbox`, `ChallengeRules.scores_boxes`): SSIM_full,
that SSIM map averaged with m at each window's centre as weight (NaN where m is empty: the slice is skipped).
"""

from collections.abc import Sequence

import torch

from fastmri_pl.challenge.rules import ChallengeRules
from fastmri_pl.mri.foreground import snu_foreground_mask
from fastmri_pl.mri.ssim import foreground_ssim, ssim

WIN_SIZE = 7  # the organisers' window, for slices and lesion boxes alike


def foreground(target: torch.Tensor, thresholds: float | Sequence[float]) -> torch.Tensor:
    """(B, H, W) bool foreground masks of (B, H, W) targets: one threshold for all, or one per slice."""
    if isinstance(thresholds, int | float):
        return snu_foreground_mask(target, float(thresholds))
    if len(thresholds) != len(target):
        raise ValueError(f"{len(thresholds)} thresholds for {len(target)} slices")
    return torch.stack([snu_foreground_mask(t, th) for t, th in zip(target, thresholds, strict=True)])


def leaderboard_slice_ssim(
    recon: torch.Tensor,
    target: torch.Tensor,
    max_value: float | torch.Tensor,
    rules: ChallengeRules | None,
    thresholds: float | Sequence[float],
) -> torch.Tensor:
    """(B,) the leaderboard SSIM of each (H, W) slice of (B, H, W) recon vs target, by the year's rule.

    max_value: the data range, a float or one per slice (the volume's `max`); rules None: the masked SSIM of
    2023-2025 (a run without `challenge=`); thresholds: the foreground threshold of each slice's file.
    """
    mask = foreground(target, thresholds)
    if rules is not None and rules.scores_boxes:
        return foreground_ssim(recon, target, mask, max_value, win_size=WIN_SIZE)
    return ssim(recon * mask, target * mask, data_range=max_value, win_size=WIN_SIZE, reduction="none")
