"""Trace training steps or an inference pass of a module and report its GPU-equivalent memory.

Everything (module, optimizer, batch) is built inside the tracker so that parameters, gradients, optimizer
state and the batch are counted, under `FakeTensorMode` by default so that no memory is touched and a
full-size model traces on a laptop. The step follows Lightning's automatic optimisation: forward (under the
precision's autocast), zero_grad, backward, optimizer step — so the previous step's gradients are still alive
during the next forward, as they are in a real `Trainer.fit`. With gradient accumulation Lightning zeroes only
on the first micro-batch of a window: the traced step is the window's last one (no zero_grad, so the
gradients stay alive through its backward, then the optimizer step).
"""

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode

from fastmri_pl.memory.offload import host_offload_accounting
from fastmri_pl.memory.opcost import OpCostCounter, scaled_costs
from fastmri_pl.memory.report import MemoryReport
from fastmri_pl.memory.tracker import LiveStorageTracker
from fastmri_pl.runtime.precision import traced_autocast

Batch = dict[str, Any]


class TrainableModule(Protocol):
    """What the tracer needs of a module; `ReconModule` provides exactly this."""

    def compute_loss(self, batch: Batch) -> torch.Tensor: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...

    def configure_optimizers(self) -> Any: ...


def first_optimizer(configured: Any) -> torch.optim.Optimizer:
    """The optimizer in whatever `configure_optimizers` returned (an optimizer, dict, list or tuple)."""
    if isinstance(configured, torch.optim.Optimizer):
        return configured
    if isinstance(configured, dict) and "optimizer" in configured:
        return first_optimizer(configured["optimizer"])
    if isinstance(configured, list | tuple) and configured:
        return first_optimizer(configured[0])
    raise ValueError(f"configure_optimizers returned no optimizer: {configured!r}")


def prefer_foreach(optimizer: torch.optim.Optimizer) -> None:
    """Pick the multi-tensor implementation where the optimizer was left to choose, as it does on CUDA.

    On CPU the default is the per-parameter loop; on CUDA it is `foreach`, whose temporaries (e.g. AdamW's
    square roots of all second moments at once) are a real part of the step's peak.
    """
    for group in optimizer.param_groups:
        if group.get("foreach", False) is None and not group.get("fused"):
            group["foreach"] = True


def call_with_batch(module: Any, batch: Batch) -> Any:
    """Inference as `ReconModule.forward(batch)` does it."""
    return module(batch)


def trace_training_step(
    build_module: Callable[[], TrainableModule],
    batch_factory: Callable[[], Batch],
    *,
    fake: bool = True,
    steps: int = 2,
    precision: str = "32-true",
    top_k: int = 10,
    cuda_foreach: bool = True,
    primed: bool = False,
    accumulate: bool = False,
) -> MemoryReport:
    """Run `steps` full training steps (two by default, so the optimizer state exists) and report memory.

    Phases: "setup" (module, optimizer, batch), "forward", "backward" (zero_grad + backward), "optimizer".
    cuda_foreach: let optimizers that choose their implementation pick `foreach`, as they would on CUDA.
    primed: before the traced steps, give every parameter a zero gradient and take one optimizer step
    (phase "prime"), so that one traced step already holds what a second real step would: gradients and
    optimizer state. It halves the time of an estimate; the step's peak is the one of `steps + 1` unprimed.
    accumulate: the profile accumulates gradients (`accumulate_grad_batches > 1`): no zero_grad before the
    backward, as in every micro-batch of a window but the first.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    autocast = traced_autocast(precision)
    started = time.perf_counter()
    with _tracing(fake, top_k) as (tracker, counter):
        with tracker.phase("setup"), counter.paused():
            module = build_module()
            optimizer = first_optimizer(module.configure_optimizers())
            batch = batch_factory()
        if cuda_foreach:
            prefer_foreach(optimizer)
        _annotate(tracker, module, batch)
        _label_gradients(tracker, module)
        _set_mode(module, training=True)
        if primed:
            with tracker.phase("prime"), counter.paused():
                _prime(tracker, module, optimizer)
            tracker.label(_state_tensors(optimizer), "optimizer state")
        for _ in range(steps):
            with tracker.phase("forward"), autocast:
                loss = module.compute_loss(batch)
            with tracker.phase("backward"):
                if not accumulate:
                    optimizer.zero_grad()
                loss.backward()
            with tracker.phase("optimizer"):
                optimizer.step()
            tracker.label(_state_tensors(optimizer), "optimizer state")
            del loss
        return _report("training", precision, fake, tracker, module, batch, started, counter, steps)


def trace_inference(
    build_module: Callable[[], Any],
    batch_factory: Callable[[], Batch],
    *,
    fake: bool = True,
    precision: str = "32-true",
    top_k: int = 10,
    forward: Callable[[Any, Batch], Any] = call_with_batch,
) -> MemoryReport:
    """One forward pass in eval mode under `torch.no_grad()`; phases "setup" and "forward"."""
    autocast = traced_autocast(precision)
    started = time.perf_counter()
    with _tracing(fake, top_k) as (tracker, counter):
        with tracker.phase("setup"), counter.paused():
            module = build_module()
            batch = batch_factory()
        _annotate(tracker, module, batch)
        _set_mode(module, training=False)
        with tracker.phase("forward"), torch.no_grad(), autocast:
            output = forward(module, batch)
        del output
        return _report("inference", precision, fake, tracker, module, batch, started, counter, 1)


@contextmanager
def _tracing(fake: bool, top_k: int) -> Iterator[tuple[LiveStorageTracker, OpCostCounter]]:
    """Tracker and cost counter, above a FakeTensorMode when `fake` so that they see fake outputs."""
    tensors = FakeTensorMode(allow_non_fake_inputs=True) if fake else contextlib.nullcontext()
    with tensors, LiveStorageTracker(top_k=top_k) as tracker, OpCostCounter() as counter:
        with host_offload_accounting(tracker, counter):
            yield tracker, counter


def _annotate(tracker: LiveStorageTracker, module: Any, batch: Batch) -> None:
    tracker.label(module.parameters(), "parameters")
    tracker.label((v for v in batch.values() if isinstance(v, torch.Tensor)), "batch")
    if isinstance(module, nn.Module):
        tracker.watch_modules(module)


def _label_gradients(tracker: LiveStorageTracker, module: TrainableModule) -> None:
    """Label each gradient as soon as autograd has accumulated it."""
    for parameter in module.parameters():
        if parameter.requires_grad:
            parameter.register_post_accumulate_grad_hook(lambda p: tracker.label([p.grad], "gradients"))


def _prime(tracker: LiveStorageTracker, module: TrainableModule, optimizer: torch.optim.Optimizer) -> None:
    """Zero gradients (labelled as they would be after a backward) and one optimizer step on them."""
    for parameter in module.parameters():
        if parameter.requires_grad:
            parameter.grad = torch.zeros_like(parameter)
            tracker.label([parameter.grad], "gradients")
    optimizer.step()


def _set_mode(module: Any, training: bool) -> None:
    if isinstance(module, nn.Module):
        module.train(training)


def _state_tensors(optimizer: torch.optim.Optimizer) -> Iterator[torch.Tensor]:
    for state in optimizer.state.values():
        yield from (value for value in state.values() if isinstance(value, torch.Tensor))


def _report(
    kind: str,
    precision: str,
    fake: bool,
    tracker: LiveStorageTracker,
    module: Any,
    batch: Batch,
    started: float,
    counter: OpCostCounter,
    steps: int,
) -> MemoryReport:
    """The report of a finished trace; `costs` are those of one step (the traced ones' mean)."""
    parameters = list(module.parameters())
    return MemoryReport(
        kind=kind,
        precision=precision,
        fake=fake,
        peak=tracker.peak,
        phases=tracker.phase_peaks,
        parameters=sum(p.numel() for p in parameters),
        parameter_bytes=sum(p.numel() * p.element_size() for p in parameters),
        resident=tracker.snapshot(),
        inputs={key: tuple(value.shape) for key, value in batch.items() if isinstance(value, torch.Tensor)},
        seconds=time.perf_counter() - started,
        host_peak_bytes=tracker.host_peak,
        reserved_peak_bytes=tracker.reserved_peak,
        costs=scaled_costs(counter.costs, 1 / steps),
    )
