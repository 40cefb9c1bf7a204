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


def center_crop_or_pad(x: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The last two axes cropped or zero-padded to `shape` around the centre, each axis on its own.

    What the organisers' baseline does to its 2026 output: the knee k-space is 368 wide and the target
    384 x 384, so the image is padded to the target's width; a larger axis is cropped (`center_crop`)."""
    h, w = x.shape[-2:]
    ch, cw = int(shape[0]), int(shape[1])
    pad_h, pad_w = max(ch - h, 0), max(cw - w, 0)
    if pad_h or pad_w:
        x = torch.nn.functional.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
    return center_crop(x, (ch, cw))
