"""Non-finite guards on a one-weight model: NaN/Inf steps skipped, N in a row stop the run, NaN never best."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from fastmri_pl.callbacks.nonfinite import FiniteModelCheckpoint, NonFiniteGuard
from fastmri_pl.errors import DataError
from fastmri_pl.fit import factory


def samples(values: list[float]) -> list[dict]:
    return [
        {"x": torch.tensor(v), "fname": f"v{i}.h5", "slice_num": torch.tensor(i)}
        for i, v in enumerate(values)
    ]


class OneWeight(L.LightningModule):
    """loss = w * x, or sqrt(w - w) (finite value, infinite gradient) where x is -1; val/ssim = `score`."""

    def __init__(self, score: float = 0.5) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(1.0))
        self.score = score

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        x = batch["x"][0]
        return torch.sqrt(self.w - self.w.detach()) if x == -1 else self.w * x

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self.log("val/ssim", self.score)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(module: L.LightningModule, values: list[float], callbacks: list[L.Callback], tmp_path: Path) -> None:
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=any(isinstance(c, FiniteModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=callbacks,
        default_root_dir=tmp_path,
    )
    loader = DataLoader(samples(values), batch_size=1)
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=loader)


def test_non_finite_steps_are_skipped_with_a_warning_naming_file_and_slice(tmp_path: Path) -> None:
    module = OneWeight()
    with pytest.warns(RuntimeWarning) as warned:
        fit(module, [1.0, float("nan"), -1.0, 1.0], [NonFiniteGuard(max_consecutive=3)], tmp_path)
    messages = [str(w.message) for w in warned if "skipped optimizer step" in str(w.message)]
    assert len(messages) == 2
    assert "non-finite loss on v1.h5 slice 1 (1 in a row" in messages[0]
    assert "non-finite gradient on v2.h5 slice 2 (2 in a row" in messages[1]
    assert module.w.item() == pytest.approx(0.8)  # the two finite steps only: 1 - 0.1 - 0.1


def test_max_consecutive_non_finite_steps_stop_the_run_with_one_line(tmp_path: Path) -> None:
    module = OneWeight()
    with pytest.raises(DataError) as error, pytest.warns(RuntimeWarning):
        fit(module, [1.0, float("inf"), float("nan"), 1.0], [NonFiniteGuard(max_consecutive=2)], tmp_path)
    assert error.value.path == "v2.h5 slice 2"
    assert error.value.problem.startswith("non-finite loss, 2 optimizer steps in a row")
    assert "callbacks.nonfinite_guard.max_consecutive=2" in error.value.problem
    assert "\n" not in str(error.value)
    assert module.w.item() == pytest.approx(0.9)  # weights of the last finite step, never NaN


def test_nan_score_is_never_the_best_checkpoint(tmp_path: Path) -> None:
    checkpoint = FiniteModelCheckpoint(
        dirpath=tmp_path / "checkpoints",
        filename="epoch{epoch:03d}-ssim{val/ssim:.4f}",
        auto_insert_metric_name=False,
        monitor="val/ssim",
        mode="max",
        save_last=True,
    )
    with pytest.warns(UserWarning, match="val/ssim is nan: this epoch is not saved as a best checkpoint"):
        fit(OneWeight(score=float("nan")), [1.0], [checkpoint], tmp_path)
    assert checkpoint.best_model_path == ""
    assert not any("nan" in p.name for p in (tmp_path / "checkpoints").glob("*"))


def test_default_callbacks_guard_against_non_finite_values(compose_config) -> None:
    cfg = compose_config(["callbacks.nonfinite_guard.max_consecutive=4"])
    callbacks = factory.build_callbacks(cfg, loggers=[])
    (guard,) = [c for c in callbacks if isinstance(c, NonFiniteGuard)]
    assert guard.max_consecutive == 4
    assert any(isinstance(c, FiniteModelCheckpoint) for c in callbacks)
