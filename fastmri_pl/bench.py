"""`python -m fastmri_pl.bench`: real training steps per model x hardware profile, beside the estimates.

Rows: every model of `bench.models` under every profile of `bench.profiles` with the profile's levers, then
(`bench.baseline`) each model again without levers, the reference of `relative_step`. Left null, the rows are
the device's defaults (`bench.gpu_defaults`, `bench.cpu_defaults`): on a GPU the full-size models under the
shipped GPU profiles at the SNU shape the profiles are planned for (20 coils, 768 readout rows cropped to
384 x 396), each profile's budget emulated on a bigger card (`callbacks.memory.emulate_card`); on CPU the
small models at a small shape, GPU profiles running with the precision CPU offers (bf16 for 16-mixed).

Each row holds the estimator's figures for itself (`bench.estimate`: the planner's composed estimate, or a
full trace): the tensors' training and inference peaks and what the card must hold for each (`memory.card`:
reserved + workspace + context). On CUDA beside them what the card held: the training steps'
`max_memory_allocated` and `max_memory_reserved`, one inference pass's reserved peak, the memory outside the
allocator (CUDA context and library handles, from `mem_get_info`), the needs these make (reserved + outside)
and their ratio to the estimate's. Then seconds per step, the step time relative to no levers, the FLOPs of
one training step (`bench.flops`: `FlopCounterMode` on fake tensors, recompute included) and the achieved
TFLOPS.

Out of memory on a row is a row (`fits: false`, `note` says what was being measured), never a crash: the
memory is freed before the next row. The levers' rows come first; a full-size model without levers needs tens
of GiB, so `bench.baseline=auto` times it only where its estimate fits the card. `bench.output=FILE` writes
the rows as JSON; the markdown rows printed at the end are the README's.
"""

import gc
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch
from hydra import compose
from omegaconf import DictConfig, OmegaConf
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from fastmri_pl.callbacks.memory import emulate_card
from fastmri_pl.errors import DataError
from fastmri_pl.memory.auto import resolve_levers
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import reconstruct_forward, with_levers
from fastmri_pl.memory.oom import is_out_of_memory
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.row_estimate import RowEstimate, estimate_key, estimate_row, read_estimates
from fastmri_pl.memory.trace import first_optimizer
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import write_atomically
from fastmri_pl.runtime.command import command
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format
from fastmri_pl.runtime.precision import autocast, cpu_precision, traced_autocast, uses_grad_scaler
from fastmri_pl.runtime.sync import synchronize
from fastmri_pl.training import build

log = logging.getLogger(__name__)

NO_LEVERS = MemoryLevers()
TERA = 1e12
DOES_NOT_FIT = "does not fit: out of memory"
T = TypeVar("T")


@dataclass(frozen=True)
class BenchRow:
    """One model x profile (x levers) row; GiB figures. Measured fields are None where nothing was measured
    (CPU: no allocator statistics; a row that did not fit: no step time)."""

    model: str
    profile: str
    precision: str
    levers: str
    params: int
    coils: int
    height: int
    width: int
    # True: measured to the end; False: out of memory (see note); None: not measured (see note)
    fits: bool | None
    note: str
    # the card: "cpu", "emulated" (allocator capped at cap_gib), "card" (no larger than the profile's)
    card: str
    device_gib: float | None
    cap_gib: float | None
    train_peak_gib: float
    infer_peak_gib: float
    est_train_card_gib: float
    est_infer_card_gib: float
    max_allocated_gib: float | None
    max_reserved_gib: float | None
    outside_gib: float | None
    train_card_gib: float | None
    train_ratio: float | None
    infer_card_gib: float | None
    infer_ratio: float | None
    step_seconds: float | None
    relative_step: float | None
    step_tflop: float | None
    achieved_tflops: float | None


@dataclass(frozen=True)
class StepTiming:
    """Mean seconds per training step; on CUDA also the steps' peak allocated and reserved bytes and the bytes
    the card held outside the allocator right after them."""

    seconds: float
    max_allocated: int | None = None
    max_reserved: int | None = None
    outside: int | None = None


@dataclass(frozen=True)
class InferenceMemory:
    """One inference pass on CUDA: the allocator's reserved peak and the bytes held outside it."""

    max_reserved: int
    outside: int


@dataclass(frozen=True)
class RowSetup:
    """What a row runs: its config (levers resolved), the batch shape and the levers."""

    cfg: DictConfig
    profile: str
    shape: BatchShape
    levers: MemoryLevers


def default_rows(bench: DictConfig, device: torch.device) -> tuple[list[str], list[str]]:
    """`bench.models` and `bench.profiles`, each left null taken from the device's defaults."""
    defaults = bench.gpu_defaults if device.type == "cuda" else bench.cpu_defaults
    models = bench.models if bench.get("models") is not None else defaults.models
    profiles = bench.profiles if bench.get("profiles") is not None else defaults.profiles
    return [str(m) for m in models], [str(p) for p in profiles]


def outside_allocator(device: torch.device) -> int:
    """Bytes in use on the card that the caching allocator does not hold: the CUDA context, loaded kernels,
    library handles (and any other process on the same card)."""
    free, total = torch.cuda.mem_get_info(device)
    return total - free - torch.cuda.memory_reserved(device)


def time_steps(
    cfg: DictConfig, shape: BatchShape, device: torch.device, steps: int, warmup: int
) -> StepTiming:
    """Real training steps (forward, backward, optimizer step): mean seconds after `warmup` untimed ones."""
    set_cudnn_benchmark(cfg.hardware)
    module = to_memory_format(build.build_module(cfg).to(device).train(), cfg.hardware)
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
        elapsed / steps,
        torch.cuda.max_memory_allocated(device),
        torch.cuda.max_memory_reserved(device),
        outside_allocator(device),
    )


def inference_memory(cfg: DictConfig, shape: BatchShape, device: torch.device) -> InferenceMemory:
    """One inference pass as `reconstruct` runs a window (no autograd, weights only) on CUDA: its peaks."""
    set_cudnn_benchmark(cfg.hardware)
    module = to_memory_format(build.build_module(cfg).to(device).eval(), cfg.hardware)
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in shape().items()}
    torch.cuda.reset_peak_memory_stats(device)
    with torch.inference_mode(), autocast(str(cfg.hardware.precision), device):
        reconstruct_forward(module, batch)
    synchronize(device)
    return InferenceMemory(torch.cuda.max_memory_reserved(device), outside_allocator(device))


def guarded(measure: Callable[[], T], what: str, device: torch.device, notes: list[str]) -> T | None:
    """`measure()`, or None after the card ran out of memory (noted: what was being measured); the memory
    is freed either way, so that the next row starts on an empty card."""
    try:
        return measure()
    except RuntimeError as error:  # torch.cuda.OutOfMemoryError is one; cuDNN/cuFFT failures are plain ones
        if not is_out_of_memory(error):
            raise
        notes.append(f"{DOES_NOT_FIT} while {what}")
        return None
    finally:
        release(device)


def release(device: torch.device) -> None:
    """Free what the last measurement left: collect its objects, hand cached blocks back, reset the peaks."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def step_flops(cfg: DictConfig, shape: BatchShape) -> int:
    """FLOPs of one training step (forward, backward, recompute) by `FlopCounterMode`, on fake tensors."""
    counter = FlopCounterMode(display=False)
    with FakeTensorMode(allow_non_fake_inputs=True):
        module = build.build_module(cfg).train()
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


def row_setup(cfg: DictConfig, profile: str, device: torch.device) -> RowSetup:
    """A profile row's config with its levers resolved (`auto`: the planner's), its shape and its levers."""
    cfg = resolve_levers(cfg)
    return RowSetup(cfg, profile, bench_shape(cfg, device), build.build_levers(cfg))


def row_estimate(setup: RowSetup, bench: DictConfig, known: dict[str, RowEstimate]) -> RowEstimate:
    """The row's estimate: from `known` (`bench.estimates`) when filed under its key, else computed."""
    method = str(bench.estimate)
    what = f"{_model_name(setup.cfg)} {setup.profile} {_levers_text(setup.levers)}"
    key = estimate_key(setup.cfg, setup.shape, setup.levers, method)
    if key in known:
        log.info(f"estimate ({method}) of {what}: read from {bench.estimates}")
        return known[key]
    estimate = estimate_row(setup.cfg, setup.shape, setup.levers, method)
    log.info(f"estimate ({method}) of {what}: {estimate.seconds:.1f} s")
    return estimate


def bench_row(
    setup: RowSetup,
    estimate: RowEstimate,
    device: torch.device,
    bench: DictConfig,
    measure: bool = True,
    why_not: str = "",
) -> BenchRow:
    """The row beside its `estimate`: with `measure`, run on `device` (training steps, and on CUDA an
    inference pass), each out-of-memory error a note instead of a crash; else `why_not` is the row's note."""
    run_cfg = with_levers(setup.cfg, setup.levers)
    notes: list[str] = [] if measure else [why_not]
    timing = inference = None
    with profile_card(setup, device) as (kind, cap):
        if measure:
            timing = guarded(
                lambda: time_steps(run_cfg, setup.shape, device, int(bench.steps), int(bench.warmup)),
                "timing the training steps",
                device,
                notes,
            )
            if device.type == "cuda":
                inference = guarded(
                    lambda: inference_memory(run_cfg, setup.shape, device),
                    "measuring the inference pass",
                    device,
                    notes,
                )
    flops = step_flops(run_cfg, setup.shape) if bench.flops else None
    est_train, est_infer = estimate.train_card, estimate.infer_card
    train_need = _need(timing.max_reserved, timing.outside) if timing else None
    infer_need = _need(inference.max_reserved, inference.outside) if inference else None
    seconds = timing.seconds if timing else None
    return BenchRow(
        model=_model_name(setup.cfg),
        profile=setup.profile,
        precision=str(setup.cfg.hardware.precision),
        levers=_levers_text(setup.levers),
        params=estimate.params,
        coils=setup.shape.coils,
        height=setup.shape.height,
        width=setup.shape.width,
        fits=(not notes) if measure else None,
        note="; ".join(notes),
        card=kind,
        device_gib=_gib(torch.cuda.get_device_properties(device).total_memory)
        if device.type == "cuda"
        else None,
        cap_gib=_gib(cap),
        train_peak_gib=round(estimate.train_peak / GIB, 3),
        infer_peak_gib=round(estimate.infer_peak / GIB, 3),
        est_train_card_gib=round(est_train / GIB, 3),
        est_infer_card_gib=round(est_infer / GIB, 3),
        max_allocated_gib=_gib(timing.max_allocated) if timing else None,
        max_reserved_gib=_gib(timing.max_reserved) if timing else None,
        outside_gib=_gib(timing.outside) if timing else None,
        train_card_gib=_gib(train_need),
        train_ratio=_ratio(train_need, est_train),
        infer_card_gib=_gib(infer_need),
        infer_ratio=_ratio(infer_need, est_infer),
        step_seconds=round(seconds, 4) if seconds else None,
        relative_step=1.0 if setup.levers == NO_LEVERS and seconds else None,
        step_tflop=_significant(flops / TERA) if flops is not None else None,
        achieved_tflops=_significant(achieved_tflops(flops, seconds)) if flops and seconds else None,
    )


@contextmanager
def profile_card(setup: RowSetup, device: torch.device) -> Iterator[tuple[str, int | None]]:
    """While inside, the card behaves like the profile's (`emulate_card`); yields its kind and the cap. A row
    without levers is a time reference only: it runs on the whole card."""
    if device.type != "cuda":
        yield "cpu", None
        return
    emulated = emulate_card(setup.cfg.hardware, device) if setup.levers != NO_LEVERS else None
    if emulated is not None:
        log.info(emulated.line)
    try:
        yield (
            ("emulated" if emulated is not None and emulated.cap is not None else "card"),
            (emulated.cap if emulated is not None else None),
        )
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)


def baseline_decision(setting: Any, estimate: RowEstimate, device: torch.device) -> str:
    """Why the row without levers is not timed ("" to time it), by `bench.baseline`: true, false or auto.

    auto: on CUDA only where the estimate's need fits the whole card (a full-size model without levers needs
    tens of GiB); on CPU always (no card limit)."""
    if setting is True or setting is False:
        return "" if setting else "not timed: bench.baseline=false"
    if setting != "auto":
        raise ValueError(f"bench.baseline must be true, false or auto, got {setting!r}")
    if device.type != "cuda":
        return ""
    need = estimate.train_card
    total = torch.cuda.get_device_properties(device).total_memory
    if need <= total:
        return ""
    return (
        f"not timed: the estimate's {need / GIB:.2f} GiB pass this card's {total / GIB:.2f} GiB "
        "(bench.baseline=true times it anyway)"
    )


def with_relative_steps(rows: list[BenchRow], baselines: dict[str, BenchRow]) -> list[BenchRow]:
    """Each row's step time over its profile's baseline (None where either was not timed)."""
    relative = []
    for row in rows:
        base = baselines.get(row.profile)
        if base is not None and base.step_seconds and row.step_seconds:
            row = replace(row, relative_step=round(row.step_seconds / base.step_seconds, 2))
        relative.append(row)
    return relative


def profile_config(cfg: DictConfig, model: str, profile: str, device: torch.device) -> DictConfig:
    run_cfg = compose("bench", overrides=[f"model={model}", f"hardware={profile}"])
    run_cfg = OmegaConf.merge(run_cfg, {"bench": cfg.bench})
    if device.type == "cpu":
        run_cfg.hardware.precision = cpu_precision(str(run_cfg.hardware.precision))
    return run_cfg


def run(cfg: DictConfig) -> list[BenchRow]:
    """Every model x profile of `cfg.bench` with the profile's levers, then each model without levers."""
    output = _check_output(cfg.bench.get("output"))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        log.info("CPU run: small shape, no allocator statistics, 16-mixed profiles run as bf16-mixed")
    models, profiles = default_rows(cfg.bench, device)
    known = read_estimates(cfg.bench.get("estimates"))
    rows: list[BenchRow] = []
    printed = 0

    def show(row: BenchRow) -> BenchRow:
        nonlocal printed
        printed += 1
        print(format_row(row, header=printed == 1), flush=True)
        return row

    for model in models:
        setups = [row_setup(profile_config(cfg, model, p, device), p, device) for p in profiles]
        lever_rows = [
            show(bench_row(setup, row_estimate(setup, cfg.bench, known), device, cfg.bench))
            for setup in setups
        ]
        # a profile without levers is the reference itself: timing it again would only measure noise
        baselines = {row.profile: row for row in lever_rows if row.levers == _levers_text(NO_LEVERS)}
        baseline_rows = []
        for setup in setups:
            if setup.profile in baselines or cfg.bench.baseline is False:
                continue
            bare = replace(setup, levers=NO_LEVERS, cfg=with_levers(setup.cfg, NO_LEVERS))
            estimate = row_estimate(bare, cfg.bench, known)
            why_not = baseline_decision(cfg.bench.baseline, estimate, device)
            row = show(bench_row(bare, estimate, device, cfg.bench, measure=not why_not, why_not=why_not))
            baselines[setup.profile] = row
            baseline_rows.append(row)
        rows += with_relative_steps(lever_rows, baselines) + baseline_rows
    print(markdown_rows(rows, _device_name(device)))
    if output is not None:
        _write_json(output, rows, _device_name(device))
        log.info(f"wrote {output}")
    return rows


def format_row(row: BenchRow, header: bool = False) -> str:
    cells = asdict(row)
    widths = {"model": 10, "profile": 8, "precision": 10, "levers": 26, "params": 11, "note": 0}
    line = " ".join(f"{_cell(value):>{widths.get(key, 9)}}" for key, value in cells.items())
    if not header:
        return line
    head = " ".join(f"{key:>{widths.get(key, 9)}}" for key in cells)
    return head + "\n" + line


def markdown_rows(rows: list[BenchRow], device: str) -> str:
    """The rows as a markdown table for the README, the device named in every row."""
    keys = list(asdict(rows[0])) if rows else []
    lines = ["| device | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for row in rows:
        cells = [_cell(value) for value in asdict(row).values()]
        lines.append(f"| {device} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    return "—" if value is None or value == "" else str(value)


def _check_output(output: str | None) -> Path | None:
    """`bench.output`, refused when the file exists: an earlier run's figures are never replaced silently."""
    if not output:
        return None
    path = Path(output)
    if path.exists():
        raise DataError("bench.output", f"{path} exists; remove it or pass another file")
    return path


def _write_json(path: Path, rows: list[BenchRow], device: str) -> None:
    document = {"device": device, "rows": [asdict(r) for r in rows]}
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _model_name(cfg: DictConfig) -> str:
    return str(cfg.model.net._target_).rsplit(".", 1)[-1]


def _significant(value: float) -> float:
    """Four significant digits: CPU steps at small shapes are a few GFLOP, GPU steps tens of TFLOP."""
    return float(f"{value:.4g}")


def _gib(nbytes: int | None) -> float | None:
    return None if nbytes is None else round(nbytes / GIB, 3)


def _need(reserved: int | None, outside: int | None) -> int | None:
    """What the card held for a measurement: the allocator's reserved peak plus the memory outside it."""
    return None if reserved is None or outside is None else reserved + outside


def _ratio(measured: int | None, estimated: int) -> float | None:
    return None if measured is None or estimated <= 0 else round(measured / estimated, 3)


def bench_shape(cfg: DictConfig, device: torch.device) -> BatchShape:
    """The row's batch: `bench.gpu_shape` on CUDA, `bench.cpu_shape` on CPU, readout-cropped with
    `bench.readout_crop`; adjacent slices from the model."""
    sizes = cfg.bench.gpu_shape if device.type == "cuda" else cfg.bench.cpu_shape
    shape = BatchShape(adj_slices=int(cfg.model.num_adj_slices), **{k: int(v) for k, v in sizes.items()})
    return shape.readout_cropped() if cfg.bench.get("readout_crop") else shape


def _levers_text(levers: MemoryLevers) -> str:
    """e.g. `cascade:6/s1/c20/off`: checkpoint (of the first N cascades), sens and coil chunks, offload."""
    count = f":{levers.checkpoint_cascades}" if levers.checkpoint_cascades else ""
    return f"{levers.checkpoint}{count}/s{levers.sens_chunk}/c{levers.coil_chunk}" + (
        "/off" if levers.offload else ""
    )


@command("bench", cuda="available")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
