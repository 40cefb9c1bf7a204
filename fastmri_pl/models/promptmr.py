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
from fastmri_pl.models.levers import MemoryLevers, as_levers
from fastmri_pl.models.prompt_unet import ComplexPromptUnet, PromptUnet, PromptUnetConfig
from fastmri_pl.models.promptmr_sensitivity import PromptSensitivityNet
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import fft2c, ifft2c

Parts = tuple[torch.Tensor, ...]


class PromptMRCascade(nn.Module):
    """One unrolled step on k-space (B, S*C, H, W), slices stacked slice-major on the coil axis.

    K-space, measured k-space and maps travel as *parts*: views along the coil axis (`split_coils`), each of
    at most `coil_chunk` coils of one adjacent slice (one part of all coils when `coil_chunk` is 0). The
    cascade maps parts to parts, so the multi-coil k-space is never concatenated between cascades and the
    backward passes per-part gradients (no all-coil zero-padded or concatenated gradient buffers). Coil
    combination, expansion, data consistency and the update run one part at a time; the image of a slice is
    broadcast over its coils (never repeated), and the input k-space is never copied. With
    `checkpoint_parts`, each part's combination and update is checkpointed on its own, so the cascade keeps
    no per-part FFT or data-consistency activations for its backward (only views of tensors that live anyway).
    With `in_place` (autograd off only), the input parts are overwritten by the update, so inference never
    holds two multi-coil k-spaces at once; the caller passes it only for parts it owns (not the batch's).
    """

    def __init__(self, refiner: ComplexPromptUnet, num_adj_slices: int) -> None:
        super().__init__()
        self.refiner = refiner
        self.data_consistency = SoftDataConsistency()
        self.num_adj_slices = num_adj_slices
        self.coil_chunk = 0
        self.checkpoint_parts = False

    def split_coils(self, tensor: torch.Tensor) -> Parts:
        """Views of `tensor` (B, S*C, H, W) along the coil axis, one per part this cascade works on."""
        if self.coil_chunk <= 0:
            return (tensor,)
        return tensor.split([len(part) for group in self._groups(tensor.shape[1]) for part in group], dim=1)

    def _groups(self, coil_images: int) -> list[list[range]]:
        coils = coil_images // self.num_adj_slices
        chunks = grouped_chunks(self.num_adj_slices, coils, self.coil_chunk)
        return [[range(part.start, part.stop) for part in group] for group in chunks]

    def forward(
        self, kspace: Parts, measured: Parts, mask: torch.Tensor, sens_maps: Parts, in_place: bool = False
    ) -> Parts:
        if in_place and torch.is_grad_enabled():
            raise RuntimeError("a cascade may overwrite its input k-space only while autograd is off")
        if self.coil_chunk <= 0:
            return (self._all_coils(kspace[0], measured[0], mask, sens_maps[0], in_place),)
        return self._chunked(kspace, measured, mask, sens_maps, in_place)

    def _all_coils(
        self,
        kspace: torch.Tensor,
        measured: torch.Tensor,
        mask: torch.Tensor,
        sens_maps: torch.Tensor,
        in_place: bool,
    ) -> torch.Tensor:
        b, sc, h, w = kspace.shape
        per_slice = (b, self.num_adj_slices, sc // self.num_adj_slices, h, w)
        sens = sens_maps.reshape(per_slice)
        images = (ifft2c(kspace).reshape(per_slice) * sens.conj()).sum(dim=2)
        refined = self.refiner(images).unsqueeze(2)
        model_term = fft2c((refined * sens).reshape(b, sc, h, w))
        if in_place:
            return kspace.sub_(self.data_consistency(kspace, measured, mask)).sub_(model_term)
        return kspace - self.data_consistency(kspace, measured, mask) - model_term

    def _chunked(
        self, kspace: Parts, measured: Parts, mask: torch.Tensor, sens_maps: Parts, in_place: bool
    ) -> Parts:
        per_group = [len(group) for group in self._groups(sum(part.shape[1] for part in kspace))]
        owner = [group for group, count in enumerate(per_group) for _ in range(count)]
        on = self.checkpoint_parts
        combined = [checkpointed(_combine, k, s, enabled=on) for k, s in zip(kspace, sens_maps, strict=True)]
        images = torch.stack(
            [
                reduce(torch.add, (c for c, g in zip(combined, owner, strict=True) if g == group))
                for group in range(len(per_group))
            ],
            dim=1,
        )
        refined = self.refiner(images)
        update = partial(_update, self.data_consistency, mask, in_place=in_place)
        return tuple(
            checkpointed(update, k, m, s, refined[:, g : g + 1], enabled=on)
            for k, m, s, g in zip(kspace, measured, sens_maps, owner, strict=True)
        )


def _combine(kspace: torch.Tensor, sens_maps: torch.Tensor) -> torch.Tensor:
    """A part's contribution (B, H, W) to the coil-combined image of its adjacent slice."""
    return (ifft2c(kspace) * sens_maps.conj()).sum(dim=1)


def _update(
    data_consistency: SoftDataConsistency,
    mask: torch.Tensor,
    kspace: torch.Tensor,
    measured: torch.Tensor,
    sens_maps: torch.Tensor,
    image: torch.Tensor,
    *,
    in_place: bool,
) -> torch.Tensor:
    """A part's next k-space: soft data consistency and the refined image expanded to its coils.

    `in_place` overwrites `kspace`, subtracting in the same order as the out-of-place expression (same bits).
    """
    if in_place:
        kspace.sub_(data_consistency(kspace, measured, mask))
        return kspace.sub_(fft2c(image * sens_maps))
    return kspace - data_consistency(kspace, measured, mask) - fft2c(image * sens_maps)


def _run_cascade(
    cascade: PromptMRCascade,
    measured: Parts,
    mask: torch.Tensor,
    sens_maps: Parts,
    *kspace: torch.Tensor,
    in_place: bool = False,
) -> Parts:
    """`cascade` with the k-space parts last, so that checkpointing sees them as its inputs."""
    return cascade(kspace, measured, mask, sens_maps, in_place)


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
        self.set_levers(levers)

    def set_levers(self, levers: MemoryLevers | None) -> None:
        """Apply memory levers; they can change between calls (the memory planner tries several)."""
        levers = self.levers = as_levers(levers)
        self.sens_net.chunk_size = levers.sens_chunk
        checkpointing = levers.checkpoint != "none"
        self.sens_net.checkpoint_chunks = checkpointing and levers.sens_checkpoint == "chunk"
        self.sens_net.checkpoint_whole = checkpointing and levers.sens_checkpoint == "whole"
        self.sens_net.unet.unet.checkpoint_levels = levers.checkpoint == "level"
        for index, cascade in enumerate(self.cascades):
            per_level = levers.checkpoints_cascade(index) and levers.checkpoint == "level"
            cascade.coil_chunk = levers.coil_chunk
            cascade.checkpoint_parts = per_level
            for module in cascade.modules():
                if isinstance(module, PromptUnet):
                    module.checkpoint_levels = per_level

    def forward(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: torch.Tensor
    ) -> torch.Tensor:
        self._check_window(masked_kspace)
        if not self.cascades:
            return self._centre_image((masked_kspace,), masked_kspace.shape[1])
        return self.forward_with_maps(masked_kspace, mask, self.sens_net(masked_kspace, num_low_frequencies))

    def _check_window(self, masked_kspace: torch.Tensor) -> None:
        if masked_kspace.dim() != 4 or masked_kspace.shape[1] % self.num_adj_slices != 0:
            raise ValueError(
                f"masked_kspace must be (B, S*C, H, W) with S={self.num_adj_slices} adjacent slices, "
                f"got shape {tuple(masked_kspace.shape)}"
            )

    def slice_sensitivity_maps(
        self, masked_kspace: torch.Tensor, num_low_frequencies: torch.Tensor
    ) -> torch.Tensor:
        """Sensitivity maps of single slices (B, C, H, W), equal to those `forward` computes for each slice
        of every window that holds it: inference over a volume computes each slice's maps once, then stacks
        them per window for `forward_with_maps`."""
        return self.sens_net.slice_maps(masked_kspace, num_low_frequencies)

    def forward_with_maps(
        self, masked_kspace: torch.Tensor, mask: torch.Tensor, sens_maps: torch.Tensor
    ) -> torch.Tensor:
        """The cascades on given maps (B, S*C, H, W), stacked slice-major like the k-space; see `forward`."""
        self._check_window(masked_kspace)
        if sens_maps.shape != masked_kspace.shape:
            raise ValueError(
                f"sens_maps {tuple(sens_maps.shape)} must match k-space {tuple(masked_kspace.shape)}"
            )
        if not self.cascades:
            return self._centre_image((masked_kspace,), masked_kspace.shape[1])
        split = self.cascades[0].split_coils
        measured, sens_parts, kspace = split(masked_kspace), split(sens_maps), split(masked_kspace)
        # without autograd, every cascade but the first (whose input is the batch's) updates k-space in place
        overwrite = not torch.is_grad_enabled()
        for index, cascade in enumerate(self.cascades):
            in_place = overwrite and index > 0
            step = partial(_run_cascade, cascade, measured, mask, sens_parts, in_place=in_place)
            checkpoint = self.levers.checkpoints_cascade(index)
            # cascades past `checkpoint_cascades` keep their activations on the device
            with offloaded(self.levers.offloads_cascade(index)):
                kspace = checkpointed(step, *kspace, enabled=checkpoint)
        return self._centre_image(kspace, masked_kspace.shape[1])

    def _centre_image(self, parts: Parts, coil_images: int) -> torch.Tensor:
        """RSS image of the centre slice's coils, gathered from the parts that hold them."""
        coils = coil_images // self.num_adj_slices
        first, stop = self.center_slice * coils, (self.center_slice + 1) * coils
        offsets = [0]
        for part in parts:
            offsets.append(offsets[-1] + part.shape[1])
        inside = [
            part[:, max(first - start, 0) : stop - start]
            for part, start, end in zip(parts, offsets, offsets[1:], strict=False)
            if start < stop and end > first
        ]
        centre = inside[0] if len(inside) == 1 else torch.cat(inside, dim=1)
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
