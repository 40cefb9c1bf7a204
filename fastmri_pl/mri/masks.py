"""Undersampling masks over the phase-encode axis (fastMRI conventions) and their ACS centre.

Every mask is a (W,) float32 tensor of 0/1 with a fully sampled centre block of `round(W * center_fraction)`
lines starting at (W - n + 1) // 2. Randomness comes from a `torch.Generator`, so a per-volume seed
(`stable_seed(file name)`) gives the same mask in every process and on every run.
"""

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import torch

MASK_TYPES = ("random", "equispaced", "equispaced_fraction")
# How many ACS lines a network is told about: the centre block a mask was drawn with (`round(W * fraction)`,
# what fastMRI passes), or the contiguous sampled run around the centre (`num_low_frequencies`), which other
# lines next to the block can lengthen.
ACS_RULES = ("nominal", "contiguous")


def check_acs_rule(rule: str) -> str:
    """`rule` if it is one of `ACS_RULES` (the `data.acs_lines` setting), else a ValueError naming the key."""
    if rule not in ACS_RULES:
        raise ValueError(f"data.acs_lines must be one of {ACS_RULES}, got {rule!r}")
    return rule


class SampledMask(NamedTuple):
    """A drawn mask with the nominal acceleration and centre block (`round(W * fraction)` lines) it was
    drawn with; the mask's contiguous centre run (`num_low_frequencies(mask)`) can be longer."""

    mask: torch.Tensor
    acceleration: float
    num_low_frequencies: int


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


def stable_seed(name: str) -> int:
    """A seed from a string that is the same in every process (unlike `hash`, which is salted per run)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=4).digest(), "little")


def default_center_fraction(acceleration: float) -> float:
    """fastMRI's pairing: 0.08 at 4x, 0.04 at 8x (the centre keeps 0.32 / acceleration of the lines)."""
    return 0.32 / acceleration


def center_block(width: int, num_low_frequencies: int) -> torch.Tensor:
    """(W,) float32 mask of the centre block alone."""
    return acs_mask(torch.tensor([num_low_frequencies]), width).reshape(width)


def _center_lines(width: int, center_fraction: float) -> int:
    return max(1, round(width * center_fraction))


def random_mask(
    width: int, acceleration: float, center_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Centre block plus other lines drawn with the probability that makes the expected acceleration exact."""
    n = _center_lines(width, center_fraction)
    prob = (width / acceleration - n) / (width - n)
    outside = (torch.rand(width, generator=generator) < prob).to(torch.float32)
    return torch.maximum(center_block(width, n), outside)


def equispaced_mask(
    width: int, acceleration: float, center_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Centre block plus every `acceleration`-th line from a random offset (the centre adds lines on top)."""
    step = round(acceleration)
    n = _center_lines(width, center_fraction)
    offset = int(torch.randint(0, step, (), generator=generator))
    mask = center_block(width, n)
    mask[offset::step] = 1.0
    return mask


def equispaced_fraction_mask(
    width: int, acceleration: float, center_fraction: float, generator: torch.Generator
) -> torch.Tensor:
    """Equispaced lines at a spacing chosen so that centre + lines give `width / acceleration` lines in all.

    fastMRI's EquispacedMaskFractionFunc: spacing a' = a (n - W) / (n a - W) outside the centre, positions
    rounded to the nearest line.
    """
    n = _center_lines(width, center_fraction)
    spacing = acceleration * (n - width) / (n * acceleration - width)
    offset = int(torch.randint(0, max(1, round(spacing)), (), generator=generator))
    positions = torch.round(torch.arange(offset, width - 1, spacing, dtype=torch.float64)).long()
    mask = center_block(width, n)
    mask[positions.clamp(max=width - 1)] = 1.0
    return mask


_BUILDERS = {
    "random": random_mask,
    "equispaced": equispaced_mask,
    "equispaced_fraction": equispaced_fraction_mask,
}


class MaskFunc:
    """Draws an (acceleration, centre fraction) pair, then a mask of one type (fastMRI's mask functions)."""

    def __init__(
        self,
        mask_type: str = "random",
        accelerations: Sequence[float] = (4, 8),
        center_fractions: Sequence[float] | None = None,
    ) -> None:
        if mask_type not in MASK_TYPES:
            raise ValueError(f"mask type must be one of {MASK_TYPES}, got {mask_type!r}")
        if center_fractions is None:
            center_fractions = [default_center_fraction(a) for a in accelerations]
        if len(center_fractions) != len(accelerations) or not accelerations:
            raise ValueError("give one centre fraction per acceleration (they are chosen together)")
        self.mask_type = mask_type
        self.accelerations = [float(a) for a in accelerations]
        self.center_fractions = [float(c) for c in center_fractions]

    def __call__(self, width: int, generator: torch.Generator) -> SampledMask:
        choice = int(torch.randint(0, len(self.accelerations), (), generator=generator))
        acceleration, fraction = self.accelerations[choice], self.center_fractions[choice]
        mask = _BUILDERS[self.mask_type](width, acceleration, fraction, generator)
        return SampledMask(mask, acceleration, _center_lines(width, fraction))


class RangeMaskFunc:
    """Mask augmentation: an equispaced mask at an integer acceleration drawn from [low, high] and a centre
    fraction drawn uniformly from a range, so one model sees every acceleration it may meet (SNU rule: one
    model for all accelerations)."""

    def __init__(
        self,
        acceleration_range: Sequence[int] = (3, 13),
        center_fraction_range: Sequence[float] = (0.04, 0.1),
    ) -> None:
        low, high = (int(a) for a in acceleration_range)
        c_low, c_high = (float(c) for c in center_fraction_range)
        if not 1 <= low <= high or not 0 < c_low <= c_high < 1:
            raise ValueError("need 1 <= low <= high accelerations and 0 < low <= high < 1 centre fractions")
        self.acceleration_range = (low, high)
        self.center_fraction_range = (c_low, c_high)

    def __call__(self, width: int, generator: torch.Generator) -> SampledMask:
        low, high = self.acceleration_range
        acceleration = int(torch.randint(low, high + 1, (), generator=generator))
        c_low, c_high = self.center_fraction_range
        fraction = c_low + (c_high - c_low) * float(torch.rand((), generator=generator))
        mask = equispaced_mask(width, acceleration, fraction, generator)
        return SampledMask(mask, float(acceleration), _center_lines(width, fraction))


def num_low_frequencies(mask: torch.Tensor) -> int:
    """Fully sampled centre lines of a (W,) mask: the largest n whose block at (W - n + 1) // 2 is all ones.

    This is the contiguous run of ones around the centre, trimmed (by at most a line) so that `acs_mask(n)`
    never selects an unsampled line. 0 when the centre line itself is not sampled.
    """
    sampled = mask.reshape(-1) > 0
    width = sampled.numel()
    left = right = width // 2
    if not bool(sampled[left]):
        return 0
    while left > 0 and bool(sampled[left - 1]):
        left -= 1
    while right < width - 1 and bool(sampled[right + 1]):
        right += 1
    for n in range(right - left + 1, 0, -1):
        start = (width - n + 1) // 2
        if start >= left and start + n - 1 <= right:
            return n
    return 0
