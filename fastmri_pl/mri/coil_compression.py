"""Coil compression: N virtual coils, the strongest directions of a volume's coil space (an approximation).

The coil images of a volume live mostly in a few directions of the C-dimensional coil space. The left
singular vectors of the coils' calibration samples (the fully sampled centre lines of every slice, a
C x samples matrix) give those directions, strongest first; projecting the k-space onto the first N
(`U_N^H k` at every pixel, a linear map over coils, so it commutes with the mask and the FFTs) keeps most of
the signal in N coils, and every per-coil cost of the network (the sensitivity net runs once per coil image)
shrinks by C / N. The SVD's left singular vectors are the eigenvectors of the C x C covariance, which is
accumulated slice by slice.
"""

import torch


def coil_covariance(calibration: torch.Tensor) -> torch.Tensor:
    """(C, C) complex128 sum of `x x^H` over the calibration samples (..., C, H, n) of one or more slices."""
    samples = calibration.to(torch.complex128).movedim(-3, 0).reshape(calibration.shape[-3], -1)
    return samples @ samples.conj().T


def compression_matrix(covariance: torch.Tensor, virtual_coils: int) -> torch.Tensor:
    """(N, C) complex64 rows `U_N^H`: the N strongest left singular vectors of the calibration, conjugated."""
    coils = covariance.shape[0]
    if not 1 <= virtual_coils <= coils:
        raise ValueError(f"virtual_coils must be between 1 and the {coils} coils, got {virtual_coils}")
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    return vectors[:, coils - virtual_coils :].flip(-1).conj().T.to(torch.complex64)


def compress_coils(kspace: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(..., C, H, W) k-space -> (..., N, H, W): every pixel's coil vector projected onto the N directions."""
    return torch.einsum("nc,...chw->...nhw", matrix, kspace.to(torch.complex64))
