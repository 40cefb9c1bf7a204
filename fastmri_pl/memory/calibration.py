"""Calibration: what a run's first steps on the card measured, beside what the estimate predicted for the same
shape and levers, whether that fits the card, and which levers to start again with when it does not.

The need measured on the card = reserved + context + the workspace allowance left, where
- reserved: the caching allocator's reserved peak over the calibration steps (`max_memory_reserved`);
- context: what this process held outside the allocator at their end (`mem_get_info`'s used memory less the
  allocator's reserved) less what other processes held on the card before it started CUDA (read by NVML,
  `runtime.nvml`; where NVML cannot be read, the others are counted in: the safe side). On an emulated card
  (a bigger card capped to behave like the profile's, `callbacks.memory.emulate_card`) the profile's
  modelled context stands in: the big card's own says nothing of the card emulated;
- workspace allowance: the planner's (`hardware.workspace_gib`) less what the reserved peak already holds
  above the estimate's: the steps ran their kernels' workspaces inside it, the allowance is for the ones
  they have not met yet.
With the card's measured context and workspace (`memory.card_cache`) the planner's need at this shape and
levers is the same figure, so a plan made with them is never refused here.
The run fits when that need is at most min(the card's total, `hardware.card_gib`, `hardware.memory_gb`).
"""

import dataclasses
import json
import logging
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, open_dict

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.card_cache import CardMeasurement, model_key
from fastmri_pl.memory.compose import estimate_inference_composed
from fastmri_pl.memory.oom import stronger_levers
from fastmri_pl.memory.plan_cache import PLAN_FILE, LeversPlan, read_run_plan
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.row_estimate import (
    RowEstimate,
    estimate_key,
    estimate_row,
    estimates_json,
    read_estimates,
)
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import WriteError, write_atomically
from fastmri_pl.runs.paths import user_cache_root

log = logging.getLogger(__name__)
CALIBRATION_FILE = "calibration.json"
ESTIMATES_FILE = "estimates.json"  # in the user cache: estimates at the shapes calibrations measured
FORMAT = 1
ESTIMATOR = "composed"  # the planner's estimate


@dataclass(frozen=True)
class Expected:
    """The estimate at the measured shape and levers (bytes): the allocator's reserved peak, the workspace
    and context the plan assumed; the projected step [low, high] s on the profile's card; its source."""

    reserved: int
    workspace: int
    context: int
    step_s: tuple[float, float] | None
    source: str

    @property
    def need(self) -> int:
        return self.reserved + self.workspace + self.context


@dataclass(frozen=True)
class Measured:
    """What the card held over the calibration steps (bytes): the allocator's peaks, the memory outside the
    allocator at their end, what other processes held before this one started CUDA (None: unknown), and the
    mean seconds per optimizer step after the first (None with a single step)."""

    card: str
    total: int
    max_allocated: int
    max_reserved: int
    outside: int
    others: int | None
    step_s: float | None

    @property
    def context(self) -> int:
        """This process's memory outside the allocator (the others' too where they are unknown)."""
        return self.outside if self.others is None else max(0, self.outside - self.others)


def read_card(
    device: torch.device, max_allocated: int, max_reserved: int, free_before: int | None, step_s: float | None
) -> Measured:
    """The card now, after the measured work: its name and total, what is held outside the allocator
    (`mem_get_info`'s used memory less `memory_reserved`), and what others held before this process started
    CUDA (the card's total less `free_before`, NVML's reading; None: unknown)."""
    free, total = torch.cuda.mem_get_info(device)
    return Measured(
        card=torch.cuda.get_device_name(device),
        total=int(total),
        max_allocated=max_allocated,
        max_reserved=max_reserved,
        outside=int(total - free - torch.cuda.memory_reserved(device)),
        others=None if free_before is None else max(0, int(total - free_before)),
        step_s=step_s,
    )


@dataclass(frozen=True)
class Calibration:
    """One calibration: measured beside expected at `shape` with `levers`, on a card whose limit is `limit`
    bytes (`emulated`: a bigger card capped to the profile's). phase: "train" (`steps` optimizer steps) or
    "inference" (`reconstruct`'s first slice)."""

    measured: Measured
    expected: Expected
    shape: BatchShape
    levers: MemoryLevers
    steps: int
    limit: int
    emulated: bool
    measured_on: str
    phase: str = "train"

    @property
    def context(self) -> int:
        """The context the need counts: measured, or on an emulated card the profile's modelled one."""
        return self.expected.context if self.emulated else self.measured.context

    @property
    def excess(self) -> int:
        """How far the measured reserved peak passed the estimate's (negative: it stayed below)."""
        return self.measured.max_reserved - self.expected.reserved

    @property
    def workspace_allowance(self) -> int:
        return max(0, self.expected.workspace - max(0, self.excess))

    @property
    def need(self) -> int:
        return self.measured.max_reserved + self.context + self.workspace_allowance

    @property
    def fits(self) -> bool:
        return self.need <= self.limit

    def verdict(self) -> str:
        """One line: measured need against the card and the estimate."""
        ratio = self.need / self.expected.need if self.expected.need else float("nan")
        relation = "fits" if self.fits else "passes"
        return (
            f"calibration on {self.measured.card}: {_w(self.need)} GiB measured (reserved "
            f"{_w(self.measured.max_reserved)} + context {_w(self.context)} + workspace allowance "
            f"{_w(self.workspace_allowance)}) {relation} {_w(self.limit)} GiB; estimated "
            f"{_w(self.expected.need)} GiB ({ratio:.2f} x), {self.measured_what} at "
            f"{_shape_words(self.shape)}"
        )

    @property
    def measured_what(self) -> str:
        return "its first slice" if self.phase == "inference" else f"{self.steps} steps"

    def as_json(self) -> dict[str, Any]:
        """The record in `calibration.json` (a contract: docs/interfaces.md)."""
        m, e = self.measured, self.expected
        return {
            "phase": self.phase,
            "measured_on": self.measured_on,
            "levers": asdict(self.levers),
            "shape": {key: getattr(self.shape, key) for key in SHAPE_KEYS},
            "steps": self.steps,
            "card": {
                "name": m.card,
                "total_gib": _g(m.total),
                "emulated": self.emulated,
                "limit_gib": _g(self.limit),
            },
            "measured": {
                "max_allocated_gib": _g(m.max_allocated),
                "max_reserved_gib": _g(m.max_reserved),
                "outside_allocator_gib": _g(m.outside),
                "others_before_gib": None if m.others is None else _g(m.others),
                "context_gib": _g(m.context),
                "context_counted_gib": _g(self.context),
                "workspace_allowance_gib": _g(self.workspace_allowance),
                "need_gib": _g(self.need),
                "step_s": None if m.step_s is None else round(m.step_s, 4),
            },
            "estimated": {
                "source": e.source,
                "reserved_gib": _g(e.reserved),
                "workspace_gib": _g(e.workspace),
                "context_gib": _g(e.context),
                "need_gib": _g(e.need),
                "step_s": None if e.step_s is None else [round(s, 4) for s in e.step_s],
            },
            "need_ratio": round(self.need / e.need, 3) if e.need else None,
            "fits": self.fits,
        }

    def metrics(self) -> dict[str, float]:
        """`calibration/...` for the loggers (GiB, seconds)."""
        record = self.as_json()
        metrics = {f"calibration/{key}": value for key, value in record["measured"].items()}
        metrics |= {
            "calibration/estimated_need_gib": record["estimated"]["need_gib"],
            "calibration/estimated_reserved_gib": record["estimated"]["reserved_gib"],
            "calibration/limit_gib": record["card"]["limit_gib"],
            "calibration/need_ratio": record["need_ratio"],
            "calibration/fits": float(self.fits),
        }
        if self.expected.step_s is not None:
            metrics["calibration/projected_step_s"] = sum(self.expected.step_s) / 2
        return {key: float(value) for key, value in metrics.items() if value is not None}

    def card_measurement(self, cfg: DictConfig) -> CardMeasurement:
        """What the card cache keeps of this calibration: the context, and a training step's workspace (an
        inference pass's excess says nothing of a training step's)."""
        m = self.measured
        return CardMeasurement(
            name=m.card,
            total_gib=m.total / GIB,
            context_gib=m.context / GIB,
            others_gib=None if m.others is None else m.others / GIB,
            measured_on=self.measured_on,
            model_key=model_key(cfg),
            model=str(cfg.model.net.get("_target_", "?")).rsplit(".", 1)[-1],
            workspace_gib=max(0, self.excess) / GIB if self.phase == "train" else None,
        )


SHAPE_KEYS = ("coils", "height", "width", "adj_slices", "batch_size")


def today() -> str:
    return date.today().isoformat()


def _g(nbytes: int) -> float:
    return round(nbytes / GIB, 3)


def _w(nbytes: int) -> str:
    """GiB as a line says them."""
    return f"{nbytes / GIB:.2f}"


def _shape_words(shape: BatchShape) -> str:
    return (
        f"{shape.coils} coils x {shape.height} x {shape.width} x {shape.adj_slices} slices, "
        f"batch {shape.batch_size}"
    )


def card_limit(cfg: DictConfig, total: int) -> int:
    """min(the card's total, `hardware.card_gib`, `hardware.memory_gb`) in bytes."""
    budget = cfg.hardware.get("memory_gb")
    card = CardMemory.from_config(cfg.hardware)
    return min(total, card.limit(int(float(budget) * GIB)) if budget is not None else total)


# ---- the estimate at the measured shape ----------------------------------------------------------------


def expected_for(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, run_dir: Path | None) -> Expected:
    """The estimate to compare with: the run's plan (`levers_plan.json`) when it was made for these levers
    at this shape, else the estimator's at this shape (traced on the CPU once, then read from the user
    cache)."""
    card = CardMemory.from_config(cfg.hardware)
    plan = read_run_plan(run_dir) if run_dir is not None else None
    if (
        plan is not None
        and plan.kind == "train"
        and _planned_at(plan, "train", shape)
        and (MemoryLevers(**plan.levers) == levers)
    ):
        step = plan.times.get("step_s")
        return Expected(
            int(plan.reserved_gib * GIB),
            card.workspace,
            card.context,
            None if step is None else (float(step[0]), float(step[1])),
            f"the plan ({PLAN_FILE})",
        )
    row = cached_estimate(cfg, shape, levers)
    return Expected(row.train_card, card.workspace, card.context, row.step_s, "the estimator, at this shape")


def _planned_at(plan: LeversPlan, phase: str, shape: BatchShape) -> bool:
    """Whether `plan` planned its `phase` ("train" or "infer") at `shape`."""
    planned = plan.planned_for.get(phase) or {}
    return all(planned.get(key) == getattr(shape, key) for key in ("coils", "height", "width", "adj_slices"))


def expected_inference(
    cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, plan: LeversPlan | None
) -> Expected:
    """An inference pass's estimate at `shape` with `levers`: the inference plan's figures for that chunking
    when it planned that shape, else the estimator's (traced on the CPU)."""
    card = CardMemory.from_config(cfg.hardware)
    if plan is not None and _planned_at(plan, "infer", shape):
        for candidate in plan.candidates:
            if MemoryLevers(**candidate["levers"]) == levers:
                reserved = int(candidate["need_gib"] * GIB) - card.workspace - card.context
                return Expected(reserved, card.workspace, card.context, None, "the inference plan")
    log.info(f"calibration: estimating the inference pass at {_shape_words(shape)} on the CPU to compare")
    estimate = estimate_inference_composed(without_card(cfg), shape, levers)
    reserved = max(estimate.peak, estimate.reserved)
    return Expected(reserved, card.workspace, card.context, None, "the estimator, at this shape")


def without_card(cfg: DictConfig) -> DictConfig:
    """`cfg` with no context or workspace: a row estimate's `train_card` is then the reserved peak alone,
    and its key does not change when the card's measured figures do."""
    bare = cfg.copy()
    with open_dict(bare):
        bare.hardware.context_gib = 0
        bare.hardware.workspace_gib = 0
    return bare


def estimate_cache_key(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers) -> str:
    """The key a calibration's estimate is filed under in the user cache (context and workspace left out)."""
    return estimate_key(without_card(cfg), shape, levers, ESTIMATOR)


def cached_estimate(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers) -> RowEstimate:
    """The estimator's figures for `levers` at `shape` (context and workspace left out), from the user cache
    `estimates.json` when filed under their key, else traced (minutes for a full-size model) and filed."""
    key = estimate_cache_key(cfg, shape, levers)
    known = _read_estimates(estimates_file())
    if key in known:
        return known[key]
    log.info(
        f"calibration: estimating {_shape_words(shape)} with these levers on the CPU to compare (once: kept "
        f"in {estimates_file()})"
    )
    found = estimate_row(without_card(cfg), shape, levers, ESTIMATOR)
    try:
        file_estimates({key: (_shape_words(shape), found)})
    except WriteError as error:
        log.warning(f"warning: the estimate is not kept for later runs: {error}")
    return found


def estimates_file() -> Path:
    return user_cache_root() / ESTIMATES_FILE


def file_estimates(found: dict[str, tuple[str, RowEstimate]]) -> None:
    """Add `found` (key -> (what it estimates, the figures)) to the user cache's `estimates.json`, where a
    calibration looks first (`make gpu-check` files its runs' estimate there beforehand); `WriteError`."""
    path = estimates_file()
    try:
        filed = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        filed = {}
    filed = (filed if isinstance(filed, dict) else {}) | json.loads(estimates_json(found))
    write_atomically(path, (json.dumps(filed, indent=1, sort_keys=True) + "\n").encode())


def _read_estimates(path: Path) -> dict[str, RowEstimate]:
    try:
        return read_estimates(path)
    except (OSError, ValueError, KeyError, TypeError):
        return {}


# ---- the record ---------------------------------------------------------------------------------------


def append_record(run_dir: Path, entry: dict[str, Any]) -> None:
    """Add `entry` to `<run>/calibration.json`'s list of this run folder's calibrations, in order (a resume
    or a fallback adds one); written atomically."""
    path = run_dir / CALIBRATION_FILE
    try:
        document = json.loads(path.read_text())
        entries = list(document["calibrations"]) if document.get("format") == FORMAT else []
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        entries = []
    text = json.dumps({"format": FORMAT, "calibrations": [*entries, entry]}, indent=2) + "\n"
    write_atomically(path, text.encode())


# ---- falling back -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fallback:
    """The levers to start again with and why they were chosen, in words."""

    levers: MemoryLevers
    why: str


def smaller_chunking(
    current: MemoryLevers, plan: LeversPlan | None, excess_gib: float | None
) -> Fallback | None:
    """Inference's levers are only the chunking: with an inference plan its next candidate (`next_levers`),
    else the sensitivity net one coil at a time where it was not; None when nothing is left."""
    if plan is not None:
        return next_levers(current, plan, excess_gib, coils=0)
    if current.sens_chunk == 1:
        return None
    return Fallback(dataclasses.replace(current, sens_chunk=1), "the sensitivity net one coil at a time")


def next_levers(
    current: MemoryLevers,
    plan: LeversPlan | None,
    excess_gib: float | None,
    coils: int,
    adj_slices: int = 1,
) -> Fallback | None:
    """The levers with more headroom after `current` did not fit; None when nothing saves more.

    plan (hardware.levers=auto): the fastest of the planner's candidates planned to need less than `current`
    whose need plus `excess_gib` (how far the measured need passed the estimate's; None after an
    out-of-memory error: unknown) fits the plan's budget, else the one needing least. Fixed levers: the
    cheapest setting that saves more in every respect (`memory.oom.stronger_levers`), leaving out one that
    only chunks the coils by `coils` per adjacent slice where there is one slice: all coils, as before."""
    if plan is None:
        options = [
            option
            for option in stronger_levers(current, coils)
            if not (adj_slices == 1 and dataclasses.replace(option, coil_chunk=current.coil_chunk) == current)
        ]
        if not options:
            return None
        return Fallback(options[0], "the next stronger setting")
    candidates = [(MemoryLevers(**c["levers"]), c["need_gib"], sum(c["time"]) / 2) for c in plan.candidates]
    current_need = next((need for levers, need, _ in candidates if levers == current), plan.need_gib)
    smaller = [c for c in candidates if c[1] < current_need]
    if not smaller:
        return None
    room = [c for c in smaller if c[1] + (excess_gib or 0.0) <= plan.budget_gib]
    if room:
        levers, need, _ = min(room, key=lambda c: c[2])
        return Fallback(levers, f"the planner's next candidate, {need:.2f} GiB planned")
    levers, need, _ = min(smaller, key=lambda c: c[1])
    return Fallback(levers, f"the planner's candidate needing least, {need:.2f} GiB planned")
