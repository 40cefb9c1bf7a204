"""`fastmri_pl.evaluate` on tiny hand-made folders: scores, records, figures, bad files and the CLI."""

import csv
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import rich
from hydra import compose, initialize_config_dir
from rich.live import Live
from scipy import ndimage
from skimage.metrics import structural_similarity

from fastmri_pl import CONFIG_DIR
from fastmri_pl import evaluate as evaluate_cli
from fastmri_pl.errors import DataError
from fastmri_pl.evaluate import evaluate
from tests.helpers.permissions import read_only

SIZE, SLICES = 64, 3
SQUARE = np.ones((3, 3), dtype=bool)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CONF = Path(CONFIG_DIR)


def head_volume(seed: int) -> np.ndarray:
    """(SLICES, SIZE, SIZE) float32 images ~1e-4 like SNU labels: textured disc, near-zero background."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE - 0.5
    slices = []
    for k in range(SLICES):
        radius = 0.3 + 0.03 * k
        head = ((x**2 + y**2) < radius**2) * (0.6 + 0.4 * np.cos(6 * x + seed) * np.sin(5 * y))
        slices.append(head * 2e-4 + rng.uniform(0, 2e-5, (SIZE, SIZE)))
    return np.stack(slices).astype(np.float32)


def degraded(volume: np.ndarray, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (volume + noise * volume.max() * rng.standard_normal(volume.shape)).astype(np.float32)


def write_h5(path: Path, datasets: dict[str, np.ndarray], attrs: dict[str, float] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as file:
        for key, value in datasets.items():
            file.create_dataset(key, data=value)
        file.attrs.update(attrs or {})
    return path


def snu_folders(tmp_path: Path, noise: dict[str, float]) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """root/leaderboard/<acc>/image/brain_test{1,2}.h5 and out/<acc>/brain_test{1,2}.h5 (recon + noise)."""
    root, out, labels = tmp_path / "root", tmp_path / "out", {}
    for a, (acc, level) in enumerate(noise.items()):
        for n in (1, 2):
            label = head_volume(seed=10 * a + n)
            name = f"brain_test{n}.h5"
            datasets = {"image_label": label, "image_input": degraded(label, 0.2, seed=n)}
            write_h5(root / "leaderboard" / acc / "image" / name, datasets, {"max": float(label.max())})
            write_h5(out / acc / name, {"reconstruction": degraded(label, level, seed=100 + n)})
            labels[f"{acc}/{name}"] = label
    return root, out, labels


def leaderboard_ssim_by_hand(recon: np.ndarray, target: np.ndarray, maximum: float) -> float:
    """The challenge's recipe with scipy morphology (OpenCV borders) and skimage SSIM, slice by slice."""
    mask = target > 5e-5
    mask = ndimage.binary_erosion(mask, SQUARE, iterations=1, border_value=1)
    mask = ndimage.binary_dilation(mask, SQUARE, iterations=15, border_value=0)
    mask = ndimage.binary_erosion(mask, SQUARE, iterations=14, border_value=1)
    return structural_similarity(
        target * mask,
        recon * mask,
        win_size=7,
        data_range=maximum,
        gaussian_weights=False,
        use_sample_covariance=True,
        K1=0.01,
        K2=0.03,
    )


def test_perfect_reconstruction_scores_one_on_every_acceleration(tmp_path: Path) -> None:
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.0, "acc8": 0.0})
    summary = evaluate(root, out, layout="snu", num_worst=0)
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["aggregation", "acc4", "acc8", "total"]
    assert metrics.pop("aggregation") == "slices"
    for row in metrics.values():
        assert set(row) == {"ssim", "psnr", "nmse", "slices"}
        assert row["ssim"] == pytest.approx(1.0, abs=1e-6) and row["nmse"] == 0.0
        assert row["psnr"] is None  # infinite PSNR is written as JSON null
    assert [metrics[acc]["slices"] for acc in metrics] == [2 * SLICES, 2 * SLICES, 4 * SLICES]
    assert summary["total"]["psnr"] == float("inf")


def test_scores_match_the_challenge_recipe_and_records_agree(tmp_path: Path) -> None:
    root, out, labels = snu_folders(tmp_path, {"acc5": 0.05, "acc9": 0.15})
    evaluate(root, out, layout="snu", num_worst=2)
    metrics = json.loads((out / "metrics.json").read_text())
    for acc in ("acc5", "acc9"):
        per_slice = []
        for key, label in labels.items():
            if key.startswith(acc):
                with h5py.File(out / key) as file:
                    recon = file["reconstruction"][()]
                per_slice += [
                    leaderboard_ssim_by_hand(recon[k], label[k], label.max()) for k in range(SLICES)
                ]
        assert metrics[acc]["ssim"] == pytest.approx(np.mean(per_slice), abs=1e-5)
    assert metrics["acc5"]["ssim"] > metrics["acc9"]["ssim"]
    for metric in ("ssim", "psnr", "nmse"):
        expected = (metrics["acc5"][metric] + metrics["acc9"][metric]) / 2
        assert metrics["total"][metric] == pytest.approx(expected)

    with open(out / "metrics_per_volume.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert [(r["acc"], r["file"]) for r in rows] == [
        (acc, f"brain_test{n}.h5") for acc in ("acc5", "acc9") for n in (1, 2)
    ]
    assert all(int(r["slices"]) == SLICES for r in rows)
    acc5_ssim = np.mean([float(r["ssim"]) for r in rows if r["acc"] == "acc5"])  # equal volume sizes
    assert acc5_ssim == pytest.approx(metrics["acc5"]["ssim"], abs=1e-9)
    acc9_psnr = np.mean([float(r["psnr"]) for r in rows if r["acc"] == "acc9"])
    assert acc9_psnr == pytest.approx(metrics["acc9"]["psnr"], abs=1e-9)

    for figure in ("ssim_per_slice.png", "worst_acc5.png", "worst_acc9.png"):
        assert (out / "figures" / figure).read_bytes()[:8] == PNG_MAGIC
    assert not list(out.glob(".*.tmp"))


def test_fastmri_layout_uses_plain_ssim_with_the_volume_max(tmp_path: Path) -> None:
    root, out = tmp_path / "root", tmp_path / "out"
    expected = []
    for n in (1, 2):
        target = head_volume(seed=n)
        recon = degraded(target, 0.1, seed=n)
        write_h5(root / "val" / f"file{n}.h5", {"reconstruction_rss": target}, {"max": 123.0})
        write_h5(out / f"file{n}.h5", {"reconstruction": recon})
        expected += [
            structural_similarity(
                target[k],
                recon[k],
                win_size=7,
                data_range=float(target.max()),
                gaussian_weights=False,
                use_sample_covariance=True,
            )
            for k in range(SLICES)
        ]
    summary = evaluate(root, out, layout="fastmri", split="val", num_worst=1)
    assert list(summary) == ["val", "total"]
    assert summary["val"]["ssim"] == pytest.approx(np.mean(expected), abs=1e-5)
    assert (out / "figures" / "worst_val.png").is_file()


def uneven_volumes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{name: (target, recon)}: a badly reconstructed 2-slice volume and a well reconstructed 12-slice one."""
    short = head_volume(seed=1)[:2]
    long = np.concatenate([head_volume(seed=s) for s in (2, 3, 4, 5)])
    return {
        "file_short.h5": (short, degraded(short, 0.8, seed=1)),
        "file_long.h5": (long, degraded(long, 0.02, seed=2)),
    }


@pytest.mark.parametrize("layout", ["fastmri", "snu"])
def test_ssim_is_averaged_over_volumes_for_fastmri_and_over_slices_for_snu(
    tmp_path: Path, layout: str
) -> None:
    """fastMRI's evaluate.py averages each volume's slice mean over volumes; the SNU leaderboard averages
    every slice. With 2- and 12-slice volumes of different quality the two means are far apart."""
    root, out = tmp_path / "root", tmp_path / "out"
    per_volume = []
    for name, (target, recon) in uneven_volumes().items():
        maximum = float(target.max())
        if layout == "fastmri":
            write_h5(root / "val" / name, {"reconstruction_rss": target})
            write_h5(out / name, {"reconstruction": recon})
            per_volume.append(
                [
                    structural_similarity(
                        target[k], recon[k], win_size=7, data_range=maximum, use_sample_covariance=True
                    )
                    for k in range(len(target))
                ]
            )
        else:
            write_h5(
                root / "leaderboard" / "acc4" / "image" / name, {"image_label": target}, {"max": maximum}
            )
            write_h5(out / "acc4" / name, {"reconstruction": recon})
            per_volume.append(
                [leaderboard_ssim_by_hand(recon[k], target[k], maximum) for k in range(len(target))]
            )
    over_volumes = np.mean([np.mean(values) for values in per_volume])
    over_slices = np.mean([value for values in per_volume for value in values])
    assert over_slices - over_volumes > 0.2  # the case is a real test of the rule
    group = "val" if layout == "fastmri" else "acc4"
    summary = evaluate(
        root, out, layout=layout, split="val" if layout == "fastmri" else "leaderboard", num_worst=0
    )
    metrics = json.loads((out / "metrics.json").read_text())
    expected, name = (over_volumes, "volumes") if layout == "fastmri" else (over_slices, "slices")
    assert metrics["aggregation"] == name
    assert summary[group]["ssim"] == pytest.approx(expected, abs=1e-5)
    assert metrics[group]["ssim"] == pytest.approx(expected, abs=1e-5)
    assert metrics[group]["slices"] == 14


def break_first_recon(out: Path, how: str) -> Path:
    path = out / "acc4" / "brain_test1.h5"
    if how == "missing file":
        path.unlink()
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:-100])
    elif how == "folder":
        path.unlink()
        path.mkdir()
    elif how == "dangling link":
        path.unlink()
        path.symlink_to(out / "elsewhere.h5")
    elif how == "missing key":
        write_h5(path, {"recon": np.zeros((SLICES, SIZE, SIZE), np.float32)})
    elif how == "nan pixel":
        recon = np.ones((SLICES, SIZE, SIZE), np.float32)
        recon[1, 7, 7] = np.nan
        write_h5(path, {"reconstruction": recon})
    elif how == "wrong slices":
        write_h5(path, {"reconstruction": np.zeros((SLICES + 1, SIZE, SIZE), np.float32)})
    else:
        write_h5(path, {"reconstruction": np.zeros((SLICES, SIZE, SIZE - 2), np.float32)})
    return path


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing file", "missing reconstruction"),
        ("missing key", "no 'reconstruction' dataset"),
        ("wrong slices", r"shape \(4, 64, 64\)"),
        ("wrong size", r"shape \(3, 64, 62\)"),
        ("nan pixel", "'reconstruction' slice 1 contains NaN or Inf"),
        ("truncated", r"is truncated: \d+ of its \d+ bytes"),
        ("folder", "is a folder, not an HDF5 file"),
        ("dangling link", "is a link to .*elsewhere.h5, which does not exist"),
    ],
)
def test_bad_reconstruction_is_refused_naming_the_file(tmp_path: Path, how: str, message: str) -> None:
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.1})
    bad = break_first_recon(out, how)
    with pytest.raises(DataError, match=message) as error:
        evaluate(root, out, layout="snu")
    assert error.value.path == str(bad)
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    ("maximum", "message"),
    [
        (None, "missing attribute 'max'"),
        (0.0, "attribute 'max' is 0.0, expected > 0"),
        (np.nan, "attribute 'max' is nan"),
        (np.inf, "attribute 'max' is inf"),
    ],
)
def test_target_without_a_usable_max_is_refused(tmp_path: Path, maximum: float | None, message: str) -> None:
    """The SSIM data range is checked as training data's is (`h5checks.require_attr`)."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.1})
    bad = root / "leaderboard" / "acc4" / "image" / "brain_test2.h5"
    with h5py.File(bad, "a") as f:
        if maximum is None:
            del f.attrs["max"]
        else:
            f.attrs["max"] = maximum
    with pytest.raises(DataError, match=message) as error:
        evaluate(root, out, layout="snu")
    assert error.value.path == str(bad)
    assert not (out / "metrics.json").exists()


def test_truncated_target_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_main
) -> None:
    """A leaderboard image file cut short in a copy: one line naming it, exit 2, nothing written."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.1})
    target = root / "leaderboard" / "acc4" / "image" / "brain_test2.h5"
    size = target.stat().st_size
    target.write_bytes(target.read_bytes()[:2000])
    monkeypatch.chdir(tmp_path)
    code, stderr = run_main(evaluate_cli, *cli_arguments(tmp_path, root, out, "logger=none"))
    assert code == 2
    expected = f"error: {target}: is truncated: 2000 of its {size} bytes (copy or download it again)"
    assert stderr.strip().splitlines() == [expected]
    assert not (out / "metrics.json").exists()


def test_folder_without_targets_is_refused(tmp_path: Path) -> None:
    (tmp_path / "root" / "leaderboard" / "acc4").mkdir(parents=True)
    with pytest.raises(DataError, match="no <acc>/image/") as error:
        evaluate(tmp_path / "root", tmp_path / "out", layout="snu")
    assert error.value.path == str(tmp_path / "root" / "leaderboard")


def cli_arguments(tmp_path: Path, root: Path, out: Path, *overrides: str) -> list[str]:
    """The README's command: `data=snu data.root=ROOT recon_dir=OUT`, with the run folder in tmp_path."""
    return [
        "data=snu",
        f"data.root={root}",
        f"recon_dir={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
        *overrides,
    ]


class RecordingLogger:
    """Stands in for a W&B logger: records what `log_results` hands it."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.images: list[tuple[str, list[str]]] = []
        self.finalized = ""

    def log_metrics(self, metrics: dict[str, float]) -> None:
        self.metrics.update(metrics)

    def log_image(self, key: str, images: list[str]) -> None:
        self.images.append((key, images))

    def save(self) -> None:
        pass

    def finalize(self, status: str) -> None:
        self.finalized = status


def test_loggers_get_finite_metrics_and_the_pictures(tmp_path: Path) -> None:
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.0})
    logger = RecordingLogger()
    evaluate(root, out, layout="snu", num_worst=1, loggers=[logger])
    assert logger.metrics["eval/acc4/ssim"] == pytest.approx(1.0, abs=1e-6)
    assert "eval/acc4/psnr" not in logger.metrics  # infinite for a perfect reconstruction
    assert logger.metrics["eval/total/slices"] == 2 * SLICES
    assert sorted(key for key, _ in logger.images) == ["eval/ssim_per_slice", "eval/worst_acc4"]
    assert all(Path(paths[0]).is_file() for _, paths in logger.images)
    assert logger.finalized == "success"


def test_composed_config_writes_metrics_and_logs_to_csv(tmp_path: Path, capsys) -> None:
    """The CLI's config and `run` in process; `test_cli_prints_a_bad_file_as_one_line_and_exits_2` covers
    `main`."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.1})
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        overrides = cli_arguments(tmp_path, root, out, "logger=csv", "num_worst=1")
        cfg = compose("evaluate", [*overrides, f"paths.output_dir={tmp_path / 'run'}"])
    assert cfg.layout == "snu" and cfg.split == "leaderboard"
    evaluate_cli.run(cfg)
    printed = capsys.readouterr().out
    assert "acc4" in printed and "total" in printed
    assert json.loads((out / "metrics.json").read_text())["acc4"]["slices"] == 2 * SLICES
    logged = (tmp_path / "run" / "csv" / "metrics.csv").read_text()
    assert "eval/acc4/ssim" in logged and "eval/total/psnr" in logged


def test_cli_prints_a_bad_file_as_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_main
) -> None:
    """A NaN reconstruction is refused by file and slice (it used to score `null` with exit 0)."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.1})
    bad = break_first_recon(out, "nan pixel")
    monkeypatch.chdir(tmp_path)
    code, stderr = run_main(evaluate_cli, *cli_arguments(tmp_path, root, out, "logger=none"))
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {bad}:") and "Traceback" not in stderr
    console = rich.get_console()  # the failed run left no progress display live for the next one to trip on
    assert console.set_live(Live(console=console))
    console.clear_live()
    assert "slice 1 contains NaN" in lines[0] and not (out / "metrics.json").exists()


def test_full_disk_while_drawing_is_one_warning_after_the_scores(
    tmp_path: Path, full_disk, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    """metrics.json and the CSV land, the disk fills at the first PNG: the table is printed, the records
    are whole, the figure is one warning line and no PNG (whole or half) is left under any name."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.05, "acc8": 0.1})
    writes = full_disk(after=2)
    summary = evaluate(root, out, layout="snu", num_worst=2, progress=False)
    assert [Path(name).name.split(".")[1] for name in writes] == [
        "metrics",
        "metrics_per_volume",
        "ssim_per_slice",
    ]
    assert json.loads((out / "metrics.json").read_text())["total"]["ssim"] == pytest.approx(
        summary["total"]["ssim"]
    )
    assert "acc8" in capsys.readouterr().out
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    figure = out / "figures" / "ssim_per_slice.png"
    assert warnings == [
        f"warning: figures not written: {figure}: cannot be written (No space left on device); files written "
        "before are intact; the scores above are complete"
    ]
    assert list((out / "figures").iterdir()) == []


def test_read_only_figures_folder_keeps_the_scores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.05})
    (out / "figures").mkdir()
    with read_only(out / "figures", monkeypatch):
        evaluate(root, out, layout="snu", num_worst=1, progress=False)
    assert (out / "metrics.json").is_file() and (out / "metrics_per_volume.csv").is_file()
    assert list((out / "figures").iterdir()) == []
    (warning,) = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warning.startswith(f"warning: figures not written: {out / 'figures' / 'ssim_per_slice.png'}: ")


def test_read_only_recon_folder_shows_the_scores_then_one_error_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Scores computed and printed; metrics.json cannot be saved there: one `error:` line after the table,
    exit 2, nothing left in the folder."""
    root, out, _ = snu_folders(tmp_path, {"acc4": 0.05})
    before = sorted(out.rglob("*"))
    monkeypatch.chdir(tmp_path)
    arguments = cli_arguments(tmp_path, root, out, "logger=none", "progress=false")
    monkeypatch.setattr(sys, "argv", [evaluate_cli.__file__, *arguments])
    with read_only(out, monkeypatch), pytest.raises(SystemExit) as exit_info:
        evaluate_cli.main()
    captured = capsys.readouterr()
    assert exit_info.value.code == 2
    assert "acc4" in captured.out and "total" in captured.out  # the table
    (line,) = captured.err.strip().splitlines()
    assert line.startswith(f"error: {out / 'metrics.json'}: cannot be written (")
    assert sorted(out.rglob("*")) == before
