"""Levers (or one setting's estimate) for the data that is there: `memory.shape=data` and `train` with
`hardware.levers=auto`.

The training step is planned (or estimated) for the largest training sample and the inference pass for the
largest validation or leaderboard sample (`memory.data_shapes`); every candidate's inference figures are at
that shape. The chosen setting's epoch sums each training sample's step at its own shape (`memory.epoch`);
the other candidates' epochs price every slice at the largest shape (their `epoch_basis` says so).
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from omegaconf import DictConfig, open_dict

from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed, estimate_inference_composed
from fastmri_pl.memory.data_shapes import DataShapes
from fastmri_pl.memory.epoch import Anchor, per_sample_epoch
from fastmri_pl.memory.estimate import Estimate, with_inference
from fastmri_pl.memory.planner import Candidate, Estimator, InferenceEstimator, Plan, plan
from fastmri_pl.memory.roofline import TimeEstimate, project_for
from fastmri_pl.models.levers import MemoryLevers


@dataclass(frozen=True)
class DataPlan:
    """The estimate (training at the largest training sample, inference at the largest inference one), its
    times (the epoch summed per sample) and, when levers were searched, the plan."""

    estimate: Estimate
    time: TimeEstimate
    shapes: DataShapes
    adj_slices: int
    card: CardMemory
    plan: Plan | None = None

    @property
    def levers(self) -> MemoryLevers:
        return self.estimate.levers

    @property
    def need(self) -> int:
        """Bytes on the card for a training step (reserved + workspace + context)."""
        return self.card.need(self.estimate.train_peak, self.estimate.train_reserved)

    def planned_for(self) -> dict[str, dict[str, Any]]:
        """The JSON's `planned_for` (a contract: docs/interfaces.md)."""
        return {
            "train": self.shapes.largest_train.as_json(self.adj_slices),
            "infer": self.shapes.largest_infer.as_json(self.adj_slices),
        }


def counting_slices(cfg: DictConfig, slices: int) -> DictConfig:
    """A copy of `cfg` whose `memory.dataset_slices` (the epoch of a single-shape projection) is `slices`."""
    counted = cfg.copy()
    with open_dict(counted):
        counted.memory = {**(counted.get("memory") or {}), "dataset_slices": slices}
    return counted


def plan_for_data(
    cfg: DictConfig,
    shapes: DataShapes,
    levers: MemoryLevers | None,
    *,
    adj_slices: int,
    batch_size: int,
    margin_gib: float = 0.0,
    exhaustive: bool = False,
    estimator: Estimator = estimate_composed,
    infer_estimator: InferenceEstimator = estimate_inference_composed,
) -> DataPlan:
    """Search levers for `hardware.memory_gb` (levers None) or estimate `levers`, at the data's shapes."""
    counted = counting_slices(cfg, shapes.train_slices)
    card = CardMemory.from_config(cfg.hardware)
    train_shape = shapes.largest_train.batch(adj_slices, batch_size)
    infer_shape = shapes.largest_infer.batch(adj_slices, batch_size)

    def priced(traced: Estimate) -> tuple[Estimate, TimeEstimate]:
        """`traced` with its inference traced at the inference shape, and its times."""
        estimate = with_inference(traced, infer_estimator(counted, infer_shape, traced.levers))
        return estimate, project_for(counted, estimate.train_costs, estimate.infer_costs, batch_size)

    if levers is None:
        budget = cfg.hardware.get("memory_gb")
        if budget is None:
            raise ValueError("planning needs a budget: hardware.memory_gb is null in this profile")
        searched = plan(counted, train_shape, float(budget), margin_gib, estimator, exhaustive)
        candidates: list[Candidate] = []
        for candidate in searched.candidates:
            estimate, time = priced(candidate.estimate)
            candidates.append(dataclasses.replace(candidate, estimate=estimate, time=time))
        chosen_index = searched.candidates.index(searched.chosen)
        estimate, time = candidates[chosen_index].estimate, candidates[chosen_index].time
    else:
        estimate, time = priced(estimator(counted, train_shape, levers))

    def step_at(anchor: Anchor) -> tuple[float, float]:
        if anchor.geometry == shapes.largest_train.geometry:
            return time.step_s
        traced = estimator(counted, anchor.as_sample().batch(adj_slices, batch_size), estimate.levers)
        return project_for(counted, traced.train_costs, traced.infer_costs, batch_size).step_s

    epoch = per_sample_epoch(shapes, shapes.largest_train, step_at, batch_size)
    time = dataclasses.replace(time, epoch_h=epoch.epoch_h, epoch_basis=epoch.basis)
    if levers is None:
        candidates[chosen_index] = dataclasses.replace(candidates[chosen_index], time=time)
        found = Plan(searched.budget, searched.margin, candidates[chosen_index], tuple(candidates))
        return DataPlan(estimate, time, shapes, adj_slices, card, found)
    return DataPlan(estimate, time, shapes, adj_slices, card)
