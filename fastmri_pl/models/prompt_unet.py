"""PromptUnet, the refiner of every PromptMR cascade and of its sensitivity net, and its complex wrapper."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from fastmri_pl.models.blocks import ActFactory, DecoderLevel, EncoderLevel, PromptBlock, cab_stack, conv
from fastmri_pl.models.checkpointing import checkpointed
from fastmri_pl.mri.complex import channels_to_complex, complex_to_channels

_MIN_STD = 1e-12


@dataclass(frozen=True)
class PromptUnetConfig:
    """Widths and depths of a PromptUnet; every per-level tuple is ordered from full resolution down."""

    n_feat0: int = 48
    feature_dim: tuple[int, ...] = (72, 96, 120)
    prompt_dim: tuple[int, ...] = (24, 48, 72)
    len_prompt: tuple[int, ...] = (5, 5, 5)
    prompt_size: tuple[int, ...] = (64, 32, 16)
    n_enc_cab: tuple[int, ...] = (2, 3, 3)
    n_dec_cab: tuple[int, ...] = (2, 2, 3)
    n_skip_cab: tuple[int, ...] = (1, 1, 1)
    n_bottleneck_cab: int = 3
    use_ca: bool = True
    learnable_prompt: bool = False
    kernel_size: int = 3
    reduction: int = 4
    bias: bool = False

    def __post_init__(self) -> None:
        per_level = (
            "feature_dim",
            "prompt_dim",
            "len_prompt",
            "prompt_size",
            "n_enc_cab",
            "n_dec_cab",
            "n_skip_cab",
        )
        for name in per_level:
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        lengths = {name: len(getattr(self, name)) for name in per_level}
        if len(set(lengths.values())) != 1 or self.num_levels == 0:
            raise ValueError(
                f"PromptUnet per-level settings need one equal, non-zero length each, got {lengths}"
            )

    @property
    def num_levels(self) -> int:
        return len(self.feature_dim)


class PromptUnet(nn.Module):
    """Encoder levels with CABs, a CAB bottleneck, decoder levels that mix in image-adaptive prompts.

    `act` is the activation module shared by every block except the first CAB of the first encoder level (the
    reference code's behaviour); None gives each block its own PReLU. Spatial sizes must be multiples of
    `size_multiple`. With `checkpoint_levels`, each encoder level, the bottleneck and each decoder level is
    checkpointed on its own during training.
    """

    def __init__(self, in_chans: int, out_chans: int, config: PromptUnetConfig, act: nn.Module | None = None):
        super().__init__()
        cfg = config
        act_factory: ActFactory = nn.PReLU if act is None else (lambda: act)
        common = {
            "kernel_size": cfg.kernel_size,
            "reduction": cfg.reduction,
            "bias": cfg.bias,
            "use_ca": cfg.use_ca,
        }
        widths = (cfg.n_feat0, *cfg.feature_dim)
        self.size_multiple = 2**cfg.num_levels
        self.checkpoint_levels = False
        self.feat_extract = conv(in_chans, cfg.n_feat0, cfg.kernel_size, bias=cfg.bias)
        self.encoders = nn.ModuleList(
            EncoderLevel(
                widths[level],
                widths[level + 1],
                cfg.n_enc_cab[level],
                act_factory,
                first_act=nn.PReLU() if level == 0 else None,
                **common,
            )
            for level in range(cfg.num_levels)
        )
        bottleneck_acts = [act_factory() for _ in range(cfg.n_bottleneck_cab)]
        self.bottleneck = cab_stack(bottleneck_acts, cfg.feature_dim[-1], **common)
        self.decoders = nn.ModuleList(
            DecoderLevel(
                widths[level + 1],
                widths[level],
                PromptBlock(
                    cfg.prompt_dim[level],
                    cfg.len_prompt[level],
                    cfg.prompt_size[level],
                    cfg.feature_dim[level],
                    cfg.learnable_prompt,
                ),
                cfg.prompt_dim[level],
                cfg.n_dec_cab[level],
                cfg.n_skip_cab[level],
                act_factory,
                **common,
            )
            for level in reversed(range(cfg.num_levels))
        )
        self.conv_last = conv(cfg.n_feat0, out_chans, 5, bias=cfg.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) -> (N, out_chans, H, W), H and W multiples of `size_multiple`."""
        enabled = self.checkpoint_levels
        x = self.feat_extract(x)
        skips = []
        for encoder in self.encoders:
            x, features = checkpointed(encoder, x, enabled=enabled)
            skips.append(features)
        x = checkpointed(self.bottleneck, x, enabled=enabled)
        for decoder in self.decoders:
            x = checkpointed(decoder, x, skips.pop(), enabled=enabled)
        return self.conv_last(x)


def _pad_amounts(size: int, multiple: int) -> tuple[int, int]:
    """Zero padding (before, after) that brings `size` to the next multiple, split as evenly as possible."""
    total = -size % multiple
    return total // 2, total - total // 2


class ComplexPromptUnet(nn.Module):
    """PromptUnet on `num_images` complex images (N, num_images, H, W) -> same shape, complex64.

    Normalises each sample by the mean and standard deviation of all its channels (the U-Net sees unit-scale
    inputs whatever the k-space scale), zero-pads H and W to the U-Net's size multiple, and undoes both. The
    output is cast to float32 before it becomes complex, so mixed precision never yields complex32.
    """

    def __init__(self, num_images: int, config: PromptUnetConfig, act: nn.Module | None = None) -> None:
        super().__init__()
        self.unet = PromptUnet(2 * num_images, 2 * num_images, config, act)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = complex_to_channels(images)
        flat = x.flatten(1)
        mean = flat.mean(dim=1).reshape(-1, 1, 1, 1)
        std = flat.std(dim=1).clamp_min(_MIN_STD).reshape(-1, 1, 1, 1)
        h, w = x.shape[-2:]
        top, bottom = _pad_amounts(h, self.unet.size_multiple)
        left, right = _pad_amounts(w, self.unet.size_multiple)
        x = F.pad((x - mean) / std, (left, right, top, bottom))
        x = self.unet(x)[..., top : top + h, left : left + w]
        return channels_to_complex(x.float() * std + mean)
