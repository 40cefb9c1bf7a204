"""`python -m fastmri_pl.bench` on CPU: one model x two profiles x one step: a row each, FLOPs and JSON; an
out-of-memory error (injected) is a row, not a crash."""

import json
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR, bench
from fastmri_pl.bench import achieved_tflops, bench_shape, default_rows, run, step_flops
from fastmri_pl.errors import DataError
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import with_levers
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runtime.precision import cpu_precision

pytestmark = pytest.mark.slow  # end-to-end runs of the commands


TINY = [
    "bench.models=[varnet_small]",
    "bench.profiles=[cpu,gtx1080]",
    "bench.steps=1",
    "bench.warmup=0",
    "bench.cpu_shape={coils: 2, height: 32, width: 32}",
]


def test_one_model_two_profiles_one_step_prints_rows_and_writes_json(capsys, tmp_path: Path):
    output = tmp_path / "bench.json"
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=[*TINY, f"bench.output={output}"])
        reference, row, baseline = run(cfg)
        with pytest.raises(DataError, match="bench.output: .* exists"):
            run(cfg)
    # the lever-free profile is the reference itself, never a second, noisier timing of the same thing
    assert (reference.levers, reference.relative_step, reference.fits) == ("none/s0/c0", 1.0, True)
    assert (row.model, row.profile, row.precision, row.height) == ("VarNet", "gtx1080", "bf16-mixed", 32)
    assert row.levers == "cascade:7/s1/c20" and row.fits is True and row.note == ""
    # the levers' row is timed first; the same profile without levers comes after it, as its reference
    assert (baseline.profile, baseline.levers, baseline.precision) == ("gtx1080", "none/s0/c0", "bf16-mixed")
    assert row.relative_step == pytest.approx(row.step_seconds / baseline.step_seconds, abs=0.01)
    assert row.params > 0 and row.step_seconds > 0 and row.relative_step > 0
    assert 0 < row.infer_peak_gib <= row.train_peak_gib
    # what the gtx1080 card must hold: the tensors' reserved peak + 0.25 workspace + 0.7 context (modelled)
    assert row.est_train_card_gib >= row.train_peak_gib + 0.95 - 0.001
    assert row.est_infer_card_gib >= row.infer_peak_gib + 0.95 - 0.001
    assert reference.est_train_card_gib >= reference.train_peak_gib  # cpu: no card beyond the tensors
    # no allocator on CPU: nothing measured on a card, no ratio to the estimate
    assert (row.card, row.max_allocated_gib, row.max_reserved_gib, row.train_ratio) == (
        "cpu",
        None,
        None,
        None,
    )
    assert row.step_tflop > 0
    assert row.achieved_tflops == pytest.approx(row.step_tflop / row.step_seconds, rel=2e-3)
    printed = capsys.readouterr().out
    assert "CPU run" in printed and "achieved_tflops" in printed
    assert "estimate (composed) of VarNet gtx1080 cascade:7/s1/c20:" in printed
    assert "| cpu | VarNet | gtx1080 | bf16-mixed | cascade:7/s1/c20 |" in printed
    document = json.loads(output.read_text())
    assert document["device"] == "cpu" and document["rows"][1]["step_tflop"] == row.step_tflop


def test_an_out_of_memory_row_is_a_row_and_the_bench_goes_on(monkeypatch, capsys, tmp_path: Path):
    """The first timed row (cpu) runs out of memory: it is reported as not fitting, the next rows run, the
    command ends normally (exit 0) and the JSON says which row did not fit and why."""
    output = tmp_path / "bench.json"
    real_time_steps = bench.time_steps
    calls = []

    def out_of_memory_once(*args, **kwargs):
        calls.append(args[0].hardware.levers)
        if len(calls) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_time_steps(*args, **kwargs)

    monkeypatch.setattr(bench, "time_steps", out_of_memory_once)
    monkeypatch.setattr(sys, "argv", ["bench", *TINY, "bench.flops=false", f"bench.output={output}"])
    bench.main()  # returns: no SystemExit, no traceback
    rows = json.loads(output.read_text())["rows"]
    assert len(calls) == 3 and len(rows) == 3
    failed, fitted, baseline = rows
    assert failed["profile"] == "cpu" and failed["fits"] is False
    assert failed["note"] == "does not fit: out of memory while timing the training steps"
    assert failed["step_seconds"] is None and failed["relative_step"] is None
    assert failed["est_train_card_gib"] > 0  # the estimate stands beside the row that did not fit
    assert fitted["profile"] == "gtx1080" and fitted["fits"] is True and fitted["step_seconds"] > 0
    assert baseline["fits"] is True and fitted["relative_step"] > 0
    assert "does not fit: out of memory while timing the training steps" in capsys.readouterr().out


def test_an_error_that_is_not_out_of_memory_still_stops_the_bench(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(bench, "time_steps", broken)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=[*TINY, "bench.flops=false"])
        with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
            run(cfg)


def test_default_rows_follow_the_device():
    """Left null, the rows are the full-size models under the GPU profiles on CUDA, the small ones on CPU."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("bench", overrides=["model=promptmr"])
    gpu, cpu = torch.device("cuda"), torch.device("cpu")
    assert default_rows(cfg.bench, gpu) == (["promptmr", "varnet"], ["gtx1080", "rtx4070"])
    assert default_rows(cfg.bench, cpu) == (["varnet_small", "promptmr_small"], ["cpu", "gtx1080"])
    shape = bench_shape(cfg, gpu)
    # the SNU shape the GPU profiles are planned at: 20 coils x 5 slices, 768 rows cropped to 384 x 396
    assert (shape.coils, shape.adj_slices, shape.height, shape.width) == (20, 5, 384, 396)


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
