"""Batches of the interface's layout built from shapes alone, so the estimator needs no data files.

Called inside `FakeTensorMode` the tensors are fakes that own no memory; values only matter on real tensors
(where they are random but well formed: an equispaced mask with its ACS centre).
"""

from dataclasses import dataclass, replace
from typing import Any

import torch

from fastmri_pl.mri.masks import acs_mask
from fastmri_pl.mri.readout import readout_height

SNU_TARGET_SIZE = 384


@dataclass(frozen=True)
class BatchShape:
    """Sizes of one training batch: coils per slice, k-space height (readout) x width (phase encode), ...

    target_size defaults to the SNU 384 x 384 target, which the organisers deliver whatever the k-space width
    (the 2026 knee: 640 x 368 k-space, 384 x 384 image_label; the output is zero-padded to it); a shape of
    fewer than 384 rows is a small test shape, its target clipped to the k-space size.
    """

    coils: int
    height: int
    width: int
    adj_slices: int = 1
    batch_size: int = 1
    target_size: tuple[int, int] | None = None
    acceleration: int = 4
    center_fraction: float = 0.08

    def __post_init__(self) -> None:
        sizes = (self.coils, self.height, self.width, self.adj_slices, self.batch_size, self.acceleration)
        if min(sizes) < 1:
            raise ValueError(f"every size in {self} must be >= 1")

    @property
    def target_hw(self) -> tuple[int, int]:
        if self.target_size is not None:
            return self.target_size
        if self.height >= SNU_TARGET_SIZE:
            return SNU_TARGET_SIZE, SNU_TARGET_SIZE
        return min(SNU_TARGET_SIZE, self.height), min(SNU_TARGET_SIZE, self.width)

    def readout_cropped(self) -> "BatchShape":
        """The shape `data.readout_crop` gives: the k-space height becomes the target's (384 rows at SNU;
        `mri.readout.readout_height`)."""
        target = self.target_hw
        return replace(self, height=readout_height(self.height, target[0]), target_size=target)

    @property
    def num_low_frequencies(self) -> int:
        return max(1, round(self.width * self.center_fraction))

    def __call__(self) -> dict[str, Any]:
        """A batch dict as `docs/interfaces.md` defines it (fakes when called under FakeTensorMode)."""
        b, w = self.batch_size, self.width
        low = torch.full((b,), self.num_low_frequencies, dtype=torch.int64)
        sampled = (torch.arange(w) % self.acceleration == 0).to(torch.float32).reshape(1, 1, 1, w)
        mask = torch.maximum(acs_mask(low, w), sampled)
        kspace = torch.randn(b, self.adj_slices * self.coils, self.height, w, dtype=torch.complex64)
        return {
            "masked_kspace": kspace.mul_(mask),
            "mask": mask,
            "num_low_frequencies": low,
            "target": torch.rand(b, *self.target_hw),
            "max_value": torch.ones(b),
            "acceleration": torch.full((b,), float(self.acceleration)),
            "slice_num": torch.zeros(b, dtype=torch.int64),
            "fname": [f"synthetic_{i}.h5" for i in range(b)],
        }
