"""Centre crop, and crop-or-pad to the challenge's output size (the 2026 knee k-space is 368 wide, its target
384 x 384: the organisers' baseline zero-pads the image to the target's width)."""

import pytest
import torch

from fastmri_pl.mri.crop import center_crop, center_crop_or_pad


def test_crop_or_pad_pads_a_narrow_image_and_crops_a_tall_one() -> None:
    image = torch.arange(1.0, 1 + 10 * 5).reshape(1, 10, 5)
    out = center_crop_or_pad(image, (6, 8))
    assert out.shape == (1, 6, 8)
    # rows 2..7 kept; columns padded 1 left, 2 right (the odd pixel on the right, as the organisers pad)
    assert torch.equal(out[0, :, 1:6], image[0, 2:8, :])
    assert out[0, :, 0].abs().sum() == 0 and out[0, :, 6:].abs().sum() == 0
    assert torch.equal(center_crop_or_pad(image, (4, 3)), center_crop(image, (4, 3)))


def test_center_crop_still_refuses_a_crop_larger_than_the_input() -> None:
    with pytest.raises(ValueError, match="crop is larger than the input"):
        center_crop(torch.zeros(4, 4), (5, 4))
