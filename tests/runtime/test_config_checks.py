"""`train` refuses wrong config values, a GPU profile without CUDA and unusable checkpoints in one line."""

from pathlib import Path

import pytest
import torch

from fastmri_pl import CONFIG_DIR
from fastmri_pl import train as train_module
from fastmri_pl.errors import DataError
from fastmri_pl.runtime.config_checks import check_config_types, check_determinism
from fastmri_pl.train import NODE_TYPES, TOP_LEVEL_TYPES, train
from fastmri_pl.training import build

GROUP_OPTIONS = [
    f"{group.name}={option.stem}"
    for group in sorted(Path(CONFIG_DIR).iterdir())
    if group.is_dir() and group.name in ("model", "hardware", "data", "logger", "experiment", "debug")
    for option in sorted(group.glob("*.yaml"))
]


@pytest.mark.slow
@pytest.mark.parametrize("option", GROUP_OPTIONS)
def test_every_shipped_config_passes_the_checks(compose_config, option: str) -> None:
    cfg = compose_config([option])
    check_config_types(cfg, TOP_LEVEL_TYPES, NODE_TYPES)
    check_determinism(cfg)


def test_deterministic_training_refuses_cudnn_autotuning(compose_config) -> None:
    """The 2026 recipe turns the GPU profile's autotuner off itself; `trainer.deterministic=true` on a GPU
    profile alone is refused naming the key, and passes with the autotuner off."""
    recipe = compose_config(["experiment=snu2026_promptmr"])
    assert recipe.trainer.deterministic is True and recipe.trainer.benchmark is False
    with pytest.raises(DataError, match="trainer.benchmark: is true with trainer.deterministic=true"):
        check_determinism(compose_config(["hardware=gtx1080", "trainer.deterministic=true"]))
    check_determinism(
        compose_config(["hardware=gtx1080", "trainer.deterministic=true", "trainer.benchmark=false"])
    )


@pytest.mark.parametrize(
    ("override", "key", "problem"),
    [
        ("trainer.max_epochs=abc", "trainer.max_epochs", "is 'abc' (str), expected int or null"),
        ("trainer.max_epochs=2.5", "trainer.max_epochs", "is 2.5 (float), expected int or null"),
        ("model.optimizer.lr=fast", "model.optimizer.lr", "is 'fast' (str), expected float or Tensor"),
        ("trainer.precision=17", "trainer.precision", "expected one of 64, 32, 16"),
        ("+trainer.max_epoch=3", "trainer.max_epoch", "is not a parameter of lightning.pytorch.Trainer"),
        ("callbacks.throughput._target_=nowhere.Thing", "callbacks.throughput._target_", "cannot import"),
        ("seed=abc", "seed", "is 'abc' (str), expected int"),
        ("hardware.levers.offload=maybe", "hardware.levers.offload", "is 'maybe' (str), expected bool"),
        ("+hardware.levers.chunk=2", "hardware.levers.chunk", "is not a parameter of MemoryLevers"),
    ],
)
def test_wrong_config_value_names_the_key(compose_config, override: str, key: str, problem: str) -> None:
    with pytest.raises(DataError) as error:
        check_config_types(compose_config(["model=varnet_small", override]), TOP_LEVEL_TYPES, NODE_TYPES)
    assert error.value.path == key and problem in error.value.problem


def test_lever_out_of_range_names_the_key(compose_config) -> None:
    cfg = compose_config(["hardware.levers.checkpoint=sometimes"])
    check_config_types(cfg, TOP_LEVEL_TYPES, NODE_TYPES)  # the type is right; the value is the levers' call
    with pytest.raises(DataError, match="levers.checkpoint must be one of") as error:
        build.build_levers(cfg)
    assert error.value.path == "hardware.levers"


def test_gpu_profile_without_cuda_says_use_hardware_cpu(run_main, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    run = tmp_path / "run"
    code, stderr = run_main(train_module, "hardware=gtx1080", "model=varnet_small", f"hydra.run.dir={run}")
    assert code == 2 and stderr.count("\n") == 1 and stderr.startswith("error: hardware=gtx1080: ")
    assert stderr.rstrip().endswith("CUDA is not available on this machine; use hardware=cpu")
    assert not (run / "checkpoints").exists()  # refused before anything was built
    assert "use hardware=cpu" in (run / "train.log").read_text()  # the run folder says why it stopped


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"not a checkpoint at all", "cannot be read as a Lightning checkpoint"),
        ({"state_dict": {"net.other_model.weight": torch.zeros(2)}}, "does not match the configured model"),
    ],
)
def test_unusable_ckpt_path_is_one_line_before_fitting(
    compose_config, train_tiny_overrides, tmp_path, content, problem
) -> None:
    path = tmp_path / "given.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content, path)
    overrides = [*train_tiny_overrides, "model=varnet_small", f"ckpt_path={path}"]
    with pytest.raises(DataError) as error:
        train(compose_config(overrides, output_dir=tmp_path / "run"))
    assert error.value.path == str(path) and problem in error.value.problem
    assert "\n" not in str(error.value) and len(str(error.value)) < 400
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_command_line_wrong_type_is_one_line_naming_the_key_exit_2(run_main, tmp_path) -> None:
    arguments = ["model=varnet_small", "logger=none", "trainer.max_epochs=abc", f"hydra.run.dir={tmp_path}"]
    code, stderr = run_main(train_module, *arguments)
    assert code == 2
    assert stderr.strip().splitlines() == ["error: trainer.max_epochs: is 'abc' (str), expected int or null"]
