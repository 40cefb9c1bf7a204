"""The caching allocators' rules replayed over a trace's allocations: what a card and its host *reserve*.

The tracker counts the bytes of live tensors (what `torch.cuda.max_memory_allocated` reports). A card holds
more: PyTorch's CUDA caching allocator takes memory from the driver in segments and cuts blocks out of them,
and a freed block stays cached for reuse, so a later, larger request that no free block can hold takes a new
segment while the old ones sit partly empty (`max_memory_reserved`). `DeviceCacheReplay` applies the
allocator's default rules (c10/cuda/CUDACachingAllocator.cpp, no `PYTORCH_CUDA_ALLOC_CONF`) to the same
allocations and frees in the same order:
- a request is rounded up to 512 B; up to 1 MiB it comes from the small pool, else from the large one;
- it takes the smallest cached free block of its pool that is large enough (best fit; ties by segment and
  offset, standing in for the device address);
- with none, a new segment: 2 MiB for the small pool, 20 MiB for requests under 10 MiB, else the request
  rounded up to 2 MiB;
- a block larger than the request is split when the rest is a usable block: >= 512 B in the small pool,
  > 1 MiB in the large one (else the request holds the whole block, and counts it as allocated);
- a freed block merges with free neighbours of its segment; segments are never given back.
Not replayed: streams other than the default one (the training step uses one), and what the allocator does
when the driver refuses a segment (it frees every wholly free cached segment and tries once more): the
replayed peak is what the card holds when it never has to, an upper bound of what a step needs.

Pinned host memory (`save_on_cpu(pin_memory=True)`) comes from the caching host allocator: each request is
rounded up to a power of two and freed blocks are kept for requests of the same size class, never returned.
`PinnedHostCache` holds, per class, the most blocks ever live at once.
"""

import bisect
import itertools
from dataclasses import dataclass, field

MIB = 2**20
MIN_BLOCK = 512  # bytes: rounding step and smallest block
SMALL_REQUEST = 1 * MIB  # requests up to this size come from the small pool
SMALL_SEGMENT = 2 * MIB
LARGE_SEGMENT = 20 * MIB  # segment for large-pool requests under MIN_LARGE_ALLOC
MIN_LARGE_ALLOC = 10 * MIB
LARGE_ROUNDING = 2 * MIB  # larger requests get a segment of their own size rounded up to this


def block_size(nbytes: int) -> int:
    """A request's size as the allocator rounds it: whole 512-byte steps, at least one."""
    return max(MIN_BLOCK, -(-nbytes // MIN_BLOCK) * MIN_BLOCK)


def segment_size(size: int) -> int:
    """The segment taken from the driver for a rounded request no cached block can hold."""
    if size <= SMALL_REQUEST:
        return SMALL_SEGMENT
    if size < MIN_LARGE_ALLOC:
        return LARGE_SEGMENT
    return -(-size // LARGE_ROUNDING) * LARGE_ROUNDING


def pinned_block_size(nbytes: int) -> int:
    """A pinned host request as the caching host allocator rounds it: the next power of two (0 stays 0)."""
    return 0 if nbytes <= 0 else 1 << (nbytes - 1).bit_length()


@dataclass(eq=False)
class _Block:
    """A piece of a segment; neighbours in the same segment are linked so that free ones can merge."""

    segment: int
    offset: int
    size: int
    small: bool
    free: bool = True
    prev: "_Block | None" = None
    next: "_Block | None" = None

    @property
    def key(self) -> tuple[int, int, int]:
        return self.size, self.segment, self.offset


@dataclass
class DeviceCacheReplay:
    """Allocations and frees (by caller key) replayed with the caching allocator's rules (module docstring).

    allocated: bytes of blocks handed out (a request that takes an unsplit block counts all of it);
    reserved: bytes of segments taken from the driver; the peaks are the highest values seen.
    """

    allocated: int = 0
    reserved: int = 0
    peak_allocated: int = 0
    peak_reserved: int = 0
    _free: dict[bool, list[tuple[int, int, int]]] = field(default_factory=lambda: {True: [], False: []})
    _blocks: dict[tuple[int, int, int], _Block] = field(default_factory=dict)
    _live: dict[int, _Block] = field(default_factory=dict)
    _segments: itertools.count = field(default_factory=itertools.count)

    def malloc(self, key: int, nbytes: int) -> None:
        """Allocate `nbytes` for `key` (a live key's old block is freed first; 0 bytes allocate nothing)."""
        if key in self._live:
            self.free(key)
        if nbytes <= 0:
            return
        size = block_size(nbytes)
        small = size <= SMALL_REQUEST
        block = self._take_free(size, small) or self._new_segment(size, small)
        remaining = block.size - size
        if remaining >= MIN_BLOCK if small else remaining > SMALL_REQUEST:
            rest = _Block(block.segment, block.offset + size, remaining, small, prev=block, next=block.next)
            if block.next is not None:
                block.next.prev = rest
            block.next, block.size = rest, size
            self._insert_free(rest)
        block.free = False
        self._live[key] = block
        self.allocated += block.size
        self.peak_allocated = max(self.peak_allocated, self.allocated)

    def free(self, key: int) -> None:
        """Give `key`'s block back to its pool, merged with free neighbours; unknown keys are ignored."""
        block = self._live.pop(key, None)
        if block is None:
            return
        self.allocated -= block.size
        block.free = True
        for neighbour in (block.prev, block.next):
            if neighbour is not None and neighbour.free:
                self._remove_free(neighbour)
                block = self._merge(block, neighbour)
        self._insert_free(block)

    def _take_free(self, size: int, small: bool) -> _Block | None:
        pool = self._free[small]
        index = bisect.bisect_left(pool, (size, -1, -1))
        if index == len(pool):
            return None
        return self._blocks.pop(pool.pop(index))

    def _new_segment(self, size: int, small: bool) -> _Block:
        total = segment_size(size)
        self.reserved += total
        self.peak_reserved = max(self.peak_reserved, self.reserved)
        return _Block(next(self._segments), 0, total, small)

    def _insert_free(self, block: _Block) -> None:
        bisect.insort(self._free[block.small], block.key)
        self._blocks[block.key] = block

    def _remove_free(self, block: _Block) -> None:
        pool = self._free[block.small]
        del pool[bisect.bisect_left(pool, block.key)]
        del self._blocks[block.key]

    @staticmethod
    def _merge(block: _Block, neighbour: _Block) -> _Block:
        """One free block from two adjacent ones of a segment."""
        first, second = (neighbour, block) if neighbour.offset < block.offset else (block, neighbour)
        first.size += second.size
        first.next = second.next
        if second.next is not None:
            second.next.prev = first
        return first


@dataclass
class PinnedHostCache:
    """Pinned host blocks by power-of-two size class; `reserved` is what stays pinned (module docstring)."""

    live: dict[int, int] = field(default_factory=dict)
    most: dict[int, int] = field(default_factory=dict)

    def allocate(self, nbytes: int) -> int:
        """Take a block for `nbytes`; returns its size."""
        size = pinned_block_size(nbytes)
        self.live[size] = self.live.get(size, 0) + 1
        self.most[size] = max(self.most.get(size, 0), self.live[size])
        return size

    def release(self, size: int) -> None:
        """A block of `size` (as `allocate` returned it) goes back to its class."""
        self.live[size] -= 1

    @property
    def reserved(self) -> int:
        return sum(size * count for size, count in self.most.items())
