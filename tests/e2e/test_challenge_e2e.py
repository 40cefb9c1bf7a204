"""The challenge loop on tiny synthetic data: train -> reconstruct the leaderboard -> evaluate, the
`experiment=snu_promptmr` recipe's losses each training a step, and `experiment=snu2026_promptmr`
re-training to identical weights."""

import json
from pathlib import Path

import h5py
import lightning as L
import numpy as np
import pytest
import torch
from omegaconf import DictConfig

from fastmri_pl.errors import DataError
from fastmri_pl.evaluate import evaluate
from fastmri_pl.fit import factory
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.train import train
from fastmri_pl.training import build

pytestmark = pytest.mark.slow  # end-to-end runs of the commands


@pytest.fixture(scope="module")
def trained_checkpoint(trained_run_dir: Path) -> Path:
    best = sorted((trained_run_dir / "checkpoints").glob("epoch*-lb*.ckpt"))
    assert len(best) == 1, "the challenge recipe keeps the best checkpoint by the leaderboard score"
    return best[0]


def reconstruct_and_score(compose_config, root: Path, out: Path, *overrides: str) -> dict:
    overrides = (f"data.root={root}", f"output_dir={out}", "progress=false", *overrides)
    cfg = compose_config(list(overrides), output_dir=out, config_name="reconstruct")
    run = reconstruct(cfg)
    for path in run.files:
        with h5py.File(path, "r") as f:
            assert f["reconstruction"].dtype == np.float32 and f["reconstruction"].ndim == 3
    return evaluate(root, out, layout="snu", num_worst=1)


def test_trained_model_beats_zero_filled_on_the_leaderboard(
    compose_config, data_learnable_root: Path, trained_checkpoint: Path, tmp_path: Path
) -> None:
    root = data_learnable_root
    zero_filled = reconstruct_and_score(compose_config, root, tmp_path / "zf", "model=zero_filled")
    trained = reconstruct_and_score(
        compose_config, root, tmp_path / "trained", "model=varnet_small", f"ckpt_path={trained_checkpoint}"
    )
    assert set(trained) == set(zero_filled) == {"acc4", "acc8", "total"}
    assert trained["total"]["ssim"] > zero_filled["total"]["ssim"]
    assert trained["total"]["nmse"] < zero_filled["total"]["nmse"]
    written = json.loads((tmp_path / "trained" / "metrics.json").read_text())
    assert written["total"]["ssim"] == pytest.approx(trained["total"]["ssim"])
    assert written["acc4"]["slices"] == written["acc8"]["slices"] > 0


@pytest.mark.parametrize(
    ("override", "trained"),
    [
        ("data.readout_crop=false", "data.readout_crop=true"),
        ("data.virtual_coils=2", "data.virtual_coils=null"),
    ],
)
def test_reconstruct_refuses_data_settings_other_than_the_trainings(
    compose_config,
    data_learnable_root: Path,
    trained_checkpoint: Path,
    tmp_path: Path,
    override: str,
    trained: str,
) -> None:
    overrides = [
        f"data.root={data_learnable_root}",
        f"output_dir={tmp_path / 'out'}",
        "model=varnet_small",
        f"ckpt_path={trained_checkpoint}",
        override,
    ]
    cfg = compose_config(overrides, output_dir=tmp_path, config_name="reconstruct")
    with pytest.raises(DataError, match=rf"trained with {trained}; reconstruct with {trained}"):
        reconstruct(cfg)


@pytest.mark.parametrize("loss", ["ssim", "msssim_l1", "l1"])
def test_each_challenge_loss_trains_a_step(
    loss: str, compose_config, data_snu_root: Path, tmp_path: Path
) -> None:
    cfg = compose_config(
        [
            "experiment=snu_promptmr",
            "model=varnet_small",
            "hardware=cpu",
            f"data.root={data_snu_root}",
            "data.num_workers=0",
            f"model.loss={loss}",
        ],
        output_dir=tmp_path,
    )
    assert cfg.callbacks.model_checkpoint.monitor == "val/ssim_masked"
    assert list(cfg.data.augmentation.acceleration_range) == [3, 13]
    torch.manual_seed(0)
    module = build.build_module(cfg)
    datamodule = factory.build_datamodule(cfg)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    optimizer = module.configure_optimizers()["optimizer"]
    before = [p.detach().clone() for p in module.parameters()]
    loss_value = module.compute_loss(batch)
    assert module.loss_name == loss and torch.isfinite(loss_value) and loss_value > 0
    loss_value.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, module.parameters(), strict=True))


def train_2026(compose_config, root: Path, run_dir: Path) -> tuple[DictConfig, dict[str, torch.Tensor]]:
    """Three steps of the 2026 recipe with a small VarNet: its config and its last checkpoint's weights."""
    cfg = compose_config(
        [
            "experiment=snu2026_promptmr",
            "model=varnet_small",
            "~model.net.no_use_ca",
            "hardware=cpu",
            "logger=csv",
            f"data.root={root}",
            "data.num_workers=0",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=3",
            "+trainer.limit_val_batches=2",
            "callbacks.progress_bar=null",
            "trainer.enable_model_summary=false",
            "validate_best=false",
        ],
        output_dir=run_dir,
    )
    assert cfg.challenge == 2026 and cfg.trainer.deterministic is True and cfg.model.num_adj_slices == 3
    train(cfg)
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert checkpoint["global_step"] == 3
    return cfg, checkpoint["state_dict"]


def test_snu2026_recipe_retrains_to_identical_weights(
    compose_config, data_knee_root: Path, tmp_path: Path
) -> None:
    """The organisers re-train with the fixed seed and expect the same result: two runs, equal weights, and
    not the seed's initial weights (so the equality is not an untrained model's)."""
    cfg, first = train_2026(compose_config, data_knee_root, tmp_path / "first")
    _, second = train_2026(compose_config, data_knee_root, tmp_path / "second")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    L.seed_everything(cfg.seed)
    initial = build.build_module(cfg).state_dict()
    assert any(not torch.equal(first[key], initial[key]) for key in first)
