"""Centred, orthonormal 2-D FFTs over the last two axes, always computed in fp32.

Under CUDA autocast an fp16 input would reach cuFFT as complex32, which only supports power-of-two sizes
(the challenge's 768 x 396 is not), so every transform casts to complex64 first and disables autocast.
"""

import torch

_DIMS = (-2, -1)


def _as_complex64(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.complex64:
        return x
    if x.is_complex():
        return x.to(torch.complex64)
    return x.to(torch.float32).to(torch.complex64)


def fft2c(image: torch.Tensor) -> torch.Tensor:
    """Image -> k-space: centred orthonormal FFT over the last two axes, complex64 out."""
    with torch.autocast(device_type=image.device.type, enabled=False):
        x = torch.fft.ifftshift(_as_complex64(image), dim=_DIMS)
        x = torch.fft.fft2(x, dim=_DIMS, norm="ortho")
        return torch.fft.fftshift(x, dim=_DIMS)


def ifft2c(kspace: torch.Tensor) -> torch.Tensor:
    """K-space -> image: centred orthonormal inverse FFT over the last two axes, complex64 out."""
    with torch.autocast(device_type=kspace.device.type, enabled=False):
        x = torch.fft.ifftshift(_as_complex64(kspace), dim=_DIMS)
        x = torch.fft.ifft2(x, dim=_DIMS, norm="ortho")
        return torch.fft.fftshift(x, dim=_DIMS)
