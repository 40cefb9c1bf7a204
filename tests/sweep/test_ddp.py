"""DDP on CPU (2 processes, gloo): metrics equal a single process; multiruns of DDP jobs stay one folder; a
failed job leaves no ranks and no rendezvous variables behind."""

import csv
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.plugins.environments import LightningEnvironment

from fastmri_pl import train as train_module
from fastmri_pl.data.synthetic import SyntheticConfig, generate
from fastmri_pl.sweep.ddp import HydraJobLauncher, config_flags
from tests.helpers.steps import REPO, run_and_signal

# lr 0: the weights stay at their seeded start, so a 2-rank and a 1-rank run must validate to the same scores
DDP_CPU = [
    "model=varnet_small",
    "model.net.num_cascades=1",
    "model.optimizer.lr=0",
    "hardware=ddp",
    "hardware.accelerator=cpu",
    "hardware.precision=32-true",
    "hardware.accumulate_grad_batches=1",
    "hardware.num_workers=0",
    "hardware.levers.checkpoint=none",
    "hardware.levers.offload=false",
    "logger=csv",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "validate_best=false",
    "~callbacks.progress_bar",
]


def train(*overrides: str, multirun: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fastmri_pl.train", *(["-m"] if multirun else []), *DDP_CPU, *overrides]
    result = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def validation_row(job_dir: Path) -> dict[str, float]:
    rows = list(csv.DictReader((job_dir / "csv" / "metrics.csv").open()))
    row = next(r for r in rows if r.get("val/ssim"))
    return {key: float(value) for key, value in row.items() if key.startswith("val") and value}


@pytest.fixture(scope="module")
def data_odd_root(tmp_path_factory: pytest.TempPathFactory, data_snu_config: SyntheticConfig) -> Path:
    """3 validation volumes of 3 slices: 9 slices do not split evenly over 2 ranks, so Lightning's sampler
    repeats one on the second rank."""
    root = tmp_path_factory.mktemp("data_odd")
    generate(root, dataclasses.replace(data_snu_config, num_val=3), progress=False)
    return root


@pytest.fixture(scope="module")
def ddp_multirun(tmp_path_factory: pytest.TempPathFactory, data_odd_root: Path) -> tuple[Path, str]:
    """Jobs on 2, 1 and 2 ranks in one process: jobs 1 and 2 must not find job 0's rendezvous."""
    logs = tmp_path_factory.mktemp("ddp")
    data = [f"data.root={data_odd_root}", "data.synthetic=null"]
    result = train("hardware.devices=2,1,2", *data, f"paths.log_dir={logs}", multirun=True)
    return logs, result.stderr


@pytest.mark.slow
def test_multirun_of_ddp_jobs_makes_one_multirun_folder(ddp_multirun: tuple[Path, str]) -> None:
    logs = ddp_multirun[0]
    (multirun,) = (logs / "train" / "multiruns").iterdir()
    assert not (logs / "train" / "runs").exists()
    assert sorted(p.name for p in multirun.iterdir() if p.is_dir()) == ["0", "1", "2"]
    rows = json.loads((multirun / "summary.json").read_text())["jobs"]
    assert [r["varied"] for r in sorted(rows, key=lambda r: r["job"])] == [
        "hardware.devices=2",
        "hardware.devices=1",
        "hardware.devices=2",
    ]
    for job, ranks in (("0", 2), ("1", 1), ("2", 2)):  # rank 1 ran its own job in that job's folder only
        assert (multirun / job / "train_ddp_process_1.log").is_file() == (ranks == 2)
        assert not (multirun / job / "2").exists()


def test_two_rank_metrics_equal_single_process(ddp_multirun: tuple[Path, str]) -> None:
    """Each validation slice counts once however the ranks split them, `val/loss` included, and every
    epoch-level value is logged synced (Lightning warns once per unsynced key otherwise)."""
    logs, stderr = ddp_multirun
    (multirun,) = (logs / "train" / "multiruns").iterdir()
    two_ranks, one_rank, again = (validation_row(multirun / job) for job in ("0", "1", "2"))
    assert two_ranks["val/volumes"] == one_rank["val/volumes"] == again["val/volumes"] == 3
    keys = (
        "val/ssim",
        "val/ssim_acc4",
        "val/ssim_acc8",
        "val/ssim_masked",
        "val/psnr",
        "val/nmse",
        "val/loss",
    )
    for key in (*keys, "val_zf/ssim"):
        assert two_ranks[key] == pytest.approx(one_rank[key], rel=1e-6), key
        assert again[key] == pytest.approx(one_rank[key], rel=1e-6), key
    assert "sync_dist" not in stderr


@pytest.mark.slow
def test_single_run_ddp_stays_in_its_run_folder(tmp_path: Path, data_snu_root: Path) -> None:
    run_dir = tmp_path / "outputs" / "single"
    train(
        "hardware.devices=2", f"data.root={data_snu_root}", "data.synthetic=null", f"hydra.run.dir={run_dir}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
    assert (run_dir / "train_ddp_process_1.log").is_file() and (run_dir / "csv" / "metrics.csv").is_file()
    assert validation_row(run_dir)["val/volumes"] == 2


def test_child_command_keeps_config_flags_only() -> None:
    argv = ["-m", "--config-name", "train", "-cp=conf", "model=varnet_small", "--config-dir", "/x"]
    assert config_flags(argv) == ["--config-name", "train", "-cp=conf", "--config-dir", "/x"]


def test_failed_job_stops_its_children_and_restores_rendezvous_variables(monkeypatch: pytest.MonkeyPatch):
    """After a failed job the launcher kills its ranks (they would wait in a collective) and puts the
    variables back as they were before the job, so the next job of the multirun starts its own ranks."""
    launcher = HydraJobLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    launcher.saved_environment = {"LOCAL_RANK": None, "MASTER_PORT": "1234"}
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_PORT", "29500")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    launcher.procs = [child]
    launcher.finish(failed=True)
    assert child.poll() is not None and launcher.procs == []
    assert "LOCAL_RANK" not in os.environ and os.environ["MASTER_PORT"] == "1234"


def test_a_child_that_failed_fails_the_job_after_restoring_the_variables(monkeypatch: pytest.MonkeyPatch):
    launcher = HydraJobLauncher(LightningEnvironment(), num_processes=2, num_nodes=1)
    launcher.saved_environment = {"WORLD_SIZE": None}
    monkeypatch.setenv("WORLD_SIZE", "2")
    launcher.procs = [subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])]
    with pytest.raises(RuntimeError, match=r"\[7\]"):
        launcher.finish()
    assert "WORLD_SIZE" not in os.environ


def test_train_finishes_ddp_and_logger_runs_when_fit_fails(
    compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    """`train`'s `finally`: a job that raises inside `fit` still joins its ranks and ends its W&B run, both
    told it failed."""
    calls = []
    monkeypatch.setattr(train_module, "finish_ddp_job", lambda trainer, failed: calls.append(("ddp", failed)))
    monkeypatch.setattr(train_module, "finish_runs", lambda failed: calls.append(("runs", failed)))
    overrides = [*train_tiny_overrides, "model=varnet_small", "model.optimizer.lr=-1"]
    with pytest.raises(ValueError, match="Invalid learning rate"):
        train_module.train(compose_config(overrides, output_dir=tmp_path))
    assert calls == [("ddp", True), ("runs", True)]


@pytest.mark.slow
def test_sigterm_to_rank_zero_keeps_the_work_and_the_resume_ends_on_the_uninterrupted_weights(
    tmp_path: Path, data_snu_root: Path
) -> None:
    """Two ranks; SIGTERM to rank 0 (Lightning passes it on to rank 1): rank 0 writes last.ckpt at the last
    step without waiting for rank 1, both stop, exit 143; the resume command ends where an uninterrupted
    two-rank run ends, bit for bit. Unlike the runs above, the weights move (lr > 0) for two epochs."""
    moving = ("model.optimizer.lr", "trainer.max_epochs", "+trainer.limit_train_batches")
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        *[o for o in DDP_CPU if not o.startswith(moving)],
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        "hardware.devices=2",
        "trainer.max_epochs=2",
        "print_config=false",
        "+callbacks.steps._target_=tests.helpers.steps.PrintSteps",
    ]
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    result = subprocess.run(
        [*command, f"hydra.run.dir={straight}"], cwd=REPO, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    arguments = [*command, "+callbacks.steps.delay_s=0.5", f"hydra.run.dir={stopped}"]
    code, output = run_and_signal(arguments, signal.SIGTERM, after="trained epoch 1 batch 0")
    assert code == 143, output[-3000:]
    lines = [line for line in output.splitlines() if line.startswith("train stopped by SIGTERM: kept ")]
    assert lines, output[-3000:]
    resume = shlex.split(lines[0].split("; resume with: ", 1)[1])
    result = subprocess.run(
        [sys.executable, *resume[1:]], cwd=REPO, capture_output=True, text=True, timeout=400
    )
    assert result.returncode == 0, result.stderr[-3000:]
    ends = [torch.load(run / "checkpoints" / "last.ckpt", weights_only=True) for run in (straight, stopped)]
    assert ends[1]["global_step"] == ends[0]["global_step"] == 6  # 2 epochs of 3 steps per rank
    for name, weight in ends[0]["state_dict"].items():
        torch.testing.assert_close(ends[1]["state_dict"][name], weight, rtol=0, atol=0, msg=name)
