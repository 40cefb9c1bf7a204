"""Shared fixtures: tiny synthetic folders generated once per session (`data_`), composed configs."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from fastmri_pl.data.synthetic import SyntheticConfig, generate, synthetic_config

DATA_TINY = {
    "num_train": 2,
    "num_val": 2,
    "num_leaderboard": 1,
    "slices": 3,
    "coils": (2, 3),
    "height": 32,
    "widths": (20, 18),
    "crop": (16, 16),
}


@pytest.fixture(scope="session")
def data_snu_config() -> SyntheticConfig:
    return synthetic_config(layout="snu", **DATA_TINY)


@pytest.fixture(scope="session")
def data_fastmri_config() -> SyntheticConfig:
    return synthetic_config(layout="fastmri", **DATA_TINY)


@pytest.fixture(scope="session")
def data_snu_root(tmp_path_factory: pytest.TempPathFactory, data_snu_config: SyntheticConfig) -> Path:
    """A read-only tiny SNU folder (train/val/leaderboard); copy it before changing anything."""
    root = tmp_path_factory.mktemp("data_snu")
    generate(root, data_snu_config, progress=False)
    return root


@pytest.fixture(scope="session")
def data_fastmri_root(tmp_path_factory: pytest.TempPathFactory, data_fastmri_config: SyntheticConfig) -> Path:
    """A read-only tiny fastMRI-layout folder (train/val); copy it before changing anything."""
    root = tmp_path_factory.mktemp("data_fastmri")
    generate(root, data_fastmri_config, progress=False)
    return root


CONF_DIR = Path(__file__).resolve().parents[1] / "conf"

# The tests' tensors are tiny: with more than one intra-op thread, thread synchronisation costs more than the
# arithmetic, and on a shared 2-core machine spinning OpenMP threads made single tests 10-50x slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")  # for the subprocesses the CLI tests start


def _compose(config_name: str, overrides: list[str], output_dir: Path | str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name, overrides=[*overrides, f"paths.output_dir={output_dir}"], return_hydra_config=True
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]  # its sweep keys only resolve inside a multirun
    return cfg


@pytest.fixture
def compose_config() -> Callable[..., DictConfig]:
    """`compose_config(overrides, output_dir=..., config_name="train")`: a config as a run sees it."""

    def compose_with(
        overrides: list[str], output_dir: Path | str = "/tmp/fastmri_pl_compose", config_name: str = "train"
    ) -> DictConfig:
        return _compose(config_name, overrides, output_dir)

    return compose_with


@pytest.fixture
def train_tiny_overrides(data_snu_root: Path) -> list[str]:
    """Train on the tiny synthetic SNU folder, CPU, CSV logs, a short run."""
    return [
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        "hardware=cpu",
        "logger=csv",
        "trainer.max_epochs=1",
        "callbacks.progress_bar=null",
        "trainer.enable_model_summary=false",
    ]
