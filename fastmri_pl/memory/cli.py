"""`python -m fastmri_pl.memory`: the GPU-free estimate of a model x hardware profile, or a lever plan.

Prints the phase peaks of one training step and of inference and what dominates the training peak, what the
card holds beyond them (the caching allocator's reserved peak, kernel workspaces, CUDA context:
`memory.card`), the work of a step and of a slice's inference and their projected times on the profile's card
(`memory.roofline`), and
writes them as JSON (`memory.output`). With `memory.plan=true` (or `hardware.levers=auto`) it searches the
lever settings for `hardware.memory_gb` and prints the candidate table and the fastest one that fits.
`memory.shape=data` (with `data=<config> data.root=DIR`) traces the data's largest samples instead of
`memory.coils/height/width` and sums the epoch per sample (`memory.data_plan`); the JSON then names them in
`planned_for`. Every run adds `ms_per_slice`, one slice's inference as `reconstruct` runs it at
`memory.slice_shape` (docs/memory.md).
"""

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from fastmri_pl.errors import DataError
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed, estimate_inference_composed
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.data_shapes import data_shapes
from fastmri_pl.memory.estimate import Estimate, estimate_full, estimate_inference_full, gib
from fastmri_pl.memory.planner import Plan, plan
from fastmri_pl.memory.report import format_bytes
from fastmri_pl.memory.roofline import DeviceSpeed, TimeEstimate, project_for, slice_ms
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import write_atomically
from fastmri_pl.runtime.command import command

log = logging.getLogger(__name__)


def batch_shape(cfg: DictConfig) -> BatchShape:
    """The traced batch: `memory.coils/height/width/adj_slices/batch_size`, with `memory.readout_crop` the
    height cropped to the target's (as `data.readout_crop` does)."""
    m = cfg.memory
    shape = BatchShape(
        coils=int(m.coils),
        height=int(m.height),
        width=int(m.width),
        adj_slices=int(m.adj_slices),
        batch_size=int(m.get("batch_size") or 1),
    )
    return shape.readout_cropped() if m.get("readout_crop") else shape


def profile_levers(cfg: DictConfig) -> MemoryLevers | None:
    """The profile's levers, or None when they are `auto` (left to the planner)."""
    levers = cfg.hardware.levers
    if isinstance(levers, str):
        if levers != "auto":
            raise ValueError(f"hardware.levers must be a mapping or 'auto', got {levers!r}")
        return None
    return MemoryLevers(**levers)


def describe(estimate: Estimate, shape: BatchShape, card: CardMemory) -> str:
    """Phase peaks, what the card holds for a training step, and what dominates the training peak."""
    lines = [
        f"{estimate.params:,} parameters; {estimate.precision}; levers {estimate.levers}; batch "
        f"{shape.batch_size} x {shape.adj_slices} slices x {shape.coils} coils x "
        f"{shape.height} x {shape.width}"
        f" ({estimate.method} trace, {estimate.seconds:.0f} s)",
        f"{'phase':<22}{'peak':>12}",
    ]
    lines += [f"{'train ' + name:<22}{format_bytes(nbytes):>12}" for name, nbytes in estimate.phases.items()]
    lines += [
        f"{'train (overall)':<22}{format_bytes(estimate.train_peak):>12}",
        f"{'train reserved':<22}{format_bytes(max(estimate.train_peak, estimate.train_reserved)):>12}"
        "  (caching allocator: + fragmentation)",
        f"{'+ workspace':<22}{format_bytes(card.workspace):>12}  (cuDNN/cuFFT, hardware.workspace_gib)",
        f"{'+ CUDA context':<22}{format_bytes(card.context):>12}  (hardware.context_gib)",
        f"{'= on the card':<22}{format_bytes(card.need(estimate.train_peak, estimate.train_reserved)):>12}"
        + ("" if card.total is None else f"  of {format_bytes(card.total)} (hardware.card_gib)"),
        f"{'host (offload)':<22}{format_bytes(estimate.host_peak):>12}",
        f"{'inference':<22}{format_bytes(estimate.infer_peak):>12}",
        "dominating the training peak:",
    ]
    lines += [f"  {format_bytes(nbytes):>12}  {source}" for source, nbytes in estimate.dominates]
    return "\n".join(lines)


def describe_time(time: TimeEstimate) -> str:
    """Work and projected times, for a terminal; the projection's assumption on the last line."""

    def span(values: tuple[float, float], unit: str, digits: int) -> str:
        return f"{values[0]:.{digits}f}-{values[1]:.{digits}f} {unit}"

    return "\n".join(
        [
            f"{'train work':<22}{time.train_tflop:>9.2f} TFLOP per step, host link {time.host_gb:.2f} GB",
            f"{'inference work':<22}{time.infer_tflop:>9.2f} TFLOP per slice",
            f"{'step':<22}{span(time.step_s, 's', 2):>16}",
            f"{'epoch':<22}{span(time.epoch_h, 'h', 1):>16}",
            f"{'leaderboard':<22}{span(time.leaderboard_s, 's', 0):>16}",
            f"projected: {time.assumption}",
        ]
    )


SHAPES = ("default", "data")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Estimate (or plan), print, and return the JSON document."""
    mode = str(cfg.memory.get("shape") or "default")
    if mode not in SHAPES:
        raise ValueError(f"memory.shape must be one of {SHAPES}, got {mode!r}")
    levers = profile_levers(cfg)
    card = CardMemory.from_config(cfg.hardware)  # a bad card key fails before minutes of tracing
    searching = bool(cfg.memory.plan) or levers is None
    document: dict[str, Any] = {"model": cfg.model.net._target_.rsplit(".", 1)[-1]}
    if mode == "data":
        shape, estimate, time, found = _for_data(cfg, None if searching else levers, document)
        readout_crop = bool(cfg.data.readout_crop)
    else:
        shape, readout_crop = batch_shape(cfg), bool(cfg.memory.get("readout_crop", False))
        estimate, found = _for_shape(cfg, shape, None if searching else levers)
        time = project_for(cfg, estimate.train_costs, estimate.infer_costs, shape.batch_size)
    document["shape"] = {
        "batch": shape.batch_size,
        "adj_slices": shape.adj_slices,
        "coils": shape.coils,
        "height": shape.height,
        "width": shape.width,
        "readout_crop": readout_crop,
    }
    if found is not None:
        print(found.table())
        log.info(f"chosen: {found.chosen.levers} — {found.reason}")
        document.update(found.as_json())
    print(describe(estimate, shape, card))
    print(describe_time(time))
    document.update(estimate.as_json())
    document.update(time.as_json())
    document.update(card.as_json(estimate))
    document["train_peak_gib"] = gib(estimate.train_peak)
    full = not searching and cfg.memory.method == "full"
    add_slice_times(cfg, document, estimate.levers, found, readout_crop, full)
    if cfg.memory.output:
        path = Path(cfg.memory.output)
        write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())
        log.info(f"wrote {path}")
    return document


def _for_shape(
    cfg: DictConfig, shape: BatchShape, levers: MemoryLevers | None
) -> tuple[Estimate, Plan | None]:
    """The profile's levers estimated at `shape` (`memory.method`), or the plan's choice (levers None)."""
    if levers is not None:
        method = {"full": estimate_full, "composed": estimate_composed}[cfg.memory.method]
        return method(cfg, shape, levers, int(cfg.memory.steps)), None
    budget = cfg.hardware.memory_gb
    if budget is None:
        raise ValueError("planning needs a budget: hardware.memory_gb is null in this profile")
    found = plan(
        cfg, shape, float(budget), float(cfg.memory.margin_gib), exhaustive=bool(cfg.memory.exhaustive)
    )
    return found.chosen.estimate, found


def _for_data(
    cfg: DictConfig, levers: MemoryLevers | None, document: dict[str, Any]
) -> tuple[BatchShape, Estimate, TimeEstimate, Plan | None]:
    """`memory.shape=data`: plan (levers None) or estimate at the data's largest samples; adds
    `planned_for` to `document`."""
    if cfg.get("data") is None:
        raise ValueError("memory.shape=data needs a data config: data=<snu|fastmri_knee|...> data.root=DIR")
    shapes = data_shapes(cfg.data)
    adj_slices, batch_size = int(cfg.memory.adj_slices), int(cfg.memory.get("batch_size") or 1)
    full = cfg.memory.method == "full" and levers is not None
    steps = int(cfg.memory.steps)
    planned = plan_for_data(
        cfg,
        shapes,
        levers,
        adj_slices=adj_slices,
        batch_size=batch_size,
        margin_gib=float(cfg.memory.margin_gib),
        exhaustive=bool(cfg.memory.exhaustive),
        estimator=(lambda c, s, lv: estimate_full(c, s, lv, steps)) if full else estimate_composed,
        infer_estimator=estimate_inference_full if full else estimate_inference_composed,
    )
    document["planned_for"] = planned.planned_for()
    shape = shapes.largest_train.batch(adj_slices, batch_size)
    return shape, planned.estimate, planned.time, planned.plan


def slice_shape(cfg: DictConfig, readout_crop: bool) -> BatchShape:
    """`memory.slice_shape` (the 2026 knee k-space by default) at batch 1, cropped as `reconstruct` would."""
    sizes = cfg.memory.slice_shape
    shape = BatchShape(
        coils=int(sizes.coils),
        height=int(sizes.height),
        width=int(sizes.width),
        adj_slices=int(cfg.memory.adj_slices),
    )
    return shape.readout_cropped() if readout_crop else shape


def add_slice_times(
    cfg: DictConfig,
    document: dict[str, Any],
    levers: MemoryLevers,
    found: Plan | None,
    readout_crop: bool,
    full: bool,
) -> None:
    """`ms_per_slice` [low, high] for the model and every candidate: one slice's inference pass as
    `reconstruct` runs it (batch 1, each slice's sensitivity maps once) at `memory.slice_shape`."""
    shape = slice_shape(cfg, readout_crop)
    speed, precision = DeviceSpeed.from_config(cfg.hardware), str(cfg.hardware.precision)

    def milliseconds(chosen: MemoryLevers) -> list[float]:
        estimate = (estimate_inference_full if full else estimate_inference_composed)(cfg, shape, chosen)
        return [float(f"{value:.4g}") for value in slice_ms(estimate.costs, speed, precision)]

    document["ms_per_slice"] = milliseconds(levers)
    document["ms_per_slice_shape"] = {
        "coils": shape.coils,
        "height": shape.height,
        "width": shape.width,
        "adj_slices": shape.adj_slices,
        "batch": 1,
    }
    if found is not None:
        document["chosen"]["ms_per_slice"] = document["ms_per_slice"]
        for entry, candidate in zip(document["candidates"], found.candidates, strict=True):
            entry["ms_per_slice"] = milliseconds(candidate.levers)
    low, high = document["ms_per_slice"]
    print(
        f"{'inference per slice':<22}{f'{low:.4g}-{high:.4g} ms':>16}  (batch 1 at {shape.coils} coils x "
        f"{shape.height} x {shape.width} x {shape.adj_slices} slices, memory.slice_shape)"
    )


@command("memory")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except DataError:  # a WriteError names its file
        raise
    except ValueError as error:  # NoLeversFit, a bad key of the profile or memory group
        raise DataError("memory", str(error)) from error
