"""Reflection padding from slices, flips and a concatenation.

`F.pad(mode="reflect")` has no deterministic CUDA backward (its gradient is added into the input with
atomics), so it raises under `torch.use_deterministic_algorithms(True)`. The same values come from copies of
the border rows and columns, whose backward only slices and adds.
"""

import torch


def reflect_pad(x: torch.Tensor, left: int, right: int, top: int, bottom: int) -> torch.Tensor:
    """`F.pad(x, (left, right, top, bottom), mode="reflect")` on (..., H, W): mirrored about the edge."""
    height, width = x.shape[-2:]
    if max(left, right) >= width or max(top, bottom) >= height or min(left, right, top, bottom) < 0:
        raise ValueError(
            f"reflect_pad: padding (left={left}, right={right}, top={top}, bottom={bottom}) must be "
            f"non-negative and smaller than the image ({height} x {width})"
        )
    x = torch.cat([x[..., 1 : left + 1].flip(-1), x, x[..., width - 1 - right : width - 1].flip(-1)], dim=-1)
    return torch.cat(
        [x[..., 1 : top + 1, :].flip(-2), x, x[..., height - 1 - bottom : height - 1, :].flip(-2)], dim=-2
    )
