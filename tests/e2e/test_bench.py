"""`python -m fastmri_pl.bench` on CPU: one model x two profiles x one step: a row each, FLOPs and JSON."""

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from fastmri_pl.bench import achieved_tflops, run, step_flops
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.cli import CONFIG_DIR
from fastmri_pl.memory.estimate import with_levers
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runtime.precision import cpu_precision

pytestmark = pytest.mark.slow  # end-to-end runs of the commands


def test_one_model_two_profiles_one_step_prints_rows_and_writes_json(capsys, tmp_path: Path):
    output = tmp_path / "bench.json"
    overrides = [
        "bench.models=[varnet_small]",
        "bench.profiles=[cpu,gtx1080]",
        "bench.steps=1",
        "bench.warmup=0",
        "bench.cpu_shape={coils: 2, height: 32, width: 32}",
        f"bench.output={output}",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=overrides)
        reference, row = run(cfg)
        with pytest.raises(SystemExit, match="bench.output .* exists"):
            run(cfg)
    # the lever-free profile is the reference itself, never a second, noisier timing of the same thing
    assert (reference.levers, reference.relative_step) == ("none/s0/c0", 1.0)
    assert (row.model, row.profile, row.precision, row.height) == ("VarNet", "gtx1080", "bf16-mixed", 32)
    assert row.levers == "cascade:7/s1/c20"
    assert row.params > 0 and row.step_seconds > 0 and row.relative_step > 0
    assert 0 < row.infer_peak_gib <= row.train_peak_gib
    assert row.max_allocated_gib is None and row.max_reserved_gib is None  # no allocator on CPU
    assert row.step_tflop > 0
    assert row.achieved_tflops == pytest.approx(row.step_tflop / row.step_seconds, rel=2e-3)
    printed = capsys.readouterr().out
    assert "CPU run" in printed and "achieved_tflops" in printed
    assert "| cpu | VarNet | gtx1080 | bf16-mixed | cascade:7/s1/c20 |" in printed
    document = json.loads(output.read_text())
    assert document["device"] == "cpu" and document["rows"][1]["step_tflop"] == row.step_tflop


def test_step_flops_count_the_recompute_of_checkpointing():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=["model=varnet_small"])
    shape = BatchShape(coils=2, height=24, width=16, adj_slices=1)
    plain = step_flops(with_levers(cfg, MemoryLevers()), shape)
    checkpointed = step_flops(with_levers(cfg, MemoryLevers(checkpoint="cascade")), shape)
    assert plain > 0 and checkpointed > plain  # the forward again inside the backward


def test_achieved_tflops_is_flops_over_seconds():
    assert achieved_tflops(3_000_000_000_000, 1.5) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        achieved_tflops(1, 0.0)


def test_cpu_runs_fp16_profiles_as_bf16():
    assert cpu_precision("16-mixed") == "bf16-mixed" and cpu_precision("32-true") == "32-true"
