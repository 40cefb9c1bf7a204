"""A map-style dataset of (volume, slice) samples, so a DistributedSampler splits it under DDP."""

from typing import Any

import torch
from torch.utils.data import Dataset

from fastmri_pl.data.coil_compression import VolumeCompression
from fastmri_pl.data.transforms import MaskChooser, adjacent_slice_indices, build_sample
from fastmri_pl.data.volumes import Volume, read_kspace_slices, read_target
from fastmri_pl.mri.masks import stable_seed


class ReconDataset(Dataset):
    """Every slice of every volume; `__getitem__` reads the centre slice's neighbours and its target.

    Files are opened per sample, so workers never share an HDF5 handle. The epoch lives in a shared-memory
    tensor: `set_epoch` in the main process is seen by worker processes, persistent ones included.
    `readout_crop`: see `transforms.build_sample`; `virtual_coils`: see `data.coil_compression`.
    """

    def __init__(
        self,
        volumes: list[Volume],
        num_adj_slices: int = 1,
        mask_chooser: MaskChooser | None = None,
        random_masks: bool = False,
        seed: int = 0,
        readout_crop: bool = False,
        virtual_coils: int | None = None,
    ) -> None:
        adjacent_slice_indices(0, 1, num_adj_slices)  # validates num_adj_slices early
        self.volumes = volumes
        self.num_adj_slices = num_adj_slices
        self.mask_chooser = mask_chooser or MaskChooser()
        self.random_masks = random_masks
        self.seed = seed
        self.readout_crop = readout_crop
        self.compression = VolumeCompression(virtual_coils) if virtual_coils else None
        self.samples = [(v, s) for v, volume in enumerate(volumes) for s in range(volume.num_slices)]
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()

    def set_epoch(self, epoch: int) -> None:
        self._epoch.fill_(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        volume_index, slice_num = self.samples[index]
        volume = self.volumes[volume_index]
        # Random masks depend on (seed, epoch, sample) only: the same in any worker and after a resume.
        seed = stable_seed(f"{self.seed}/{self.epoch}/{index}") if self.random_masks else slice_num
        generator = torch.Generator().manual_seed(seed)
        chosen = self.mask_chooser(volume, self.epoch, generator)
        indices = adjacent_slice_indices(slice_num, volume.num_slices, self.num_adj_slices)
        kspace = read_kspace_slices(volume, indices)
        target = read_target(volume, slice_num)
        matrix = self.compression.matrix(volume) if self.compression else None
        return build_sample(kspace, chosen, target, volume, slice_num, self.readout_crop, matrix)
