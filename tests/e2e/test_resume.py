"""`train` survives kills and failed writes: a mid-epoch kill resumes to the uninterrupted run's weights,
last.ckpt follows every epoch whatever the metric did, a full disk or a blocked checkpoints folder ends with
one line and leaves earlier checkpoints loadable."""

import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from omegaconf import OmegaConf

from fastmri_pl import train as train_module
from fastmri_pl.fit import factory
from fastmri_pl.runs.summary import print_summary
from fastmri_pl.train import train
from tests.helpers.kill import Kill

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

# random masks that depend on (epoch, sample): a resumed epoch must see the same ones
AUGMENTATION = (
    "data.augmentation={acceleration_range:[2,4],center_fraction_range:[0.2,0.3],"
    "prob_start:0.5,prob_end:0.5,ramp_epochs:0}"
)
BATCHES_PER_EPOCH = 6  # the tiny folder: 2 training volumes of 3 slices


def add_callback(monkeypatch: pytest.MonkeyPatch, callback: L.Callback) -> None:
    build = factory.build_callbacks
    monkeypatch.setattr(factory, "build_callbacks", lambda cfg, loggers: [*build(cfg, loggers), callback])


def load_last(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)  # as reconstruct reads it


def test_run_killed_mid_epoch_resumes_to_the_uninterrupted_weights(
    compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    base = [
        *train_tiny_overrides,
        "model=varnet_small",
        "validate_best=false",
        "trainer.max_epochs=2",
        "callbacks.model_checkpoint.train_time_interval_min=0",  # last.ckpt after every optimizer step
        AUGMENTATION,
    ]
    train(compose_config(base, output_dir=tmp_path / "straight"))
    with monkeypatch.context() as patch:
        add_callback(patch, Kill(epoch=1, batch=3))
        with pytest.raises(KeyError, match="killed"):
            train(compose_config(base, output_dir=tmp_path / "killed"))
    at_kill = load_last(tmp_path / "killed")
    assert (at_kill["epoch"], at_kill["global_step"]) == (1, BATCHES_PER_EPOCH + 3)  # mid-epoch 1
    train(compose_config([*base, "ckpt_path=last"], output_dir=tmp_path / "killed"))
    straight, resumed = load_last(tmp_path / "straight"), load_last(tmp_path / "killed")
    assert resumed["global_step"] == straight["global_step"] == 2 * BATCHES_PER_EPOCH
    for name, weight in straight["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], weight, rtol=0, atol=0, msg=name)
    for state, expected in zip(
        resumed["optimizer_states"][0]["state"].values(),
        straight["optimizer_states"][0]["state"].values(),
        strict=True,
    ):
        torch.testing.assert_close(state["exp_avg_sq"], expected["exp_avg_sq"], rtol=0, atol=0)


def test_non_improving_epochs_still_move_last_checkpoint(
    compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    """lr=0: the score never improves after epoch 0; a kill at epoch 4's start resumes at epoch 4. Two
    batches an epoch: what matters here is the epochs."""
    batches = 2
    overrides = [
        *train_tiny_overrides,
        "model=varnet_small",
        "validate_best=false",
        "trainer.max_epochs=5",
        f"+trainer.limit_train_batches={batches}",
        "model.optimizer.lr=0.0",
    ]
    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        add_callback(patch, Kill(epoch=4))
        with pytest.raises(KeyError, match="killed"):
            train(compose_config(overrides, output_dir=run_dir))
    assert [p.name[:8] for p in (run_dir / "checkpoints").glob("epoch*.ckpt")] == ["epoch000"]
    at_kill = load_last(run_dir)
    assert (at_kill["epoch"], at_kill["global_step"]) == (3, 4 * batches)
    probe = Kill()
    with monkeypatch.context() as patch:
        add_callback(patch, probe)
        train(compose_config([*overrides, "ckpt_path=last"], output_dir=run_dir))
    assert probe.trained == [(4, batch) for batch in range(batches)]
    assert load_last(run_dir)["global_step"] == 5 * batches


def test_full_disk_ends_with_one_line_and_keeps_earlier_checkpoints(
    train_tiny_overrides, tmp_path, full_disk, run_main
):
    """Epoch 0's two checkpoints are written; from then on the disk is full: half of a write lands, then
    ENOSPC. The image panels, also written atomically, are left out so the two writes are the checkpoints."""
    full_disk(after=2)
    run_dir = tmp_path / "run"
    code, stderr = run_main(
        train_module,
        *train_tiny_overrides,
        "model=varnet_small",
        "trainer.max_epochs=3",
        "logger=none",
        "~callbacks.recon_images",
        f"hydra.run.dir={run_dir}",
    )
    assert code == 2, stderr[-2000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr[-2000:]
    assert str(run_dir / "checkpoints") in errors[0] and "No space left on device" in errors[0]
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir() if not p.name.startswith("epoch")) == ["last.ckpt"]
    (best,) = checkpoints.glob("epoch000-*.ckpt")
    assert torch.load(best, weights_only=True)["epoch"] == 0
    assert load_last(run_dir)["global_step"] == BATCHES_PER_EPOCH


def test_checkpoints_folder_that_is_a_file_ends_with_one_line_before_training(
    train_tiny_overrides, tmp_path, monkeypatch, run_main
):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoints").write_text("precious")
    probe = Kill()
    add_callback(monkeypatch, probe)
    code, stderr = run_main(
        train_module, *train_tiny_overrides, "model=varnet_small", "logger=none", f"hydra.run.dir={run_dir}"
    )
    assert code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: {run_dir / 'checkpoints'}: cannot be written ({run_dir / 'checkpoints'} is a file, not a "
        "folder); files written before are intact"
    ], stderr[-2000:]
    assert probe.trained == [] and (run_dir / "checkpoints").read_text() == "precious"


def test_summary_names_only_checkpoints_that_exist(tmp_path, capsys):
    best = tmp_path / "epoch000.ckpt"
    best.write_bytes(b"")
    callback = SimpleNamespace(best_model_path=str(best), last_model_path=str(tmp_path / "last.ckpt"))
    trainer = SimpleNamespace(checkpoint_callback=callback, loggers=[])
    print_summary(OmegaConf.create({"paths": {"output_dir": str(tmp_path)}}), trainer, {})
    out = capsys.readouterr().out
    assert "best checkpoint" in out and "last checkpoint" not in out


def test_lightning_warns_of_a_non_empty_checkpoint_folder_on_a_fresh_run_only(
    compose_config, train_tiny_overrides, tmp_path
):
    """A resume expects its checkpoints: Lightning's "exists and is not empty" is silenced then, and only then
    (a fresh run into a folder holding other files still hears it)."""
    base = [*train_tiny_overrides, "model=varnet_small", "validate_best=false"]
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "notes.txt").write_text("not a checkpoint")
    fresh = compose_config(base, output_dir=run)
    with pytest.warns(UserWarning, match=train_module.RESUME_FOLDER_WARNING):
        train(fresh)
    resume = compose_config([*base, "ckpt_path=last", "trainer.max_epochs=2"], output_dir=run)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train(resume)
    assert load_last(run)["epoch"] == 1
    assert not [w for w in caught if "exists and is not empty" in str(w.message)]


@pytest.mark.parametrize("how", [shutil.copytree, shutil.move], ids=["copied", "moved"])
def test_a_copied_or_moved_run_folder_resumes_its_own_last_checkpoint(
    how, compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    """One epoch in A; A copied (or moved) to B; `ckpt_path=last` in B for a second epoch rewrites
    B/checkpoints/last.ckpt (Lightning wrote last-v1.ckpt beside it, so the next resume started again from
    epoch 0), and the next `ckpt_path=last` starts at epoch 2."""
    base = [*train_tiny_overrides, "model=varnet_small", "validate_best=false"]
    train(compose_config(base, output_dir=tmp_path / "A"))
    how(tmp_path / "A", tmp_path / "B")
    run = tmp_path / "B"
    train(compose_config([*base, "ckpt_path=last", "trainer.max_epochs=2"], output_dir=run))
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert "last-v1.ckpt" not in names and len([n for n in names if n.startswith("epoch")]) == 1, names
    assert load_last(run)["epoch"] == 1
    probe = Kill()
    with monkeypatch.context() as patch:
        add_callback(patch, probe)
        train(compose_config([*base, "ckpt_path=last", "trainer.max_epochs=3"], output_dir=run))
    assert probe.trained == [(2, batch) for batch in range(BATCHES_PER_EPOCH)]
    assert load_last(run)["epoch"] == 2
