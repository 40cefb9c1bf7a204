"""Pick the memory levers for a budget: estimate each setting, keep the cheapest one that fits.

Cost is what a lever adds to a training step: recomputation first (a checkpointed cascade runs its forward
twice, a checkpointed U-Net level three times), then host traffic (offloaded boundaries cross PCIe twice),
then the number of sensitivity-net calls. Coil chunking of expand/reduce/data consistency adds neither (only
kernel launches), so every candidate uses one chunk per adjacent slice. Candidates are estimated in order of
cost and the first whose estimate plus the margin fits the budget wins; the table also shows the cheapest
settings with and without offload, so the floor is visible.
"""

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from omegaconf import DictConfig

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, gib
from fastmri_pl.memory.report import GIB
from fastmri_pl.models.levers import MemoryLevers

# forward passes per training step relative to no checkpointing (forward + backward ~ 3 forwards): a
# checkpointed cascade adds one forward; U-Net levels checkpointed inside it add a second.
RELATIVE_RECOMPUTE = {"none": 1.0, "cascade": 4 / 3, "level": 5 / 3}

Estimator = Callable[[DictConfig, BatchShape, MemoryLevers], Estimate]


class NoLeversFit(ValueError):
    """No lever setting fits the budget; the message names the budget and the smallest estimate."""


@dataclass(frozen=True)
class Candidate:
    estimate: Estimate
    margin: int
    budget: int

    @property
    def levers(self) -> MemoryLevers:
        return self.estimate.levers

    @property
    def recompute(self) -> float:
        return RELATIVE_RECOMPUTE[self.levers.checkpoint]

    @property
    def fits(self) -> bool:
        return self.estimate.train_peak + self.margin <= self.budget

    def as_json(self) -> dict[str, Any]:
        return {
            "levers": asdict(self.levers),
            "train_peak_gib": gib(self.estimate.train_peak),
            "infer_peak_gib": gib(self.estimate.infer_peak),
            "host_gib": gib(self.estimate.host_peak),
            "relative_recompute": round(self.recompute, 3),
            "fits": self.fits,
        }


@dataclass(frozen=True)
class Plan:
    budget: int
    margin: int
    chosen: Candidate
    candidates: tuple[Candidate, ...]

    @property
    def reason(self) -> str:
        cheaper = [c for c in self.candidates if cost(c.levers) < cost(self.chosen.levers)]
        why = (
            f"cheapest setting whose train peak {gib(self.chosen.estimate.train_peak):.2f} GiB + margin "
            f"{gib(self.margin):.2f} GiB fits {gib(self.budget):.2f} GiB"
        )
        if cheaper:
            why += f"; the {len(cheaper)} cheaper ones estimated do not fit"
        return why

    def as_json(self) -> dict[str, Any]:
        return {
            "budget_gib": gib(self.budget),
            "margin_gib": gib(self.margin),
            "chosen": self.chosen.as_json(),
            "reason": self.reason,
            "candidates": [candidate.as_json() for candidate in self.candidates],
        }

    def table(self) -> str:
        """The candidates as a terminal table, the winner marked."""
        lines = [
            f"{'':2}{'checkpoint':<11}{'sens_chunk':>11}{'coil_chunk':>11}{'offload':>8}"
            f"{'train GiB':>11}{'infer GiB':>11}{'host GiB':>10}{'recompute':>11}  fits",
        ]
        for c in self.candidates:
            lv, e = c.levers, c.estimate
            mark = "->" if c is self.chosen else ""
            lines.append(
                f"{mark:2}{lv.checkpoint:<11}{lv.sens_chunk:>11}{lv.coil_chunk:>11}{str(lv.offload):>8}"
                f"{gib(e.train_peak):>11.2f}{gib(e.infer_peak):>11.2f}{gib(e.host_peak):>10.2f}"
                f"{c.recompute:>11.2f}  {'yes' if c.fits else 'no'}"
            )
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
    margin_gib: float = 1.0,
    estimator: Estimator = estimate_composed,
    exhaustive: bool = False,
) -> Plan:
    """The cheapest lever setting whose estimate + margin fits `budget_gib`; raises `NoLeversFit` if none.

    Stops at the first fitting candidate (then adds the most aggressive settings with and without offload
    for the table) unless `exhaustive`.
    """
    budget, margin = int(budget_gib * GIB), int(margin_gib * GIB)
    settings = candidate_levers(shape.coils)
    floors = [max((s for s in settings if s.offload == off), key=cost) for off in (False, True)]
    estimated: dict[MemoryLevers, Candidate] = {}
    chosen = None
    for levers in settings:
        if chosen is not None and not exhaustive and levers not in floors:
            continue
        candidate = Candidate(estimator(cfg, shape, levers), margin, budget)
        estimated[levers] = candidate
        if chosen is None and candidate.fits:
            chosen = candidate
    candidates = tuple(estimated.values())
    if chosen is None:
        smallest = min(candidates, key=lambda c: c.estimate.train_peak)
        raise NoLeversFit(
            f"no lever setting fits {budget_gib:g} GiB: the smallest train peak is "
            f"{gib(smallest.estimate.train_peak):.2f} GiB ({smallest.levers}) + margin {margin_gib:g} GiB; "
            "use a card with more memory, fewer coils per chunk or a smaller model\n"
            + Plan(budget, margin, smallest, candidates).table()
        )
    return Plan(budget, margin, chosen, candidates)
