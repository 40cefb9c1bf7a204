"""The SNU foreground mask against scipy's binary morphology with OpenCV's border behaviour."""

import numpy as np
import torch
from scipy import ndimage

from fastmri_pl.mri.foreground import SNU_THRESHOLD, snu_foreground_mask

SQUARE = np.ones((3, 3), dtype=bool)


def scipy_mask(target: np.ndarray) -> np.ndarray:
    """The challenge recipe step by step; border_value 1 for erosion, 0 for dilation: OpenCV's default."""
    mask = target > SNU_THRESHOLD
    mask = ndimage.binary_erosion(mask, SQUARE, iterations=1, border_value=1)
    mask = ndimage.binary_dilation(mask, SQUARE, iterations=15, border_value=0)
    return ndimage.binary_erosion(mask, SQUARE, iterations=14, border_value=1)


def disc_image(size: int = 96) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    image = np.where((x - 50) ** 2 + (y - 44) ** 2 < 28**2, 1e-3, 1e-6)
    image[44, 50] = 0.0  # a one-pixel hole inside the head: closed
    image[44:47, 58:61] = 0.0  # a 3x3 hole: closed too
    image[5, 5] = 1e-3  # an isolated bright noise pixel: removed by the first erosion
    return image.astype(np.float32)


def test_disc_matches_scipy_and_cleans_noise_and_holes() -> None:
    image = disc_image()
    mask = snu_foreground_mask(torch.from_numpy(image)).numpy()
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, scipy_mask(image))
    assert not mask[5, 5] and mask[44, 50] and mask[45, 59]
    assert mask[image > SNU_THRESHOLD].sum() == (image > SNU_THRESHOLD).sum() - 1  # all but the noise pixel


def test_image_border_neither_erodes_nor_dilates() -> None:
    full = np.full((40, 40), 1e-3, dtype=np.float32)
    assert snu_foreground_mask(torch.from_numpy(full)).all()
    half = np.where(np.arange(40)[None, :] < 12, 1e-3, 0.0).repeat(40, axis=0).astype(np.float32)
    mask = snu_foreground_mask(torch.from_numpy(half)).numpy()
    np.testing.assert_array_equal(mask, scipy_mask(half))
    np.testing.assert_array_equal(mask, half > SNU_THRESHOLD)  # edge-touching region kept exactly


def test_random_blobs_and_batches_match_scipy_slice_by_slice() -> None:
    rng = np.random.default_rng(0)
    noise = ndimage.gaussian_filter(rng.standard_normal((3, 64, 80)), sigma=(0, 3, 3))
    targets = np.where(noise > 0.05, 1e-3, 0.0).astype(np.float32)
    masks = snu_foreground_mask(torch.from_numpy(targets)).numpy()
    assert masks.shape == targets.shape
    for target, mask in zip(targets, masks, strict=True):
        np.testing.assert_array_equal(mask, scipy_mask(target))
