"""Training losses selected by name: forward(pred, target, max_value) -> scalar, in fp32 with autocast off.

pred / target are (B, H, W) magnitude images and max_value the (B,) volume maxima. The L1 terms divide both
images by max_value first, so a loss means the same on SNU images (values around 1e-4) as on fastMRI ones and
the MS-SSIM + L1 mix weighs two quantities of the same order.
"""

from collections.abc import Callable

import torch
from torch import nn

from fastmri_pl.mri.msssim import multiscale_ssim
from fastmri_pl.mri.ssim import SSIMLoss

MSSSIM_BETAS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MSSSIM_KERNEL = 11
MSSSIM_SIGMA = 1.5


def _normalized(
    pred: torch.Tensor, target: torch.Tensor, max_value: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, H, W) pair -> (B, 1, H, W) fp32 pair divided by each image's max_value."""
    scale = torch.as_tensor(max_value, dtype=torch.float32, device=target.device).reshape(-1, 1, 1, 1)
    return _as_batch(pred) / scale, _as_batch(target) / scale


def _as_batch(image: torch.Tensor) -> torch.Tensor:
    return image.float().reshape(-1, 1, *image.shape[-2:])


def msssim_geometry(height: int, width: int) -> tuple[tuple[float, ...], int, float]:
    """The MS-SSIM betas, Gaussian kernel size and sigma that fit an image of this size.

    Full-size images get the standard 5 scales, 11x11 window, sigma 1.5. Smaller ones keep the window and drop
    the coarsest scales until torchmetrics' size rule holds and the coarsest scale still holds one window; the
    kept betas are renormalised to sum to one, so the score stays a weighted geometric mean. Below one 11x11
    window, a single scale with the largest odd window that fits (sigma scaled along) is used.
    """
    side = min(height, width)
    for scales in range(len(MSSSIM_BETAS), 0, -1):
        fits_torchmetrics = side >= 2**scales and side // max(1, scales - 1) ** 2 > MSSSIM_KERNEL - 1
        if fits_torchmetrics and side // 2 ** (scales - 1) >= MSSSIM_KERNEL:
            kept = MSSSIM_BETAS[:scales]
            return tuple(beta / sum(kept) for beta in kept), MSSSIM_KERNEL, MSSSIM_SIGMA
    kernel = side - 1 if side % 2 == 0 else side
    if kernel < 3:
        raise ValueError(f"MS-SSIM needs images of at least 3x3 pixels, got {height}x{width}")
    return (1.0,), kernel, MSSSIM_SIGMA * kernel / MSSSIM_KERNEL


class L1Loss(nn.Module):
    """Mean absolute error of the images divided by max_value."""

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, max_value: torch.Tensor | float
    ) -> torch.Tensor:
        with torch.autocast(device_type=target.device.type, enabled=False):
            pred_n, target_n = _normalized(pred, target, max_value)
            return torch.mean(torch.abs(pred_n - target_n))


class MSSSIML1Loss(nn.Module):
    """alpha (1 - MS-SSIM) + (1 - alpha) L1 (Zhao et al. 2017, alpha = 0.84), on images divided by max_value.

    MS-SSIM is torchmetrics' definition (Gaussian window, ReLU-normalised scales; `mri.msssim`, which pads
    without ops that raise under deterministic algorithms on CUDA) with data_range 1 after the division; the
    number of scales and the window come from `msssim_geometry`, so small images work too.
    """

    def __init__(self, alpha: float = 0.84) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, max_value: torch.Tensor | float
    ) -> torch.Tensor:
        with torch.autocast(device_type=target.device.type, enabled=False):
            pred_n, target_n = _normalized(pred, target, max_value)
            betas, kernel, sigma = msssim_geometry(*target_n.shape[-2:])
            msssim = multiscale_ssim(pred_n, target_n, betas, kernel, sigma).mean()
            l1 = torch.mean(torch.abs(pred_n - target_n))
            return self.alpha * (1.0 - msssim) + (1.0 - self.alpha) * l1


LOSSES: dict[str, Callable[[], nn.Module]] = {
    "ssim": SSIMLoss,
    "msssim_l1": MSSSIML1Loss,
    "l1": L1Loss,
}


def build_loss(name: str = "ssim") -> nn.Module:
    """The loss registered under `name`: ssim (1 - SSIM, data range = max_value, the PromptMR / E2E-VarNet
    loss), msssim_l1 or l1."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    return LOSSES[name]()
