"""Shared fixtures. Data fixtures (prefix `data_`): tiny synthetic folders generated once per session."""

from pathlib import Path

import pytest

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
