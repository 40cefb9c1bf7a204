"""`data.virtual_coils=N`: each volume's k-space compressed to N virtual coils (`mri.coil_compression`).

One matrix per volume, from the centre lines every mask samples: the file's own mask's fully sampled centre,
or for a file without one the central 4 % of the lines (what 8x masks keep; augmentation draws at least that).
Leaderboard k-space holds those lines too, so training and inference compress alike. Matrices are computed on
first use and kept per process (DataLoader workers each keep theirs: a few hundred bytes per volume).
"""

from collections.abc import Iterable

import numpy as np
import torch

from fastmri_pl.data.h5checks import open_h5
from fastmri_pl.data.volumes import Volume, read_mask
from fastmri_pl.mri.coil_compression import coil_covariance, compression_matrix
from fastmri_pl.mri.masks import acs_mask, num_low_frequencies

FALLBACK_CENTRE_FRACTION = 0.04


def calibration_columns(mask: torch.Tensor | None, width: int) -> slice:
    """The calibration columns of a (W,) mask (None: a file without one): its fully sampled centre, else the
    central 4 %."""
    lines = num_low_frequencies(mask) if mask is not None else 0
    lines = lines or max(1, round(FALLBACK_CENTRE_FRACTION * width))
    columns = acs_mask(torch.tensor([lines]), width).reshape(-1).nonzero().reshape(-1)
    return slice(int(columns[0]), int(columns[-1]) + 1)


def _matrix(calibration: Iterable[torch.Tensor], coils: int, virtual_coils: int) -> torch.Tensor:
    """(N, C) matrix from every slice's calibration samples (C, H, n), accumulated a slice at a time."""
    covariance = torch.zeros(coils, coils, dtype=torch.complex128)
    for samples in calibration:
        covariance += coil_covariance(samples)
    return compression_matrix(covariance, virtual_coils)


def volume_compression_matrix(
    kspace: torch.Tensor, mask: torch.Tensor, virtual_coils: int
) -> torch.Tensor | None:
    """(N, C) matrix of a volume whose (S, C, H, W) k-space is in memory (inference), or None when it has no
    more than N coils: the matrix `VolumeCompression` computes from the file."""
    slices, coils, _, width = kspace.shape
    if coils <= virtual_coils:
        return None
    columns = calibration_columns(mask, width)
    return _matrix((kspace[index, :, :, columns] for index in range(slices)), coils, virtual_coils)


class VolumeCompression:
    """N-virtual-coil matrices per volume, computed once per process; volumes of <= N coils stay as is."""

    def __init__(self, virtual_coils: int) -> None:
        if virtual_coils < 1:
            raise ValueError(f"data.virtual_coils must be >= 1 (or null: off), got {virtual_coils}")
        self.virtual_coils = virtual_coils
        self.matrices: dict[str, torch.Tensor | None] = {}

    def matrix(self, volume: Volume) -> torch.Tensor | None:
        """(N, C) matrix of the volume, or None when it has no more than N coils."""
        key = str(volume.kspace_path)
        if key not in self.matrices:
            self.matrices[key] = self._compute(volume)
        return self.matrices[key]

    def _compute(self, volume: Volume) -> torch.Tensor | None:
        if volume.num_coils <= self.virtual_coils:
            return None
        mask = torch.from_numpy(read_mask(volume)) if volume.has_mask else None
        columns = calibration_columns(mask, volume.width)
        with open_h5(volume.kspace_path) as f:
            calibration = (  # one slice's centre lines at a time
                torch.from_numpy(np.asarray(f["kspace"][index, :, :, columns], dtype=np.complex64))
                for index in range(volume.num_slices)
            )
            return _matrix(calibration, volume.num_coils, self.virtual_coils)
