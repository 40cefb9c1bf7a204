"""One lever setting of a configured model, estimated: a training step and an inference pass on fake tensors.

The module comes from `training.build.build_module` with the lever setting merged into the config, so the
estimate follows the code path training uses. `Estimate` is what the CLI prints and writes and what the
planner ranks.
"""

from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.opcost import OpCostCounter, OpCosts
from fastmri_pl.memory.report import GIB, MemoryReport
from fastmri_pl.memory.trace import trace_inference, trace_training_step
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.mri.crop import center_crop_or_pad
from fastmri_pl.training import build

TRAINING_PHASES = ("forward", "backward", "optimizer")


@dataclass(frozen=True)
class Estimate:
    """Peaks in bytes of one lever setting; `dominates` lists the largest sources at the training peak.

    method: "full" (every op traced) or "composed" (see `memory.compose`).
    train_costs / infer_costs: FLOPs and bytes of one training step / one inference pass of the batch.
    train_reserved / infer_reserved: the peaks the CUDA caching allocator would reserve (`memory.allocator`);
    0 where no allocation sequence was replayed (then `memory.card` takes the peak itself).
    """

    levers: MemoryLevers
    precision: str
    params: int
    train_peak: int
    infer_peak: int
    phases: dict[str, int]
    host_peak: int
    dominates: tuple[tuple[str, int], ...] = ()
    method: str = "full"
    seconds: float = 0.0
    reports: tuple[MemoryReport, ...] = field(default=(), compare=False, repr=False)
    train_costs: OpCosts = field(default_factory=OpCosts, compare=False, repr=False)
    infer_costs: OpCosts = field(default_factory=OpCosts, compare=False, repr=False)
    train_reserved: int = 0
    infer_reserved: int = 0

    def as_json(self) -> dict[str, Any]:
        """The JSON fields of `python -m fastmri_pl.memory` (GiB, rounded to MiB)."""
        return {
            "levers": asdict(self.levers),
            "precision": self.precision,
            "params": self.params,
            "train_peak_gib": gib(self.train_peak),
            "infer_peak_gib": gib(self.infer_peak),
            "train_reserved_gib": gib(self.train_reserved),
            "infer_reserved_gib": gib(self.infer_reserved),
            "host_gib": gib(self.host_peak),
            "phases_gib": {name: gib(nbytes) for name, nbytes in self.phases.items()},
            "dominates_gib": {source: gib(nbytes) for source, nbytes in self.dominates},
            "method": self.method,
            "seconds": round(self.seconds, 1),
        }


@dataclass(frozen=True)
class InferenceEstimate:
    """An inference pass alone (`reconstruct_forward`): peak, reserved peak and costs, at its own shape."""

    peak: int
    reserved: int
    costs: OpCosts = field(default_factory=OpCosts, compare=False, repr=False)


def with_inference(estimate: Estimate, inference: InferenceEstimate) -> Estimate:
    """`estimate` whose inference figures are `inference`'s (planning for data whose largest inference sample
    is not its largest training sample)."""
    return replace(
        estimate,
        infer_peak=inference.peak,
        infer_reserved=inference.reserved,
        infer_costs=inference.costs,
    )


def gib(nbytes: int) -> float:
    return round(nbytes / GIB, 6)


def with_levers(cfg: DictConfig, levers: MemoryLevers, **model_overrides: Any) -> DictConfig:
    """A copy of `cfg` whose profile uses `levers` (and whose `model.net` takes `model_overrides`).

    The levers replace the profile's whole mapping (or `auto`), so fields a profile leaves at their default
    (`sens_checkpoint`) can be set too.
    """
    merged = OmegaConf.merge(cfg, {"model": {"net": model_overrides}})
    assert isinstance(merged, DictConfig)
    with open_dict(merged):
        merged.hardware.levers = asdict(levers)
    return merged


InferenceCache = dict[tuple[str, BatchShape], MemoryReport]


def estimate_full(
    cfg: DictConfig,
    shape: BatchShape,
    levers: MemoryLevers,
    steps: int = 2,
    inference_cache: InferenceCache | None = None,
    **model_overrides: Any,
) -> Estimate:
    """Trace `steps` training steps and one inference pass of the whole configured model with `levers`.

    The first of several steps is stood in for by priming the optimizer (`trace_training_step(primed=True)`):
    same peak, half the tracing time. A profile with `accumulate_grad_batches > 1` traces an accumulating step
    (gradients alive through the backward, `trace_training_step(accumulate=True)`). Inference runs without
    autograd, so checkpointing and offload do not change it: with an `inference_cache`, settings that differ
    only in those reuse one inference trace.
    """
    run_cfg = with_levers(cfg, levers, **model_overrides)
    precision = str(cfg.hardware.precision)
    train = trace_training_step(
        lambda: build.build_module(run_cfg),
        shape,
        steps=max(1, steps - 1),
        precision=precision,
        primed=steps > 1,
        accumulate=int(cfg.hardware.get("accumulate_grad_batches") or 1) > 1,
    )
    infer = inference_trace(cfg, shape, levers, inference_cache, model_overrides)
    return Estimate(
        levers=levers,
        precision=precision,
        params=train.parameters,
        train_peak=train.peak_bytes,
        infer_peak=infer.peak_bytes,
        phases={name: train.phases[name].nbytes for name in TRAINING_PHASES if name in train.phases},
        host_peak=train.host_peak_bytes,
        dominates=train.peak.by_source[:6],
        seconds=train.seconds + infer.seconds,
        reports=(train, infer),
        train_costs=train.costs,
        infer_costs=infer.costs,
        train_reserved=train.reserved_peak_bytes,
        infer_reserved=infer.reserved_peak_bytes,
    )


def estimate_inference_full(
    cfg: DictConfig,
    shape: BatchShape,
    levers: MemoryLevers,
    cache: InferenceCache | None = None,
    **model_overrides: Any,
) -> InferenceEstimate:
    """The inference pass of the whole configured model with `levers` (only their chunking matters)."""
    report = inference_trace(cfg, shape, levers, cache, model_overrides)
    return InferenceEstimate(report.peak_bytes, report.reserved_peak_bytes, report.costs)


def inference_trace(
    cfg: DictConfig,
    shape: BatchShape,
    levers: MemoryLevers,
    cache: InferenceCache | None,
    model_overrides: dict[str, Any],
) -> MemoryReport:
    """The inference trace of `levers` (`reconstruct_forward`), from `cache` when a setting with the same
    chunking was traced."""
    chunking = MemoryLevers(sens_chunk=levers.sens_chunk, coil_chunk=levers.coil_chunk)
    run_cfg = with_levers(cfg, chunking, **model_overrides)
    key = (OmegaConf.to_yaml(run_cfg), shape)
    if cache is not None and key in cache:
        return cache[key]
    report = trace_inference(
        lambda: build.build_module(run_cfg),
        shape,
        precision=str(cfg.hardware.precision),
        forward=reconstruct_forward,
    )
    if cache is not None:
        cache[key] = report
    return report


def reconstruct_forward(module: Any, batch: dict[str, Any]) -> torch.Tensor:
    """One window's forward as `reconstruct` runs it: a network with `forward_with_maps` (PromptMR) gets its
    window's sensitivity maps from `slice_sensitivity_maps`, each slice's maps computed once per volume and
    reused by every window holding it, so the cost counter counts the maps' work once per slice (1/S of the
    window's). Memory is traced as is: a window's maps are all live in `reconstruct` too."""
    net = module.net
    if not hasattr(net, "forward_with_maps"):
        return module(batch)
    kspace, slices = batch["masked_kspace"], int(net.num_adj_slices)
    b, coil_images, h, w = kspace.shape
    counter = OpCostCounter.active()
    with counter.repeated(1 / slices) if counter is not None else nullcontext():
        per_slice = kspace.reshape(b * slices, coil_images // slices, h, w)
        maps = net.slice_sensitivity_maps(per_slice, batch["num_low_frequencies"].repeat_interleave(slices))
    image = net.forward_with_maps(kspace, batch["mask"], maps.reshape(b, coil_images, h, w))
    return center_crop_or_pad(image, batch["target"].shape[-2:])
