"""The project root anchors `data/` and `outputs/`: never the current folder of an editable install, and never
Hydra's runtime config (unset while a multirun resolves its sweep folder)."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig

import fastmri_pl
from fastmri_pl import CONFIG_DIR
from fastmri_pl.runs import paths

CHECKOUT = Path(fastmri_pl.__file__).resolve().parents[1]


def test_root_is_the_checkout_whatever_the_current_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.ROOT_VARIABLE)
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == str(CHECKOUT) and (CHECKOUT / "pyproject.toml").is_file()


def test_root_variable_wins(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.ROOT_VARIABLE, str(tmp_path / "elsewhere"))
    assert paths.project_root() == str(tmp_path / "elsewhere")


def test_installed_wheel_uses_the_current_folder(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages" / "fastmri_pl"
    monkeypatch.delenv(paths.ROOT_VARIABLE)
    # no pyproject.toml beside the package
    monkeypatch.setattr(paths, "__file__", str(site / "runs" / "paths.py"))
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == str(tmp_path)


def test_sweep_folder_resolves_before_hydra_has_a_runtime_config(tmp_path, monkeypatch) -> None:
    """What `-m` does first: resolve `hydra.sweep.dir` with no HydraConfig set (once `hydra:runtime.cwd`)."""
    monkeypatch.setenv(paths.ROOT_VARIABLE, str(tmp_path))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["model=varnet_small"], return_hydra_config=True)
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)
    assert cfg.hydra.sweep.dir.startswith(f"{tmp_path}/outputs/train/multiruns/")
    assert cfg.paths.data_dir == f"{tmp_path}/data" and cfg.data.root == f"{tmp_path}/data/synthetic"
