"""Zero-filled baseline, and the centre-slice coil pick every network that reconstructs one slice shares."""

import torch
from torch import nn

from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import ifft2c


def centre_slice_coils(kspace: torch.Tensor, num_adj_slices: int) -> torch.Tensor:
    """(B, S*C, H, W) slice-major stack of S adjacent slices -> (B, C, H, W), the centre slice's coils."""
    stacked = kspace.shape[1]
    if num_adj_slices < 1 or stacked % num_adj_slices != 0:
        raise ValueError(
            f"k-space has {stacked} coil images: not a whole number of coils per slice "
            f"for {num_adj_slices} adjacent slices"
        )
    coils = stacked // num_adj_slices
    centre = num_adj_slices // 2
    return kspace[:, centre * coils : (centre + 1) * coils]


class ZeroFilled(nn.Module):
    """RSS of the inverse FFT of the centre slice's masked k-space: the floor any trained network must beat.

    It has no parameters, so it is only validated, never fitted; `levers` is accepted for the common
    network signature and has nothing to change.
    """

    def __init__(self, num_adj_slices: int = 1, levers: MemoryLevers | None = None) -> None:
        super().__init__()
        self.num_adj_slices = num_adj_slices
        self.levers = levers or MemoryLevers()

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: torch.Tensor
    ) -> torch.Tensor:
        """(B, S*C, H, W) complex masked k-space -> (B, H, W) float32 image; mask and ACS count are unused."""
        return rss(ifft2c(centre_slice_coils(masked_kspace, self.num_adj_slices)))
