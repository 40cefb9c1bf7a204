"""Losses by name: ranges, gradients, fp32 under autocast, scale invariance, small images, unknown names."""

import pytest
import torch

from fastmri_pl.training.losses import LOSSES, build_loss, msssim_geometry

NAMES = sorted(LOSSES)


def image_pair(batch: int, size: int, scale: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(size)
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    head = ((x**2 + y**2) < 0.6).float() * (0.7 + 0.2 * y)
    target = (head + 0.05 * torch.rand(batch, size, size, generator=generator)) * scale
    pred = target + 0.1 * scale * torch.randn(batch, size, size, generator=generator)
    return pred, target, target.amax(dim=(1, 2))


@pytest.mark.parametrize("name", NAMES)
def test_values_in_range_zero_when_perfect_and_gradient_flows(name: str) -> None:
    pred, target, max_value = image_pair(2, 64)
    loss_fn = build_loss(name)
    assert float(loss_fn(target, target, max_value)) == pytest.approx(0.0, abs=1e-5)
    pred.requires_grad_()
    loss = loss_fn(pred, target, max_value)
    assert loss.ndim == 0 and 0.01 < float(loss.detach()) < 1.0
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0


@pytest.mark.parametrize("name", NAMES)
def test_scale_invariant_and_fp32_under_bf16_autocast(name: str) -> None:
    pred, target, max_value = image_pair(2, 48)
    loss_fn = build_loss(name)
    reference = float(loss_fn(pred, target, max_value))
    assert float(loss_fn(pred * 1e4, target * 1e4, max_value * 1e4)) == pytest.approx(reference, rel=1e-4)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        under_autocast = loss_fn(pred, target, max_value)
    assert under_autocast.dtype == torch.float32
    assert float(under_autocast) == pytest.approx(reference, rel=1e-5)


def test_ssim_loss_is_one_minus_ssim_with_data_range_max_value() -> None:
    from fastmri_pl.mri.ssim import ssim

    pred, target, max_value = image_pair(2, 32)
    expected = 1 - float(ssim(pred, target, max_value))
    assert float(build_loss("ssim")(pred, target, max_value)) == pytest.approx(expected, abs=1e-6)
    assert float(build_loss()(pred, target, max_value)) == pytest.approx(expected, abs=1e-6)


def test_l1_divides_by_each_images_max_value() -> None:
    pred, target, _ = image_pair(2, 16)
    max_value = torch.tensor([1e-4, 4e-4])
    expected = ((pred - target).abs() / max_value.reshape(-1, 1, 1)).mean()
    assert float(build_loss("l1")(pred, target, max_value)) == pytest.approx(float(expected), rel=1e-5)


def test_msssim_geometry_uses_five_scales_at_full_size_and_fewer_on_small_images() -> None:
    betas, kernel, sigma = msssim_geometry(384, 384)
    assert (len(betas), kernel, sigma) == (5, 11, 1.5)
    scales = [len(msssim_geometry(size, size)[0]) for size in (320, 128, 64, 32, 16)]
    assert scales == sorted(scales, reverse=True) and scales[0] == 5 and scales[-1] == 1
    for size in (384, 100, 64, 20, 8, 5):
        betas, kernel, _ = msssim_geometry(size, size + 7)
        assert sum(betas) == pytest.approx(1.0) and kernel <= size and kernel % 2 == 1
    with pytest.raises(ValueError, match="at least 3x3"):
        msssim_geometry(2, 40)


@pytest.mark.parametrize("size", [384, 40, 16, 8])
def test_msssim_l1_works_from_full_size_down_to_tiny_images(size: int) -> None:
    pred, target, max_value = image_pair(1, size)
    loss = build_loss("msssim_l1")(pred, target, max_value)
    assert torch.isfinite(loss) and 0.0 < float(loss) < 1.0


@pytest.mark.parametrize("size", [384, 100, 40, 16, 8, 5])
def test_msssim_equals_torchmetrics_in_value_and_gradient(size: int) -> None:
    """`mri.msssim` replaced torchmetrics' MS-SSIM (whose reflect padding has no deterministic CUDA backward):
    the loss must mean what it meant."""
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    from fastmri_pl.mri.msssim import multiscale_ssim

    generator = torch.Generator().manual_seed(size)
    target = torch.rand(2, 1, size, size + 3, generator=generator)
    pred = (target + 0.1 * torch.randn(target.shape, generator=generator)).requires_grad_()
    betas, kernel, sigma = msssim_geometry(size, size + 3)
    expected = multiscale_structural_similarity_index_measure(
        pred, target, kernel_size=kernel, sigma=sigma, data_range=1.0, betas=betas
    )
    (expected_grad,) = torch.autograd.grad(expected, pred)
    got = multiscale_ssim(pred, target, betas, kernel, sigma).mean()
    (grad,) = torch.autograd.grad(got, pred)
    assert float(got.detach()) == pytest.approx(float(expected.detach()), abs=1e-6)
    # separable rows-then-columns filtering sums in another fp32 order than torchmetrics' 2-D kernel
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-4 * float(expected_grad.abs().max()))


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="l1.*msssim_l1.*ssim"):
        build_loss("mse")
