"""FLOPs and bytes of every op a traced step runs: what the roofline (`memory.roofline`) turns into time.

A `TorchDispatchMode` beside the memory tracker sees the same ATen ops, forward, backward and recompute (on
fake tensors too, where only shapes exist). Per op it counts
- FLOPs: convolutions and matrix products by `torch.utils.flop_counter`'s formulas (a multiply-add is 2),
  FFTs as 5 n log2 N (complex) or 2.5 n log2 N (real-to-complex and back), n the elements and N the transform
  length; every other op as 0 (elementwise work is bounded by memory traffic on every device here);
- bytes moved: every tensor read (its elements, a broadcast dimension once) plus every tensor written; views
  move nothing, `empty` writes nothing, `copy_`/`fill_`/`zero_` do not read what they overwrite;
- its compute class: "half" when its floating inputs are 16-bit, else "fp32" (complex64 and float32);
- host transfer: bytes that `save_on_cpu` copies to host memory and back (`host_transfer`).
Ops with the same name, class, FLOPs and bytes are kept as one entry with a count, so a full PromptMR step
is a few thousand entries, and traces of 3 and 4 cascades extrapolate entry by entry like the memory peaks do.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import flop_registry

aten = torch.ops.aten
# allocate without writing: no kernel, no traffic
NO_KERNEL = {aten.empty, aten.empty_like, aten.empty_strided, aten.new_empty, aten.new_empty_strided}
# overwrite their first argument without reading it
WRITE_ONLY = {aten.copy_, aten.fill_, aten.zero_}
COMPLEX_FFTS = {aten._fft_c2c}
REAL_FFTS = {aten._fft_r2c, aten._fft_c2r}
HALF_DTYPES = {torch.float16, torch.bfloat16}
# weight of an autograd node whose backward stands for several identical ones (`OpCostCounter.repeat_graph`)
WEIGHT_KEY = "fastmri_pl.cost_weight"

# (op, compute class, FLOPs, bytes) of one call
OpKey = tuple[str, str, int, int]


@dataclass
class OpCosts:
    """Calls per op signature, and bytes sent to host memory and back.

    counts are floats: an extrapolation (`extrapolate`) or a weight (`OpCostCounter.repeated`) scales them.
    """

    counts: dict[OpKey, float] = field(default_factory=dict)
    host_bytes: float = 0.0

    @property
    def flops(self) -> float:
        return sum(count * key[2] for key, count in self.counts.items())

    @property
    def bytes(self) -> float:
        return sum(count * key[3] for key, count in self.counts.items())

    @property
    def calls(self) -> float:
        return sum(self.counts.values())

    def add(self, key: OpKey, weight: float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + weight

    def by_op(self) -> list[tuple[str, float, float]]:
        """(op, FLOPs, bytes) summed per op name, most FLOPs first."""
        totals: dict[str, list[float]] = {}
        for (name, _, flops, nbytes), count in self.counts.items():
            entry = totals.setdefault(name, [0.0, 0.0])
            entry[0] += count * flops
            entry[1] += count * nbytes
        return sorted(((name, f, b) for name, (f, b) in totals.items()), key=lambda row: -row[1])


def scaled_costs(costs: OpCosts, factor: float) -> OpCosts:
    """Every count and the host bytes times `factor` (a mean over traced steps, a per-slice share)."""
    return OpCosts({key: count * factor for key, count in costs.counts.items()}, costs.host_bytes * factor)


def extrapolate_costs(low: OpCosts, high: OpCosts, steps: int) -> OpCosts:
    """`low + steps * (high - low)` entry by entry: the costs `steps` cascades past the count `low` traced.

    An entry that would fall below zero (a signature of the last cascade that moves) is clipped to 0.
    """
    counts = {
        key: max(
            0.0, low.counts.get(key, 0.0) + steps * (high.counts.get(key, 0.0) - low.counts.get(key, 0.0))
        )
        for key in low.counts.keys() | high.counts.keys()
    }
    host = max(0.0, low.host_bytes + steps * (high.host_bytes - low.host_bytes))
    return OpCosts({key: count for key, count in counts.items() if count > 0}, host)


class OpCostCounter(TorchDispatchMode):
    """Counts `OpCosts` of every op run while active (enter it inside `FakeTensorMode` to trace fakes)."""

    _active: ClassVar[list["OpCostCounter"]] = []

    def __init__(self) -> None:
        super().__init__()
        self.costs = OpCosts()
        self._weight = 1.0
        self._paused = 0

    @classmethod
    def active(cls) -> "OpCostCounter | None":
        """The innermost counter now counting, for code that needs to tell it about repeated work."""
        return cls._active[-1] if cls._active else None

    def __enter__(self):
        OpCostCounter._active.append(self)
        return super().__enter__()

    def __exit__(self, exc_type, exc_val, exc_tb):
        OpCostCounter._active.remove(self)
        return super().__exit__(exc_type, exc_val, exc_tb)

    @contextmanager
    def repeated(self, times: float) -> Iterator[None]:
        """Ops run inside count `times` each: one traced call standing in for `times` identical ones."""
        previous, self._weight = self._weight, self._weight * times
        try:
            yield
        finally:
            self._weight = previous

    def repeat_graph(self, output: torch.Tensor, times: float) -> None:
        """The backward (and any recompute) of the autograd graph that produced `output` counts `times`.

        Marks every node reachable from `output.grad_fn`; in the backward the engine runs one node at a time
        and `torch._C._current_autograd_node()` names it, recompute inside its unpack hooks included.
        """
        stack, seen = [output.grad_fn], set()
        while stack:
            node = stack.pop()
            if node is None or node in seen:
                continue
            seen.add(node)
            node.metadata[WEIGHT_KEY] = times
            stack.extend(parent for parent, _ in node.next_functions)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Ops inside are not counted (stand-ins for work counted elsewhere)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    @contextmanager
    def host_transfer(self, nbytes: int) -> Iterator[None]:
        """One copy of `nbytes` over the host link; the copy's own device ops inside are not counted."""
        self.costs.host_bytes += nbytes * self._current_weight()
        with self.paused():
            yield

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if not self._paused:
            key = op_key(func, args, kwargs, out)
            if key is not None:
                self.costs.add(key, self._current_weight())
        return out

    def _current_weight(self) -> float:
        node = torch._C._current_autograd_node()
        node_weight = node.metadata.get(WEIGHT_KEY, 1.0) if node is not None else 1.0
        return self._weight * node_weight


def op_key(func: Any, args: tuple, kwargs: dict, out: Any) -> OpKey | None:
    """(name, class, FLOPs, bytes) of one call, or None for an op that runs no kernel (a view, `empty`)."""
    packet = func.overloadpacket
    if packet in NO_KERNEL or any(
        ret.alias_info is not None and not ret.alias_info.is_write for ret in func._schema.returns
    ):
        return None
    inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
    outputs = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor)]
    if not outputs:  # metadata queries (`prim.device`, sizes): no kernel
        return None
    read = inputs[1:] if packet in WRITE_ONLY else inputs
    nbytes = sum(map(tensor_bytes, read)) + sum(map(tensor_bytes, outputs))
    return packet.__name__, compute_class(inputs), op_flops(packet, args, kwargs, out), nbytes


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes of the distinct elements of `tensor`: a broadcast (stride 0) dimension is read once."""
    elements = math.prod(size for size, stride in zip(tensor.shape, tensor.stride(), strict=True) if stride)
    return elements * tensor.element_size()


def compute_class(inputs: list[torch.Tensor]) -> str:
    """ "half" when the first floating input is 16-bit (autocast's matmuls and convolutions), else "fp32"."""
    for tensor in inputs:
        if tensor.dtype.is_floating_point or tensor.dtype.is_complex:
            return "half" if tensor.dtype in HALF_DTYPES else "fp32"
    return "fp32"


def op_flops(packet: Any, args: tuple, kwargs: dict, out: Any) -> int:
    """FLOPs of one call: `flop_counter`'s formulas, FFTs by 5 n log2 N; 0 for everything else."""
    if packet in flop_registry:
        return int(flop_registry[packet](*args, **kwargs, out_val=out))
    if packet in COMPLEX_FFTS or packet in REAL_FFTS:
        signal, dims = args[0], args[1]
        length = math.prod(signal.shape[d] for d in dims) if packet is not aten._fft_c2r else None
        if length is None:  # c2r: the output's lengths along the transformed dims
            length = math.prod(out.shape[d] for d in dims)
        per_element = 5.0 if packet in COMPLEX_FFTS else 2.5
        elements = max(signal.numel(), out.numel())
        return int(per_element * elements * math.log2(max(length, 2)))
    return 0
