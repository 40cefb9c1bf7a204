import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fastmri_pl.challenge.annotations import parse_annotations
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import (
    MARKER,
    SimulatedVolume,
    ensure_synthetic,
    generate,
    main,
    plan_volumes,
    synthetic_config,
)
from fastmri_pl.errors import DataError
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.crop import center_crop
from fastmri_pl.mri.fft import ifft2c

FOREGROUND = 5e-5
KNEE_FOREGROUND = 2e-5


def test_snu_files_round_trip(data_snu_root: Path, data_snu_config) -> None:
    cfg = data_snu_config
    volumes = index_volumes("snu", data_snu_root / "train") + index_volumes("snu", data_snu_root / "val")
    assert len(volumes) == cfg.num_train + cfg.num_val
    assert {v.num_coils for v in volumes} == set(cfg.coils)
    assert {v.width for v in volumes} == set(cfg.widths)
    for volume in volumes:
        with h5py.File(volume.kspace_path) as k, h5py.File(volume.target_path) as im:
            assert k["kspace"].dtype == np.complex64
            assert k["kspace"].shape == (cfg.slices, volume.num_coils, cfg.height, volume.width)
            assert k["mask"].dtype == np.float32 and k["mask"].shape == (volume.width,)
            for key in ("image_label", "image_input", "image_grappa"):
                assert im[key].dtype == np.float32 and im[key].shape == (cfg.slices, *cfg.crop)
            label = im["image_label"][()]
            assert im.attrs["max"] == pytest.approx(label.max())
            assert im.attrs["norm"] == pytest.approx(np.linalg.norm(label), rel=1e-5)
            kspace = torch.from_numpy(k["kspace"][()])
            mask = torch.from_numpy(k["mask"][()])
            expected_input = center_crop(rss(ifft2c(kspace * mask)), cfg.crop).numpy()
            np.testing.assert_allclose(im["image_input"][()], expected_input, rtol=1e-4, atol=1e-9)
            expected_label = center_crop(rss(ifft2c(kspace)), cfg.crop).numpy()
            np.testing.assert_allclose(label, expected_label, rtol=1e-4, atol=1e-9)
            assert 1 / cfg.accelerations[-1] <= mask.mean() < 1.0
        assert volume.acceleration in {float(a) for a in cfg.accelerations}


def test_leaderboard_holds_masked_kspace(data_snu_root: Path, data_snu_config) -> None:
    cfg = data_snu_config
    plans = [p for p in plan_volumes(cfg) if p.leaderboard]
    assert {p.folder for p in plans} == {f"leaderboard/acc{a}" for a in cfg.leaderboard_accelerations}
    for plan in plans:
        (volume,) = index_volumes("snu", data_snu_root / plan.folder)
        assert volume.fname.startswith("brain_test")
        with h5py.File(volume.kspace_path) as k:
            stored, mask = k["kspace"][0], k["mask"][()]
        assert np.all(stored[..., mask == 0] == 0)
        full = next(SimulatedVolume(cfg, plan).kspace_slices())
        np.testing.assert_array_equal(stored, (full * torch.from_numpy(mask)).numpy())


def test_fastmri_files_round_trip(data_fastmri_root: Path, data_fastmri_config) -> None:
    cfg = data_fastmri_config
    volumes = index_volumes("fastmri", data_fastmri_root / "train")
    assert [v.fname for v in volumes] == sorted(f"file_brain_{i}.h5" for i in range(1, cfg.num_train + 1))
    for volume in volumes:
        assert not volume.has_mask
        with h5py.File(volume.kspace_path) as f:
            assert f["kspace"].dtype == np.complex64
            assert f["reconstruction_rss"].dtype == np.float32
            assert f["reconstruction_rss"].shape == (cfg.slices, *cfg.crop)
            assert f.attrs["max"] == pytest.approx(f["reconstruction_rss"][()].max())
            assert tuple(f.attrs["encoding_size"]) == (cfg.height, volume.width, 1)
            assert tuple(f.attrs["recon_size"]) == (*cfg.crop, 1)
            assert f.attrs["padding_right"] - f.attrs["padding_left"] == volume.width
            assert f.attrs["acquisition"] == "AXT2"
            header = ET.fromstring(f["ismrmrd_header"][()])
        sizes = [int(e.text) for e in header.iter() if e.tag.endswith("}x")]
        assert sizes == [cfg.height, cfg.crop[0]]


def test_generation_is_deterministic(tmp_path: Path, data_snu_root: Path, data_snu_config) -> None:
    generate(tmp_path, data_snu_config, progress=False)
    for path in sorted(data_snu_root.rglob("*.h5")):
        twin = tmp_path / path.relative_to(data_snu_root)
        with h5py.File(path) as a, h5py.File(twin) as b:
            for key in a:
                assert a[key][()].tobytes() == b[key][()].tobytes(), f"{path.name}:{key}"
    other = synthetic_config(**{**data_snu_config.__dict__, "seed": 1})
    first = next(SimulatedVolume(other, plan_volumes(other)[0]).kspace_slices())
    same_seed = next(SimulatedVolume(data_snu_config, plan_volumes(data_snu_config)[0]).kspace_slices())
    assert not torch.equal(first, same_seed)


def test_adjacent_slices_are_similar_not_equal(data_snu_root: Path) -> None:
    with h5py.File(next((data_snu_root / "train" / "image").glob("*.h5"))) as f:
        label = f["image_label"][()]
    step = np.abs(label[1] - label[0]).mean() / label[0].mean()
    assert 0.0 < step < 0.5


def test_targets_respect_the_foreground_threshold(tmp_path: Path) -> None:
    cfg = synthetic_config(
        num_train=2, num_val=0, num_leaderboard=0, slices=3, height=96, widths=(52,), crop=(48, 48)
    )
    generate(tmp_path, cfg, progress=False)
    for path in (tmp_path / "train" / "image").glob("*.h5"):
        with h5py.File(path) as f:
            label = f["image_label"][()]
        assert 1e-4 <= label.max() <= 1e-3
        corners = np.concatenate([label[:, :4, :4], label[:, :4, -4:], label[:, -4:, :4], label[:, -4:, -4:]])
        assert corners.max() < FOREGROUND, "air must stay below the challenge's foreground threshold"
        centre = label[:, 12:36, 12:36]
        assert (centre > FOREGROUND).mean() > 0.95, "the head must be above the threshold"


def test_ensure_reuses_and_regenerates(tmp_path: Path, data_snu_config) -> None:
    root = tmp_path / "synthetic"
    ensure_synthetic(root, data_snu_config, progress=False)
    files = sorted(root.rglob("*.h5"))
    stamps = [p.stat().st_mtime_ns for p in files]
    ensure_synthetic(root, data_snu_config, progress=False)
    assert [p.stat().st_mtime_ns for p in files] == stamps
    fewer = synthetic_config(**{**data_snu_config.__dict__, "num_train": 1, "num_leaderboard": 0})
    ensure_synthetic(root, fewer, progress=False)
    assert len(index_volumes("snu", root / "train")) == 1
    assert not (root / "leaderboard" / "acc4" / "kspace" / "brain_test1.h5").exists()


def test_ensure_refuses_a_folder_without_marker(tmp_path: Path, data_snu_config) -> None:
    (tmp_path / "my_real_data.h5").write_bytes(b"")
    with pytest.raises(DataError, match=MARKER):
        ensure_synthetic(tmp_path, data_snu_config, progress=False)


def test_command_line_writes_the_fastmri_layout(tmp_path: Path) -> None:
    main(
        [
            "--root",
            str(tmp_path),
            "--layout",
            "fastmri",
            "--num-train",
            "1",
            "--num-val",
            "1",
            "--slices",
            "2",
        ]
        + ["--coils", "2", "--height", "32", "--widths", "20", "--crop", "16", "16"]
    )
    assert (tmp_path / MARKER).is_file()
    assert len(index_volumes("fastmri", tmp_path / "val")) == 1


def test_knee_files_carry_2026_names_and_lesion_boxes(data_knee_root: Path, data_knee_config) -> None:
    cfg = data_knee_config
    names = sorted(p.relative_to(data_knee_root).as_posix() for p in data_knee_root.rglob("image/*.h5"))
    assert names == [
        "leaderboard/acc4/image/knee_test1.h5",
        "leaderboard/acc8/image/knee_test1.h5",
        "train/image/knee_acc4_1.h5",
        "train/image/knee_acc8_2.h5",
        "val/image/knee_acc4_3.h5",
        "val/image/knee_acc8_4.h5",
    ]
    boxes = 0
    for path in data_knee_root.rglob("image/*.h5"):
        with h5py.File(path) as f:
            label = f["image_label"][()]
            annotations = parse_annotations(f.attrs["annotations"], path)
        assert set(annotations) <= set(range(cfg.slices))
        corners = np.concatenate([label[:, :3, :3], label[:, :3, -3:], label[:, -3:, :3], label[:, -3:, -3:]])
        assert corners.max() < KNEE_FOREGROUND, "air must stay below the 2026 knee threshold"
        for index, found in annotations.items():
            for box in found:
                assert box.label and 0 <= box.x < box.x + box.width <= cfg.crop[1]
                assert 0 <= box.y < box.y + box.height <= cfg.crop[0]
                # a lesion is brighter than the tissue: its box outshines the slice's foreground on average
                inside = label[index, box.y : box.y + box.height, box.x : box.x + box.width]
                assert inside.mean() > label[index][label[index] > KNEE_FOREGROUND].mean()
                boxes += 1
    assert boxes > 0


def test_brain_files_have_no_annotations(data_snu_root: Path) -> None:
    for path in data_snu_root.rglob("image/*.h5"):
        with h5py.File(path) as f:
            assert "annotations" not in f.attrs


def organisers_crop_or_pad(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The organisers' rule (/work/notes/harness.md; their `center_crop(data, height, width)`), written here
    from its description: an axis smaller than wanted is zero-padded, (d // 2) before and the rest after; the
    result is cropped from ((size - wanted) // 2)."""
    rows, columns = image.shape
    pad_rows, pad_columns = max(height - rows, 0), max(width - columns, 0)
    padded = np.pad(
        image,
        ((pad_rows // 2, pad_rows - pad_rows // 2), (pad_columns // 2, pad_columns - pad_columns // 2)),
    )
    top, left = (padded.shape[0] - height) // 2, (padded.shape[1] - width) // 2
    return padded[top : top + height, left : left + width]


def numpy_rss(kspace: np.ndarray) -> np.ndarray:
    """(C, H, W) centred k-space -> the RSS of its centred orthonormal inverse 2-D FFT, in numpy."""
    axes = (-2, -1)
    coil_images = np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(kspace, axes=axes), norm="ortho"), axes=axes)
    return np.sqrt((np.abs(coil_images) ** 2).sum(axis=0))


def test_knee_targets_are_the_rss_image_cropped_and_zero_padded_as_the_organisers(
    data_knee_root: Path, data_knee_config
) -> None:
    """Like the 2026 files (640 x 368 k-space, 384 x 384 image_label): the k-space is narrower than the
    target, whose extra columns are zeros, by an even and an odd difference."""
    cfg = data_knee_config
    volumes = index_volumes("snu", data_knee_root / "train") + index_volumes("snu", data_knee_root / "val")
    assert {cfg.crop[1] - v.width for v in volumes} == {2, 3} and {v.height for v in volumes} == {cfg.height}
    for volume in volumes:
        assert volume.crop == cfg.crop
        with h5py.File(volume.kspace_path) as k, h5py.File(volume.target_path) as im:
            kspace, mask = k["kspace"][()], k["mask"][()]
            label, zero_filled = im["image_label"][()], im["image_input"][()]
        left = (cfg.crop[1] - volume.width) // 2
        right = left + volume.width
        for s in range(cfg.slices):
            np.testing.assert_allclose(
                label[s], organisers_crop_or_pad(numpy_rss(kspace[s]), *cfg.crop), rtol=1e-4, atol=1e-9
            )
            np.testing.assert_allclose(
                zero_filled[s],
                organisers_crop_or_pad(numpy_rss(kspace[s] * mask), *cfg.crop),
                rtol=1e-4,
                atol=1e-9,
            )
        assert not label[:, :, :left].any() and not label[:, :, right:].any()
        assert (label[:, :, left:right] > 0).all()


def test_knee_geometry_keeps_the_2026_ratios(compose_config) -> None:
    """`anatomy=knee` defaults to the organisers' knee geometry (challenge preset) or a quarter of it (cpu),
    and `data=synthetic_knee` writes the cpu one."""
    challenge = synthetic_config("challenge", anatomy="knee")
    assert (challenge.height, challenge.widths, challenge.crop, challenge.coils) == (
        640,
        (368,),
        (384, 384),
        (15,),
    )
    cpu = synthetic_config(anatomy="knee")
    assert (cpu.height / 640, cpu.widths[0] / 368, cpu.crop[0] / 384) == (0.25, 0.25, 0.25)
    assert max(cpu.widths) < cpu.crop[1] == cpu.crop[0]
    assert synthetic_config().widths[0] > synthetic_config().crop[1]  # the brain's k-space is wider
    data = compose_config(["data=synthetic_knee"]).data.synthetic
    composed = synthetic_config(**{key: data[key] for key in ("anatomy", "height", "widths", "crop")})
    assert (composed.height, composed.widths, composed.crop) == (cpu.height, cpu.widths, cpu.crop)


def test_a_crop_is_checked_by_the_readers_rule() -> None:
    """SNU targets may be larger than the k-space image; fastMRI ones must fit, or be the narrow square."""
    assert synthetic_config(height=32, widths=(20,), crop=(40, 24)).crop == (40, 24)
    assert synthetic_config(layout="fastmri", height=32, widths=(14,), crop=(16, 16)).crop == (16, 16)
    with pytest.raises(ValueError, match="crop is 40 x 24, larger than the k-space image 32 x 30"):
        synthetic_config(layout="fastmri", height=32, widths=(30,), crop=(40, 24))
