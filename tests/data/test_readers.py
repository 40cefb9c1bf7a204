from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.leaderboard import acceleration_folders
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.transforms import MaskChooser, adjacent_slice_indices
from fastmri_pl.data.volumes import FileFilter, nominal_acceleration
from fastmri_pl.evaluation.pairs import find_pairs
from fastmri_pl.mri.masks import MaskFunc


def test_index_pairs_snu_files_and_reads_their_metadata(data_snu_root: Path) -> None:
    volumes = index_volumes("snu", data_snu_root / "train")
    for volume in volumes:
        assert volume.kspace_path.parent.name == "kspace" and volume.target_path.parent.name == "image"
        assert volume.kspace_path.name == volume.target_path.name == volume.fname
        with h5py.File(volume.target_path) as f:
            assert volume.max_value == pytest.approx(float(f.attrs["max"]))
        assert volume.has_mask


def test_filters_by_pattern_acceleration_and_count(data_snu_root: Path) -> None:
    folder = data_snu_root / "train"
    everything = index_volumes("snu", folder)
    acc4 = index_volumes("snu", folder, FileFilter(accelerations=[4]))
    assert acc4 and all(v.acceleration == 4.0 for v in acc4) and len(acc4) < len(everything)
    assert [v.fname for v in index_volumes("snu", folder, FileFilter(pattern="*acc8*"))] == [
        v.fname for v in everything if "acc8" in v.fname
    ]
    assert len(index_volumes("snu", folder, FileFilter(max_files=1))) == 1


def test_nominal_acceleration_from_name_or_folder() -> None:
    assert nominal_acceleration(Path("train/kspace/brain_acc8_3.h5")) == 8.0
    assert nominal_acceleration(Path("leaderboard/acc5/kspace/brain_test1.h5")) == 5.0
    assert nominal_acceleration(Path("multicoil_val/file_brain_1.h5")) is None


def test_reconstruct_and_evaluate_take_the_same_acceleration_folders_in_order(tmp_path: Path) -> None:
    """acc4 before acc10 (not the alphabet's order), and a folder not named acc<N> is not a group."""
    leaderboard = tmp_path / "leaderboard"
    for name in ("acc10", "acc4", "notes"):
        for kind in ("kspace", "image"):
            (leaderboard / name / kind).mkdir(parents=True)
            (leaderboard / name / kind / "brain_test1.h5").touch()
    read = [p.name for p in acceleration_folders(tmp_path)]
    scored = list(
        dict.fromkeys(pair.group for pair in find_pairs(tmp_path, tmp_path / "out", "snu", "leaderboard"))
    )
    assert read == scored == ["acc4", "acc10"]


@pytest.mark.parametrize(
    ("center", "num_slices", "num_adj", "expected"),
    [(0, 4, 5, [0, 0, 0, 1, 2]), (3, 4, 3, [2, 3, 3]), (2, 6, 5, [0, 1, 2, 3, 4]), (1, 3, 1, [1])],
)
def test_adjacent_indices_replicate_edges(
    center: int, num_slices: int, num_adj: int, expected: list[int]
) -> None:
    indices = adjacent_slice_indices(center, num_slices, num_adj)
    assert indices == expected
    assert indices[num_adj // 2] == center


def test_adjacent_indices_need_an_odd_count() -> None:
    with pytest.raises(ValueError, match="odd"):
        adjacent_slice_indices(0, 4, 2)


def test_sample_stacks_adjacent_slices_slice_major(data_snu_root: Path) -> None:
    (volume, *_) = index_volumes("snu", data_snu_root / "train")
    dataset = ReconDataset([volume], num_adj_slices=3)
    with h5py.File(volume.kspace_path) as k, h5py.File(volume.target_path) as im:
        full, mask, labels = k["kspace"][()], k["mask"][()], im["image_label"][()]
    coils = volume.num_coils
    for slice_num in (0, volume.num_slices - 1):
        sample = dataset[slice_num]
        stacked = sample["masked_kspace"].numpy()
        assert stacked.shape == (3 * coils, volume.height, volume.width)
        centre = stacked[coils : 2 * coils]
        np.testing.assert_array_equal(centre, full[slice_num] * mask)
        edge = stacked[:coils] if slice_num == 0 else stacked[2 * coils :]
        np.testing.assert_array_equal(edge, centre)  # replicated nearest slice
        np.testing.assert_array_equal(sample["target"].numpy(), labels[slice_num])
        assert int(sample["slice_num"]) == slice_num
    inner = dataset[1]["masked_kspace"].numpy()
    np.testing.assert_array_equal(inner[:coils], full[0] * mask)
    np.testing.assert_array_equal(inner[2 * coils :], full[2] * mask)


def test_fastmri_masks_are_fixed_per_volume_in_validation(data_fastmri_root: Path) -> None:
    volumes = index_volumes("fastmri", data_fastmri_root / "val")
    chooser = MaskChooser(MaskFunc("random", accelerations=(4,)), per_volume_seed=True)
    validation = ReconDataset(volumes, mask_chooser=chooser, random_masks=False)
    first = [validation[i]["mask"] for i in range(len(validation))]
    again = [validation[i]["mask"] for i in range(len(validation))]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    training = ReconDataset(
        volumes, mask_chooser=MaskChooser(chooser.mask_func, per_volume_seed=False), random_masks=True
    )

    def training_mask(index: int, epoch: int) -> tuple[float, ...]:
        training.set_epoch(epoch)
        return tuple(training[index]["mask"].reshape(-1).tolist())

    assert training_mask(0, epoch=0) == training_mask(0, epoch=0)  # a resumed run draws the same masks
    assert len({training_mask(0, epoch) for epoch in range(6)}) > 1  # fresh masks every epoch
    assert len({training_mask(index, 0) for index in range(len(training))}) > 1
