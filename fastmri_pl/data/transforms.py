"""From a volume's slices to one sample of the batch contract (docs/interfaces.md), without a batch axis.

Adjacent slices are stacked slice-major along the coil axis (slice 0's coils, then slice 1's, ...), the
centre slice at index S // 2; at a volume's edges the nearest slice is repeated.
"""

from typing import Any

import numpy as np
import torch

from fastmri_pl.data.augment import MaskAugmentation
from fastmri_pl.data.volumes import Volume, read_mask
from fastmri_pl.mri.masks import MaskFunc, num_low_frequencies, stable_seed


def adjacent_slice_indices(center: int, num_slices: int, num_adj_slices: int) -> list[int]:
    """`num_adj_slices` (odd) indices centred on `center`, clamped to the volume (edge replication)."""
    if num_adj_slices < 1 or num_adj_slices % 2 == 0:
        raise ValueError(f"num_adj_slices must be odd and >= 1, got {num_adj_slices}")
    half = num_adj_slices // 2
    return [min(max(center + offset, 0), num_slices - 1) for offset in range(-half, half + 1)]


class MaskChooser:
    """Which mask a sample gets: the augmentation mask (training, with the epoch's probability), else the
    file's own mask, else one drawn by `mask_func` (seeded per volume when `per_volume_seed`, as for
    validation, so every epoch sees the same masks)."""

    def __init__(
        self,
        mask_func: MaskFunc | None = None,
        augmentation: MaskAugmentation | None = None,
        per_volume_seed: bool = True,
    ) -> None:
        self.mask_func = mask_func
        self.augmentation = augmentation
        self.per_volume_seed = per_volume_seed

    def __call__(self, volume: Volume, epoch: int, generator: torch.Generator) -> tuple[torch.Tensor, float]:
        """(W,) float32 mask and its nominal acceleration."""
        if self.augmentation is not None:
            probability = self.augmentation.probability(epoch)
            if float(torch.rand((), generator=generator)) < probability:
                drawn = self.augmentation.mask_func(volume.width, generator)
                return drawn.mask, drawn.acceleration
        if volume.has_mask:
            return torch.from_numpy(read_mask(volume)), float(volume.acceleration or 0.0)
        if self.mask_func is None:
            raise ValueError(f"{volume.fname} has no mask of its own and no mask function is configured")
        if self.per_volume_seed:
            generator = torch.Generator().manual_seed(stable_seed(volume.fname))
        drawn = self.mask_func(volume.width, generator)
        return drawn.mask, drawn.acceleration


def build_sample(
    kspace: np.ndarray,
    mask: torch.Tensor,
    target: np.ndarray,
    volume: Volume,
    slice_num: int,
    acceleration: float,
) -> dict[str, Any]:
    """One sample: (S, C, H, W) k-space masked in place and flattened to (S*C, H, W), with its metadata."""
    slices, coils, height, width = kspace.shape
    masked = torch.from_numpy(kspace)
    masked.mul_(mask.reshape(1, 1, 1, width))
    return {
        "masked_kspace": masked.reshape(slices * coils, height, width),
        "mask": mask.to(torch.float32).reshape(1, 1, width),
        "num_low_frequencies": torch.tensor(num_low_frequencies(mask), dtype=torch.int64),
        "target": torch.from_numpy(target),
        "max_value": torch.tensor(volume.max_value, dtype=torch.float32),
        "acceleration": torch.tensor(acceleration, dtype=torch.float32),
        "slice_num": torch.tensor(slice_num, dtype=torch.int64),
        "fname": volume.fname,
    }
