"""Fast estimates of an unrolled network: trace 3 and 4 cascades with one real sensitivity chunk, extrapolate.

A full fake trace of the 12-cascade PromptMR at the SNU brain shape takes minutes here, mostly in the
sensitivity net's loop over 80 coil images. Two facts make a short trace enough:
- every sensitivity chunk does the same work on the same sizes, so tracing the last chunk for real and
  standing in for the others with a copy of their output size (same outputs, same concatenation, same
  gradient buffers) keeps the peak, which is reached inside one chunk;
- cascades are identical and run one after another, so each phase's peak grows by a fixed amount per
  cascade (its boundary k-space if checkpointed, or its activations if not, plus its parameters, gradients
  and optimizer state): peak(N) = peak(3) + (N - 3) * (peak(4) - peak(3)).
Three and four: the first cascade is special (its input is the batch's k-space, which no cascade allocates,
and needs no gradient) and so is the last (its output feeds the loss); the peak of a training step is often
reached in the backward of the cascade next to one of them, so both traces need a cascade between the
first and the last, or the difference measures a move of the peak instead of the per-cascade slope (2 and 3
overestimated full PromptMR by 0.35 GiB). The extrapolation assumes the same part of the network
dominates a phase at 3, 4 and N cascades; the tests check the composition against the full trace.
A sensitivity net checkpointed as one unit (`sens_checkpoint="whole"`, the reference's way) holds every
chunk's activations in its recompute, so its training step is traced with every chunk real (slower); its
inference, where checkpointing plays no part, still traces one chunk.
"""

import dataclasses
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from unittest import mock

import torch
from omegaconf import DictConfig

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import (
    Estimate,
    InferenceCache,
    InferenceEstimate,
    estimate_full,
    estimate_inference_full,
    inference_trace,
)
from fastmri_pl.memory.opcost import OpCostCounter, extrapolate_costs
from fastmri_pl.models import checkpointing
from fastmri_pl.models.levers import MemoryLevers

# modules that call `map_in_chunks` on their sensitivity U-Net
SENSITIVITY_MODULES = ("fastmri_pl.models.promptmr_sensitivity", "fastmri_pl.models.varnet_sensitivity")


def last_chunk_only(
    fn: Callable[..., torch.Tensor],
    batch: torch.Tensor,
    chunk_size: int,
    checkpoint_each: bool,
    *aligned: torch.Tensor,
) -> torch.Tensor:
    """`map_in_chunks` that runs `fn` on the last chunk only; the others become copies of their input.

    Only valid where `fn` keeps its input's shape and dtype (the sensitivity U-Nets do). For the time
    estimate, the real chunk's ops (forward, backward, recompute) count once per chunk and the copies not at
    all; with a remainder chunk the count is exact only when `chunk_size` divides the batch (1 does).
    """
    total = batch.shape[0]
    step = total if chunk_size <= 0 else min(chunk_size, total)
    if step >= total:
        return checkpointing.map_in_chunks(fn, batch, chunk_size, checkpoint_each, *aligned)
    starts = list(range(0, total, step))
    counter = OpCostCounter.active()
    with counter.paused() if counter else nullcontext():
        parts = [batch[start : start + step].clone() for start in starts[:-1]]
    last = (tensor[starts[-1] :] for tensor in (batch, *aligned))
    with counter.repeated(len(starts)) if counter else nullcontext():
        maps = checkpointing.checkpointed(fn, *last, enabled=checkpoint_each)
    if counter is not None and maps.grad_fn is not None:
        counter.repeat_graph(maps, len(starts))
    parts.append(maps)
    return torch.cat(parts, dim=0)


@contextmanager
def one_sensitivity_chunk() -> Iterator[None]:
    """While inside, sensitivity nets trace one real chunk (`last_chunk_only`)."""
    with mock.patch(f"{SENSITIVITY_MODULES[0]}.map_in_chunks", last_chunk_only):
        with mock.patch(f"{SENSITIVITY_MODULES[1]}.map_in_chunks", last_chunk_only):
            yield


TRACED_CASCADES = (3, 4)

# inference traces by configuration and shape, shared by the candidates of a plan (and by later plans)
_INFERENCE_TRACES: InferenceCache = {}


def extrapolate(low: int, high: int, steps: int) -> int:
    """The value `steps` cascades past the smaller traced count, from its values at the two traced counts."""
    return low + steps * (high - low)


def estimate_composed(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, steps: int = 2) -> Estimate:
    """`estimate_full`'s figures for `cfg.model.net.num_cascades` cascades from traces of 3 and 4.

    With a checkpoint count (`levers.checkpoint_cascades` = N below the total), the cascades left out of it
    are traced in full behind 3 and 4 checkpointed ones, and the checkpointed count is extrapolated to N.
    Networks with at most 4 (checkpointed) cascades are traced whole (still with one real sensitivity chunk).
    """
    count = int(cfg.model.net.num_cascades)
    partial = levers.checkpoint != "none" and 0 < (levers.checkpoint_cascades or 0) < count
    plain = count - int(levers.checkpoint_cascades or 0) if partial else 0
    started = time.perf_counter()
    if count - plain <= TRACED_CASCADES[-1]:
        return _composed(_estimate(cfg, shape, levers, steps), started)
    one, two = (
        _estimate(
            cfg,
            shape,
            dataclasses.replace(levers, checkpoint_cascades=n) if partial else levers,
            steps,
            num_cascades=n + plain,
        )
        for n in TRACED_CASCADES
    )
    more = count - plain - TRACED_CASCADES[0]
    return Estimate(
        levers=levers,
        precision=one.precision,
        params=extrapolate(one.params, two.params, more),
        train_peak=extrapolate(one.train_peak, two.train_peak, more),
        infer_peak=extrapolate(one.infer_peak, two.infer_peak, more),
        phases={name: extrapolate(one.phases[name], two.phases[name], more) for name in one.phases},
        host_peak=extrapolate(one.host_peak, two.host_peak, more),
        dominates=two.dominates,
        method="composed",
        seconds=time.perf_counter() - started,
        train_costs=extrapolate_costs(one.train_costs, two.train_costs, more),
        infer_costs=extrapolate_costs(one.infer_costs, two.infer_costs, more),
        train_reserved=extrapolate(one.train_reserved, two.train_reserved, more),
        infer_reserved=extrapolate(one.infer_reserved, two.infer_reserved, more),
    )


def estimate_inference_composed(
    cfg: DictConfig, shape: BatchShape, levers: MemoryLevers
) -> InferenceEstimate:
    """`estimate_inference_full`'s figures from inference traces of 3 and 4 cascades (one real sensitivity
    chunk), as `estimate_composed` composes them; networks of at most 4 cascades are traced whole."""
    count = int(cfg.model.net.num_cascades)
    with one_sensitivity_chunk():
        if count <= TRACED_CASCADES[-1]:
            return estimate_inference_full(cfg, shape, levers, _INFERENCE_TRACES)
        one, two = (
            estimate_inference_full(cfg, shape, levers, _INFERENCE_TRACES, num_cascades=n)
            for n in TRACED_CASCADES
        )
    more = count - TRACED_CASCADES[0]
    return InferenceEstimate(
        peak=extrapolate(one.peak, two.peak, more),
        reserved=extrapolate(one.reserved, two.reserved, more),
        costs=extrapolate_costs(one.costs, two.costs, more),
    )


def _estimate(
    cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, steps: int, **overrides: int
) -> Estimate:
    """`estimate_full` with one real sensitivity chunk, or all chunks real where the net is one checkpoint."""
    if levers.sens_checkpoint == "whole":
        with one_sensitivity_chunk():
            inference_trace(cfg, shape, levers, _INFERENCE_TRACES, overrides)
        return estimate_full(cfg, shape, levers, steps, _INFERENCE_TRACES, **overrides)
    with one_sensitivity_chunk():
        return estimate_full(cfg, shape, levers, steps, _INFERENCE_TRACES, **overrides)


def _composed(estimate: Estimate, started: float) -> Estimate:
    return dataclasses.replace(estimate, method="composed", seconds=time.perf_counter() - started, reports=())
