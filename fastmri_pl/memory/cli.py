"""`python -m fastmri_pl.memory`: the GPU-free estimate of a model x hardware profile, or a lever plan.

Prints the phase peaks of one training step and of inference and what dominates the training peak, what the
card holds beyond them (the caching allocator's reserved peak, kernel workspaces, CUDA context:
`memory.card`), the work of a step and of a slice's inference and their projected times on the profile's card
(`memory.roofline`), and
writes them as JSON (`memory.output`). With `memory.plan=true` (or `hardware.levers=auto`) it searches the
lever settings for `hardware.memory_gb` and prints the candidate table and the fastest one that fits.
"""

import json
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, estimate_full, gib
from fastmri_pl.memory.planner import plan
from fastmri_pl.memory.report import format_bytes
from fastmri_pl.memory.roofline import TimeEstimate, project_for
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import write_atomically


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


def run(cfg: DictConfig) -> dict[str, Any]:
    """Estimate (or plan), print, and return the JSON document."""
    shape = batch_shape(cfg)
    levers = profile_levers(cfg)
    card = CardMemory.from_config(cfg.hardware)  # a bad card key fails before minutes of tracing
    document: dict[str, Any] = {
        "model": cfg.model.net._target_.rsplit(".", 1)[-1],
        "shape": {
            "batch": shape.batch_size,
            "adj_slices": shape.adj_slices,
            "coils": shape.coils,
            "height": shape.height,
            "width": shape.width,
            "readout_crop": bool(cfg.memory.get("readout_crop", False)),
        },
    }
    if cfg.memory.plan or levers is None:
        budget = cfg.hardware.memory_gb
        if budget is None:
            raise ValueError("planning needs a budget: hardware.memory_gb is null in this profile")
        chosen_plan = plan(
            cfg, shape, float(budget), float(cfg.memory.margin_gib), exhaustive=bool(cfg.memory.exhaustive)
        )
        print(chosen_plan.table())
        print(f"chosen: {chosen_plan.chosen.levers} — {chosen_plan.reason}")
        estimate = chosen_plan.chosen.estimate
        document.update(chosen_plan.as_json())
    else:
        method = {"full": estimate_full, "composed": estimate_composed}[cfg.memory.method]
        estimate = method(cfg, shape, levers, int(cfg.memory.steps))
    time = project_for(cfg, estimate.train_costs, estimate.infer_costs, shape.batch_size)
    print(describe(estimate, shape, card))
    print(describe_time(time))
    document.update(estimate.as_json())
    document.update(time.as_json())
    document.update(card.as_json(estimate))
    document["train_peak_gib"] = gib(estimate.train_peak)
    if cfg.memory.output:
        path = Path(cfg.memory.output)
        write_atomically(path, (json.dumps(document, indent=2) + "\n").encode())
        print(f"wrote {path}")
    return document


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="memory")
def main(cfg: DictConfig) -> None:
    try:
        run(cfg)
    except ValueError as error:  # NoLeversFit, a bad key of the profile or memory group, a WriteError
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from None
