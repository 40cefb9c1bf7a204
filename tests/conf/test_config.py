"""Every option of every group composes and resolves; models instantiate; CLI errors are Hydra's own."""

import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.training import build

CONF = Path(CONFIG_DIR)
GROUPS = [
    "data",
    "model",
    "hardware",
    "logger",
    "callbacks",
    "paths",
    "experiment",
    "debug",
    "hparams_search",
]


def group_options() -> list[tuple[str, str]]:
    return [(g, p.stem) for g in GROUPS for p in sorted((CONF / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), group_options())
def test_every_group_option_composes_and_resolves(group: str, option: str, compose_config) -> None:
    cfg = compose_config([f"{group}={option}"])
    container = OmegaConf.to_container(cfg, resolve=True)
    assert container["trainer"]["precision"] == container["hardware"]["precision"]
    assert container["data"]["num_adj_slices"] == container["model"]["num_adj_slices"]


def test_every_group_has_options() -> None:
    options = group_options()
    for group in ("data", "model", "hardware", "logger", "callbacks", "paths", "experiment", "debug"):
        assert any(g == group for g, _ in options), group


@pytest.mark.slow
@pytest.mark.parametrize("model", sorted(p.stem for p in (CONF / "model").glob("*.yaml")))
def test_every_model_instantiates_with_levers(model: str, compose_config) -> None:
    cfg = compose_config([f"model={model}", "hardware=gtx1080"])
    module = build.build_module(cfg)
    assert module.num_adj_slices == cfg.model.num_adj_slices
    if hasattr(module.net, "levers"):
        assert module.net.levers == build.build_levers(cfg)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fastmri_pl.train", *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.slow
def test_cfg_job_shows_gtx1080_precision() -> None:
    result = run_cli("--cfg", "job", "hardware=gtx1080")
    assert result.returncode == 0, result.stderr
    job = OmegaConf.create(result.stdout)
    assert job.hardware.precision == "16-mixed"
    assert "precision: 16-mixed" in result.stdout
    assert job.trainer.precision == "16-mixed"
    assert job.hardware.memory_gb == 8


@pytest.mark.slow
def test_unknown_option_fails_with_hydra_choices() -> None:
    result = run_cli("model=no_such_model")
    assert result.returncode != 0
    assert "Could not find 'model/no_such_model'" in result.stderr
    assert "Available options" in result.stderr and "varnet_small" in result.stderr


@pytest.mark.parametrize("config_name", ["reconstruct", "evaluate", "memory", "bench"])
def test_every_entry_point_config_composes(config_name: str, compose_config) -> None:
    required = {"reconstruct": ["output_dir=/tmp/out"], "evaluate": ["recon_dir=/tmp/out"]}
    overrides = required.get(config_name, [])
    cfg = compose_config(overrides, config_name=config_name)
    assert cfg.task_name == config_name
    OmegaConf.to_container(cfg, resolve=config_name != "evaluate")  # evaluate reads data.root/layout only
