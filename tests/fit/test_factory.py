"""`fit.factory`: the Trainer's model summary and the W&B logger's start-up settings."""

import logging
import warnings
from pathlib import Path

import pytest
from lightning.pytorch.callbacks import ModelSummary
from lightning.pytorch.utilities._pytree import _tree_flatten
from torch.utils._pytree import LeafSpec

from fastmri_pl.callbacks.model_summary import ModelTable
from fastmri_pl.fit import factory
from fastmri_pl.runtime.quiet import LIGHTNING_RANK_ZERO_LOGGER


def summaries(trainer) -> list[type]:
    return [type(c) for c in trainer.callbacks if isinstance(c, ModelSummary)]


@pytest.mark.parametrize(("enabled", "expected"), [("true", [ModelTable]), ("false", [])])
def test_enable_model_summary_prints_our_table_or_none(
    compose_config, tmp_path: Path, enabled, expected
) -> None:
    cfg = compose_config(["hardware=cpu", f"trainer.enable_model_summary={enabled}"], output_dir=tmp_path)
    assert summaries(factory.build_trainer(cfg, [], [])) == expected


def test_a_configured_summary_callback_is_the_only_one(compose_config, tmp_path: Path) -> None:
    cfg = compose_config(["hardware=cpu"], output_dir=tmp_path)
    assert summaries(factory.build_trainer(cfg, [ModelSummary(max_depth=2)], [])) == [ModelSummary]


def test_the_table_has_no_flops(capsys: pytest.CaptureFixture) -> None:
    data = [(" ", ["0"]), ("Name", ["net"]), ("Type", ["VarNet"]), ("Params", ["150 K"]), ("Mode", ["train"])]
    ModelTable.summarize([*data, ("FLOPs", ["0"])], 150_000, 150_000, 0.6, {"train": 3, "eval": 0}, 0)
    shown = capsys.readouterr().out
    assert "VarNet" in shown and "Total params" in shown and "Modules in eval mode" in shown
    assert "FLOPs" not in shown


def test_wandb_logger_leaves_out_the_anonymous_setting(compose_config, tmp_path: Path, monkeypatch) -> None:
    """Lightning hands `anonymous=None` to `wandb.init`; W&B warns that it has no effect. Offline stays."""
    monkeypatch.delenv("WANDB_MODE", raising=False)
    (logger,) = factory.build_loggers(compose_config(["logger=wandb"], output_dir=tmp_path))
    assert "anonymous" not in logger._wandb_init
    assert logger._wandb_init["mode"] == "offline"


def test_building_a_trainer_silences_exactly_the_two_lightning_notices(
    compose_config, tmp_path: Path
) -> None:
    factory.build_trainer(compose_config(["hardware=cpu"], output_dir=tmp_path), [], [])
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    tip = rank_zero.makeRecord(
        rank_zero.name, logging.INFO, __file__, 0, "💡 Tip: try installing [litlogger]", (), None
    )
    other = rank_zero.makeRecord(rank_zero.name, logging.INFO, __file__, 0, "GPU available: False", (), None)
    assert not rank_zero.filter(tip) and rank_zero.filter(other)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        factory.build_trainer(compose_config(["hardware=cpu"], output_dir=tmp_path), [], [])
        _tree_flatten(1.0)  # Lightning's loops flatten a leaf: torch's LeafSpec deprecation, filtered
        LeafSpec()  # the same deprecation from anywhere else still shows
    assert [(w.category, w.filename) for w in caught] == [(FutureWarning, __file__)]
