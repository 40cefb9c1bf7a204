"""SSIM with a uniform window over the valid region: the fastMRI / SNU leaderboard definition.

The challenge scores with a 7x7 uniform window, k1 = 0.01, k2 = 0.03 and the sample covariance (normalised by
NP / (NP - 1), NP = window pixels), averaged over the windows that lie fully inside the image; this equals
`skimage.metrics.structural_similarity(..., gaussian_weights=False, use_sample_covariance=True)`. It always
runs in fp32 with autocast off: the variances are differences of squares, which fp16 / bf16 would cancel away.
"""

import torch
import torch.nn.functional as F
from torch import nn

REDUCTIONS = ("mean", "none")


def _as_batch(image: torch.Tensor, name: str) -> torch.Tensor:
    """(B, H, W) or (B, 1, H, W) -> (B, 1, H, W) float32."""
    if image.ndim == 3:
        image = image.unsqueeze(1)
    if image.ndim != 4 or image.shape[1] != 1:
        raise ValueError(f"ssim: {name} must be (B, H, W) or (B, 1, H, W), got {tuple(image.shape)}")
    return image.float()


def ssim_map(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float | torch.Tensor,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
    sample_covariance: bool = True,
) -> torch.Tensor:
    """(B, H - win_size + 1, W - win_size + 1) SSIM of every window that lies fully inside the image.

    Entry (i, j) belongs to the window whose top-left pixel is (i, j), i.e. centred on (i + r, j + r) with
    r = win_size // 2. The SNU 2026 score weights this map by the foreground mask at the window centres.
    data_range: a float, or a (B,) tensor with one range per image (the volume max in fastMRI / SNU).
    sample_covariance: False uses the population covariance (Wang et al. 2004, torchmetrics).
    """
    x, y = _as_batch(pred, "pred"), _as_batch(target, "target")
    if x.shape != y.shape:
        raise ValueError(f"ssim: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if min(x.shape[-2:]) < win_size:
        raise ValueError(
            f"ssim: images {tuple(x.shape[-2:])} are smaller than the {win_size}x{win_size} window"
        )
    with torch.autocast(device_type=x.device.type, enabled=False):
        ranges = torch.as_tensor(data_range, dtype=torch.float32, device=x.device).reshape(-1, 1, 1)
        c1 = (k1 * ranges) ** 2
        c2 = (k2 * ranges) ** 2
        # Window means of the five local moments; stride 1, no padding = the valid region only. The uniform
        # window is separable: rows then columns costs 2 * win_size additions per pixel instead of win_size^2.
        stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
        moments = F.avg_pool2d(F.avg_pool2d(stacked, (1, win_size), stride=1), (win_size, 1), stride=1)
        mu_x, mu_y, mean_xx, mean_yy, mean_xy = moments.unbind(dim=1)
        num_pixels = win_size * win_size
        cov_norm = num_pixels / (num_pixels - 1) if sample_covariance else 1.0
        var_x = cov_norm * (mean_xx - mu_x * mu_x)
        var_y = cov_norm * (mean_yy - mu_y * mu_y)
        cov_xy = cov_norm * (mean_xy - mu_x * mu_y)
        numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
        denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
        return numerator / denominator


def ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    data_range: float | torch.Tensor,
    win_size: int = 7,
    k1: float = 0.01,
    k2: float = 0.03,
    reduction: str = "mean",
    sample_covariance: bool = True,
) -> torch.Tensor:
    """Mean SSIM of each image pair over its valid windows; `reduction="none"` keeps one value per image.

    Arguments as for `ssim_map`.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"ssim: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    per_image = ssim_map(pred, target, data_range, win_size, k1, k2, sample_covariance).mean(dim=(-2, -1))
    return per_image.mean() if reduction == "mean" else per_image


def foreground_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    data_range: float | torch.Tensor,
    win_size: int = 7,
) -> torch.Tensor:
    """(B,) SNU 2026 SSIM_full: the SSIM map of pred*m vs target*m averaged with the mask m at each window's
    centre as weight, so air outside the mask counts for nothing; NaN where m is empty inside the border."""
    maps = ssim_map(pred * mask, target * mask, data_range, win_size=win_size)
    r = win_size // 2
    weights = mask[..., r : mask.shape[-2] - r, r : mask.shape[-1] - r].float()
    total = weights.sum(dim=(-2, -1))
    value = (maps * weights).sum(dim=(-2, -1)) / total.clamp_min(1.0)
    return torch.where(total > 0, value, torch.full_like(value, float("nan")))


class SSIMLoss(nn.Module):
    """1 - mean SSIM, the PromptMR / E2E-VarNet training loss (data range = each volume's max)."""

    def __init__(self, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> None:
        super().__init__()
        self.win_size, self.k1, self.k2 = win_size, k1, k2

    def forward(
        self, pred: torch.Tensor, target: torch.Tensor, data_range: float | torch.Tensor
    ) -> torch.Tensor:
        return 1.0 - ssim(pred, target, data_range, win_size=self.win_size, k1=self.k1, k2=self.k2)
