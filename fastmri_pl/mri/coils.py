"""Coil combination: root-sum-of-squares and sensitivity-weighted expand/reduce.

Coil images live on dim 1: (B, coils, H, W) complex. Sensitivity maps have the same shape; an image to expand
is (B, 1, H, W) and broadcasts over coils instead of being repeated.
"""

import torch


def rss(coil_images: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Root-sum-of-squares over `dim` of complex or real coil images (magnitude image, real)."""
    magnitude_sq = coil_images.abs() ** 2 if coil_images.is_complex() else coil_images**2
    return torch.sqrt(magnitude_sq.sum(dim))


def sens_expand(image: torch.Tensor, sens_maps: torch.Tensor) -> torch.Tensor:
    """Image (B, 1, H, W) -> coil images (B, C, H, W): multiply by each coil's sensitivity."""
    return image * sens_maps


def sens_reduce(coil_images: torch.Tensor, sens_maps: torch.Tensor) -> torch.Tensor:
    """Coil images (B, C, H, W) -> image (B, 1, H, W): combine with conjugate sensitivities."""
    return (coil_images * sens_maps.conj()).sum(dim=1, keepdim=True)


def normalize_sens_maps(sens_maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale maps so that their root-sum-of-squares over coils is one at every pixel."""
    return sens_maps / (rss(sens_maps).unsqueeze(1) + eps)
