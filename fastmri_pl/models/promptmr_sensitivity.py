"""PromptMR's coil-sensitivity estimator: a small PromptUnet on each coil's ACS-only image."""

import torch
from torch import nn

from fastmri_pl.models.checkpointing import checkpointed, map_in_chunks
from fastmri_pl.models.prompt_unet import ComplexPromptUnet, PromptUnetConfig
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.mri.masks import acs_mask

_EPS = 1e-12


class PromptSensitivityNet(nn.Module):
    """Masked k-space (B, S*C, H, W) -> sensitivity maps (B, S*C, H, W), RSS 1 over the coils of each slice.

    Every coil image is refined on its own (one complex image, two channels), so running the U-Net on chunks
    of `chunk_size` coil images (0 = all at once) gives the single-call result. With `checkpoint_chunks`,
    each chunk's call is checkpointed on its own: the backward then recomputes and holds one chunk's
    activations at a time, instead of those of all S*C full-resolution coil images. The ACS masking and the
    inverse FFT happen inside each chunk's call, so a chunk's saved input is a view of the batch's k-space
    rather than of an all-coil image tensor that would then live for the whole step. `checkpoint_whole`
    instead checkpoints the net as one unit around its chunk loop, as the reference code does: its recompute
    in the backward holds every coil image's activations at once, so chunking then saves almost nothing in
    training (kept only to reproduce the reference's memory figures).
    """

    def __init__(self, num_adj_slices: int, config: PromptUnetConfig, act: nn.Module | None = None) -> None:
        super().__init__()
        self.num_adj_slices = num_adj_slices
        self.unet = ComplexPromptUnet(1, config, act)
        self.chunk_size = 0
        self.checkpoint_chunks = False
        self.checkpoint_whole = False

    def forward(self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        return checkpointed(self._maps, masked_kspace, num_low_frequencies, enabled=self.checkpoint_whole)

    def slice_maps(self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor) -> torch.Tensor:
        """Maps of single slices, (B, C, H, W) -> (B, C, H, W): what `forward` gives each slice of a window.

        A coil image's map depends on that image alone and the normalisation on its slice's coils alone,
        so a slice's maps are the same in every adjacent-slice window holding it (inference: computed once).
        """
        return self._maps(masked_kspace, num_low_frequencies, slices=1)

    def _maps(
        self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor, slices: int | None = None
    ) -> torch.Tensor:
        slices = self.num_adj_slices if slices is None else slices
        b, coil_images, h, w = masked_kspace.shape
        acs = acs_mask(num_low_frequencies, w).to(masked_kspace.device)
        per_image_acs = acs.expand(b, coil_images, 1, w).reshape(b * coil_images, 1, 1, w)
        kspace = masked_kspace.reshape(b * coil_images, 1, h, w)
        maps = map_in_chunks(self._acs_map, kspace, self.chunk_size, self.checkpoint_chunks, per_image_acs)
        per_slice = maps.reshape(b * slices, coil_images // slices, h, w)
        return NormalizeCoils.apply(per_slice).reshape(b, coil_images, h, w)

    def _acs_map(self, kspace: torch.Tensor, acs: torch.Tensor) -> torch.Tensor:
        """Unnormalised maps of coil images (N, 1, H, W) from their k-space and ACS masks (N, 1, 1, W)."""
        return self.unet(ifft2c(kspace * acs))


class NormalizeCoils(torch.autograd.Function):
    """`maps / (rss over dim 1 + eps)` whose backward keeps only its output and the RSS (one real per pixel).

    Autograd on the plain expression would keep the unnormalised maps and their magnitudes, two more
    all-coil tensors, alive from the sensitivity net to the end of the backward. The gradient, with s the
    output, d = r + eps, G the incoming gradient, complex numbers as real 2-vectors, <a, b> = Re(conj(a) b):
    dL/dm_c = (G_c - s_c (d / r) sum_k <G_k, s_k>) / d; pixels whose maps are all zero get G_c / d.
    """

    @staticmethod
    def forward(ctx, maps: torch.Tensor) -> torch.Tensor:
        norm = rss(maps).unsqueeze(1)
        sens = maps / (norm + _EPS)
        ctx.save_for_backward(sens, norm)
        return sens

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        sens, norm = ctx.saved_tensors
        denominator = norm + _EPS
        inner = (grad * sens.conj()).real.sum(dim=1, keepdim=True)
        ratio = torch.where(norm > 0, denominator / norm.clamp_min(_EPS), torch.zeros_like(norm))
        return (grad - sens * (inner * ratio)) / denominator
