"""Undersampling masks over the phase-encode axis (fastMRI conventions) and their ACS centre."""

import torch


def acs_mask(num_low_frequencies: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) counts of fully sampled centre lines -> (B, 1, 1, width) float mask of those lines.

    Pure tensor comparisons (no `.item()`), so it also runs under FakeTensorMode. The centre block starts at
    (width - n + 1) // 2, the fastMRI convention.
    """
    n = num_low_frequencies.reshape(-1, 1).to(torch.long)
    start = torch.div(width - n + 1, 2, rounding_mode="floor")
    columns = torch.arange(width, device=n.device).reshape(1, -1)
    inside = (columns >= start) & (columns < start + n)
    return inside.to(torch.float32).reshape(-1, 1, 1, width)
