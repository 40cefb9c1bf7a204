"""Shared fixtures: tiny synthetic folders generated once per session (`data_`), composed configs, a full
disk."""

import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.synthetic import SyntheticConfig, generate, synthetic_config
from fastmri_pl.runs import atomic
from fastmri_pl.runs import folder as run_folder
from fastmri_pl.runs.paths import ROOT_VARIABLE

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


DATA_KNEE = {
    "anatomy": "knee",
    "seed": 3,  # both leaderboard volumes have lesion boxes of at least 7 x 7 px and smaller ones
    "num_train": 2,
    "num_val": 2,
    "num_leaderboard": 1,
    "slices": 6,
    "coils": (2, 3),
    # the organisers' 2026 geometry at 1/8 (k-space 640 x 368, image_label 384 x 384): the k-space image is
    # cropped to the target's rows and zero-padded to its width, by 2 columns (46) and by an odd 3 (45)
    "height": 80,
    "widths": (46, 45),
    "crop": (48, 48),
}


@pytest.fixture(scope="session")
def data_knee_config() -> SyntheticConfig:
    return synthetic_config(layout="snu", **DATA_KNEE)


@pytest.fixture(scope="session")
def data_knee_root(tmp_path_factory: pytest.TempPathFactory, data_knee_config: SyntheticConfig) -> Path:
    """A read-only tiny 2026-style knee folder (knee_ names, lesion annotations, k-space narrower than its
    targets; 6 slices so that the 5 warm-up slices leave one); copy it before changing anything."""
    root = tmp_path_factory.mktemp("data_knee")
    generate(root, data_knee_config, progress=False)
    return root


CONF_DIR = Path(CONFIG_DIR)


@pytest.fixture(scope="session", autouse=True)
def project_root_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`FASTMRI_PL_ROOT` for the whole session (and the CLI subprocesses): runs without `hydra.run.dir` write
    their `outputs/` and `data/` there, never into the checkout, which is the project root otherwise."""
    root = tmp_path_factory.mktemp("project_root")
    os.environ[ROOT_VARIABLE] = str(root)
    return root


@pytest.fixture(scope="session", autouse=True)
def user_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`XDG_CACHE_HOME` for the whole session (and the CLI subprocesses): the user-level caches (lever plans,
    `memory.plan_cache`) are written there, never into the developer's `~/.cache`."""
    cache = tmp_path_factory.mktemp("user_cache")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    return cache


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


@pytest.fixture(scope="session")
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


@pytest.fixture(scope="session")
def data_learnable_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Large enough for a few CPU epochs to show learning: 4 x 4 training slices of 64 x 40, crop 32, and a
    leaderboard split (acc4, acc8). The tiny folder's 16 x 16 crops leave SSIM's 7 x 7 window too little."""
    root = tmp_path_factory.mktemp("data_learnable")
    config = synthetic_config(
        num_train=4,
        num_val=2,
        num_leaderboard=1,
        slices=4,
        coils=(3, 4),
        height=64,
        widths=(40, 36),
        crop=(32, 32),
    )
    generate(root, config, progress=False)
    return root


@pytest.fixture(scope="session")
def trained_run_dir(
    compose_config: Callable[..., DictConfig],
    data_learnable_root: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """One real training run shared by the tests that need a trained model: the challenge recipe
    (`experiment=snu_promptmr`: mask augmentation, checkpoint by leaderboard score), `varnet_small`, CPU."""
    from fastmri_pl.train import train

    run_dir = tmp_path_factory.mktemp("trained_run")
    overrides = [
        "experiment=snu_promptmr",
        "model=varnet_small",
        "hardware=cpu",
        "logger=csv",
        f"data.root={data_learnable_root}",
        "trainer.max_epochs=6",
        "callbacks.progress_bar=null",
        "trainer.enable_model_summary=false",
        "validate_best=false",
    ]
    train(compose_config(overrides, output_dir=run_dir))
    return run_dir


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[..., list[str]]:
    """`full_disk(after=n)`: the first n writes of `atomic.write_atomically` land, every later one finds the
    disk full (half of its data lands, then ENOSPC); returns the growing list of the files written to. A
    fault-injected disk: mounting a small tmpfs needs root."""

    def fill(after: int = 0) -> list[str]:
        writes: list[str] = []

        class FullDisk:
            def __init__(self, name: str, mode: str) -> None:
                self.file = open(name, mode)  # noqa: SIM115 (closed in __exit__)

            def __enter__(self) -> "FullDisk":
                return self

            def __exit__(self, *args: object) -> None:
                self.file.close()

            def flush(self) -> None:
                self.file.flush()

            def fileno(self) -> int:
                return self.file.fileno()

            def write(self, data: bytes | memoryview) -> int:
                writes.append(self.file.name)
                if len(writes) <= after:
                    return self.file.write(data)
                self.file.write(bytes(data)[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
        return writes

    return fill


@pytest.fixture
def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> Callable[..., tuple[Any, str]]:
    """`run_main(module, *arguments)`: `python -m <module> <arguments>` in this process (Hydra, its callbacks,
    the one-line error), without a Python start-up; `main` must exit. Returns the exit code and stderr. Run
    folder locks `train`'s guard took are released, as the end of the process would release them."""

    def run(module: ModuleType, *arguments: str) -> tuple[Any, str]:
        monkeypatch.setattr(sys, "argv", [module.__file__, *arguments])
        try:
            with pytest.raises(SystemExit) as exit_info:
                module.main()
        finally:
            for folder in list(run_folder._held):
                run_folder.release_lock(folder)
        return exit_info.value.code, capsys.readouterr().err

    return run
