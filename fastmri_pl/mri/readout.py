"""Readout crop: k-space whose image is the centre rows of the original image, before any network runs.

The mask is 1-D over the phase-encode axis W, so the readout axis H is fully sampled and a transform along H
alone commutes with the mask. Inverse-transforming along H, keeping the centre `height` rows (the same
rows `mri.crop.center_crop` keeps) and transforming back gives a k-space whose `ifft2c` is exactly those rows
of the full image: the measurement of the cropped image with cropped sensitivity maps. With the centred
orthonormal transforms of `mri.fft` the scale is unchanged, so a reconstruction cropped afterwards is the
same image.
"""

import torch

from fastmri_pl.mri.crop import center_crop

_ROWS = -2


def _rows_transform(kspace: torch.Tensor, inverse: bool) -> torch.Tensor:
    """Centred orthonormal 1-D (inverse) FFT along H, in complex64 with autocast off (as `mri.fft`)."""
    with torch.autocast(device_type=kspace.device.type, enabled=False):
        x = torch.fft.ifftshift(kspace.to(torch.complex64), dim=_ROWS)
        x = (torch.fft.ifft if inverse else torch.fft.fft)(x, dim=_ROWS, norm="ortho")
        return torch.fft.fftshift(x, dim=_ROWS)


def readout_height(rows: int, target_height: int) -> int:
    """The k-space rows the readout crop keeps for a target `target_height` rows high: the target's height, or
    every row where the target is higher than the image (the output is then zero-padded to the target,
    `mri.crop.center_crop_or_pad`, as the organisers' baseline pads its image to 384 x 384)."""
    return min(rows, target_height)


def crop_readout(kspace: torch.Tensor, height: int) -> torch.Tensor:
    """(..., H, W) k-space -> (..., readout_height(H, height), W) k-space of the centre image rows (as is if
    that is H)."""
    rows, width = kspace.shape[-2:]
    kept = readout_height(rows, height)
    if kept == rows:
        return kspace
    image_rows = center_crop(_rows_transform(kspace, inverse=True), (kept, width))
    return _rows_transform(image_rows, inverse=False)
