"""Multi-scale SSIM (Wang, Simoncelli and Bovik 2003) with a Gaussian window, as torchmetrics computes it.

Written out here because torchmetrics pads with `F.pad(mode="reflect")`, whose CUDA backward raises under
`torch.use_deterministic_algorithms(True)`: this one pads with `mri.padding.reflect_pad` and otherwise follows
torchmetrics' choices (reflect-padded "same" filtering, variances clamped at 0, the contrast-structure term
averaged inside the padding border and the full SSIM over the whole image, ReLU on every scale's value), so
the `msssim_l1` loss means what it meant with torchmetrics.
"""

import torch
import torch.nn.functional as F

from fastmri_pl.mri.padding import reflect_pad


def gaussian_window(size: int, sigma: float, *, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(size,) Gaussian weights centred on the middle sample, summing to one."""
    offsets = torch.arange(size, dtype=dtype, device=device) - (size - 1) / 2
    weights = torch.exp(-((offsets / sigma) ** 2) / 2)
    return weights / weights.sum()


def _filtered(images: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Each channel of (N, C, H, W) reflect-padded and filtered with the separable window: same size out."""
    channels, pad = images.shape[1], (len(window) - 1) // 2
    rows = window.reshape(1, 1, 1, -1).expand(channels, 1, 1, -1)
    cols = window.reshape(1, 1, -1, 1).expand(channels, 1, -1, 1)
    padded = reflect_pad(images, pad, pad, pad, pad)
    return F.conv2d(F.conv2d(padded, rows, groups=channels), cols, groups=channels)


def _ssim_terms(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor, c1: float, c2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) SSIM over the whole image and (B,) contrast-structure term inside the padding border."""
    moments = _filtered(torch.cat([x, y, x * x, y * y, x * y]), window).split(x.shape[0])
    mu_x, mu_y, mean_xx, mean_yy, mean_xy = moments
    var_x = (mean_xx - mu_x * mu_x).clamp(min=0.0)
    var_y = (mean_yy - mu_y * mu_y).clamp(min=0.0)
    contrast = (2 * (mean_xy - mu_x * mu_y) + c2) / (var_x + var_y + c2)
    luminance = (2 * mu_x * mu_y + c1) / (mu_x * mu_x + mu_y * mu_y + c1)
    pad = (len(window) - 1) // 2
    inside = contrast[..., pad : contrast.shape[-2] - pad, pad : contrast.shape[-1] - pad]
    return (luminance * contrast).flatten(1).mean(dim=1), inside.flatten(1).mean(dim=1)


def multiscale_ssim(
    pred: torch.Tensor,
    target: torch.Tensor,
    betas: tuple[float, ...],
    kernel_size: int,
    sigma: float,
    data_range: float = 1.0,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """(B,) MS-SSIM of (B, C, H, W) pairs: prod over scales j < M of cs_j^beta_j, times ssim_M^beta_M.

    One scale per beta, halved by 2 x 2 average pooling between scales; `kernel_size` is the Gaussian
    window's length (odd, below every scale's size, as `losses.msssim_geometry` picks it).
    """
    window = gaussian_window(kernel_size, sigma, dtype=pred.dtype, device=pred.device)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    x, y = pred, target
    score = torch.ones(pred.shape[0], dtype=pred.dtype, device=pred.device)
    for scale, beta in enumerate(betas):
        similarity, contrast = _ssim_terms(x, y, window, c1, c2)
        last = scale == len(betas) - 1
        score = score * torch.relu(similarity if last else contrast) ** beta
        if not last:
            x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return score
