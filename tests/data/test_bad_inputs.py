"""Every bad input raises DataError naming the offending file and what is wrong with it."""

import shutil
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest

from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.h5checks import open_h5, slice_list
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import generate, synthetic_config
from fastmri_pl.data.volumes import FileFilter, read_kspace_slices
from fastmri_pl.errors import DataError
from tests.helpers.permissions import as_unprivileged, reachable_folder


@pytest.fixture
def snu_train(tmp_path: Path, data_snu_root: Path) -> Path:
    """A private copy of the tiny SNU train folder, free to damage."""
    folder = tmp_path / "train"
    shutil.copytree(data_snu_root / "train", folder)
    return folder


def first(folder: Path) -> Path:
    return sorted(folder.glob("*.h5"))[0]


def replace_dataset(path: Path, key: str, data: np.ndarray) -> None:
    with h5py.File(path, "r+") as f:
        del f[key]
        f.create_dataset(key, data=data)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def drop_kspace(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        del f["kspace"]


def float_kspace(path: Path) -> None:
    with h5py.File(path, "r") as f:
        real = np.abs(f["kspace"][()]).astype(np.float32)
    replace_dataset(path, "kspace", real)


def short_mask(path: Path) -> None:
    with h5py.File(path, "r") as f:
        mask = f["mask"][()]
    replace_dataset(path, "mask", mask[:-2])


def flat_kspace(path: Path) -> None:
    with h5py.File(path, "r") as f:
        kspace = f["kspace"][()]
    replace_dataset(path, "kspace", kspace.reshape(-1, *kspace.shape[2:]))


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (truncate, r"is truncated: \d+ of its \d+ bytes"),
        (drop_kspace, "missing dataset 'kspace'"),
        (float_kspace, "expected a complex dtype"),
        (short_mask, "mask length"),
        (flat_kspace, "rank 3"),
    ],
)
def test_bad_kspace_file(snu_train: Path, damage: Callable[[Path], None], problem: str) -> None:
    path = first(snu_train / "kspace")
    damage(path)
    with pytest.raises(DataError, match=problem) as error:
        index_volumes("snu", snu_train)
    assert error.value.path == str(path)


def test_missing_target_and_max(snu_train: Path) -> None:
    path = first(snu_train / "image")
    with h5py.File(path, "r+") as f:
        del f.attrs["max"]
    with pytest.raises(DataError, match="missing attribute 'max'") as error:
        index_volumes("snu", snu_train)
    assert error.value.path == str(path)
    with h5py.File(path, "r+") as f:
        del f["image_label"]
    with pytest.raises(DataError, match="missing dataset 'image_label'"):
        index_volumes("snu", snu_train)


def test_missing_reconstruction_rss(tmp_path: Path, data_fastmri_root: Path) -> None:
    folder = tmp_path / "val"
    shutil.copytree(data_fastmri_root / "val", folder)
    path = first(folder)
    with h5py.File(path, "r+") as f:
        del f["reconstruction_rss"]
    with pytest.raises(DataError, match="missing dataset 'reconstruction_rss'") as error:
        index_volumes("fastmri", folder)
    assert error.value.path == str(path)


def test_nan_in_kspace_is_caught_when_read(snu_train: Path) -> None:
    path = first(snu_train / "kspace")
    with h5py.File(path, "r+") as f:
        f["kspace"][1, 0, 3, 4] = np.nan
    volumes = [v for v in index_volumes("snu", snu_train) if v.kspace_path == path]
    dataset = ReconDataset(volumes)
    dataset[0]  # slice 0 is clean
    with pytest.raises(DataError, match="NaN or Inf") as error:
        dataset[1]
    assert error.value.path == str(path)


def test_twins_must_pair(snu_train: Path) -> None:
    kspace = first(snu_train / "kspace")
    kspace.rename(snu_train / kspace.name.replace(".h5", ".h5.bak"))
    with pytest.raises(DataError, match="image file without its k-space twin") as error:
        index_volumes("snu", snu_train)
    assert kspace.name in str(error.value)
    image = first(snu_train / "image")
    shutil.move(snu_train / kspace.name.replace(".h5", ".h5.bak"), kspace)
    image.unlink()
    with pytest.raises(DataError, match="k-space file without its image twin") as error:
        index_volumes("snu", snu_train)
    assert image.name in str(error.value)


def test_empty_and_missing_folders(tmp_path: Path, data_snu_root: Path) -> None:
    (tmp_path / "kspace").mkdir()
    (tmp_path / "image").mkdir()
    with pytest.raises(DataError, match="no .h5 files") as error:
        index_volumes("snu", tmp_path)
    assert error.value.path == str(tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        index_volumes("fastmri", tmp_path / "absent")
    with pytest.raises(DataError) as error:
        index_volumes("snu", data_snu_root / "train", FileFilter(pattern="knee_*", max_files=2))
    assert (
        error.value.problem
        == "no .h5 files to read (snu layout, keeping names matching 'knee_*'; at most 2 files)"
    )


def set_max(path: Path, value: float) -> None:
    with h5py.File(path, "r+") as f:
        f.attrs["max"] = value


def zero_mask(path: Path) -> None:
    with h5py.File(path, "r+") as f:
        f["mask"][...] = 0


def target_missing_a_slice(path: Path) -> None:
    with h5py.File(path, "r") as f:
        slices, height, width = f["image_label"].shape
    replace_dataset(path, "image_label", np.ones((slices - 1, height, width), dtype=np.float32))


def empty_target(path: Path) -> None:
    with h5py.File(path, "r") as f:
        slices, height, _ = f["image_label"].shape
    replace_dataset(path, "image_label", np.ones((slices, height, 0), dtype=np.float32))


@pytest.mark.parametrize(
    ("folder", "damage", "problem"),
    [
        ("image", lambda p: set_max(p, 0.0), "attribute 'max' is 0.0, expected > 0"),
        ("image", lambda p: set_max(p, -1.0), "attribute 'max' is -1.0, expected > 0"),
        ("image", lambda p: set_max(p, np.inf), "attribute 'max' is inf"),
        ("kspace", zero_mask, "mask samples no phase-encode line"),
        ("image", target_missing_a_slice, "image_label has 2 slices, its k-space file 3"),
        ("image", empty_target, r"image_label is empty \(16 x 0 pixels per slice\)"),
    ],
)
def test_values_that_poison_training_are_refused_when_indexed(
    snu_train: Path, folder: str, damage: Callable[[Path], None], problem: str
) -> None:
    path = first(snu_train / folder)
    damage(path)
    with pytest.raises(DataError, match=problem) as error:
        index_volumes("snu", snu_train)
    assert error.value.path == str(path)


def test_nan_target_pixel_is_one_error_naming_file_and_slice(snu_train: Path) -> None:
    path = first(snu_train / "image")
    with h5py.File(path, "r+") as f:
        f["image_label"][2, 5, 5] = np.nan
    (volume,) = [v for v in index_volumes("snu", snu_train) if v.target_path == path]
    dataset = ReconDataset([volume])
    dataset[1]  # other slices stay usable
    with pytest.raises(DataError) as error:
        dataset[2]
    assert str(error.value) == f"{path}: image_label slice 2 contains NaN or Inf"


def _truncated(path: Path) -> str:
    size = path.stat().st_size
    truncate(path)
    return f"is truncated: {size // 2} of its {size} bytes (copy or download it again)"


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return "is empty (0 bytes)"


def _text(path: Path) -> str:
    path.write_text("not hdf5 at all\n")
    return "is not an HDF5 file (no HDF5 signature in its 16 bytes)"


def _first_bytes(path: Path) -> str:
    path.write_bytes(path.read_bytes()[:5])
    return "is truncated: 5 bytes, too short to be an HDF5 file"


def _folder(path: Path) -> str:
    path.unlink()
    path.mkdir()
    return "is a folder, not an HDF5 file"


def _dangling_link(path: Path) -> str:
    gone = path.with_name("moved_away.h5")
    path.unlink()
    path.symlink_to(gone)
    return f"is a link to {gone}, which does not exist"


@pytest.mark.parametrize("damage", [_truncated, _empty, _text, _first_bytes, _folder, _dangling_link])
def test_an_unreadable_file_says_what_it_is(snu_train: Path, damage: Callable[[Path], str]) -> None:
    """Indexing opens each file: the one line says missing, folder, truncated or not HDF5, not a guess."""
    path = first(snu_train / "kspace")
    expected = damage(path)
    with pytest.raises(DataError) as error:
        index_volumes("snu", snu_train)
    assert (error.value.path, error.value.problem) == (str(path), expected)


def test_a_file_without_read_permission_says_so(data_snu_root: Path) -> None:
    """chmod 000 blocks no root: the open runs as `nobody` then (a real EACCES from the kernel)."""
    with reachable_folder() as folder:
        path = folder / "kspace.h5"
        shutil.copy(first(data_snu_root / "train" / "kspace"), path)
        path.chmod(0)
        with as_unprivileged(), pytest.raises(DataError) as error, open_h5(path):
            pass
    assert (error.value.path, error.value.problem) == (str(path), "cannot be read: permission denied")


def test_nan_in_one_kspace_slice_names_exactly_that_slice(tmp_path: Path) -> None:
    """The reconstruction reads a whole volume at once: the error names slice 3, not the 8 slices read."""
    config = synthetic_config(
        layout="fastmri", num_train=1, num_val=1, slices=8, coils=(2,), height=32, widths=(20,), crop=(16, 16)
    )
    generate(tmp_path, config, progress=False)
    path = first(tmp_path / "train")
    with h5py.File(path, "r+") as f:
        f["kspace"][3, 1, 4, 4] = np.nan
    (volume,) = index_volumes("fastmri", tmp_path / "train")
    with pytest.raises(DataError) as error:
        read_kspace_slices(volume, range(8))
    assert error.value.problem == "kspace slice 3 contains NaN or Inf"
    with h5py.File(path, "r+") as f:
        f["kspace"][5:7, 0, 0, 0] = np.inf
    with pytest.raises(DataError) as error:
        read_kspace_slices(volume, [2, 3, 4, 5, 6])
    assert error.value.problem == "kspace slices 3, 5-6 contain NaN or Inf"
    read_kspace_slices(volume, [0, 1, 2])  # the others stay usable


def test_slice_list_names_runs_as_ranges() -> None:
    assert slice_list([3]) == "slice 3"
    assert slice_list([7, 0, 1, 2, 5, 5]) == "slices 0-2, 5, 7"
