"""`ReconDataModule`: folders of HDF5 volumes (SNU or fastMRI layout) -> train/val/test DataLoaders."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from fastmri_pl.data.augment import MaskAugmentation
from fastmri_pl.data.collate import collate
from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.readers import LAYOUTS, index_volumes
from fastmri_pl.data.sampler import EpochShuffleSampler, ResumableLoader, ShardedEpochSampler
from fastmri_pl.data.synthetic import ensure_synthetic, synthetic_config
from fastmri_pl.data.transforms import MaskChooser
from fastmri_pl.data.volumes import FileFilter
from fastmri_pl.mri.masks import MaskFunc, check_acs_rule
from fastmri_pl.runtime.signals import end_workers_at_exit, leave_stop_signals_to_main


class ReconDataModule(L.LightningDataModule):
    """Reads `<root>/<train_dir>`, `<root>/<val_dir>` (and `<root>/<test_dir>`, default the val folder).

    mask: `{type, accelerations, center_fractions}` for files without their own mask (fastMRI layout).
    acs_lines: `nominal` or `contiguous`, the ACS line count the network gets for drawn masks (`MaskChooser`).
    augmentation: `MaskAugmentation.from_config` keys; training only; the epoch arrives via `set_epoch`.
    filters: `{pattern, accelerations, max_files}` applied to every split, for quick runs.
    synthetic: `synthetic_config` keys (plus `preset`); when given, `prepare_data` generates `root` once.
    readout_crop: k-space cropped along the readout to the target's height (exact where the target is the
    image's centre crop: SNU, synthetic); the network then works on half the rows at the SNU shape.
    virtual_coils: N -> every volume compressed to N virtual coils (SVD per volume; approximate); None: off.
    """

    def __init__(
        self,
        root: str | Path,
        layout: str = "snu",
        train_dir: str = "train",
        val_dir: str = "val",
        test_dir: str | None = None,
        num_adj_slices: int = 1,
        batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        mask: Mapping[str, Any] | None = None,
        acs_lines: str = "contiguous",
        augmentation: Mapping[str, Any] | None = None,
        filters: Mapping[str, Any] | None = None,
        synthetic: Mapping[str, Any] | None = None,
        seed: int = 0,
        readout_crop: bool = False,
        virtual_coils: int | None = None,
    ) -> None:
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"data layout must be one of {LAYOUTS}, got {layout!r}")
        self.save_hyperparameters()
        self.root = Path(root)
        self.layout = layout
        self.dirs = {"train": train_dir, "val": val_dir, "test": test_dir or val_dir}
        self.num_adj_slices = num_adj_slices
        self.batch_size = batch_size
        self.seed = seed
        self.readout_crop = readout_crop
        self.virtual_coils = virtual_coils
        self.loader_options = {
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "persistent_workers": persistent_workers and num_workers > 0,
            # a stop signal is the main process's to handle: it saves, then ends its workers
            "worker_init_fn": leave_stop_signals_to_main if num_workers > 0 else None,
        }
        if num_workers > 0:
            end_workers_at_exit()  # workers that ignore SIGTERM are killed when this process exits
        self.mask_func = _mask_func(mask)
        self.acs_lines = check_acs_rule(acs_lines)
        self.augmentation = MaskAugmentation.from_config(augmentation) if augmentation else None
        self.file_filter = FileFilter(**dict(filters or {}))
        self.synthetic = synthetic_config(**{"layout": layout, **dict(synthetic)}) if synthetic else None
        if self.synthetic is not None and self.synthetic.layout != layout:
            raise ValueError(
                f"synthetic.layout {self.synthetic.layout!r} differs from the data layout {layout!r}"
            )
        self.datasets: dict[str, ReconDataset] = {}
        self._epoch = 0

    def prepare_data(self) -> None:
        if self.synthetic is not None:
            ensure_synthetic(self.root, self.synthetic)

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}.get(stage or "fit", ())
        for split in splits:
            if split not in self.datasets:
                self.datasets[split] = self._dataset(split)
        if "train" in self.datasets:
            self.datasets["train"].set_epoch(self._epoch)

    def _dataset(self, split: str) -> ReconDataset:
        volumes = index_volumes(self.layout, self.root / self.dirs[split], self.file_filter)
        training = split == "train"
        chooser = MaskChooser(
            self.mask_func,
            self.augmentation if training else None,
            per_volume_seed=not training,
            acs_lines=self.acs_lines,
        )
        return ReconDataset(
            volumes,
            self.num_adj_slices,
            chooser,
            random_masks=training,
            seed=self.seed,
            readout_crop=self.readout_crop,
            virtual_coils=self.virtual_coils,
        )

    def set_epoch(self, epoch: int) -> None:
        """Current training epoch, for the augmentation probability ramp (see `MaskAugmentationEpoch`)."""
        self._epoch = epoch
        if "train" in self.datasets:
            self.datasets["train"].set_epoch(epoch)

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
        dataset = self.datasets[split]
        options = {"batch_size": self.batch_size, "collate_fn": collate, **self.loader_options}
        if not shuffle:
            return DataLoader(dataset, **options)
        # its own generator: starting the loader's workers then draws nothing from the global RNG, whose state
        # a resumed run restores (`callbacks.checkpoint.RunCheckpoint`)
        generator = torch.Generator().manual_seed(self.seed)
        if self._distributed:
            ranks, rank = self.trainer.world_size, self.trainer.global_rank
            sampler = ShardedEpochSampler(dataset, num_replicas=ranks, rank=rank, seed=self.seed)
        else:
            sampler = EpochShuffleSampler(len(dataset), self.seed)
        return ResumableLoader(dataset, sampler=sampler, generator=generator, **options)

    @property
    def _distributed(self) -> bool:
        """Under DDP each rank trains on its share (`ShardedEpochSampler`); Lightning shards validation."""
        return self.trainer is not None and self.trainer.world_size > 1

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)


def _mask_func(cfg: Mapping[str, Any] | None) -> MaskFunc | None:
    if not cfg:
        return None
    cfg = dict(cfg)
    return MaskFunc(cfg.pop("type", "random"), **cfg)
