"""Planning shapes from the HDF5 headers: the largest sample of each split after the readout crop and coil
compression, and the same one-line errors as the data package for bad files."""

import shutil

import pytest
from omegaconf import OmegaConf

from fastmri_pl.data.readers import index_volumes
from fastmri_pl.errors import DataError
from fastmri_pl.memory.data_shapes import SampleShape, data_shapes, largest


def data_cfg(root, **overrides):
    base = {
        "layout": "snu",
        "root": str(root),
        "train_dir": "train",
        "val_dir": "val",
        "filters": None,
        "readout_crop": True,
        "virtual_coils": None,
        "synthetic": None,
    }
    return OmegaConf.create({**base, **overrides})


def test_each_split_plans_for_its_largest_sample_by_coils_times_pixels(data_mixed_root):
    shapes = data_shapes(data_cfg(data_mixed_root))
    # readout crop: the k-space height is the target's 16 rows, not the file's 32
    assert shapes.largest_train == SampleShape("train/kspace/brain_acc4_3.h5", 3, 16, 20, 2, (16, 12))
    # validation's largest is 4 x 16 x 14 (896); the leaderboard's acc4 volume (960) is larger
    assert shapes.largest_infer.file == "leaderboard/acc4/kspace/brain_test1.h5"
    assert shapes.largest_infer.geometry == (3, 16, 20)
    assert shapes.train_slices == 6
    assert shapes.histogram() == [[2, 16, 24, 2], [3, 16, 20, 2], [4, 16, 14, 2]]
    assert shapes.largest_train.as_json(5) == {
        "coils": 3,
        "height": 16,
        "width": 20,
        "adj_slices": 5,
        "file": "train/kspace/brain_acc4_3.h5",
    }


def test_coil_compression_and_the_full_readout_change_the_largest_sample(data_mixed_root):
    compressed = data_shapes(data_cfg(data_mixed_root, virtual_coils=2))
    assert compressed.largest_train.geometry == (2, 16, 24)  # every volume has 2 coils: the widest wins
    assert compressed.largest_train.file == "train/kspace/brain_acc4_1.h5"
    full = data_shapes(data_cfg(data_mixed_root, readout_crop=False))
    assert full.largest_train.geometry == (3, 32, 20)


def test_without_a_leaderboard_the_validation_split_is_planned_for(data_mixed_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_mixed_root, root)
    shutil.rmtree(root / "leaderboard")
    assert data_shapes(data_cfg(root)).largest_infer == SampleShape(
        "val/kspace/brain_acc4_5.h5", 4, 16, 14, 2, (16, 12)
    )


def test_a_bad_file_is_the_data_packages_one_line_error(data_mixed_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_mixed_root, root)
    (root / "train" / "kspace" / "brain_acc8_2.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataError) as from_training:
        index_volumes("snu", root / "train")
    with pytest.raises(DataError, match="brain_acc8_2.h5") as from_planning:
        data_shapes(data_cfg(root))
    assert str(from_planning.value) == str(from_training.value)


def test_largest_breaks_ties_by_file_name():
    a = SampleShape("b.h5", 2, 4, 4, 1, (4, 4))
    b = SampleShape("a.h5", 1, 4, 8, 1, (4, 4))
    assert largest([a, b]) is b
    with pytest.raises(ValueError, match="no samples"):
        largest([])
