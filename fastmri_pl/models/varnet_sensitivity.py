"""Coil sensitivity estimation for E2E-VarNet: a U-Net per coil image of the ACS-only k-space."""

import torch
from torch import nn

from fastmri_pl.models.checkpointing import map_in_chunks
from fastmri_pl.models.unet import ComplexNormUnet
from fastmri_pl.mri.coils import normalize_sens_maps
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.mri.masks import acs_mask


class VarNetSensitivity(nn.Module):
    """Masked k-space (B, C, H, W) + ACS line counts (B,) -> sensitivity maps (B, C, H, W), RSS-normalised.

    Every coil image goes through the same U-Net on its own (coils folded into the batch), so the result does
    not depend on the coil count and running it in chunks of `sens_chunk` coil images is exactly equal to one
    call; with `checkpoint_chunks` each chunk is recomputed on its own in the backward, which then holds only
    one chunk's activations.
    """

    def __init__(
        self, chans: int, num_pools: int, sens_chunk: int = 0, checkpoint_chunks: bool = False
    ) -> None:
        super().__init__()
        self.norm_unet = ComplexNormUnet(chans, num_pools)
        self.sens_chunk = sens_chunk
        self.checkpoint_chunks = checkpoint_chunks

    def forward(self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        b, c, h, w = masked_kspace.shape
        centre = acs_mask(num_low_frequencies.to(masked_kspace.device), w)
        coil_images = ifft2c(masked_kspace * centre).reshape(b * c, 1, h, w)
        maps = map_in_chunks(self.norm_unet, coil_images, self.sens_chunk, self.checkpoint_chunks)
        return normalize_sens_maps(maps.reshape(b, c, h, w))
