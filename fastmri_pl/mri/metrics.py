"""PSNR and NMSE with the fastMRI definitions, for a volume or a slice; float64 so big volumes sum exactly."""

import torch


def nmse(target: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
    """Normalised mean squared error ||target - pred||^2 / ||target||^2 (0 is perfect)."""
    target, pred = target.double(), pred.double()
    return torch.sum((target - pred) ** 2) / torch.sum(target**2)


def psnr(
    target: torch.Tensor, pred: torch.Tensor, data_range: float | torch.Tensor | None = None
) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB, 10 log10(data_range^2 / MSE); data_range defaults to target's max."""
    target, pred = target.double(), pred.double()
    peak = target.max() if data_range is None else torch.as_tensor(data_range, dtype=torch.float64)
    mse = torch.mean((target - pred) ** 2)
    return 10.0 * torch.log10(peak**2 / mse)
