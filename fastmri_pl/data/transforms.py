"""From a volume's slices to one sample of the batch contract (docs/interfaces.md), without a batch axis.

Adjacent slices are stacked slice-major along the coil axis (slice 0's coils, then slice 1's, ...), the
centre slice at index S // 2; at a volume's edges the nearest slice is repeated.
"""

from typing import Any

import numpy as np
import torch

from fastmri_pl.data.augment import MaskAugmentation
from fastmri_pl.data.volumes import Volume, read_mask
from fastmri_pl.mri.coil_compression import compress_coils
from fastmri_pl.mri.masks import MaskFunc, SampledMask, check_acs_rule, num_low_frequencies, stable_seed
from fastmri_pl.mri.readout import crop_readout


def adjacent_slice_indices(center: int, num_slices: int, num_adj_slices: int) -> list[int]:
    """`num_adj_slices` (odd) indices centred on `center`, clamped to the volume (edge replication)."""
    if num_adj_slices < 1 or num_adj_slices % 2 == 0:
        raise ValueError(f"num_adj_slices must be odd and >= 1, got {num_adj_slices}")
    half = num_adj_slices // 2
    return [min(max(center + offset, 0), num_slices - 1) for offset in range(-half, half + 1)]


class MaskChooser:
    """Which mask a sample gets: the augmentation mask (training, with the epoch's probability), else the
    file's own mask, else one drawn by `mask_func` (seeded per volume when `per_volume_seed`, as for
    validation, so every epoch sees the same masks).

    `acs_lines` says how many centre lines the network is told are fully sampled: `nominal` passes a drawn
    mask's centre block (`round(W * centre_fraction)`, as fastMRI does), `contiguous` the sampled run around
    the centre (`mri.masks.num_low_frequencies`). A file's own mask has no centre fraction: it always gets the
    contiguous run (the SNU layout).
    """

    def __init__(
        self,
        mask_func: MaskFunc | None = None,
        augmentation: MaskAugmentation | None = None,
        per_volume_seed: bool = True,
        acs_lines: str = "contiguous",
    ) -> None:
        self.mask_func = mask_func
        self.augmentation = augmentation
        self.per_volume_seed = per_volume_seed
        self.acs_lines = check_acs_rule(acs_lines)

    def __call__(self, volume: Volume, epoch: int, generator: torch.Generator) -> SampledMask:
        """(W,) float32 mask, its nominal acceleration and the ACS line count the network gets."""
        if self.augmentation is not None:
            probability = self.augmentation.probability(epoch)
            if float(torch.rand((), generator=generator)) < probability:
                return self._acs(self.augmentation.mask_func(volume.width, generator))
        if volume.has_mask:
            mask = torch.from_numpy(read_mask(volume))
            return SampledMask(mask, float(volume.acceleration or 0.0), num_low_frequencies(mask))
        if self.mask_func is None:
            raise ValueError(f"{volume.fname} has no mask of its own and no mask function is configured")
        if self.per_volume_seed:
            generator = torch.Generator().manual_seed(stable_seed(volume.fname))
        return self._acs(self.mask_func(volume.width, generator))

    def _acs(self, drawn: SampledMask) -> SampledMask:
        if self.acs_lines == "nominal":
            return drawn
        return drawn._replace(num_low_frequencies=num_low_frequencies(drawn.mask))


def build_sample(
    kspace: np.ndarray,
    chosen: SampledMask,
    target: np.ndarray,
    volume: Volume,
    slice_num: int,
    readout_crop: bool = False,
    coil_matrix: torch.Tensor | None = None,
) -> dict[str, Any]:
    """One sample: (S, C, H, W) k-space masked in place and flattened to (S*C, H, W), with its metadata.

    readout_crop: crop the k-space's readout axis to the target's height (`mri.readout.crop_readout`; the
    width is never touched: a 2026 knee image narrower than its target is zero-padded after the network), so
    the network works on the target's rows only; exact, since the target's rows are the image's centre rows.
    coil_matrix: (N, C) coil compression of the volume (`data.coil_compression`): N virtual coils per slice.
    """
    mask = chosen.mask
    slices, coils, height, width = kspace.shape
    masked = torch.from_numpy(kspace)
    masked.mul_(mask.reshape(1, 1, 1, width))
    if readout_crop:
        masked = crop_readout(masked, target.shape[0])
        height = masked.shape[-2]
    if coil_matrix is not None:
        masked = compress_coils(masked, coil_matrix)
        coils = coil_matrix.shape[0]
    return {
        "masked_kspace": masked.reshape(slices * coils, height, width),
        "mask": mask.to(torch.float32).reshape(1, 1, width),
        "num_low_frequencies": torch.tensor(chosen.num_low_frequencies, dtype=torch.int64),
        "target": torch.from_numpy(target),
        "max_value": torch.tensor(volume.max_value, dtype=torch.float32),
        "acceleration": torch.tensor(chosen.acceleration, dtype=torch.float32),
        "slice_num": torch.tensor(slice_num, dtype=torch.int64),
        "fname": volume.fname,
    }
