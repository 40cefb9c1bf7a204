"""Moving complex images in and out of real-valued convolution networks."""

import torch


def complex_to_channels(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) complex -> (B, 2C, H, W) real, real and imaginary parts of channel c at 2c and 2c+1."""
    b, c, h, w = x.shape
    return torch.view_as_real(x).permute(0, 1, 4, 2, 3).reshape(b, 2 * c, h, w)


def channels_to_complex(x: torch.Tensor) -> torch.Tensor:
    """(B, 2C, H, W) real -> (B, C, H, W) complex64; the inverse of `complex_to_channels`."""
    b, c2, h, w = x.shape
    pairs = x.float().reshape(b, c2 // 2, 2, h, w).permute(0, 1, 3, 4, 2).contiguous()
    return torch.view_as_complex(pairs)
