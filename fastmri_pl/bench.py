"""`python -m fastmri_pl.bench`: real training steps and one inference pass per model x hardware profile.

Each row: model, profile, precision, levers, parameters, train and inference peaks, seconds per step, and the
step time relative to the same model without levers, measured in the same run. On a GPU the peaks are
`torch.cuda.max_memory_allocated` at the SNU brain shape; on CPU (no allocator statistics) they are the
estimator's figures at a small shape, and GPU profiles run with the precision CPU offers (bf16 for 16-mixed).
"""

import time
from dataclasses import asdict, dataclass
from typing import Any

import hydra
import torch
from hydra import compose
from omegaconf import DictConfig, OmegaConf

from fastmri_pl import CONFIG_DIR, factory
from fastmri_pl.gpu_check import check_cuda_build
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import estimate_full, with_levers
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.trace import autocast_for, first_optimizer
from fastmri_pl.models.levers import MemoryLevers

NO_LEVERS = MemoryLevers()


@dataclass(frozen=True)
class BenchRow:
    model: str
    profile: str
    precision: str
    levers: str
    params: int
    train_peak_gib: float
    infer_peak_gib: float
    peak_source: str
    step_seconds: float
    relative_step: float


def cpu_precision(precision: str) -> str:
    """What CPU can run of a profile's precision: fp16 autocast becomes bf16 (same element size)."""
    return "bf16-mixed" if precision == "16-mixed" else precision


def step_seconds(cfg: DictConfig, shape: BatchShape, device: torch.device, steps: int, warmup: int) -> float:
    """Mean seconds of a real training step (forward, backward, optimizer step) after `warmup` steps."""
    module = factory.build_module(cfg).to(device).train()
    optimizer = first_optimizer(module.configure_optimizers())
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in shape().items()}
    autocast = _autocast(str(cfg.hardware.precision), device)
    scaler = torch.amp.GradScaler(
        device.type, enabled=cfg.hardware.precision == "16-mixed" and device.type == "cuda"
    )
    elapsed = 0.0
    for index in range(warmup + steps):
        _sync(device)
        started = time.perf_counter()
        with autocast:
            loss = module.compute_loss(batch)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        _sync(device)
        if index >= warmup:
            elapsed += time.perf_counter() - started
    return elapsed / steps


def gpu_peaks(cfg: DictConfig, shape: BatchShape, device: torch.device) -> tuple[float, float]:
    """Measured peaks (GiB) of one training step and one inference pass on `device`."""
    peaks = []
    for training in (True, False):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        module = factory.build_module(cfg).to(device).train(training)
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in shape().items()}
        with _autocast(str(cfg.hardware.precision), device), torch.set_grad_enabled(training):
            output = module.compute_loss(batch) if training else module(batch)
        if training:
            output.backward()
        peaks.append(torch.cuda.max_memory_allocated(device) / GIB)
        del module, batch, output
    return peaks[0], peaks[1]


def bench_row(
    cfg: DictConfig, profile: str, device: torch.device, steps: int, warmup: int, baseline: float | None
) -> BenchRow:
    shape = _shape(cfg, device)
    levers = factory.build_levers(cfg)
    run_cfg = with_levers(cfg, levers)
    seconds = step_seconds(run_cfg, shape, device, steps, warmup)
    if device.type == "cuda":
        train_peak, infer_peak = gpu_peaks(run_cfg, shape, device)
        source = "measured"
    else:
        estimate = estimate_full(cfg, shape, levers)
        train_peak, infer_peak = estimate.train_peak / GIB, estimate.infer_peak / GIB
        source = "estimated"
    params = sum(p.numel() for p in factory.build_net(run_cfg).parameters())
    return BenchRow(
        model=str(cfg.model.net._target_).rsplit(".", 1)[-1],
        profile=profile,
        precision=str(cfg.hardware.precision),
        levers=_levers_text(levers),
        params=params,
        train_peak_gib=round(train_peak, 3),
        infer_peak_gib=round(infer_peak, 3),
        peak_source=source,
        step_seconds=round(seconds, 4),
        relative_step=round(seconds / baseline, 2) if baseline else 1.0,
    )


def run(cfg: DictConfig) -> list[BenchRow]:
    """Every model x profile of `cfg.bench`, each beside the same model and precision with no levers."""
    check_cuda_build("cuda")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        print("CPU run: small shape, peaks estimated (fake tensors), 16-mixed profiles run as bf16-mixed")
    rows = []
    for model in cfg.bench.models:
        for profile in cfg.bench.profiles:
            run_cfg = compose("bench", overrides=[f"model={model}", f"hardware={profile}"])
            run_cfg = OmegaConf.merge(run_cfg, {"bench": cfg.bench})
            if device.type == "cpu":
                run_cfg.hardware.precision = cpu_precision(str(run_cfg.hardware.precision))
            bare = with_levers(run_cfg, NO_LEVERS)
            baseline = step_seconds(bare, _shape(bare, device), device, cfg.bench.steps, cfg.bench.warmup)
            rows.append(bench_row(run_cfg, profile, device, cfg.bench.steps, cfg.bench.warmup, baseline))
            print(format_row(rows[-1], header=len(rows) == 1), flush=True)
    return rows


def format_row(row: BenchRow, header: bool = False) -> str:
    cells = asdict(row)
    widths = {"model": 10, "profile": 8, "precision": 10, "levers": 26, "params": 11}
    line = " ".join(f"{str(value):>{widths.get(key, 9)}}" for key, value in cells.items())
    if not header:
        return line
    head = " ".join(f"{key:>{widths.get(key, 9)}}" for key in cells)
    return head + "\n" + line


def _shape(cfg: DictConfig, device: torch.device) -> BatchShape:
    sizes = cfg.bench.gpu_shape if device.type == "cuda" else cfg.bench.cpu_shape
    return BatchShape(adj_slices=int(cfg.model.num_adj_slices), **{k: int(v) for k, v in sizes.items()})


def _levers_text(levers: MemoryLevers) -> str:
    return f"{levers.checkpoint}/s{levers.sens_chunk}/c{levers.coil_chunk}" + (
        "/off" if levers.offload else ""
    )


def _autocast(precision: str, device: torch.device) -> Any:
    if device.type == "cpu":
        return autocast_for(precision)
    if precision == "32-true":
        return torch.autocast("cuda", enabled=False)
    return torch.autocast("cuda", dtype=torch.float16 if precision == "16-mixed" else torch.bfloat16)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="bench")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
