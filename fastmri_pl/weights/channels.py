"""Complex channel order: ours interleaves (re0, im0, re1, im1, ...), references stack (re0, re1, ..., im0).

`mri.complex.complex_to_channels` interleaves; PromptMR's reference `NormPromptUnet` puts every real part
before every imaginary part. A U-Net trained on one order computes the same function on the other once the
input channels of its first convolution and the output channels of its last are permuted alike.
"""

import torch


def interleaved_from_stacked(num_channels: int) -> torch.Tensor:
    """For each interleaved channel its stacked index: position 2c + p holds p * n + c (n = C / 2)."""
    if num_channels % 2:
        raise ValueError(f"complex images need an even channel count, got {num_channels}")
    return torch.arange(num_channels).reshape(2, num_channels // 2).t().reshape(-1)


def stacked_to_interleaved(weight: torch.Tensor, dim: int) -> torch.Tensor:
    """`weight` with its channel axis `dim` reordered from the stacked layout to the interleaved one."""
    return weight.index_select(dim, interleaved_from_stacked(weight.shape[dim]))
