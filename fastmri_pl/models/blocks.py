"""PromptUnet building blocks: channel attention, CAB, prompt block, encoder and decoder levels.

Structure and sizes follow the PromptMR paper (Xin et al. 2023) so that parameter counts match the published
model. Activations come from an `act_factory`: a factory returning one shared PReLU reproduces the reference
code (one learned slope for nearly every block); `nn.PReLU` itself gives every block its own slope.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from fastmri_pl.models.deterministic_ops import BilinearUpsample, SpatialMean, bilinear_resize

ActFactory = Callable[[], nn.Module]


def conv(in_chans: int, out_chans: int, kernel_size: int, bias: bool = False, stride: int = 1) -> nn.Conv2d:
    """'Same' convolution for odd kernels (stride 1), halving the size for stride 2."""
    return nn.Conv2d(in_chans, out_chans, kernel_size, stride=stride, padding=kernel_size // 2, bias=bias)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: rescales each channel by a gate computed from all channels' spatial means."""

    def __init__(self, channels: int, reduction: int = 4, bias: bool = False) -> None:
        super().__init__()
        self.gate = nn.Sequential(
            SpatialMean(),
            nn.Conv2d(channels, channels // reduction, 1, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)


class CAB(nn.Module):
    """Channel attention block: conv - PReLU - conv, channel attention, residual connection."""

    def __init__(
        self,
        channels: int,
        act: nn.Module,
        kernel_size: int = 3,
        reduction: int = 4,
        bias: bool = False,
        use_ca: bool = True,
    ) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv(channels, channels, kernel_size, bias=bias),
            act,
            conv(channels, channels, kernel_size, bias=bias),
        )
        self.attention = ChannelAttention(channels, reduction, bias) if use_ca else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.attention(self.body(x))


def cab_stack(
    acts: list[nn.Module], channels: int, kernel_size: int, reduction: int, bias: bool, use_ca: bool
) -> nn.Sequential:
    """One CAB per activation in `acts`, in sequence (an empty Sequential, the identity, for none)."""
    return nn.Sequential(*[CAB(channels, act, kernel_size, reduction, bias, use_ca) for act in acts])


class PromptBlock(nn.Module):
    """Image-adaptive prompt: a softmax mix of `prompt_len` prompt components, resized to the features.

    The mixing weights come from a linear map of the features' spatial means. The components are fixed random
    tensors unless `learnable` (the reference code freezes them; they still count as parameters).
    """

    def __init__(
        self, prompt_dim: int, prompt_len: int, prompt_size: int, feature_dim: int, learnable: bool = False
    ) -> None:
        super().__init__()
        components = torch.rand(prompt_len, prompt_dim, prompt_size, prompt_size)
        self.components = nn.Parameter(components, requires_grad=learnable)
        self.mixing = nn.Linear(feature_dim, prompt_len)
        self.conv = conv(prompt_dim, prompt_dim, 3)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.mixing(features.mean(dim=(-2, -1))), dim=1)
        prompt = torch.einsum("bl,lchw->bchw", weights, self.components)
        prompt = bilinear_resize(prompt, features.shape[-2:])
        return self.conv(prompt)


class EncoderLevel(nn.Module):
    """CABs at this level's width, then a stride-2 3x3 convolution to the next width.

    Returns (down-sampled features, this level's features for the skip connection).
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        num_cab: int,
        act_factory: ActFactory,
        kernel_size: int,
        reduction: int,
        bias: bool,
        use_ca: bool,
        first_act: nn.Module | None = None,
    ) -> None:
        super().__init__()
        own = [first_act] if first_act is not None and num_cab > 0 else []
        acts = own + [act_factory() for _ in range(num_cab - len(own))]
        self.blocks = cab_stack(acts, in_chans, kernel_size, reduction, bias, use_ca)
        self.down = nn.Conv2d(in_chans, out_chans, kernel_size=3, stride=2, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.blocks(x)
        return self.down(features), features


class DecoderLevel(nn.Module):
    """Prompt, fuse, up-sample, add the skip, refine.

    The prompt is concatenated to the incoming features, CABs fuse them and a 1x1 conv drops the prompt
    channels; bilinear up-sampling and a 1x1 conv bring the result to the skip's width; the skip (passed
    through its own CABs) is added and a last CAB refines the sum.
    """

    def __init__(
        self,
        in_chans: int,
        out_chans: int,
        prompt: PromptBlock,
        prompt_dim: int,
        num_cab: int,
        num_skip_cab: int,
        act_factory: ActFactory,
        kernel_size: int,
        reduction: int,
        bias: bool,
        use_ca: bool,
    ) -> None:
        super().__init__()
        fused = in_chans + prompt_dim
        self.prompt = prompt
        self.skip = cab_stack(
            [act_factory() for _ in range(num_skip_cab)], out_chans, kernel_size, reduction, bias, use_ca
        )
        self.fuse = cab_stack(
            [act_factory() for _ in range(num_cab)], fused, kernel_size, reduction, bias, use_ca
        )
        self.reduce = nn.Conv2d(fused, in_chans, kernel_size=1, bias=bias)
        self.up = nn.Sequential(
            BilinearUpsample(),
            nn.Conv2d(in_chans, out_chans, kernel_size=1, bias=False),
        )
        self.refine = CAB(out_chans, act_factory(), kernel_size, reduction, bias, use_ca)

    def forward(self, x: torch.Tensor, encoder_features: torch.Tensor) -> torch.Tensor:
        x = self.reduce(self.fuse(torch.cat([x, self.prompt(x)], dim=1)))
        return self.refine(self.up(x) + self.skip(encoder_features))
