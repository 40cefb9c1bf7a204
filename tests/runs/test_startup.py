"""What a user sees first: `--help` with the groups, options and examples; the config tree and run line; one
warning before a full-size model trains on the CPU."""

import sys

import pytest
import torch

from fastmri_pl import train as train_module
from fastmri_pl.runs.summary import print_startup


@pytest.mark.slow
def test_help_lists_groups_options_and_three_examples(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(sys, "argv", [train_module.__file__, "--help"])
    with pytest.raises(SystemExit) as exit_info:
        train_module.main()
    assert exit_info.value.code in (0, None)
    text = capsys.readouterr().out
    assert "model: promptmr, promptmr_small, varnet, varnet_small, zero_filled" in text
    assert "hardware: a100, cpu, ddp, gtx1080, rtx4070, slurm" in text and "experiment: quickstart" in text
    groups, examples = text.split("Examples:")
    commands = [line for line in examples.splitlines() if line.startswith("  python -m fastmri_pl.train ")]
    assert len(commands) == 3 and "hydra/" not in groups


def test_startup_prints_the_run_line_then_the_config_tree(compose_config, tmp_path, capsys) -> None:
    print_startup(compose_config(["model=varnet_small", "hardware=cpu"], output_dir=tmp_path))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("model=varnet_small ") and lines[1] == "config"
    branches = [line.split("── ")[1] for line in lines if line.startswith(("├── ", "└── "))]
    assert branches[:7] == ["data", "model", "hardware", "trainer", "logger", "callbacks", "paths"]
    assert any("_target_: fastmri_pl.models.varnet.VarNet" in line for line in lines)
    assert not any("warning" in line for line in lines)


def test_full_size_model_on_cpu_warns_once_pointing_to_quickstart(compose_config, tmp_path, capsys) -> None:
    print_startup(compose_config(["print_config=false"], output_dir=tmp_path))  # the bare command's defaults
    printed = capsys.readouterr()
    lines, warnings = printed.out.splitlines(), printed.err.splitlines()  # warnings go to stderr
    assert len(lines) == 1 and len(warnings) == 1 and warnings[0].startswith("warning:")
    assert "full-size promptmr (81.5 M parameters) on the CPU" in warnings[0]
    assert "experiment=quickstart" in warnings[0] and "20 epochs" in warnings[0]


def test_tree_shows_an_unresolvable_value_as_written(compose_config, tmp_path, capsys) -> None:
    """The tree prints before the config checks: a broken interpolation must not become a traceback there."""
    cfg = compose_config(["model=varnet_small", "+trainer.note=${missing.key}"], output_dir=tmp_path)
    print_startup(cfg)
    assert any("note: ${missing.key}" in line for line in capsys.readouterr().out.splitlines())


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (["validate_best=maybe"], "validate_best"),
        (["ckpt_path=last"], "no checkpoint to resume from"),
        (["hardware=a100"], "CUDA"),
    ],
)
def test_a_refusal_comes_before_the_run_line_and_the_config_tree(
    train_tiny_overrides, tmp_path, monkeypatch, capsys, overrides, problem
) -> None:
    """A refused run prints nothing but its one line: no 150-line config tree above it (the config's types
    and the profile are checked by the door, the checkpoint by `train` before its tree)."""
    if problem == "CUDA" and torch.cuda.is_available():
        overrides, problem = ["trainer.max_epochs=many"], "max_epochs"
    arguments = [*train_tiny_overrides, *overrides, f"hydra.run.dir={tmp_path}"]
    monkeypatch.setattr(sys, "argv", [train_module.__file__, *arguments])
    with pytest.raises(SystemExit) as exit_info:
        train_module.main()
    printed = capsys.readouterr()
    assert exit_info.value.code == 2 and printed.out == ""
    assert printed.err.count("\n") == 1 and problem in printed.err
