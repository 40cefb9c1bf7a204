"""`challenge=2023|2024|2025|2026`: a small leaderboard per year scored by `evaluate`, compared with an
independent implementation of that year's formula (scipy morphology, scikit-image SSIM), and validation's
`val/ssim_masked` slice by slice against `evaluate` on the same images."""

import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from scipy import ndimage
from skimage.metrics import structural_similarity

from fastmri_pl import CONFIG_DIR
from fastmri_pl.challenge.rules import DEFAULT_YEAR, load_rules
from fastmri_pl.errors import DataError
from fastmri_pl.evaluate import evaluate
from fastmri_pl.evaluation.pairs import VolumePair, find_pairs, read_volume
from fastmri_pl.evaluation.scoring import VolumeScore, slice_ssim, summarize
from fastmri_pl.models.zero_filled import ZeroFilled
from fastmri_pl.mri.fft import fft2c
from fastmri_pl.training.module import ReconModule
from fastmri_pl.training.volume_metrics import SliceScores, VolumeMetrics

SIZE, SLICES = 96, 3
SQUARE = np.ones((3, 3), dtype=bool)
SSIM_ARGS = {"win_size": 7, "gaussian_weights": False, "use_sample_covariance": True, "K1": 0.01, "K2": 0.03}
# knee_test1's boxes (x = column, y = row): scored, too narrow, clipped by the border, past the last slice
BOXES = {
    "0": [{"x": 10, "y": 12, "width": 14, "height": 9, "label": "Meniscus Tear"}],
    "1": [
        {"x": 20, "y": 20, "width": 5, "height": 20, "label": "small"},
        {"x": SIZE - 10, "y": -4, "width": 16, "height": 14, "label": "Bone-Edema"},
    ],
    str(SLICES + 2): [{"x": 0, "y": 0, "width": 20, "height": 20, "label": "past the last slice"}],
}


def volume(seed: int, faint: float) -> np.ndarray:
    """(SLICES, SIZE, SIZE) float32: a textured ellipse ~2e-4, noise below 1.5e-5 and a strip of faint
    tissue (level `faint`) along the left edge."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE - 0.5
    images = []
    for k in range(SLICES):
        inside = (x / (0.2 + 0.02 * k)) ** 2 + (y / 0.3) ** 2 < 1
        texture = 0.6 + 0.4 * np.cos(7 * x + seed) * np.sin(5 * y + k)
        image = inside * texture * 2e-4 + rng.uniform(0, 1.5e-5, (SIZE, SIZE))
        image[:, :8] += faint
        images.append(image)
    return np.stack(images).astype(np.float32)


def write(path: Path, datasets: dict[str, np.ndarray], attrs: dict | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        for key, value in datasets.items():
            file.create_dataset(key, data=value)
        file.attrs.update(attrs or {})


def leaderboard(tmp_path: Path, accelerations: tuple[str, ...], names: tuple[str, ...]) -> tuple[Path, Path]:
    """root/leaderboard/<acc>/image/<name> targets (knee: a strip at 3e-5, between the two thresholds)
    and out/<acc>/<name> noisy reconstructions; knee_test1 carries BOXES; knee_test2's last slice is air."""
    root, out = tmp_path / "root", tmp_path / "out"
    for a, acc in enumerate(accelerations):
        for n, name in enumerate(names):
            target = volume(10 * a + n, 3e-5 if name.startswith("knee") else 0.0)
            if name == "knee_test2.h5":
                target[-1] = 1e-5  # no foreground at the 2e-5 threshold: SSIM_full skips this slice
            attrs = {"max": float(target.max())}
            if name == "knee_test1.h5":
                attrs["annotations"] = json.dumps(BOXES)
            write(root / "leaderboard" / acc / "image" / name, {"image_label": target}, attrs)
            noise = np.random.default_rng(100 + n).standard_normal(target.shape) * (0.05 + 0.05 * a)
            write(out / acc / name, {"reconstruction": (target + noise * target.max()).astype(np.float32)})
    return root, out


def foreground(target: np.ndarray, threshold: float) -> np.ndarray:
    mask = ndimage.binary_erosion(target > threshold, SQUARE, iterations=1, border_value=1)
    mask = ndimage.binary_dilation(mask, SQUARE, iterations=15, border_value=0)
    return ndimage.binary_erosion(mask, SQUARE, iterations=14, border_value=1)


def pairs(root: Path, out: Path, acc: str):
    for target_path in sorted((root / "leaderboard" / acc / "image").glob("*.h5")):
        with h5py.File(target_path) as t, h5py.File(out / acc / target_path.name) as r:
            yield target_path.name, t["image_label"][()], float(t.attrs["max"]), r["reconstruction"][()], t


def masked_ssim_by_hand(root: Path, out: Path, acc: str, thresholds: dict[str, float]) -> float:
    """2023-2025: mean over slices of SSIM(recon*m, target*m), m by the file's anatomy threshold."""
    values = []
    for name, target, maximum, recon, _ in pairs(root, out, acc):
        threshold = thresholds[name.split("_")[0]]
        for k in range(SLICES):
            m = foreground(target[k], threshold)
            values.append(structural_similarity(target[k] * m, recon[k] * m, data_range=maximum, **SSIM_ARGS))
    return float(np.mean(values))


def full_and_bbox_by_hand(root: Path, out: Path, acc: str) -> tuple[float, float, int]:
    """2026: SSIM map (skimage's full map, its valid interior) weighted by the 2e-5 mask at window centres,
    mean over slices with foreground; SSIM of each box at least 7 x 7 after clipping, mean over boxes."""
    full, boxes = [], []
    for name, target, maximum, recon, _ in pairs(root, out, acc):
        annotations = BOXES if name == "knee_test1.h5" else {}
        for k in range(SLICES):
            m = foreground(target[k], 2e-5)
            _, smap = structural_similarity(
                target[k] * m, recon[k] * m, data_range=maximum, full=True, **SSIM_ARGS
            )
            weights = m[3:-3, 3:-3]
            if weights.sum() > 0:
                full.append((smap[3:-3, 3:-3] * weights).sum() / weights.sum())
            for box in annotations.get(str(k), []):
                rows = slice(max(box["y"], 0), min(box["y"] + box["height"], SIZE))
                cols = slice(max(box["x"], 0), min(box["x"] + box["width"], SIZE))
                if rows.stop - rows.start >= 7 and cols.stop - cols.start >= 7:
                    crop_t, crop_r = target[k][rows, cols], recon[k][rows, cols]
                    boxes.append(structural_similarity(crop_t, crop_r, data_range=maximum, **SSIM_ARGS))
    return float(np.mean(full)), float(np.mean(boxes)), len(boxes)


@pytest.mark.parametrize(
    ("year", "accelerations", "names"),
    [
        (2023, ("acc4", "acc8"), ("brain_test1.h5", "brain_test2.h5")),
        (2024, ("acc5", "acc9"), ("brain_test1.h5", "brain_test2.h5")),
        (2025, ("acc4", "acc8"), ("brain_test1.h5", "knee_test1.h5")),
    ],
)
def test_masked_ssim_years_match_the_formula(tmp_path: Path, year: int, accelerations, names) -> None:
    root, out = leaderboard(tmp_path, accelerations, names)
    rules = load_rules(year)
    summary = evaluate(root, out, layout="snu", num_worst=0, rules=rules, progress=False)
    for acc in accelerations:
        expected = masked_ssim_by_hand(root, out, acc, rules.thresholds)
        assert summary[acc]["ssim"] == pytest.approx(expected, abs=1e-6)
        assert "ssim_bbox" not in summary[acc]
    assert summary["total"]["ssim"] == pytest.approx(np.mean([summary[a]["ssim"] for a in accelerations]))


def test_2025_knee_files_use_their_own_threshold(tmp_path: Path) -> None:
    """With the brain threshold on the knee file the score differs: the per-prefix rule is what matches."""
    root, out = leaderboard(tmp_path, ("acc4",), ("brain_test1.h5", "knee_test1.h5"))
    summary = evaluate(root, out, layout="snu", num_worst=0, rules=load_rules(2025), progress=False)
    brain_only = masked_ssim_by_hand(root, out, "acc4", {"brain": 5e-5, "knee": 5e-5})
    assert abs(summary["acc4"]["ssim"] - brain_only) > 1e-4


@pytest.mark.slow
def test_2026_full_and_bbox_match_the_formula(tmp_path: Path) -> None:
    root, out = leaderboard(tmp_path, ("acc4", "acc8"), ("knee_test1.h5", "knee_test2.h5"))
    evaluate(root, out, layout="snu", num_worst=1, rules=load_rules(2026), progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    for acc in ("acc4", "acc8"):
        full, bbox, count = full_and_bbox_by_hand(root, out, acc)
        assert metrics[acc]["ssim_full"] == pytest.approx(full, abs=1e-6)
        assert metrics[acc]["ssim_bbox"] == pytest.approx(bbox, abs=1e-6)
        assert metrics[acc]["boxes"] == count == 2  # the 5-px box and the one past the last slice skipped
        assert metrics[acc]["slices"] == 2 * SLICES
    for key in ("ssim_full", "ssim_bbox"):
        assert metrics["total"][key] == pytest.approx((metrics["acc4"][key] + metrics["acc8"][key]) / 2)
    assert metrics["total"]["boxes"] == 4


@pytest.mark.parametrize(
    ("year", "name"), [(2026, "brain_test1.h5"), (2025, "test1.h5"), (2024, "knee_test1.h5")]
)
def test_files_outside_the_years_anatomies_are_refused(tmp_path: Path, year: int, name: str) -> None:
    root, out = leaderboard(tmp_path, ("acc4",), (name,))
    with pytest.raises(DataError, match=f"challenge={year} scores files named") as error:
        evaluate(root, out, layout="snu", num_worst=0, rules=load_rules(year), progress=False)
    assert error.value.path.endswith(name)
    assert not (out / "metrics.json").exists()


def test_malformed_annotations_name_the_file(tmp_path: Path) -> None:
    root, out = leaderboard(tmp_path, ("acc4",), ("knee_test2.h5",))
    target = root / "leaderboard/acc4/image/knee_test2.h5"
    with h5py.File(target, "a") as file:
        file.attrs["annotations"] = json.dumps({"0": [{"x": 1, "y": 2, "width": "wide", "height": 9}]})
    with pytest.raises(DataError, match="without integer") as error:
        evaluate(root, out, layout="snu", rules=load_rules(2026), progress=False)
    assert error.value.path == str(target)


def test_unknown_year_is_one_clear_error() -> None:
    with pytest.raises(
        DataError, match=r"challenge: no rules for year 2019 \(presets: 2023, 2024, 2025, 2026\)"
    ):
        load_rules(2019)


def test_validation_score_leaves_out_slices_the_2026_rule_skips() -> None:
    """`val/ssim_masked` under challenge=2026: a slice with an empty mask (NaN) counts in no mean."""
    metrics = VolumeMetrics()
    image = torch.ones(4, 4)
    slices = (("knee_acc4_1.h5", 0, 0.5), ("knee_acc4_1.h5", 1, math.nan), ("knee_acc4_2.h5", 0, 0.8))
    for fname, index, value in slices:
        scores = SliceScores.of(image, image, acceleration=4.0, max_value=1.0, ssim=0.9, masked_ssim=value)
        metrics.update("val", fname, index, scores)
    assert metrics.compute()["val/ssim_masked"] == pytest.approx(0.65)


def single_coil_batch(image: np.ndarray, target: np.ndarray, maximum: float, name: str) -> dict:
    """A validation batch of one volume's slices whose zero-filled reconstruction is `image` (one coil,
    every k-space line sampled)."""
    slices, height, width = target.shape
    return {
        "masked_kspace": fft2c(torch.from_numpy(image)[:, None].to(torch.complex64)),
        "mask": torch.ones(slices, 1, 1, width),
        "num_low_frequencies": torch.full((slices,), width),
        "target": torch.from_numpy(target),
        "max_value": torch.full((slices,), maximum),
        "fname": [name] * slices,
        "slice_num": torch.arange(slices),
        "acceleration": torch.full((slices,), 4.0),
    }


@pytest.mark.parametrize(
    ("year", "names"),
    [
        (2023, ("brain_test1.h5",)),
        (2024, ("brain_test1.h5",)),
        (2025, ("brain_test1.h5", "knee_test1.h5")),
        (2026, ("knee_test1.h5", "knee_test2.h5")),
    ],
)
def test_validation_scores_each_slice_as_evaluate_does(tmp_path: Path, year: int, names) -> None:
    """The same images, scored by validation (`val/ssim_masked` of each slice) and by `evaluate`: the same
    value (2023-2025 masked SSIM, 2026 SSIM_full with its skipped slice), so the checkpoint training keeps
    is the one the leaderboard rule ranks first."""
    root, out = leaderboard(tmp_path, ("acc4",), names)
    module = ReconModule(ZeroFilled(), challenge=year)
    for name, target, maximum, recon, _ in list(pairs(root, out, "acc4")):  # files closed before rewriting
        outputs = module.validation_step(single_coil_batch(recon, target, maximum, name), 0)
        write(out / "acc4" / name, {"reconstruction": outputs["prediction"].numpy()})  # the images validated
    rules = load_rules(year)
    for pair in find_pairs(root, out, "snu", "leaderboard"):
        evaluated = slice_ssim(read_volume(pair, "snu"), "snu", rules, pair.target_path)
        validated = [module.val_metrics.slices["val", pair.name, k].masked_ssim for k in range(SLICES)]
        np.testing.assert_array_equal(validated, evaluated.numpy())
        assert np.isnan(validated).any() == (year == 2026 and pair.name == "knee_test2.h5")


@pytest.mark.parametrize("config", ["evaluate", "reconstruct"])
def test_default_year_is_the_commands_default(config: str) -> None:
    """`evaluate()` called without rules follows the year the command line defaults to."""
    assert OmegaConf.load(Path(CONFIG_DIR) / f"{config}.yaml").challenge == DEFAULT_YEAR


def test_2026_acceleration_with_nothing_scored_counts_as_zero() -> None:
    """The organisers' recon_eval gives an acceleration with no scorable box (or slice) 0.0 and averages that
    into the total; a NaN here would make the total NaN instead of the organisers' halved value."""

    def score(group: str, slice_ssim: tuple[float, ...], boxes: tuple[float, ...]) -> VolumeScore:
        pair = VolumePair(group, "knee_test1.h5", Path("t.h5"), Path("r.h5"))
        return VolumeScore(pair, slice_ssim, psnr=30.0, nmse=0.01, box_ssim=boxes)

    scores = [score("acc4", (0.8, 0.6), (0.9,)), score("acc8", (math.nan,), ())]
    summary = summarize(scores, "slices", with_boxes=True)
    assert summary["acc8"]["ssim_bbox"] == 0.0 and summary["acc8"]["boxes"] == 0
    assert summary["acc8"]["ssim_full"] == summary["acc8"]["ssim"] == 0.0
    assert summary["total"]["ssim_bbox"] == pytest.approx(0.45)
    assert summary["total"]["ssim_full"] == pytest.approx(0.35)
