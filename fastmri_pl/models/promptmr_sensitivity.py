"""PromptMR's coil-sensitivity estimator: a small PromptUnet on each coil's ACS-only image."""

import torch
from torch import nn

from fastmri_pl.models.checkpointing import map_in_chunks
from fastmri_pl.models.prompt_unet import ComplexPromptUnet, PromptUnetConfig
from fastmri_pl.mri.coils import normalize_sens_maps
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.mri.masks import acs_mask


class PromptSensitivityNet(nn.Module):
    """Masked k-space (B, S*C, H, W) -> sensitivity maps (B, S*C, H, W), RSS 1 over the coils of each slice.

    Every coil image is refined on its own (one complex image, two channels), so running the U-Net on chunks
    of `chunk_size` coil images (0 = all at once) gives the single-call result. With `checkpoint_chunks`,
    each chunk's call is checkpointed on its own: the backward then recomputes and holds one chunk's
    activations at a time, instead of those of all S*C full-resolution coil images.
    """

    def __init__(self, num_adj_slices: int, config: PromptUnetConfig, act: nn.Module | None = None) -> None:
        super().__init__()
        self.num_adj_slices = num_adj_slices
        self.unet = ComplexPromptUnet(1, config, act)
        self.chunk_size = 0
        self.checkpoint_chunks = False

    def forward(self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        b, coil_images, h, w = masked_kspace.shape
        acs_kspace = masked_kspace * acs_mask(num_low_frequencies, w).to(masked_kspace.device)
        images = ifft2c(acs_kspace).reshape(b * coil_images, 1, h, w)
        maps = map_in_chunks(self.unet, images, self.chunk_size, self.checkpoint_chunks)
        per_slice = maps.reshape(b * self.num_adj_slices, coil_images // self.num_adj_slices, h, w)
        return normalize_sens_maps(per_slice).reshape(b, coil_images, h, w)
