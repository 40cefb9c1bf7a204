"""SSIM: the fastMRI / SNU definition, checked against skimage, torchmetrics and the formula by hand."""

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from torchmetrics.functional.image import structural_similarity_index_measure

from fastmri_pl.mri.metrics import nmse, psnr
from fastmri_pl.mri.ssim import SSIMLoss, ssim
from fastmri_pl.training.volume_metrics import SliceScores, VolumeMetrics


def structured_images(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Head-like images: a bright disc with a gradient, an inner ellipse, sharp edges and noise."""
    generator = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    disc = ((x**2 + y**2) < 0.7).float() * (0.6 + 0.3 * x)
    ellipse = (((x - 0.2) / 0.3) ** 2 + (y / 0.15) ** 2 < 1).float() * 0.3
    base = (disc + ellipse).expand(batch, height, width)
    return (base + 0.05 * torch.rand(batch, height, width, generator=generator)) * 1e-4


def skimage_ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float) -> float:
    return structural_similarity(
        target.double().numpy(),
        pred.double().numpy(),
        win_size=7,
        K1=0.01,
        K2=0.03,
        data_range=data_range,
        use_sample_covariance=True,
        gaussian_weights=False,
    )


def test_identical_images_score_one() -> None:
    images = torch.rand(3, 40, 52)
    assert torch.allclose(ssim(images, images, 1.0, reduction="none"), torch.ones(3), atol=1e-6)


def luminance_by_hand(target: np.ndarray, offset: float, data_range: float) -> float:
    """SSIM of (target + offset, target): the contrast-structure term is exactly 1 (both images have the same
    variance and their covariance equals it), so each window contributes its luminance term only."""
    c1 = (0.01 * data_range) ** 2
    means = np.lib.stride_tricks.sliding_window_view(target, (7, 7)).mean(axis=(-2, -1))
    return float(np.mean((2 * means * (means + offset) + c1) / (means**2 + (means + offset) ** 2 + c1)))


def test_constant_offset_matches_the_formula_by_hand() -> None:
    # Dyadic values keep every fp32 moment exact: the windows have zero variance and only luminance remains.
    level, offset, data_range = 0.25, 0.125, 1.0
    c1 = (0.01 * data_range) ** 2
    by_hand = (2 * level * (level + offset) + c1) / (level**2 + (level + offset) ** 2 + c1)
    target = torch.full((1, 20, 20), level)
    assert float(ssim(target + offset, target, data_range)) == pytest.approx(by_hand, abs=1e-7)
    # On a ramp every window has its own mean; fp32 moments leave ~1e-6 of cancellation noise.
    ramp = np.add.outer(np.linspace(0.1, 0.6, 24), np.linspace(0.0, 0.3, 30))
    ours = ssim(torch.from_numpy(ramp + offset)[None], torch.from_numpy(ramp)[None], data_range)
    assert float(ours) == pytest.approx(luminance_by_hand(ramp, offset, data_range), abs=1e-5)


@pytest.mark.parametrize("kind", ["random", "structured"])
@pytest.mark.parametrize("shape", [(48, 48), (37, 61)])
def test_matches_skimage_per_image(kind: str, shape: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(1)
    if kind == "random":
        target = torch.rand(3, *shape, generator=generator)
    else:
        target = structured_images(3, *shape)
    pred = target + 0.1 * target.max() * torch.randn(3, *shape, generator=generator)
    ranges = target.amax(dim=(1, 2))
    ours = ssim(pred, target, ranges, reduction="none")
    for i in range(3):
        assert float(ours[i]) == pytest.approx(skimage_ssim(pred[i], target[i], float(ranges[i])), abs=1e-5)
    assert float(ssim(pred, target, ranges)) == pytest.approx(float(ours.mean()), abs=1e-7)


def test_four_dimensional_input_gives_the_same_values() -> None:
    target = structured_images(2, 32, 32)
    pred = target.flip(-1)
    assert torch.allclose(
        ssim(pred.unsqueeze(1), target.unsqueeze(1), 1e-4, reduction="none"),
        ssim(pred, target, 1e-4, reduction="none"),
    )


def test_population_covariance_matches_torchmetrics_on_the_valid_region() -> None:
    """torchmetrics pads by reflection and averages over the padded border windows, and it has no NP/(NP-1);
    its full SSIM map cropped to the valid windows equals ours with the population covariance."""
    generator = torch.Generator().manual_seed(2)
    target = torch.rand(2, 1, 40, 44, generator=generator)
    pred = target + 0.2 * torch.randn(target.shape, generator=generator)
    _, full_map = structural_similarity_index_measure(
        pred, target, gaussian_kernel=False, kernel_size=7, data_range=1.0, return_full_image=True
    )
    theirs = full_map[..., 3:-3, 3:-3].mean(dim=(1, 2, 3))
    ours = ssim(pred, target, 1.0, reduction="none", sample_covariance=False)
    assert torch.allclose(ours, theirs, atol=1e-5)
    sample = ssim(pred, target, 1.0, reduction="none")
    assert not torch.allclose(sample, theirs, atol=1e-5)


def test_runs_in_fp32_under_bf16_autocast_and_as_a_loss() -> None:
    target = structured_images(2, 48, 48)
    pred = (target + 1e-5 * torch.randn_like(target)).requires_grad_()
    reference = ssim(pred, target, 1e-4)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        under_autocast = ssim(pred, target, 1e-4)
        from_bf16 = ssim(pred.bfloat16(), target.bfloat16(), 1e-4)
        loss = SSIMLoss()(pred, target, torch.full((2,), 1e-4))
    assert under_autocast.dtype == torch.float32 and from_bf16.dtype == torch.float32
    assert float(under_autocast.detach()) == pytest.approx(float(reference.detach()), abs=1e-7)
    assert float(loss.detach()) == pytest.approx(1 - float(reference.detach()), abs=1e-6)
    loss.backward()
    assert pred.grad is not None and pred.grad.dtype == torch.float32 and torch.isfinite(pred.grad).all()


def test_bad_arguments_are_refused() -> None:
    images = torch.rand(2, 16, 16)
    with pytest.raises(ValueError, match="reduction"):
        ssim(images, images, 1.0, reduction="sum")
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(images, images[:, :8], 1.0)
    with pytest.raises(ValueError, match="smaller than"):
        ssim(images[:, :5], images[:, :5], 1.0)


def test_psnr_and_nmse_follow_the_fastmri_definitions() -> None:
    generator = torch.Generator().manual_seed(3)
    target = torch.rand(4, 16, 16, generator=generator)
    pred = target + 0.05 * torch.randn(target.shape, generator=generator)
    t, p = target.double().numpy(), pred.double().numpy()
    mse = np.mean((t - p) ** 2)
    assert float(psnr(target, pred, 2.0)) == pytest.approx(10 * np.log10(4.0 / mse), rel=1e-9)
    assert float(psnr(target, pred)) == pytest.approx(10 * np.log10(t.max() ** 2 / mse), rel=1e-9)
    assert float(nmse(target, pred)) == pytest.approx(np.sum((t - p) ** 2) / np.sum(t**2), rel=1e-9)
    assert float(nmse(target, target)) == 0.0


def test_metrics_of_a_nan_image_are_nan_never_inf() -> None:
    """A NaN model must not look perfect: PSNR `inf` is kept for an exact reconstruction only."""
    target = structured_images(1, 16, 16)[0]
    nan_image = torch.full_like(target, float("nan"))
    assert torch.isnan(psnr(target, nan_image, 1e-4)) and torch.isnan(nmse(target, nan_image))
    assert torch.isnan(ssim(nan_image[None], target[None], 1e-4))
    metrics = VolumeMetrics()
    nan = float("nan")
    metrics.update("val", "a.h5", 0, SliceScores.of(nan_image, target, 4.0, 1e-4, nan, nan, loss=nan))
    metrics.update("val_zf", "a.h5", 0, SliceScores.of(target, target, 4.0, 1e-4, 1.0, 1.0))
    scores = metrics.compute()
    assert all(math.isnan(scores[f"val/{name}"]) for name in ("psnr", "ssim", "nmse", "loss"))
    assert scores["val_zf/psnr"] == float("inf")


def test_volume_metrics_count_a_repeated_slice_once_and_match_a_formula() -> None:
    """A DDP padding repeat (same method, file and slice) replaces a slice, never adds one."""
    target = structured_images(1, 16, 16)[0]
    metrics = VolumeMetrics()
    slices = [("a.h5", 0, 0.2), ("a.h5", 1, 0.4), ("b.h5", 0, 0.9)]  # file, slice, SSIM
    for fname, index, value in [*slices, slices[0]]:  # the first slice again, as a padded rank sees it
        metrics.update(
            "val", fname, index, SliceScores.of(target, target, 4.0, 1.0, value, value, loss=1 - value)
        )
    scores = metrics.compute()
    assert scores["val/volumes"] == 2
    assert scores["val/ssim"] == pytest.approx(((0.2 + 0.4) / 2 + 0.9) / 2)  # mean over volumes
    assert scores["val/ssim_masked"] == pytest.approx((0.2 + 0.4 + 0.9) / 3)  # mean over slices
    assert scores["val/loss"] == pytest.approx(1 - (0.2 + 0.4 + 0.9) / 3)
    assert metrics.volumes[("val", "a.h5")].slices == 2
