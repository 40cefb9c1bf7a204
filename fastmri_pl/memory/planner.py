"""Pick the levers for a budget: the setting with the shortest projected step whose estimate fits.

Every candidate is traced (memory peak and per-op costs, `memory.compose`) and projected to time with the
profile's speed (`memory.roofline`); the winner is the fastest one (mean of its step-time range) whose need
on the card (`memory.card`: the caching allocator's reserved peak, kernel workspaces and the CUDA context)
plus the margin fits the smaller of the card and `memory_gb`. Candidates: no checkpointing; checkpoint per
cascade or per U-Net level, each with and without host offload and with the sensitivity net on all coils or
one coil at a time (coil chunks of one adjacent slice everywhere: chunking expand/reduce adds only launches).
Then partial checkpointing: from the fastest fitting setting that checkpoints, leave the last cascades out of
the checkpoint (`checkpoint_cascades`), as many as still fit, found from the memory slope of leaving one out.
"""

import dataclasses
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import DictConfig

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed, estimate_inference_composed
from fastmri_pl.memory.estimate import Estimate, InferenceEstimate, gib
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.roofline import DeviceSpeed, TimeEstimate, project_for, slice_ms
from fastmri_pl.models.levers import MemoryLevers

# forward passes per training step relative to no checkpointing (forward + backward ~ 3 forwards): a
# checkpointed cascade adds one forward; U-Net levels checkpointed inside it add a second.
RELATIVE_RECOMPUTE = {"none": 1.0, "cascade": 4 / 3, "level": 5 / 3}

Estimator = Callable[[DictConfig, BatchShape, MemoryLevers], Estimate]
InferenceEstimator = Callable[[DictConfig, BatchShape, MemoryLevers], InferenceEstimate]


class NoLeversFit(ValueError):
    """No lever setting fits the budget; the message names the budget and the smallest estimate."""


@dataclass(frozen=True)
class Candidate:
    estimate: Estimate
    margin: int
    budget: int
    time: TimeEstimate
    card: CardMemory

    @property
    def levers(self) -> MemoryLevers:
        return self.estimate.levers

    @property
    def recompute(self) -> float:
        return RELATIVE_RECOMPUTE[self.levers.checkpoint]

    @property
    def need(self) -> int:
        """Bytes the card holds for a training step: reserved + workspace + context (`memory.card`)."""
        return self.card.need(self.estimate.train_peak, self.estimate.train_reserved)

    @property
    def fits(self) -> bool:
        return self.need + self.margin <= self.budget

    @property
    def step_s(self) -> float:
        """The ranking key: the middle of the projected step-time range."""
        return sum(self.time.step_s) / 2

    def as_json(self) -> dict[str, Any]:
        return {
            "levers": asdict(self.levers),
            "train_peak_gib": gib(self.estimate.train_peak),
            "infer_peak_gib": gib(self.estimate.infer_peak),
            "host_gib": gib(self.estimate.host_peak),
            **self.card.as_json(self.estimate),
            "relative_recompute": round(self.recompute, 3),
            "fits": self.fits,
            **self.time.as_json(),
        }


@dataclass(frozen=True)
class Plan:
    budget: int
    margin: int
    chosen: Candidate
    candidates: tuple[Candidate, ...]

    @property
    def reason(self) -> str:
        faster = [c for c in self.candidates if c.step_s < self.chosen.step_s]
        why = (
            f"shortest projected step ({self.chosen.time.step_s[0]:.2f}-{self.chosen.time.step_s[1]:.2f} s) "
            f"whose need on the card {gib(self.chosen.need):.2f} GiB (reserved, workspace, context) + margin "
            f"{gib(self.margin):.2f} GiB fits {gib(self.budget):.2f} GiB"
        )
        if faster:
            why += f"; the {len(faster)} faster ones estimated do not fit"
        return why

    def as_json(self) -> dict[str, Any]:
        return {
            "budget_gib": gib(self.budget),
            "margin_gib": gib(self.margin),
            "chosen": self.chosen.as_json(),
            "reason": self.reason,
            "time_assumption": self.chosen.time.assumption,
            "candidates": [candidate.as_json() for candidate in self.candidates],
        }

    def table(self) -> str:
        """The candidates, fastest first, the winner marked; times are projections (see the assumption)."""
        lines = [
            f"{'':2}{'checkpoint':<11}{'cascades':>9}{'sens_chunk':>11}{'coil_chunk':>11}{'offload':>8}"
            f"{'train GiB':>10}{'reserved':>9}{'card GiB':>9}{'infer GiB':>10}{'host GiB':>9}"
            f"{'TFLOP/step':>11}{'s/step':>14}  fits",
        ]
        for c in sorted(self.candidates, key=lambda c: c.step_s):
            lv, e, t = c.levers, c.estimate, c.time
            mark = "->" if c is self.chosen else ""
            counted = (
                "all" if lv.checkpoint != "none" and not lv.checkpoint_cascades else lv.checkpoint_cascades
            )
            counted = "-" if lv.checkpoint == "none" else counted
            lines.append(
                f"{mark:2}{lv.checkpoint:<11}{counted!s:>9}{lv.sens_chunk:>11}{lv.coil_chunk:>11}"
                f"{str(lv.offload):>8}{gib(e.train_peak):>10.2f}"
                f"{gib(max(e.train_peak, e.train_reserved)):>9.2f}{gib(c.need):>9.2f}"
                f"{gib(e.infer_peak):>10.2f}"
                f"{gib(e.host_peak):>9.2f}{t.train_tflop:>11.2f}"
                f"{f'{t.step_s[0]:.2f}-{t.step_s[1]:.2f}':>14}  {'yes' if c.fits else 'no'}"
            )
        lines.append(
            f"card GiB = reserved + workspace {gib(self.chosen.card.workspace):.2f} + context "
            f"{gib(self.chosen.card.context):.2f}; fits: card GiB + margin {gib(self.margin):.2f} <= "
            f"{gib(self.budget):.2f} GiB"
        )
        lines.append(f"time: {self.chosen.time.assumption}")
        return "\n".join(lines)


def candidate_levers(coils: int) -> list[MemoryLevers]:
    """The settings searched, cheapest first (see `cost`)."""
    settings = [MemoryLevers("none", 0, coils, False)]
    for checkpoint in ("cascade", "level"):
        for offload in (False, True):
            settings += [MemoryLevers(checkpoint, sens, coils, offload) for sens in (0, 1)]
    return sorted(settings, key=cost)


def cost(levers: MemoryLevers) -> tuple[float, bool, int]:
    """Ordering key: recomputation, then host traffic, then sensitivity calls (chunk 1 = one per coil)."""
    return RELATIVE_RECOMPUTE[levers.checkpoint], levers.offload, int(levers.sens_chunk != 0)


def plan(
    cfg: DictConfig,
    shape: BatchShape,
    budget_gib: float,
    margin_gib: float = 0.0,
    estimator: Estimator = estimate_composed,
    exhaustive: bool = False,
) -> Plan:
    """The fastest lever setting whose need on the card + margin fits `budget_gib` and the profile's card
    (`hardware.card_gib`); raises `NoLeversFit` if none.

    exhaustive: search partial checkpointing from every fitting setting that checkpoints, not only the
    fastest.
    """
    card = CardMemory.from_config(cfg.hardware)
    budget, margin = card.limit(int(budget_gib * GIB)), int(margin_gib * GIB)

    def candidate(levers: MemoryLevers) -> Candidate:
        estimate = estimator(cfg, shape, levers)
        time = project_for(cfg, estimate.train_costs, estimate.infer_costs, shape.batch_size)
        return Candidate(estimate, margin, budget, time, card)

    candidates = [candidate(levers) for levers in candidate_levers(shape.coils)]
    bases = sorted(
        (c for c in candidates if c.fits and c.levers.checkpoint != "none"), key=lambda c: c.step_s
    )
    cascades = int(cfg.model.net.get("num_cascades", 0) or 0)
    for base in bases if exhaustive else bases[:1]:
        candidates += partial_checkpoints(base, cascades, candidate)
    fitting = [c for c in candidates if c.fits]
    if not fitting:
        smallest = min(candidates, key=lambda c: c.need)
        raise NoLeversFit(
            f"no lever setting fits {gib(budget):g} GiB: the smallest need on the card is "
            f"{gib(smallest.need):.2f} GiB ({smallest.levers}: reserved, workspace, context) + margin "
            f"{margin_gib:g} GiB; "
            "use a card with more memory, fewer coils per chunk or a smaller model\n"
            + Plan(budget, margin, smallest, tuple(candidates)).table()
        )
    return Plan(budget, margin, min(fitting, key=lambda c: c.step_s), tuple(candidates))


def partial_checkpoints(
    base: Candidate, cascades: int, candidate: Callable[[MemoryLevers], Candidate]
) -> list[Candidate]:
    """Settings of `base` with the last cascades left out of the checkpoint, up to the most that fit.

    Leaving one out gives a memory slope and the count it predicts; each estimate's own slope (from `base`)
    then predicts the next count, between the most that fit and the fewest that did not (activations grow
    faster than linearly past the first cascade left out). Returns every setting estimated.
    """
    if cascades < 2:
        return []

    def left_out(c: Candidate) -> int:
        return cascades - int(c.levers.checkpoint_cascades or cascades)

    estimated = [candidate(dataclasses.replace(base.levers, checkpoint_cascades=cascades - 1))]
    room = base.budget - base.margin - base.need
    most_fitting, fewest_failing = (1, cascades) if estimated[0].fits else (0, 1)
    last = estimated[0]
    while fewest_failing - most_fitting > 1:
        slope = (last.need - base.need) / left_out(last)
        if slope <= 0:
            break
        count = min(fewest_failing - 1, max(most_fitting + 1, math.floor(room / slope)))
        if count == left_out(last) and last.fits:
            break
        last = candidate(dataclasses.replace(base.levers, checkpoint_cascades=cascades - count))
        estimated.append(last)
        if last.fits:
            most_fitting = count
        else:
            fewest_failing = count
    return estimated


@dataclass(frozen=True)
class InferenceCandidate:
    """One chunking's inference pass: its estimate, need on the card and projected ms per slice."""

    levers: MemoryLevers
    estimate: InferenceEstimate
    need: int
    ms_per_slice: tuple[float, float]


@dataclass(frozen=True)
class InferencePlan:
    budget: int
    margin: int
    chosen: InferenceCandidate
    candidates: tuple[InferenceCandidate, ...]

    @property
    def reason(self) -> str:
        low, high = self.chosen.ms_per_slice
        return (
            f"shortest projected inference ({low:.1f}-{high:.1f} ms per slice) whose need on the card "
            f"{gib(self.chosen.need):.2f} GiB + margin {gib(self.margin):.2f} GiB fits "
            f"{gib(self.budget):.2f} GiB"
        )


def plan_inference(
    cfg: DictConfig,
    shape: BatchShape,
    budget_gib: float,
    margin_gib: float = 0.0,
    estimator: InferenceEstimator = estimate_inference_composed,
) -> InferencePlan:
    """The fastest sensitivity chunking whose inference pass (batch `shape.batch_size`, as `reconstruct` runs
    it) fits `budget_gib` and the card: without autograd, checkpointing and offload change nothing, so only
    the planner's chunkings are searched. Raises `NoLeversFit` if none fits."""
    card = CardMemory.from_config(cfg.hardware)
    speed, precision = DeviceSpeed.from_config(cfg.hardware), str(cfg.hardware.precision)
    budget, margin = card.limit(int(budget_gib * GIB)), int(margin_gib * GIB)
    chunkings = {
        MemoryLevers(sens_chunk=lv.sens_chunk, coil_chunk=lv.coil_chunk)
        for lv in candidate_levers(shape.coils)
    }
    candidates = []
    for levers in sorted(chunkings, key=cost):
        estimate = estimator(cfg, shape, levers)
        need = card.need(estimate.peak, estimate.reserved)
        candidates.append(
            InferenceCandidate(levers, estimate, need, slice_ms(estimate.costs, speed, precision))
        )
    fitting = [c for c in candidates if c.need + margin <= budget]
    if not fitting:
        smallest = min(candidates, key=lambda c: c.need)
        raise NoLeversFit(
            f"no lever setting fits {gib(budget):g} GiB for inference: the smallest need on the card is "
            f"{gib(smallest.need):.2f} GiB ({smallest.levers}) + margin {margin_gib:g} GiB; use a card with "
            "more memory or a smaller model"
        )
    chosen = min(fitting, key=lambda c: sum(c.ms_per_slice))
    return InferencePlan(budget, margin, chosen, tuple(candidates))
