"""Centre cropping of images and k-space-sized tensors over the last two axes."""

import torch


def center_crop(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Crop the last two axes to `shape` around the centre (fastMRI: start at (size - crop) // 2)."""
    h, w = x.shape[-2:]
    ch, cw = int(shape[0]), int(shape[1])
    if ch > h or cw > w:
        raise ValueError(f"cannot crop {tuple(x.shape[-2:])} to {(ch, cw)}: crop is larger than the input")
    top, left = (h - ch) // 2, (w - cw) // 2
    return x[..., top : top + ch, left : left + cw]
