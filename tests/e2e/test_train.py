"""End-to-end training on synthetic HDF5 data: every model runs, VarNet learns, runs resume, bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from fastmri_pl import CONFIG_DIR
from fastmri_pl import train as train_module
from fastmri_pl.errors import DataError
from fastmri_pl.fit import factory
from fastmri_pl.memory import auto as memory_auto
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.plan_cache import PLAN_FILE
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.train import train
from fastmri_pl.training import build
from tests.helpers.stand_in_estimates import stand_in_estimate, stand_in_inference

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

MODELS = sorted(p.stem for p in (Path(CONFIG_DIR) / "model").glob("*.yaml"))


@pytest.mark.parametrize("model", MODELS)
def test_fast_dev_run_trains_and_validates_every_model(model, compose_config, train_tiny_overrides, tmp_path):
    cfg = compose_config([*train_tiny_overrides, f"model={model}", "debug=fdr"], output_dir=tmp_path)
    best_ssim = train(cfg)
    assert best_ssim is not None and 0.0 < best_ssim <= 1.0
    assert not list(tmp_path.rglob("*.ckpt")) and not (tmp_path / "csv").exists()  # the folder stays free


def run_train_cli(*overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "fastmri_pl.train", *overrides]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_cli_fast_dev_run_prints_model_and_zero_filled(data_snu_root, tmp_path):
    result = run_train_cli(
        "model=varnet_small",
        "hardware=cpu",
        "debug=fdr",
        "logger=csv",
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        f"hydra.run.dir={tmp_path / 'run'}",
        "callbacks.progress_bar=null",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "zero-filled" in result.stdout and "ssim" in result.stdout
    assert (tmp_path / "run" / ".hydra" / "config.yaml").is_file()
    assert not list((tmp_path / "run").rglob("*.ckpt")) and not (tmp_path / "run" / "csv").exists()


def test_varnet_small_beats_zero_filled(trained_run_dir):
    best_model = max(_csv_values(trained_run_dir, "val/ssim"))
    zero_filled = _csv_values(trained_run_dir, "val_zf/ssim")[-1]
    assert best_model > zero_filled + 0.02, (best_model, zero_filled)


def _csv_values(run_dir: Path, key: str) -> list[float]:
    """Every logged value of `key` in the run's CSV metrics, in order."""
    lines = (run_dir / "csv" / "metrics.csv").read_text().splitlines()
    column = lines[0].split(",").index(key)
    return [float(row.split(",")[column]) for row in lines[1:] if row.split(",")[column]]


def _final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["epoch"] == 1
    return checkpoint["state_dict"] | {"global_step": torch.tensor(checkpoint["global_step"])}


def test_resumed_run_matches_uninterrupted_run(compose_config, train_tiny_overrides, tmp_path):
    base = [*train_tiny_overrides, "model=varnet_small", "validate_best=false"]
    train(compose_config([*base, "trainer.max_epochs=2"], output_dir=tmp_path / "straight"))
    train(compose_config([*base, "trainer.max_epochs=1"], output_dir=tmp_path / "killed"))
    train(compose_config([*base, "trainer.max_epochs=2", "ckpt_path=last"], output_dir=tmp_path / "killed"))
    straight, resumed = _final_state(tmp_path / "straight"), _final_state(tmp_path / "killed")
    assert straight.keys() == resumed.keys()
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], msg=name)
    # the resume appended to the killed run's CSV history (Lightning's CSVLogger deleted it)
    assert len(_csv_values(tmp_path / "killed", "val/ssim")) == 2
    assert _csv_values(tmp_path / "killed", "val/ssim") == _csv_values(tmp_path / "straight", "val/ssim")


def folder_contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_fresh_run_refuses_folder_with_checkpoints_and_changes_nothing(
    data_snu_root, tmp_path, monkeypatch, capsys
):
    """`main` in process, as the command line runs it: the refusal comes before Hydra writes `.hydra/`."""
    checkpoints = tmp_path / "run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"precious")
    (tmp_path / "run" / ".hydra").mkdir()
    for name in ("config.yaml", "hydra.yaml", "overrides.yaml"):
        (tmp_path / "run" / ".hydra" / name).write_text(f"the earlier run's {name}\n")
    before = folder_contents(tmp_path / "run")
    arguments = [
        "model=varnet_small",
        "logger=none",
        f"data.root={data_snu_root}",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    monkeypatch.setattr(sys, "argv", [train_module.__file__, *arguments])
    with pytest.raises(SystemExit) as exit_info:
        train_module.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {checkpoints}: already holds checkpoints; resume with ckpt_path=last or choose another "
        "hydra.run.dir"
    ]
    assert folder_contents(tmp_path / "run") == before  # .hydra/*.yaml included: Hydra never got to write


def test_resume_without_checkpoint_names_the_missing_file(data_snu_root, tmp_path):
    result = run_train_cli(
        "model=varnet_small",
        "logger=none",
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        f"hydra.run.dir={tmp_path / 'run'}",
        "ckpt_path=last",
    )
    assert result.returncode == 2
    assert str(tmp_path / "run" / "checkpoints" / "last.ckpt") in result.stderr
    assert "Traceback" not in result.stderr


def test_empty_data_folder_is_one_clear_error(tmp_path):
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "val").mkdir(parents=True)
    result = run_train_cli(
        "model=varnet_small",
        "logger=none",
        f"data.root={tmp_path / 'data'}",
        "data.synthetic=null",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and str(tmp_path / "data") in error_lines[0]
    assert "Traceback" not in result.stderr


def test_nan_found_by_a_loader_worker_is_one_line_naming_the_file(data_snu_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(data_snu_root, root)
    broken = sorted((root / "train" / "kspace").glob("*.h5"))[0]
    with h5py.File(broken, "r+") as f:
        f["kspace"][0, 0, 0, 0] = np.nan
    result = run_train_cli(
        "model=varnet_small",
        "logger=none",
        f"data.root={root}",
        "data.synthetic=null",
        "hardware.num_workers=1",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert error_lines == [f"error: {broken}: kspace slice 0 contains NaN or Inf"], result.stderr[-2000:]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed", "16-mixed"])
def test_fast_dev_run_promptmr_small_with_each_cpu_precision(
    precision, compose_config, train_tiny_overrides, tmp_path
):
    """On CPU Lightning turns 16-mixed into bf16-mixed; both must train with FFTs kept in fp32."""
    overrides = [
        *train_tiny_overrides,
        "model=promptmr_small",
        "debug=fdr",
        f"hardware.precision={precision}",
    ]
    best_ssim = train(compose_config(overrides, output_dir=tmp_path))
    assert best_ssim is not None and 0.0 < best_ssim <= 1.0


def test_cuda_out_of_memory_ends_with_the_planner_advice(monkeypatch, capsys, tmp_path):
    def out_of_memory(cfg):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train_module, "train", out_of_memory)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # the door lets a GPU profile through
    monkeypatch.setattr(sys, "argv", [train_module.__file__, "hardware=gtx1080", f"hydra.run.dir={tmp_path}"])
    with pytest.raises(SystemExit) as exit_info:
        train_module.main()
    assert exit_info.value.code == 3
    message = capsys.readouterr().err
    assert "CUDA out of memory" in message and "8 GiB" in message
    assert "memory.plan=true" in message and "hardware=rtx4070" in message  # the planner and a bigger card
    assert "Traceback" not in message


def test_fast_dev_run_starts_no_logger(compose_config, tmp_path):
    """Lightning hides the loggers of a fast_dev_run only after W&B would have started a run for it."""
    assert factory.build_loggers(compose_config(["logger=wandb", "debug=fdr"], output_dir=tmp_path)) == []
    assert factory.build_loggers(compose_config(["logger=wandb"], output_dir=tmp_path)) != []


def test_wandb_checkpoint_artifacts_only_online(compose_config, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    offline = compose_config(["logger=wandb", "logger.wandb.log_model=true"], output_dir=tmp_path)
    (logger,) = factory.build_loggers(offline)
    assert logger._log_model is False
    monkeypatch.setenv("WANDB_MODE", "online")
    online = compose_config(["logger=wandb", "logger.wandb.log_model=true"], output_dir=tmp_path)
    (logger,) = factory.build_loggers(online)
    assert logger._log_model is True


def test_levers_auto_is_planned_before_the_network_is_built(
    compose_config, train_tiny_overrides, tmp_path, monkeypatch, capsys
):
    """`train` asks the planner for its data's largest sample (stand-in estimators here: a real plan traces
    every candidate), prints what it planned for and keeps the plan in the run folder; the network gets its
    choice. `build_levers` itself refuses `auto`, since the planner builds modules through it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    asked = []

    def planner(cfg, shapes, levers, **options):
        asked.append(shapes)
        stand_ins = {"estimator": stand_in_estimate, "infer_estimator": stand_in_inference}
        return plan_for_data(cfg, shapes, levers, **options, **stand_ins)

    monkeypatch.setattr(memory_auto, "plan_for_data", planner)
    built = []
    build_module = build.build_module
    monkeypatch.setattr(build, "build_module", lambda cfg: built.append(build_module(cfg)) or built[-1])
    overrides = [*train_tiny_overrides, "model=varnet_small", "debug=fdr", "hardware.levers=auto"]
    cfg = compose_config([*overrides, "hardware.memory_gb=1"], output_dir=tmp_path)
    with pytest.raises(DataError, match="resolve_levers") as error:
        build.build_levers(cfg)
    assert error.value.path == "hardware.levers"
    assert train(cfg) is not None
    record = json.loads((tmp_path / PLAN_FILE).read_text())
    assert len(asked) == 1 and built[0].net.levers == MemoryLevers(**record["levers"])
    assert record["planned_for"]["train"]["coils"] == 3 and built[0].net.levers.coil_chunk == 3
    assert "levers: auto -> " in capsys.readouterr().out
