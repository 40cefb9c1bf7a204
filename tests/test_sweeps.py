"""Multirun sweeps and the Optuna search finish and report each job's best validation SSIM; SLURM composes."""

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR

CONF = Path(CONFIG_DIR)


def tiny_train(data_root: Path, sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    """`python -m fastmri_pl.train` on the tiny synthetic folder: one short epoch, CSV logs, no progress."""
    flags = [o for o in overrides if o.startswith("-")]  # Hydra's flags (`-m`) before the overrides
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        *flags,
        "hardware=cpu",
        "logger=csv",
        f"data.root={data_root}",
        "data.synthetic=null",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "validate_best=false",
        "~callbacks.progress_bar",
        f"hydra.sweep.dir={sweep_dir}",
        *(o for o in overrides if not o.startswith("-")),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_multirun_writes_summary_of_each_jobs_best_ssim(tmp_path: Path, data_snu_root: Path) -> None:
    sweep = tmp_path / "sweep"
    result = tiny_train(data_snu_root, sweep, "-m", "model=varnet_small,zero_filled")
    summary = json.loads((sweep / "summary.json").read_text())
    jobs = {row["varied"]: row for row in summary["jobs"]}
    assert set(jobs) == {"model=varnet_small", "model=zero_filled"}
    for row in jobs.values():
        assert row["status"] == "completed" and 0 < row["best_val_ssim"] < 1
        assert Path(row["folder"]).parent == sweep and "hardware=cpu" in row["overrides"]
    values = [row["best_val_ssim"] for row in summary["jobs"]]
    assert values == sorted(values, reverse=True) and summary["best"] == summary["jobs"][0]
    csv_lines = (sweep / "summary.csv").read_text().splitlines()
    assert csv_lines[0] == "job,status,best_val_ssim,varied,overrides,folder" and len(csv_lines) == 3
    assert "multirun summary (2 jobs)" in result.stdout and "model=zero_filled" in result.stdout


def test_optuna_search_two_trials_persistent_study(tmp_path: Path, data_snu_root: Path) -> None:
    sweep, storage = tmp_path / "search", f"sqlite:///{tmp_path / 'optuna.db'}"
    tiny_train(
        data_snu_root,
        sweep,
        "hparams_search=varnet_optuna",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=ci",
        "hydra.sweeper.params={model.optimizer.lr: 'interval(1e-4, 1e-2)',"
        " model.net.num_cascades: 'choice(1)'}",
    )
    rows = json.loads((sweep / "summary.json").read_text())["jobs"]
    assert len(rows) == 2 and all(0 < row["best_val_ssim"] < 1 for row in rows)
    assert all("model.optimizer.lr=" in row["overrides"] for row in rows)
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(row["best_val_ssim"] for row in rows))
    study = optuna.load_study(study_name="ci", storage=storage)
    assert sorted(t.value for t in study.trials) == pytest.approx(sorted(r["best_val_ssim"] for r in rows))


def test_slurm_profile_composes_launcher_from_config() -> None:
    overrides = ["hardware=slurm", "hydra.launcher.partition=big", "hydra.launcher.gpus_per_node=4"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.tasks_per_node) == ("big", 4, 4)
    assert launcher.timeout_min == 720 and launcher.nodes == 1
    HydraConfig.instance().set_config(cfg)
    hardware = OmegaConf.to_container(cfg.hardware, resolve=True)
    assert (hardware["devices"], hardware["num_nodes"], hardware["accelerator"]) == (4, 1, "gpu")
    assert hardware["strategy"]["_target_"] == "fastmri_pl.sweep.ddp.HydraDDPStrategy"


def test_slurm_launcher_alone_keeps_the_chosen_profile() -> None:
    overrides = ["hardware=gtx1080", "hydra/launcher=slurm", "hydra.launcher.timeout_min=60"]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=overrides, return_hydra_config=True)
    assert cfg.hydra.launcher.timeout_min == 60 and cfg.hydra.launcher.partition == "gpu"
    assert cfg.hardware.precision == "16-mixed" and cfg.hardware.memory_gb == 8
