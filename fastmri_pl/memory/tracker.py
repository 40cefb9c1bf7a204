"""Live-storage accounting of every tensor an op creates: the GPU-free core of the memory estimator.

A `TorchDispatchMode` sees the output of every ATen op, including those autograd runs in the backward pass.
Counting each output's *storage* once (views and in-place results share it), rounded up the way the CUDA
caching allocator rounds a block, and dropping it when the storage dies (a weakref callback), gives the bytes
a GPU would hold at every moment. It works on real CPU tensors and under `FakeTensorMode` (fake tensors still
carry a storage object of the right size), so the estimate can be checked against real execution.
The same allocations and frees drive a replay of the caching allocator (`memory.allocator`): `reserved_peak`
is what the card would hold with fragmentation, `host_peak` the pinned host memory in power-of-two blocks.
Invisible by construction: kernel workspaces (cuDNN, cuFFT, cuBLAS), allowed for per profile (`memory.card`).
"""

import dataclasses
import functools
import heapq
import weakref
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from fastmri_pl.memory.allocator import MIN_BLOCK, DeviceCacheReplay, PinnedHostCache

ALLOCATOR_ROUNDING = MIN_BLOCK  # bytes; the CUDA caching allocator's smallest block and rounding step


def round_up(nbytes: int, multiple: int) -> int:
    """`nbytes` rounded up to whole `multiple`-byte blocks (0 stays 0: CUDA allocates nothing for it)."""
    return -(-nbytes // multiple) * multiple


@dataclass(frozen=True)
class TensorRecord:
    """One live storage: which op made it, its first tensor's shape and dtype, and who it belongs to.

    module: the innermost watched module running when it was made ("" outside any forward).
    phase: the innermost tracker phase at that time; role: a label given afterwards ("parameters", ...).
    """

    op: str
    shape: tuple[int, ...]
    dtype: str
    nbytes: int
    module: str
    phase: str
    role: str = ""

    @property
    def source(self) -> str:
        """What to group this storage under in a report: its role, else its module, else its phase."""
        return self.role or self.module or f"({self.phase or 'untracked phase'})"


@dataclass(frozen=True)
class PeakSnapshot:
    """The live bytes at a peak, the largest storages then, and the bytes per source (largest first)."""

    nbytes: int
    largest: tuple[TensorRecord, ...] = ()
    by_source: tuple[tuple[str, int], ...] = ()


class _Entry:
    """A tracked storage; mutable so that a role can be attached after creation."""

    __slots__ = ("record", "raw_nbytes", "ref")

    def __init__(self, record: TensorRecord, raw_nbytes: int, ref: weakref.ref) -> None:
        self.record = record
        self.raw_nbytes = raw_nbytes
        self.ref = ref


class _PeakWatch:
    """Highest live total seen while active; the snapshot is taken lazily, just before the next free.

    Between a new peak and the next free only allocations happen (and each raises the peak again), so the live
    set right before that free is exactly the live set at the peak. Snapshots therefore cost one pass over the
    live storages per free that follows a peak, not one per allocation; a snapshot only copies the records,
    and is summarised (largest, per source) when asked for.
    """

    __slots__ = ("peak", "pending", "records")

    def __init__(self) -> None:
        self.peak = -1
        self.pending = False
        self.records: list[TensorRecord] = []


class LiveStorageTracker(TorchDispatchMode):
    """Tracks the bytes of all live storages created by ops while active, their peak, and peaks per phase.

    Tensors that existed before entering are not counted (a view of one adds nothing); build everything to be
    measured inside the tracker. Enter it *after* `FakeTensorMode` so that it sees the fake outputs.
    """

    def __init__(self, top_k: int = 10, rounding: int = ALLOCATOR_ROUNDING) -> None:
        super().__init__()
        if top_k < 0 or rounding < 1:
            raise ValueError(f"need top_k >= 0 and rounding >= 1, got top_k={top_k}, rounding={rounding}")
        self.top_k = top_k
        self.rounding = rounding
        self.live_bytes = 0
        self.host_bytes = 0
        self.device_cache = DeviceCacheReplay()
        self.host_cache = PinnedHostCache()
        self._live: dict[int, _Entry] = {}
        self._host: dict[int, _Entry] = {}
        self._host_depth = 0
        self._overall = _PeakWatch()
        self._phases: dict[str, _PeakWatch] = {}
        self._active_phases: list[tuple[str, _PeakWatch]] = []
        self._module_stack: list[str] = []
        self._hook_handles: list[torch.utils.hooks.RemovableHandle] = []

    # -- results ------------------------------------------------------------------------------------------

    @property
    def peak(self) -> PeakSnapshot:
        """The overall peak since the tracker was created."""
        return self._summary(self._settled(self._overall))

    @property
    def phase_peaks(self) -> dict[str, PeakSnapshot]:
        """Peak per phase name; a name entered several times keeps its highest peak."""
        return {name: self._summary(self._settled(watch)) for name, watch in self._phases.items()}

    @property
    def reserved_peak(self) -> int:
        """The most bytes the caching allocator would have held in segments (allocated + fragmentation)."""
        return self.device_cache.peak_reserved

    @property
    def host_peak(self) -> int:
        """Pinned host bytes the caching host allocator would hold: power-of-two blocks, kept per size."""
        return self.host_cache.reserved

    def snapshot(self) -> PeakSnapshot:
        """The live storages now, summarised like a peak (largest ones, bytes per source)."""
        return self._summarise(self.live_bytes, self._live_records())

    # -- annotations --------------------------------------------------------------------------------------

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Attribute allocations to `name` and record the peak while inside (live bytes at entry included)."""
        watch = self._phases.setdefault(name, _PeakWatch())
        self._active_phases.append((name, watch))
        self._raise_peak(watch)
        try:
            yield
        finally:
            self._settled(watch)
            self._active_phases.pop()

    def label(self, tensors: Iterable[torch.Tensor], role: str) -> None:
        """Give the tracked storages of `tensors` a role ("parameters", "optimizer state") for reports."""
        for tensor in tensors:
            entry = self._live.get(id(_storage_of(tensor)))
            if entry is not None:
                entry.record = dataclasses.replace(entry.record, role=role)

    @contextmanager
    def on_host(self) -> Iterator[None]:
        """Count storages created inside as host memory (`host_bytes`), not device memory.

        On fake CPU tensors a host copy looks like any other tensor; the offload hooks (`memory.offload`)
        allocate their copies in here, so what `save_on_cpu` moves off the GPU leaves the device total.
        """
        self._host_depth += 1
        try:
            yield
        finally:
            self._host_depth -= 1

    def watch_modules(self, root: nn.Module) -> None:
        """Name every allocation after the innermost submodule of `root` whose forward is running.

        Forward pre/post hooks keep a stack of qualified names; they are removed when the tracker exits.
        Activation-checkpoint recomputation calls forward again, so recomputed tensors are named too.
        """
        for name, module in root.named_modules():
            qualified = name or type(root).__name__
            self._hook_handles.append(module.register_forward_pre_hook(self._push_module(qualified)))
            self._hook_handles.append(module.register_forward_hook(self._pop_module, always_call=True))

    # -- dispatch -----------------------------------------------------------------------------------------

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        may_allocate = not any(ret.alias_info is not None for ret in func._schema.returns)
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._observe(tensor, func, may_allocate)
        return out

    def __exit__(self, exc_type, exc_val, exc_tb):
        for handle in self._hook_handles:
            handle.remove()
        self._hook_handles.clear()
        self._module_stack.clear()
        return super().__exit__(exc_type, exc_val, exc_tb)

    def _observe(self, tensor: torch.Tensor, func, may_allocate: bool) -> None:
        """Count a new storage, or resize a known one (`resize_`, `out=`); aliases of untracked ones add 0."""
        storage = _storage_of(tensor)
        if storage is None:
            return
        key = id(storage)
        entry = self._live.get(key)
        if entry is not None:
            if storage.nbytes() != entry.raw_nbytes:
                self._resize(key, entry, storage.nbytes())
            return
        if not may_allocate or key in self._host:
            return
        if self._host_depth:
            self._track_host(key, storage, tensor, func)
            return
        raw = storage.nbytes()
        record = self._record(func, tensor, round_up(raw, self.rounding))
        ref = weakref.ref(storage, functools.partial(self._release, key))
        self._live[key] = _Entry(record, raw, ref)
        self.device_cache.malloc(key, raw)
        self.live_bytes += record.nbytes
        self._raise_peaks()

    def _track_host(self, key: int, storage: torch.UntypedStorage, tensor: torch.Tensor, func) -> None:
        if key in self._host:
            return
        raw = storage.nbytes()
        record = self._record(func, tensor, self.host_cache.allocate(raw), role="host")
        self._host[key] = _Entry(record, raw, weakref.ref(storage, functools.partial(self._release, key)))
        self.host_bytes += record.nbytes

    def _record(self, func, tensor: torch.Tensor, nbytes: int, role: str = "") -> TensorRecord:
        """A new storage: the op, shape and dtype that made it, and the module and phase it was made in."""
        return TensorRecord(
            op=str(func.overloadpacket.__name__),
            shape=tuple(int(size) for size in tensor.shape),
            dtype=str(tensor.dtype).removeprefix("torch."),
            nbytes=nbytes,
            module=self._module_stack[-1] if self._module_stack else "",
            phase=self._active_phases[-1][0] if self._active_phases else "",
            role=role,
        )

    def _resize(self, key: int, entry: _Entry, raw: int) -> None:
        new_bytes = round_up(raw, self.rounding)
        self._settle_all()
        self.device_cache.malloc(key, raw)
        self.live_bytes += new_bytes - entry.record.nbytes
        entry.raw_nbytes = raw
        entry.record = dataclasses.replace(entry.record, nbytes=new_bytes)
        self._raise_peaks()

    def _release(self, key: int, _ref: weakref.ref) -> None:
        """Weakref callback: the storage died; its bytes leave the live total after any pending snapshot."""
        if key in self._host:
            size = self._host.pop(key).record.nbytes
            self.host_bytes -= size
            self.host_cache.release(size)
            return
        if key not in self._live:
            return
        self._settle_all()
        self.device_cache.free(key)
        self.live_bytes -= self._live.pop(key).record.nbytes

    # -- peaks --------------------------------------------------------------------------------------------

    def _watches(self) -> Iterator[_PeakWatch]:
        yield self._overall
        for _, watch in self._active_phases:
            yield watch

    def _raise_peak(self, watch: _PeakWatch) -> None:
        if self.live_bytes > watch.peak:
            watch.peak = self.live_bytes
            watch.pending = True

    def _raise_peaks(self) -> None:
        for watch in self._watches():
            self._raise_peak(watch)

    def _settle_all(self) -> None:
        """Take every pending snapshot now, sharing one copy of the live records between them."""
        pending = [watch for watch in self._watches() if watch.pending]
        if pending:
            records = self._live_records()
            for watch in pending:
                watch.records = records
                watch.pending = False

    def _settled(self, watch: _PeakWatch) -> _PeakWatch:
        """Take the pending snapshot now; only valid while the live set still equals the one at the peak."""
        if watch.pending:
            watch.records = self._live_records()
            watch.pending = False
        return watch

    def _live_records(self) -> list[TensorRecord]:
        return [entry.record for entry in self._live.values()]

    def _summary(self, watch: _PeakWatch) -> PeakSnapshot:
        return self._summarise(max(watch.peak, 0), watch.records)

    def _summarise(self, nbytes: int, records: list[TensorRecord]) -> PeakSnapshot:
        largest = heapq.nlargest(self.top_k, records, key=lambda r: r.nbytes)
        per_source: dict[str, int] = {}
        for record in records:
            per_source[record.source] = per_source.get(record.source, 0) + record.nbytes
        by_source = sorted(per_source.items(), key=lambda item: item[1], reverse=True)
        return PeakSnapshot(nbytes, tuple(largest), tuple(by_source))

    # -- module names -------------------------------------------------------------------------------------

    def _push_module(self, qualified: str):
        def hook(module: nn.Module, args) -> None:
            self._module_stack.append(qualified)

        return hook

    def _pop_module(self, module: nn.Module, args, output) -> None:
        if self._module_stack:
            self._module_stack.pop()


def _storage_of(tensor: torch.Tensor) -> torch.UntypedStorage | None:
    """The tensor's storage; the same Python object for every view of it while it lives (real or fake)."""
    try:
        return tensor.untyped_storage()
    except (NotImplementedError, RuntimeError):  # sparse, nested and other storage-less layouts
        return None
