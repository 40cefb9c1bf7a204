"""E2E-VarNet (Sriram et al. 2020): unrolled k-space cascades, U-Net regularisers, learned coil maps."""

import torch
from torch import nn

from fastmri_pl.models.checkpointing import checkpointed, grouped_chunks, offloaded
from fastmri_pl.models.consistency import SoftDataConsistency
from fastmri_pl.models.levers import MemoryLevers, as_levers
from fastmri_pl.models.unet import ComplexNormUnet
from fastmri_pl.models.varnet_sensitivity import VarNetSensitivity
from fastmri_pl.models.zero_filled import centre_slice_coils
from fastmri_pl.mri.coils import rss, sens_expand, sens_reduce
from fastmri_pl.mri.fft import fft2c, ifft2c


class VarNetCascade(nn.Module):
    """One cascade: `k - DC(k) - F(E(UNet(R(F^-1 k))))`, with a learned soft data-consistency weight.

    With `coil_chunk` the inverse FFT + reduce and the expand + FFT + DC run on that many coils at a time, so
    no temporary holds every coil at once beyond the k-space itself (equal up to fp32 summation order).
    """

    def __init__(self, chans: int, num_pools: int, coil_chunk: int = 0) -> None:
        super().__init__()
        self.regulariser = ComplexNormUnet(chans, num_pools)
        self.data_consistency = SoftDataConsistency()
        self.coil_chunk = coil_chunk

    def forward(
        self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, sens_maps: torch.Tensor
    ) -> torch.Tensor:
        """All complex64 (B, C, H, W) except mask (B, 1, 1, W); returns the updated k-space."""
        (coils,) = grouped_chunks(1, kspace.shape[1], self.coil_chunk)
        image = sum(sens_reduce(ifft2c(kspace[:, part]), sens_maps[:, part]) for part in coils)
        refined = self.regulariser(image)
        updated = [
            kspace[:, part]
            - self.data_consistency(kspace[:, part], measured[:, part], mask)
            - fft2c(sens_expand(refined, sens_maps[:, part]))
            for part in coils
        ]
        return torch.cat(updated, dim=1) if len(updated) > 1 else updated[0]


class VarNet(nn.Module):
    """E2E-VarNet: `net(masked_kspace, mask, num_low_frequencies) -> (B, H, W)` RSS image of the centre slice.

    Sensitivity maps come from the ACS-only k-space; each cascade refines the coil-combined image with its own
    U-Net. With several adjacent slices stacked in the input, only the centre slice's coils are used.
    Levers: `checkpoint != none` recomputes each cascade in the backward (non-reentrant; `level` acts as
    `cascade` here); `sens_chunk` runs the sensitivity U-Net on that many coil images at a time, each chunk
    checkpointed when checkpointing is on (`sens_checkpoint="whole"`: the sensitivity net as one checkpoint
    instead, as the reference PromptMR does); `coil_chunk` chunks each cascade's coil loop; `offload` keeps
    what autograd saves (the checkpointed cascades' input k-spaces included) in host memory;
    `checkpoint_cascades=N` checkpoints and offloads the first N cascades only.
    """

    def __init__(
        self,
        num_cascades: int = 12,
        chans: int = 18,
        pools: int = 4,
        sens_chans: int = 8,
        sens_pools: int = 4,
        num_adj_slices: int = 1,
        levers: MemoryLevers | None = None,
    ) -> None:
        super().__init__()
        self.num_adj_slices = num_adj_slices
        self.levers = as_levers(levers)
        checkpointing = self.levers.checkpoint != "none"
        self.checkpoint_sens_net = checkpointing and self.levers.sens_checkpoint == "whole"
        self.sens_net = VarNetSensitivity(
            sens_chans,
            sens_pools,
            sens_chunk=self.levers.sens_chunk,
            checkpoint_chunks=checkpointing and not self.checkpoint_sens_net,
        )
        self.cascades = nn.ModuleList(
            [VarNetCascade(chans, pools, coil_chunk=self.levers.coil_chunk) for _ in range(num_cascades)]
        )

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: torch.Tensor
    ) -> torch.Tensor:
        measured = centre_slice_coils(masked_kspace, self.num_adj_slices)
        with offloaded(self.levers.offload):
            sens_maps = checkpointed(
                self.sens_net, measured, num_low_frequencies, enabled=self.checkpoint_sens_net
            )
        kspace = measured
        for index, cascade in enumerate(self.cascades):
            checkpoint = self.levers.checkpoints_cascade(index)
            with offloaded(self.levers.offloads_cascade(index)):
                kspace = checkpointed(cascade, kspace, measured, mask, sens_maps, enabled=checkpoint)
        return rss(ifft2c(kspace))
