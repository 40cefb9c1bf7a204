"""Zero-filled baseline: a hand computation in numpy, the centre-slice pick, and its contract."""

import numpy as np
import pytest
import torch

from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.models.zero_filled import ZeroFilled, centre_slice_coils


def _masked_kspace(
    batch: int, stacked: int, h: int, w: int, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    kspace = torch.randn(batch, stacked, h, w, dtype=torch.complex64, generator=generator)
    mask = (torch.rand(batch, 1, 1, w, generator=generator) < 0.4).float()
    return kspace * mask, mask


def _numpy_zero_filled(kspace: np.ndarray) -> np.ndarray:
    """Centred orthonormal inverse FFT of each coil, then root-sum-of-squares over coils."""
    axes = (-2, -1)
    images = np.fft.fftshift(
        np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), axes=axes, norm="ortho"), axes=axes
    )
    return np.sqrt((np.abs(images) ** 2).sum(axis=1))


@pytest.mark.parametrize(("coils", "h", "w"), [(1, 16, 16), (4, 20, 18), (6, 21, 19)])
def test_zero_filled_equals_numpy_hand_computation(coils: int, h: int, w: int) -> None:
    kspace, mask = _masked_kspace(2, coils, h, w)
    image = ZeroFilled()(kspace, mask, torch.tensor([4, 4]))
    assert image.shape == (2, h, w)
    assert image.dtype == torch.float32
    np.testing.assert_allclose(image.numpy(), _numpy_zero_filled(kspace.numpy()), rtol=1e-5, atol=1e-6)


def test_zero_filled_uses_only_the_centre_slice_of_the_stack() -> None:
    coils = 3
    kspace, mask = _masked_kspace(1, 5 * coils, 12, 10, seed=1)
    image = ZeroFilled(num_adj_slices=5)(kspace, mask, torch.tensor([2]))
    centre = kspace[:, 2 * coils : 3 * coils].numpy()
    np.testing.assert_allclose(image.numpy(), _numpy_zero_filled(centre), rtol=1e-5, atol=1e-6)


def test_centre_slice_coils_picks_the_middle_block_of_a_slice_major_stack() -> None:
    stack = torch.arange(3 * 4).reshape(1, 12, 1, 1)
    assert centre_slice_coils(stack, 3).flatten().tolist() == [4, 5, 6, 7]
    assert centre_slice_coils(stack, 1).flatten().tolist() == list(range(12))


def test_centre_slice_coils_refuses_a_stack_that_is_not_whole_slices() -> None:
    with pytest.raises(ValueError, match="10 coil images"):
        centre_slice_coils(torch.zeros(1, 10, 4, 4), 3)


def test_zero_filled_has_no_parameters_and_takes_the_network_signature() -> None:
    net = ZeroFilled(num_adj_slices=3, levers=MemoryLevers(checkpoint="cascade", sens_chunk=1))
    assert net.num_adj_slices == 3
    assert list(net.parameters()) == []
