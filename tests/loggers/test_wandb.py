"""W&B offline: a real run folder with the logged keys, image panels and the per-volume table, read back; a
resume continues the same W&B run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread

from fastmri_pl.loggers.runs import RUN_ID_FILE
from tests.helpers.wandb_files import records

RUN_OVERRIDES = [
    "model=varnet_small",
    "hardware=cpu",
    "logger=wandb",
    "logger.wandb.tags=[ci]",
    "data.synthetic=null",
    "model.net.num_cascades=1",
    "+trainer.limit_train_batches=2",
    "trainer.log_every_n_steps=1",
    "callbacks.recon_images.every_n_epochs=1",
    "~callbacks.progress_bar",
]


def train_cli(output: Path, data_root: Path, *overrides: str) -> str:
    """`python -m fastmri_pl.train` into the run folder `output`, W&B offline; returns its stdout."""
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        *RUN_OVERRIDES,
        f"data.root={data_root}",
        f"hydra.run.dir={output}",
        *overrides,
    ]
    environment = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def offline_runs(output: Path) -> list[Path]:
    """The run folder's W&B offline runs, oldest first (their names start with the start time)."""
    return sorted((output / "wandb").glob("offline-run-*"))


@pytest.fixture(scope="module")
def wandb_run(tmp_path_factory: pytest.TempPathFactory, data_snu_root: Path) -> tuple[Path, str]:
    output = tmp_path_factory.mktemp("wandb_run") / "run"
    return output, train_cli(output, data_snu_root, "trainer.max_epochs=1", "validate_best=false")


@pytest.mark.slow
def test_startup_line_names_model_data_profile_precision_levers_folder(wandb_run: tuple[Path, str]) -> None:
    output, stdout = wandb_run
    line = next(line for line in stdout.splitlines() if line.startswith("model="))
    for part in ("model=varnet_small", "profile=cpu", "precision=32-true", "checkpoint=none", str(output)):
        assert part in line, (part, line)


def test_offline_run_holds_metrics_images_and_table(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    run_dir = offline_runs(output)[0]
    keys = {"/".join(i.nested_key) or i.key for r in records(run_dir, "history") for i in r.history.item}
    config = {i.key: json.loads(i.value_json) for r in records(run_dir, "config") for i in r.config.update}
    (run,) = records(run_dir, "run")
    expected = ["train/loss", "val/ssim", "val/ssim_acc4", "val/ssim_acc8", "val_zf/ssim", "val/psnr_acc4"]
    expected += ["val/nmse", "lr-Adam", "throughput/train_slices_per_s", "model/parameters"]
    assert set(expected) <= keys, set(expected) - keys
    assert {"val/volumes_table/nrows"} <= keys
    assert {"model", "hardware", "data", "trainer"} <= set(config)  # the resolved Hydra config
    assert list(run.run.tags) == ["ci"]
    assert list((run_dir / "files" / "media" / "table").rglob("*.table.json"))


def test_images_are_four_native_resolution_panels_of_the_central_slice(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    run_dir = offline_runs(output)[0]
    items = {
        "/".join(i.nested_key) or i.key: i.value_json
        for r in records(run_dir, "history")
        for i in r.history.item
    }
    for acceleration in ("acc4", "acc8"):
        folder = run_dir / "files" / "media" / "images" / "images" / f"val_{acceleration}"
        for panel in ("zero_filled", "reconstruction", "target", "error"):
            key = f"images/val_{acceleration}/{panel}"
            assert (json.loads(items[f"{key}/width"]), json.loads(items[f"{key}/height"])) == (16, 16)
            (caption,) = json.loads(items[f"{key}/captions"])
            assert caption.endswith("slice 1")  # the middle of the volume's 3 slices, not slice 0
            (png,) = folder.glob(f"{panel}_*.png")
            assert imread(png).shape[:2] == (16, 16)  # the data's own pixels, no figure around them
        target = imread(next(folder.glob("target_*.png")))
        assert (
            target.max() > 0.5 and target.min() < 0.05
        )  # the fixed 0 .. volume max scale: air is near black


def test_run_config_holds_hydra_choices_and_overrides_not_flat_hparams(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    run_dir = offline_runs(output)[0]
    config = {i.key: json.loads(i.value_json) for r in records(run_dir, "config") for i in r.config.update}
    assert config["choices"]["model"] == "varnet_small" and config["choices"]["hardware"] == "cpu"
    assert not any(key.startswith("hydra/") for key in config["choices"])
    assert "model.net.num_cascades=1" in config["overrides"]
    assert "loss" not in config  # save_hyperparameters' flat copy of the module's arguments stays out


def test_panels_are_saved_as_png_in_the_run_folder(wandb_run: tuple[Path, str]) -> None:
    output, _ = wandb_run
    names = sorted(p.name for p in (output / "images").glob("*.png"))
    assert names == ["val_acc4_epoch000.png", "val_acc8_epoch000.png"]


@pytest.fixture(scope="module")
def wandb_resumed(wandb_run: tuple[Path, str], data_snu_root: Path) -> Path:
    """The first run resumed for a second epoch, then its best checkpoint validated (`validate_best=true`)."""
    output, _ = wandb_run
    train_cli(output, data_snu_root, "trainer.max_epochs=2", "ckpt_path=last")
    return output


@pytest.mark.slow
def test_resume_continues_the_same_wandb_run(wandb_resumed: Path) -> None:
    output = wandb_resumed
    first, resumed = offline_runs(output)  # offline, each start writes its own folder, named by the run id
    run_id = (output / RUN_ID_FILE).read_text().strip()
    assert first.name.endswith(f"-{run_id}") and resumed.name.endswith(f"-{run_id}")
    (run,) = records(resumed, "run")
    assert run.run.run_id == run_id
    assert min(global_steps(resumed)) >= max(global_steps(first)) > 0  # it goes on where the first stopped


def test_best_checkpoint_validation_is_logged_under_best_keys(wandb_resumed: Path) -> None:
    """The resumed run validated its best checkpoint at the end: under `best/...`, so the `val/*` curves hold
    only the epochs of fitting."""
    resumed = offline_runs(wandb_resumed)[-1]
    rows = [{"/".join(i.nested_key) or i.key for i in r.history.item} for r in records(resumed, "history")]
    assert sum("val/ssim" in row for row in rows) == 1  # the one epoch this run fitted
    assert sum("best/val/ssim" in row for row in rows) == 1 and any("best/val_zf/ssim" in row for row in rows)
    assert any("best/images/val_acc4/reconstruction/filenames" in row for row in rows)


def global_steps(run_dir: Path) -> list[int]:
    """`trainer/global_step` of every history row that logged the training loss."""
    steps = []
    for record in records(run_dir, "history"):
        row = {"/".join(i.nested_key) or i.key: i.value_json for i in record.history.item}
        if "train/loss" in row:
            steps.append(int(json.loads(row["trainer/global_step"])))
    return steps
