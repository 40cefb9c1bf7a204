"""Host offload seen by the estimator: what `save_on_cpu` keeps in host memory is counted apart.

On fake CPU tensors `save_on_cpu` would keep the very tensor it was given (`.cpu()` of a CPU tensor is
itself), so the "offloaded" activations would stay in the device total. While tracing, the networks' calls to
`torch.autograd.graph.save_on_cpu` get `TracedHostOffload` instead: it packs a copy allocated as host memory
(the tracker's `on_host`) and unpacks a fresh device copy in the backward, as the CUDA version does. Both
copies cross the host link: the cost counter, when given, counts them as host transfer.
"""

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from unittest import mock

import torch
from torch.autograd.graph import saved_tensors_hooks

from fastmri_pl.memory.opcost import OpCostCounter
from fastmri_pl.memory.tracker import LiveStorageTracker


class TracedHostOffload(saved_tensors_hooks):
    """`save_on_cpu` for the tracker: saved tensors become host copies, back on the device when unpacked."""

    def __init__(self, tracker: LiveStorageTracker, counter: OpCostCounter | None = None) -> None:
        def transfer(tensor: torch.Tensor):
            nbytes = tensor.numel() * tensor.element_size()
            return counter.host_transfer(nbytes) if counter is not None else nullcontext()

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            with transfer(tensor):
                with tracker.on_host():
                    host = torch.empty_like(tensor)
                return host.copy_(tensor)

        def unpack(host: torch.Tensor) -> torch.Tensor:
            with transfer(host):
                return host.clone()

        super().__init__(pack, unpack)


@contextmanager
def host_offload_accounting(
    tracker: LiveStorageTracker, counter: OpCostCounter | None = None
) -> Iterator[None]:
    """Route `torch.autograd.graph.save_on_cpu(...)` to `TracedHostOffload(tracker, counter)` while inside."""

    def traced_save_on_cpu(pin_memory: bool = False, device_type: str = "cuda") -> TracedHostOffload:
        return TracedHostOffload(tracker, counter)

    with mock.patch.object(torch.autograd.graph, "save_on_cpu", traced_save_on_cpu):
        yield
