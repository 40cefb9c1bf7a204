from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fastmri_pl.data.augment import MaskAugmentationEpoch
from fastmri_pl.data.datamodule import ReconDataModule
from fastmri_pl.errors import DataError
from fastmri_pl.mri.masks import num_low_frequencies

KEYS = {
    "masked_kspace",
    "mask",
    "num_low_frequencies",
    "target",
    "max_value",
    "acceleration",
    "slice_num",
    "fname",
}


def check_batch(batch: dict, batch_size: int, num_adj: int, crop: tuple[int, int]) -> None:
    assert set(batch) == KEYS
    kspace = batch["masked_kspace"]
    assert kspace.dtype == torch.complex64 and kspace.ndim == 4 and kspace.shape[0] == batch_size
    assert kspace.shape[1] % num_adj == 0
    width = kspace.shape[-1]
    assert batch["mask"].dtype == torch.float32 and batch["mask"].shape == (batch_size, 1, 1, width)
    assert batch["target"].dtype == torch.float32 and batch["target"].shape == (batch_size, *crop)
    for key, dtype in [("num_low_frequencies", torch.int64), ("slice_num", torch.int64)]:
        assert batch[key].dtype == dtype and batch[key].shape == (batch_size,)
    for key in ("max_value", "acceleration"):
        assert batch[key].dtype == torch.float32 and batch[key].shape == (batch_size,)
    assert isinstance(batch["fname"], list) and len(batch["fname"]) == batch_size
    assert (batch["num_low_frequencies"] > 0).all()
    off_mask = kspace[..., batch["mask"][0, 0, 0] == 0]
    assert off_mask.abs().max() == 0


def test_batches_follow_the_interface(data_snu_root: Path, data_snu_config) -> None:
    dm = ReconDataModule(data_snu_root, layout="snu", num_adj_slices=3)
    dm.setup("fit")
    for loader in (dm.train_dataloader(), dm.val_dataloader()):
        check_batch(next(iter(loader)), 1, 3, data_snu_config.crop)
    assert len(dm.val_dataloader()) == data_snu_config.num_val * data_snu_config.slices


def test_test_split_reads_the_leaderboard(data_snu_root: Path) -> None:
    dm = ReconDataModule(data_snu_root, test_dir="leaderboard/acc8", num_adj_slices=1)
    batch = next(iter(dm.test_dataloader()))
    assert batch["fname"] == ["brain_test1.h5"] and float(batch["acceleration"][0]) == 8.0


def test_fastmri_layout_draws_masks(data_fastmri_root: Path, data_fastmri_config) -> None:
    dm = ReconDataModule(data_fastmri_root, layout="fastmri", mask={"type": "equispaced_fraction"})
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    check_batch(batch, 1, 1, data_fastmri_config.crop)
    assert float(batch["acceleration"][0]) in (4.0, 8.0)


def test_acs_lines_reach_the_batch(data_fastmri_root: Path, data_snu_root: Path) -> None:
    """`nominal`: round(W * centre fraction) for drawn masks; a file's own mask keeps its contiguous run."""
    mask = {"type": "equispaced", "accelerations": [2], "center_fractions": [0.3]}
    longer = 0
    for rule in ("nominal", "contiguous"):
        dm = ReconDataModule(data_fastmri_root, layout="fastmri", mask=mask, acs_lines=rule)
        for batch in dm.val_dataloader():
            count, nominal = int(batch["num_low_frequencies"][0]), round(batch["mask"].shape[-1] * 0.3)
            assert count == (nominal if rule == "nominal" else num_low_frequencies(batch["mask"][0]))
            longer += count > nominal
    assert longer > 0  # every other line sampled: some runs reach past the centre block
    own = ReconDataModule(data_snu_root, layout="snu", acs_lines="nominal")
    for batch in own.val_dataloader():
        assert int(batch["num_low_frequencies"][0]) == num_low_frequencies(batch["mask"][0])
    with pytest.raises(ValueError, match="data.acs_lines"):
        ReconDataModule(data_snu_root, acs_lines="measured")


def test_mixed_shapes_are_refused_with_the_file_names(data_snu_root: Path) -> None:
    dm = ReconDataModule(data_snu_root, batch_size=2)
    dm.setup("validate")
    names = [v.fname for v in dm.datasets["val"].volumes]
    with pytest.raises(DataError) as error:
        for _ in dm.val_dataloader():
            pass
    assert all(name in str(error.value) for name in names) and "batch_size 1" in str(error.value)


def test_same_shape_batches_stack(data_snu_root: Path) -> None:
    dm = ReconDataModule(data_snu_root, batch_size=2, filters={"max_files": 1})
    dm.setup("validate")
    batch = next(iter(dm.val_dataloader()))
    check_batch(batch, 2, 1, (16, 16))


def test_augmentation_ramps_in_worker_processes(data_snu_root: Path) -> None:
    augmentation = {"acceleration_range": [9, 13], "prob_start": 0.0, "prob_end": 1.0, "ramp_epochs": 1}
    dm = ReconDataModule(data_snu_root, augmentation=augmentation, num_workers=1, persistent_workers=True)
    dm.setup("fit")
    loader = dm.train_dataloader()
    assert {float(b["acceleration"][0]) for b in loader} <= {4.0, 8.0}
    MaskAugmentationEpoch().on_train_epoch_start(SimpleNamespace(datamodule=dm, current_epoch=1), None)
    assert {float(b["acceleration"][0]) for b in loader} <= {9.0, 10.0, 11.0, 12.0, 13.0}
    assert {float(b["acceleration"][0]) for b in dm.val_dataloader()} <= {4.0, 8.0}


def test_prepare_data_generates_synthetic_data(tmp_path: Path) -> None:
    synthetic = {"num_train": 1, "num_val": 1, "num_leaderboard": 0, "slices": 2, "coils": [2], "height": 32}
    synthetic |= {"widths": [20], "crop": [16, 16]}
    dm = ReconDataModule(tmp_path / "synthetic", synthetic=synthetic)
    dm.prepare_data()
    dm.setup("fit")
    assert len(dm.datasets["train"]) == 2 and len(dm.datasets["val"]) == 2


def test_unknown_layout_and_even_adjacent_slices_are_refused(tmp_path: Path, data_snu_root: Path) -> None:
    with pytest.raises(ValueError, match="layout"):
        ReconDataModule(tmp_path, layout="dicom")
    with pytest.raises(ValueError, match="odd"):
        ReconDataModule(data_snu_root, num_adj_slices=2).setup("fit")


def test_pattern_filter_reaches_the_datasets(data_snu_root: Path) -> None:
    dm = ReconDataModule(data_snu_root, filters={"pattern": "*acc4*"})
    dm.setup("fit")
    assert all("acc4" in v.fname for v in dm.datasets["train"].volumes)
