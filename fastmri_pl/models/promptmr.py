"""PromptMR (Xin et al. 2023): an unrolled k-space network whose cascades refine images with a PromptUnet.

Each cascade maps k-space k to `k - DC(k) - F(E(PromptUnet(R(F^-1 k))))`: soft data consistency plus a learned
refinement of the coil-combined images of all adjacent slices. Sizes and structure match the reference
implementation (81,528,317 parameters in the paper configuration); memory levers (`models.levers`) change
where activations live, never the result.
"""

from collections.abc import Sequence
from functools import partial, reduce
from typing import TypeVar

import torch
from torch import nn

from fastmri_pl.models.checkpointing import checkpointed, grouped_chunks, offloaded
from fastmri_pl.models.consistency import SoftDataConsistency
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.models.prompt_unet import ComplexPromptUnet, PromptUnet, PromptUnetConfig
from fastmri_pl.models.promptmr_sensitivity import PromptSensitivityNet
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import fft2c, ifft2c


class PromptMRCascade(nn.Module):
    """One unrolled step on k-space (B, S*C, H, W), slices stacked slice-major on the coil axis.

    With `coil_chunk` > 0, coil combination, expansion, data consistency and the update run on at most that
    many coils of one adjacent slice at a time, so only a chunk's temporaries exist besides the result; the
    image of a slice is broadcast over its coils (never repeated), and the input k-space is never copied.
    """

    def __init__(self, refiner: ComplexPromptUnet, num_adj_slices: int) -> None:
        super().__init__()
        self.refiner = refiner
        self.data_consistency = SoftDataConsistency()
        self.num_adj_slices = num_adj_slices
        self.coil_chunk = 0

    def forward(
        self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, sens_maps: torch.Tensor
    ) -> torch.Tensor:
        if self.coil_chunk <= 0:
            return self._all_coils(kspace, measured, mask, sens_maps)
        return self._chunked(kspace, measured, mask, sens_maps)

    def _all_coils(
        self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, sens_maps: torch.Tensor
    ) -> torch.Tensor:
        b, sc, h, w = kspace.shape
        per_slice = (b, self.num_adj_slices, sc // self.num_adj_slices, h, w)
        sens = sens_maps.reshape(per_slice)
        images = (ifft2c(kspace).reshape(per_slice) * sens.conj()).sum(dim=2)
        refined = self.refiner(images).unsqueeze(2)
        model_term = fft2c((refined * sens).reshape(b, sc, h, w))
        return kspace - self.data_consistency(kspace, measured, mask) - model_term

    def _chunked(
        self, kspace: torch.Tensor, measured: torch.Tensor, mask: torch.Tensor, sens_maps: torch.Tensor
    ) -> torch.Tensor:
        coils = kspace.shape[1] // self.num_adj_slices
        groups = grouped_chunks(self.num_adj_slices, coils, self.coil_chunk)
        images = torch.stack([self._combine(kspace, sens_maps, chunks) for chunks in groups], dim=1)
        refined = self.refiner(images)
        updated = []
        for index, chunks in enumerate(groups):
            image = refined[:, index : index + 1]
            for coil_range in chunks:
                k = kspace[:, coil_range]
                model_term = fft2c(image * sens_maps[:, coil_range])
                updated.append(k - self.data_consistency(k, measured[:, coil_range], mask) - model_term)
        return torch.cat(updated, dim=1)

    @staticmethod
    def _combine(kspace: torch.Tensor, sens_maps: torch.Tensor, chunks: list[slice]) -> torch.Tensor:
        """Coil-combined image (B, H, W) of one adjacent slice, accumulated chunk by chunk."""
        parts = ((ifft2c(kspace[:, coils]) * sens_maps[:, coils].conj()).sum(dim=1) for coils in chunks)
        return reduce(torch.add, parts)


class PromptMR(nn.Module):
    """`net(masked_kspace, mask, num_low_frequencies) -> (B, H, W)`: RSS image of the centre adjacent slice.

    `shared_prelu=True` reproduces the reference code, where one PReLU (one learned slope) is shared by every
    block of every PromptUnet except the first CAB of each first encoder level; False gives every CAB its own.
    `learnable_prompt=False` keeps the prompt components fixed random tensors, as the reference does.
    The `sens_*` settings left as None copy the cascades' ones.
    """

    def __init__(
        self,
        num_cascades: int = 12,
        num_adj_slices: int = 5,
        n_feat0: int = 48,
        feature_dim: Sequence[int] = (72, 96, 120),
        prompt_dim: Sequence[int] = (24, 48, 72),
        sens_n_feat0: int = 24,
        sens_feature_dim: Sequence[int] = (36, 48, 60),
        sens_prompt_dim: Sequence[int] = (12, 24, 36),
        len_prompt: Sequence[int] = (5, 5, 5),
        prompt_size: Sequence[int] = (64, 32, 16),
        n_enc_cab: Sequence[int] = (2, 3, 3),
        n_dec_cab: Sequence[int] = (2, 2, 3),
        n_skip_cab: Sequence[int] = (1, 1, 1),
        n_bottleneck_cab: int = 3,
        no_use_ca: bool = False,
        sens_len_prompt: Sequence[int] | None = None,
        sens_prompt_size: Sequence[int] | None = None,
        sens_n_enc_cab: Sequence[int] | None = None,
        sens_n_dec_cab: Sequence[int] | None = None,
        sens_n_skip_cab: Sequence[int] | None = None,
        sens_n_bottleneck_cab: int | None = None,
        sens_no_use_ca: bool | None = None,
        learnable_prompt: bool = False,
        shared_prelu: bool = True,
        levers: MemoryLevers | None = None,
    ) -> None:
        super().__init__()
        if num_adj_slices < 1 or num_adj_slices % 2 == 0:
            raise ValueError(
                f"num_adj_slices must be odd and positive (a centre slice), got {num_adj_slices}"
            )
        self.num_adj_slices = num_adj_slices
        self.center_slice = num_adj_slices // 2
        cascade_config = PromptUnetConfig(
            n_feat0=n_feat0,
            feature_dim=feature_dim,
            prompt_dim=prompt_dim,
            len_prompt=len_prompt,
            prompt_size=prompt_size,
            n_enc_cab=n_enc_cab,
            n_dec_cab=n_dec_cab,
            n_skip_cab=n_skip_cab,
            n_bottleneck_cab=n_bottleneck_cab,
            use_ca=not no_use_ca,
            learnable_prompt=learnable_prompt,
        )
        sens_config = PromptUnetConfig(
            n_feat0=sens_n_feat0,
            feature_dim=sens_feature_dim,
            prompt_dim=sens_prompt_dim,
            len_prompt=_or(sens_len_prompt, len_prompt),
            prompt_size=_or(sens_prompt_size, prompt_size),
            n_enc_cab=_or(sens_n_enc_cab, n_enc_cab),
            n_dec_cab=_or(sens_n_dec_cab, n_dec_cab),
            n_skip_cab=_or(sens_n_skip_cab, n_skip_cab),
            n_bottleneck_cab=_or(sens_n_bottleneck_cab, n_bottleneck_cab),
            use_ca=not _or(sens_no_use_ca, no_use_ca),
            learnable_prompt=learnable_prompt,
        )
        act = nn.PReLU() if shared_prelu else None
        self.sens_net = PromptSensitivityNet(num_adj_slices, sens_config, act)
        self.cascades = nn.ModuleList(
            PromptMRCascade(ComplexPromptUnet(num_adj_slices, cascade_config, act), num_adj_slices)
            for _ in range(num_cascades)
        )
        self.set_levers(levers or MemoryLevers())

    def set_levers(self, levers: MemoryLevers) -> None:
        """Apply memory levers; they can change between calls (the memory planner tries several)."""
        self.levers = levers
        checkpointing = levers.checkpoint != "none"
        self.sens_net.chunk_size = levers.sens_chunk
        self.sens_net.checkpoint_chunks = checkpointing
        for cascade in self.cascades:
            cascade.coil_chunk = levers.coil_chunk
        for module in self.modules():
            if isinstance(module, PromptUnet):
                module.checkpoint_levels = levers.checkpoint == "level"

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: torch.Tensor
    ) -> torch.Tensor:
        if masked_kspace.dim() != 4 or masked_kspace.shape[1] % self.num_adj_slices != 0:
            raise ValueError(
                f"masked_kspace must be (B, S*C, H, W) with S={self.num_adj_slices} adjacent slices, "
                f"got shape {tuple(masked_kspace.shape)}"
            )
        sens_maps = self.sens_net(masked_kspace, num_low_frequencies)
        checkpoint_cascades = self.levers.checkpoint != "none"
        kspace = masked_kspace
        with offloaded(self.levers.offload):
            for cascade in self.cascades:
                step = partial(cascade, measured=masked_kspace, mask=mask, sens_maps=sens_maps)
                kspace = checkpointed(step, kspace, enabled=checkpoint_cascades)
        coils = masked_kspace.shape[1] // self.num_adj_slices
        centre = kspace[:, self.center_slice * coils : (self.center_slice + 1) * coils]
        return rss(ifft2c(centre), dim=1)


T = TypeVar("T")


def _or(value: T | None, default: T) -> T:
    """`value` unless it is None (unset `sens_*` settings follow the cascades' ones)."""
    return default if value is None else value


def parameter_breakdown(model: PromptMR) -> dict[str, int]:
    """Parameter counts: sensitivity net, one cascade, and the whole model.

    Parts count a shared PReLU each time they use it, the total counts it once (as `model.parameters()` does),
    so with the reference's sharing the total is sens + cascades * per_cascade - num_cascades.
    """

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    return {
        "sensitivity": count(model.sens_net),
        "per_cascade": count(model.cascades[0]) if len(model.cascades) else 0,
        "cascades": len(model.cascades),
        "total": count(model),
    }
