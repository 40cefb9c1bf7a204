"""The plain fastMRI-style U-Net and its normalised, padded wrapper for complex images.

Layer choices follow the U-Net the E2E-VarNet paper uses (so parameter counts match the published model):
3x3 convolutions without bias, instance norm without affine parameters, LeakyReLU(0.2), average-pool
down-sampling, 2x2 stride-2 transposed convolutions for up-sampling and a 1x1 output convolution with bias.
"""

import torch
import torch.nn.functional as F
from torch import nn

from fastmri_pl.mri.complex import channels_to_complex, complex_to_channels
from fastmri_pl.mri.padding import reflect_pad

_LEAKY_SLOPE = 0.2
_MIN_STD = 1e-30


def _conv_block(in_chans: int, out_chans: int) -> nn.Sequential:
    """Two 3x3 convolutions, each followed by instance norm and LeakyReLU."""
    return nn.Sequential(
        nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
        nn.InstanceNorm2d(out_chans),
        nn.LeakyReLU(_LEAKY_SLOPE),
        nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
        nn.InstanceNorm2d(out_chans),
        nn.LeakyReLU(_LEAKY_SLOPE),
    )


def _up_block(in_chans: int, out_chans: int) -> nn.Sequential:
    """Doubles the spatial size with a 2x2 stride-2 transposed convolution, then norm and LeakyReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
        nn.InstanceNorm2d(out_chans),
        nn.LeakyReLU(_LEAKY_SLOPE),
    )


def _match_size(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """Reflect-pad up-sampled `x` at the right/bottom to the skip's size (pooling odd sizes drops a row)."""
    pad_h = skip.shape[-2] - x.shape[-2]
    pad_w = skip.shape[-1] - x.shape[-1]
    if pad_h == 0 and pad_w == 0:
        return x
    return reflect_pad(x, 0, pad_w, 0, pad_h)


class Unet(nn.Module):
    """U-Net with `num_pools` down/up levels; `chans` features at full resolution, doubled per level."""

    def __init__(self, in_chans: int, out_chans: int, chans: int = 32, num_pools: int = 4) -> None:
        super().__init__()
        if num_pools < 1:
            raise ValueError(f"num_pools must be >= 1, got {num_pools}")
        self.num_pools = num_pools
        widths = [chans * 2**level for level in range(num_pools + 1)]
        self.down = nn.ModuleList(
            [_conv_block(in_chans, chans)]
            + [_conv_block(widths[level], widths[level + 1]) for level in range(num_pools - 1)]
        )
        self.bottleneck = _conv_block(widths[-2], widths[-1])
        self.up_samplers = nn.ModuleList(
            [_up_block(widths[level + 1], widths[level]) for level in reversed(range(num_pools))]
        )
        self.up = nn.ModuleList(
            [_conv_block(2 * widths[level], widths[level]) for level in reversed(range(num_pools))]
        )
        self.head = nn.Conv2d(chans, out_chans, kernel_size=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, in_chans, H, W) -> (N, out_chans, H, W)."""
        skips = []
        x = image
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.avg_pool2d(x, kernel_size=2, stride=2)
        x = self.bottleneck(x)
        for up_sample, block in zip(self.up_samplers, self.up, strict=True):
            skip = skips.pop()
            x = _match_size(up_sample(x), skip)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class ComplexNormUnet(nn.Module):
    """A U-Net on complex images (B, C, H, W): real/imag as channels, normalised and padded around the U-Net.

    Normalising each sample's real and imaginary parts to zero mean and unit std makes the network independent
    of the raw k-space scale (SNU and fastMRI files differ by orders of magnitude); padding to a multiple of
    2**num_pools lets any size (e.g. 396 or 392 wide) pool cleanly.
    """

    def __init__(self, chans: int, num_pools: int, complex_chans: int = 1) -> None:
        super().__init__()
        self.multiple = 2**num_pools
        self.unet = Unet(2 * complex_chans, 2 * complex_chans, chans=chans, num_pools=num_pools)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Complex (B, C, H, W) -> complex64 (B, C, H, W)."""
        b, c, h, w = image.shape
        parts = complex_to_channels(image).reshape(b, c, 2, h, w)
        mean = parts.mean(dim=(1, 3, 4), keepdim=True)
        std = parts.std(dim=(1, 3, 4), keepdim=True).clamp_min(_MIN_STD)
        x = ((parts - mean) / std).reshape(b, 2 * c, h, w)
        x, crop = self._pad(x)
        x = self.unet(x)[..., crop[0], crop[1]]
        x = x.reshape(b, c, 2, h, w) * std + mean
        return channels_to_complex(x.reshape(b, 2 * c, h, w))

    def _pad(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[slice, slice]]:
        """Zero-pad H and W symmetrically (extra row/column at the end) up to multiples of 2**num_pools."""
        h, w = x.shape[-2:]
        pad_h = -h % self.multiple
        pad_w = -w % self.multiple
        top, left = pad_h // 2, pad_w // 2
        x = F.pad(x, (left, pad_w - left, top, pad_h - top))
        return x, (slice(top, top + h), slice(left, left + w))
