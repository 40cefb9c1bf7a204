"""Multirun sweeps and the Optuna search finish and report each job's best validation SSIM; SLURM composes."""

import json
import os
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
from fastmri_pl.loggers.runs import RUN_ID_FILE
from fastmri_pl.runs.paths import ROOT_VARIABLE
from tests.helpers.wandb_files import records, run_record

CONF = Path(CONFIG_DIR)


def tiny_train(root: Path, data: Path, *overrides: str, returncode: int = 0) -> subprocess.CompletedProcess:
    """`python -m fastmri_pl.train` on the tiny synthetic folder: one short epoch, CSV logs, no progress.
    The project root (`FASTMRI_PL_ROOT`) is `root`: sweeps land in `root/outputs/train/multiruns/<time>`."""
    flags = [o for o in overrides if o.startswith("-")]  # Hydra's flags (`-m`) before the overrides
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        *flags,
        "hardware=cpu",
        "logger=csv",
        f"data.root={data}",
        "data.synthetic=null",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "validate_best=false",
        "~callbacks.progress_bar",
        *(o for o in overrides if not o.startswith("-")),
    ]
    environment = {**os.environ, ROOT_VARIABLE: str(root), "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=400, env=environment)
    assert result.returncode == returncode, result.stderr[-3000:]
    return result


def sweep_folder(root: Path) -> Path:
    (folder,) = (root / "outputs" / "train" / "multiruns").iterdir()
    return folder


@pytest.mark.slow
def test_multirun_writes_summary_of_each_jobs_best_ssim(tmp_path: Path, data_snu_root: Path) -> None:
    result = tiny_train(tmp_path, data_snu_root, "-m", "model=varnet_small,zero_filled")
    sweep = sweep_folder(tmp_path)
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


@pytest.mark.slow
def test_failed_job_keeps_summary_and_next_job_gets_its_own_wandb_run(tmp_path: Path, data_snu_root: Path):
    """Job 0 fails inside `fit` with its W&B run live (a negative learning rate); job 1 must still run, in its
    own W&B run and folder, and the summary must exist although Hydra skips `on_multirun_end`."""
    sweep_args = ["-m", "model=varnet_small", "model.net.num_cascades=1", "logger=wandb"]
    result = tiny_train(tmp_path, data_snu_root, *sweep_args, "model.optimizer.lr=-1,0.001", returncode=1)
    sweep = sweep_folder(tmp_path)
    rows = {row["job"]: row for row in json.loads((sweep / "summary.json").read_text())["jobs"]}
    assert rows[0]["status"].startswith("failed: ValueError: Invalid learning rate") and rows[0]["varied"]
    assert rows[0]["best_val_ssim"] is None and rows[0]["varied"] == "model.optimizer.lr=-1"
    assert rows[1]["status"] == "completed" and 0 < rows[1]["best_val_ssim"] < 1
    assert len((sweep / "summary.csv").read_text().splitlines()) == 3
    assert "multirun summary" not in result.stdout  # no on_multirun_end: the files came from on_job_end
    runs = {job: list((sweep / str(job) / "wandb").glob("offline-run-*")) for job in (0, 1)}
    assert all(len(found) == 1 for found in runs.values()), runs
    run_ids = {job: found[0].name.rsplit("-", 1)[-1] for job, found in runs.items()}
    assert run_ids[0] != run_ids[1]
    assert (sweep / "0" / RUN_ID_FILE).read_text().strip() == run_ids[0]
    exits = {job: run_record(found[0], "exit").exit.exit_code for job, found in runs.items()}
    assert exits == {0: 1, 1: 0}  # the failed job's run was finished as failed, not left open for job 1
    history = {
        "/".join(i.nested_key) or i.key for r in records(runs[1][0], "history") for i in r.history.item
    }
    assert "val/ssim" in history


@pytest.mark.slow
def test_optuna_search_records_failed_trial_and_goes_on(tmp_path: Path, data_snu_root: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    tiny_train(
        tmp_path,
        data_snu_root,
        "hparams_search=varnet_optuna",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.sampler.seed=1240",  # this seed draws lr -1 (fails in fit), then 0.001
        f"hydra.sweeper.storage={storage}",
        "hydra.sweeper.study_name=ci",
        "hydra.sweeper.params={model.optimizer.lr: 'choice(-1, 0.001)', model.net.num_cascades: 'choice(1)'}",
    )
    sweep = sweep_folder(tmp_path)
    rows = json.loads((sweep / "summary.json").read_text())["jobs"]
    completed = [row for row in rows if row["status"] == "completed"]
    failed = [row for row in rows if row["status"].startswith("failed")]
    assert len(rows) == 2 and completed and failed, rows
    assert failed[0]["job"] == 0 and completed[0]["job"] == 1  # the trial after the failure ran
    assert all(0 < row["best_val_ssim"] < 1 for row in completed)
    assert all("model.optimizer.lr=-1" in row["overrides"] for row in failed)
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0", "1"]  # one folder per trial
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(row["best_val_ssim"] for row in completed))
    study = optuna.load_study(study_name="ci", storage=storage)
    states = sorted(t.state.name for t in study.trials)
    assert states == sorted(["COMPLETE"] * len(completed) + ["FAIL"] * len(failed))
    values = [t.value for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(values) == pytest.approx(sorted(row["best_val_ssim"] for row in completed))


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
