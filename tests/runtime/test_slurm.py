"""`hardware=slurm`: SLURM is asked for SIGUSR1 ahead of the time limit (not submitit's USR2), Lightning's own
requeue stays off, the signal raises `Requeued` inside a SLURM job only, and `scontrol requeue` is asked for
this job (array tasks included); a failure to requeue is said, not raised."""

import os
import signal
import stat
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.plugins.environments import SLURMEnvironment
from omegaconf import OmegaConf
from submitit.slurm.slurm import _make_sbatch_string

from fastmri_pl import CONFIG_DIR
from fastmri_pl.errors import DataError, Requeued
from fastmri_pl.runtime.slurm import job_id, parse_signal, requeue_job, requeue_on


def fake_scontrol(folder: Path, exit_code: int = 0) -> Path:
    """An `scontrol` on PATH that records its arguments (and fails with `exit_code` if not 0)."""
    record = folder / "scontrol.args"
    script = folder / "scontrol"
    script.write_text(f'#!/bin/sh\necho "$@" >> {record}\necho "scontrol: said no" >&2\nexit {exit_code}\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return record


def test_slurm_profile_carries_the_signal_and_lightnings_requeue_off() -> None:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hardware=slurm"], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    HydraConfig.instance().set_config(cfg)
    assert parse_signal(cfg.hardware.requeue_signal) == signal.SIGUSR1
    environment = instantiate(cfg.hardware.cluster_environment)
    assert isinstance(environment, SLURMEnvironment) and not environment.auto_requeue
    # what submitit writes into the sbatch script from the launcher's parameters: one --signal, ours
    sbatch = _make_sbatch_string(
        command="python -m fastmri_pl.train",
        folder="/tmp/submitit",
        signal_delay_s=launcher["signal_delay_s"],
        additional_parameters=launcher["additional_parameters"],
    )
    signals = [line for line in sbatch.splitlines() if line.startswith("#SBATCH --signal")]
    assert signals == ["#SBATCH --signal=USR1@90"], sbatch


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("USR1@90", signal.SIGUSR1), ("SIGUSR2", signal.SIGUSR2), ("10", signal.SIGUSR1), (None, None)],
)
def test_requeue_signal_is_read_as_sbatch_writes_it(spec, expected) -> None:
    assert parse_signal(spec) == expected


def test_a_signal_that_does_not_exist_names_the_key() -> None:
    with pytest.raises(DataError, match=r"hardware.requeue_signal: 'USR3@90' is not a signal"):
        parse_signal("USR3@90")


def test_the_requeue_signal_is_an_interrupt_inside_a_slurm_job_only(monkeypatch) -> None:
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    default = signal.getsignal(signal.SIGUSR1)
    with requeue_on("USR1@90"):
        assert signal.getsignal(signal.SIGUSR1) == default  # outside SLURM nothing would send it
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with pytest.raises(Requeued) as interrupt, requeue_on("USR1@90"):
        os.kill(os.getpid(), signal.SIGUSR1)
    assert interrupt.value.signum == signal.SIGUSR1 and signal.getsignal(signal.SIGUSR1) == default


def test_requeue_asks_scontrol_for_this_job(monkeypatch, tmp_path) -> None:
    record = fake_scontrol(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "4200")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert job_id() == "4200_3"
    assert requeue_job() == "requeued SLURM job 4200_3: it resumes from last.ckpt"
    assert record.read_text() == "requeue 4200_3\n"


def test_a_failed_requeue_is_said(monkeypatch, tmp_path) -> None:
    fake_scontrol(tmp_path, exit_code=1)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4244")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    assert requeue_job() == "scontrol requeue 4244 failed (scontrol: said no)"
