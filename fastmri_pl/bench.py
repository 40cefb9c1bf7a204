"""`python -m fastmri_pl.bench`: real training steps per model x hardware profile, beside the estimates.

Each row: model, profile, precision, levers, parameters, the k-space height run (the readout crop's when
`bench.readout_crop`), the estimator's train and inference peaks, seconds per step, the step time relative to
the same model without levers (same run; a profile without levers is that reference itself: 1.0), the FLOPs
of one training step (`FlopCounterMode` on fake tensors: forward, backward and checkpoint recompute of the
same step) and the achieved TFLOPS (those FLOPs / measured seconds). On a GPU the rows add the training
steps' `torch.cuda.max_memory_allocated` and `max_memory_reserved` at the SNU brain shape; on CPU those stay
empty, the shape is small and GPU profiles run with the precision CPU offers (bf16 for 16-mixed). The
profile's `cudnn_benchmark` and `channels_last` apply. `bench.output=FILE` writes the rows as JSON; the
markdown rows printed at the end are the README's.
"""

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import hydra
import torch
from hydra import compose
from omegaconf import DictConfig, OmegaConf
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.auto import resolve_levers
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import estimate_full, with_levers
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.trace import first_optimizer
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import write_atomically
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format
from fastmri_pl.runtime.gpu_check import check_cuda_build
from fastmri_pl.runtime.precision import autocast, cpu_precision, traced_autocast, uses_grad_scaler
from fastmri_pl.runtime.sync import synchronize
from fastmri_pl.training import factory

NO_LEVERS = MemoryLevers()
TERA = 1e12


@dataclass(frozen=True)
class BenchRow:
    model: str
    profile: str
    precision: str
    levers: str
    params: int
    height: int
    train_peak_gib: float
    infer_peak_gib: float
    max_allocated_gib: float | None
    max_reserved_gib: float | None
    step_seconds: float
    relative_step: float
    step_tflop: float
    achieved_tflops: float


@dataclass(frozen=True)
class StepTiming:
    """Mean seconds per training step; on CUDA also the steps' peak allocated and reserved bytes."""

    seconds: float
    max_allocated: int | None = None
    max_reserved: int | None = None


def time_steps(
    cfg: DictConfig, shape: BatchShape, device: torch.device, steps: int, warmup: int
) -> StepTiming:
    """Real training steps (forward, backward, optimizer step): mean seconds after `warmup` untimed ones."""
    set_cudnn_benchmark(cfg.hardware)
    module = to_memory_format(factory.build_module(cfg).to(device).train(), cfg.hardware)
    optimizer = first_optimizer(module.configure_optimizers())
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in shape().items()}
    precision = str(cfg.hardware.precision)
    # CPU steps stand in for a GPU's, with the 16-bit casts the memory trace uses
    casts = traced_autocast(precision) if device.type == "cpu" else autocast(precision, device)
    scaler = torch.amp.GradScaler(device.type, enabled=uses_grad_scaler(precision, device))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elapsed = 0.0
    for index in range(warmup + steps):
        synchronize(device)
        started = time.perf_counter()
        with casts:
            loss = module.compute_loss(batch)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        synchronize(device)
        if index >= warmup:
            elapsed += time.perf_counter() - started
    if device.type != "cuda":
        return StepTiming(elapsed / steps)
    return StepTiming(
        elapsed / steps, torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)
    )


def step_flops(cfg: DictConfig, shape: BatchShape) -> int:
    """FLOPs of one training step (forward, backward, recompute) by `FlopCounterMode`, on fake tensors."""
    counter = FlopCounterMode(display=False)
    with FakeTensorMode(allow_non_fake_inputs=True):
        module = factory.build_module(cfg).train()
        batch = shape()
        with counter:
            with traced_autocast(str(cfg.hardware.precision)):
                loss = module.compute_loss(batch)
            loss.backward()
    return counter.get_total_flops()


def achieved_tflops(flops: int, seconds: float) -> float:
    """TFLOP per second of a step of `flops` that took `seconds`."""
    if seconds <= 0:
        raise ValueError(f"a measured step takes a positive time, got {seconds} s")
    return flops / seconds / TERA


def bench_row(
    cfg: DictConfig, profile: str, device: torch.device, steps: int, warmup: int, baseline: StepTiming | None
) -> BenchRow:
    cfg = resolve_levers(cfg)
    shape = _shape(cfg, device)
    levers = factory.build_levers(cfg)
    run_cfg = with_levers(cfg, levers)
    # a profile without levers is the reference itself: timing it again would only measure noise and warm-up
    timing = (
        baseline if levers == NO_LEVERS and baseline else time_steps(run_cfg, shape, device, steps, warmup)
    )
    estimate = estimate_full(cfg, shape, levers)
    flops = step_flops(run_cfg, shape)
    params = sum(p.numel() for p in factory.build_net(run_cfg).parameters())
    return BenchRow(
        model=str(cfg.model.net._target_).rsplit(".", 1)[-1],
        profile=profile,
        precision=str(cfg.hardware.precision),
        levers=_levers_text(levers),
        params=params,
        height=shape.height,
        train_peak_gib=round(estimate.train_peak / GIB, 3),
        infer_peak_gib=round(estimate.infer_peak / GIB, 3),
        max_allocated_gib=_gib(timing.max_allocated),
        max_reserved_gib=_gib(timing.max_reserved),
        step_seconds=round(timing.seconds, 4),
        relative_step=round(timing.seconds / baseline.seconds, 2) if baseline else 1.0,
        step_tflop=_significant(flops / TERA),
        achieved_tflops=_significant(achieved_tflops(flops, timing.seconds)),
    )


def run(cfg: DictConfig) -> list[BenchRow]:
    """Every model x profile of `cfg.bench`, each beside the same model and precision with no levers."""
    check_cuda_build("cuda")
    output = _check_output(cfg.bench.get("output"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        print("CPU run: small shape, no allocator statistics, 16-mixed profiles run as bf16-mixed")
    rows = []
    for model in cfg.bench.models:
        for profile in cfg.bench.profiles:
            run_cfg = compose("bench", overrides=[f"model={model}", f"hardware={profile}"])
            run_cfg = OmegaConf.merge(run_cfg, {"bench": cfg.bench})
            if device.type == "cpu":
                run_cfg.hardware.precision = cpu_precision(str(run_cfg.hardware.precision))
            bare = with_levers(run_cfg, NO_LEVERS)
            baseline = time_steps(bare, _shape(bare, device), device, cfg.bench.steps, cfg.bench.warmup)
            rows.append(bench_row(run_cfg, profile, device, cfg.bench.steps, cfg.bench.warmup, baseline))
            print(format_row(rows[-1], header=len(rows) == 1), flush=True)
    print(markdown_rows(rows, _device_name(device)))
    if output is not None:
        _write_json(output, rows, _device_name(device))
        print(f"wrote {output}")
    return rows


def format_row(row: BenchRow, header: bool = False) -> str:
    cells = asdict(row)
    widths = {"model": 10, "profile": 8, "precision": 10, "levers": 26, "params": 11}
    line = " ".join(f"{str(value):>{widths.get(key, 9)}}" for key, value in cells.items())
    if not header:
        return line
    head = " ".join(f"{key:>{widths.get(key, 9)}}" for key in cells)
    return head + "\n" + line


def markdown_rows(rows: list[BenchRow], device: str) -> str:
    """The rows as a markdown table for the README, the device named in every row."""
    keys = list(asdict(rows[0])) if rows else []
    lines = ["| device | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in rows:
        cells = ["—" if value is None else str(value) for value in asdict(row).values()]
        lines.append(f"| {device} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _check_output(output: str | None) -> Path | None:
    """`bench.output`, refused when the file exists: an earlier run's figures are never replaced silently."""
    if not output:
        return None
    path = Path(output)
    if path.exists():
        raise SystemExit(f"error: bench.output {path} exists; remove it or pass another file")
    return path


def _write_json(path: Path, rows: list[BenchRow], device: str) -> None:
    document = {"device": device, "rows": [asdict(r) for r in rows]}
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _significant(value: float) -> float:
    """Four significant digits: CPU steps at small shapes are a few GFLOP, GPU steps tens of TFLOP."""
    return float(f"{value:.4g}")


def _gib(nbytes: int | None) -> float | None:
    return None if nbytes is None else round(nbytes / GIB, 3)


def _shape(cfg: DictConfig, device: torch.device) -> BatchShape:
    sizes = cfg.bench.gpu_shape if device.type == "cuda" else cfg.bench.cpu_shape
    shape = BatchShape(adj_slices=int(cfg.model.num_adj_slices), **{k: int(v) for k, v in sizes.items()})
    return shape.readout_cropped() if cfg.bench.get("readout_crop") else shape


def _levers_text(levers: MemoryLevers) -> str:
    """e.g. `cascade:6/s1/c20/off`: checkpoint (of the first N cascades), sens and coil chunks, offload."""
    count = f":{levers.checkpoint_cascades}" if levers.checkpoint_cascades else ""
    return f"{levers.checkpoint}{count}/s{levers.sens_chunk}/c{levers.coil_chunk}" + (
        "/off" if levers.offload else ""
    )


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
