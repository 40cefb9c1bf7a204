"""The caching allocators' rules on allocation sequences with known answers, and in the tracker."""

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from fastmri_pl.memory import LiveStorageTracker
from fastmri_pl.memory.allocator import DeviceCacheReplay, PinnedHostCache, pinned_block_size

MIB = 2**20
GIB = 2**30


def replay(*events: tuple[str, int] | tuple[str, int, int]) -> DeviceCacheReplay:
    """("malloc", key, bytes) and ("free", key) in order."""
    cache = DeviceCacheReplay()
    for event in events:
        if event[0] == "malloc":
            cache.malloc(event[1], event[2])
        else:
            cache.free(event[1])
    return cache


def test_small_requests_round_to_512_bytes_and_share_a_2_mib_segment():
    cache = replay(("malloc", 1, 100), ("malloc", 2, 513), ("malloc", 3, 1 * MIB))
    assert cache.allocated == 512 + 1024 + MIB
    assert cache.reserved == 2 * MIB  # all three fit one small segment
    cache.malloc(4, MIB)  # 1 MiB - 1.5 KiB left there: a second small segment
    assert cache.reserved == 4 * MIB
    cache.malloc(5, 0)  # zero bytes allocate nothing
    assert cache.allocated == 512 + 1024 + 2 * MIB


def test_large_requests_take_20_mib_segments_below_10_mib_and_their_own_size_above():
    cache = replay(("malloc", 1, int(1.5 * MIB)), ("malloc", 2, 25 * MIB))
    assert cache.reserved == 20 * MIB + 26 * MIB  # 25 MiB rounds up to whole 2 MiB
    cache.free(1)
    cache.malloc(3, 3 * MIB)  # best fit: the free 20 MiB segment, not a new one
    # 25 MiB keeps its whole 26 MiB segment: a 1 MiB rest is not split off
    assert cache.reserved == 46 * MIB and cache.allocated == 26 * MIB + 3 * MIB


def test_a_freed_hole_too_small_for_the_next_request_takes_a_new_segment():
    """8 + 8 MiB cut from one 20 MiB segment, the first freed: 10 MiB fits neither the 8 nor the 4 left."""
    cache = replay(("malloc", 1, 8 * MIB), ("malloc", 2, 8 * MIB), ("free", 1), ("malloc", 3, 10 * MIB))
    assert cache.reserved == 30 * MIB
    assert cache.peak_allocated == 18 * MIB  # the tracker's count; the card holds 30 MiB
    # freeing the second block merges the first segment back into one free 20 MiB block
    cache.free(2)
    cache.malloc(4, 20 * MIB)
    assert cache.reserved == 30 * MIB and cache.allocated == 30 * MIB


def test_a_remainder_of_at_most_1_mib_is_not_split_off_a_large_block():
    cache = replay(("malloc", 1, 19 * MIB), ("malloc", 2, 2 * MIB))
    # 19 MiB holds its whole 20 MiB segment (1 MiB left); 2 MiB needs a new one, split (18 MiB left)
    assert cache.allocated == 20 * MIB + 2 * MIB and cache.reserved == 40 * MIB
    cache = replay(("malloc", 1, 18 * MIB), ("free", 1), ("malloc", 2, 17 * MIB + 512))
    assert cache.reserved == 18 * MIB and cache.allocated == 18 * MIB  # 1 MiB - 512 B stays attached


def test_pinned_host_blocks_are_powers_of_two_reused_per_size():
    assert [pinned_block_size(n) for n in (0, 1, 4096, 4097, 37 * MIB)] == [0, 1, 4096, 8192, 64 * MIB]
    host = PinnedHostCache()
    parts = [host.allocate(37 * MIB) for _ in range(60)]
    assert host.reserved == 60 * 64 * MIB == int(3.75 * GIB)  # not 60 x 37 MiB = 2.17 GiB
    host.release(parts.pop())
    host.allocate(33 * MIB)  # same class: the freed block is reused
    assert host.reserved == int(3.75 * GIB)
    host.allocate(20 * MIB)  # a new class
    assert host.reserved == int(3.75 * GIB) + 32 * MIB


@pytest.mark.parametrize("fake", [False, True])
def test_the_tracker_replays_its_allocations(fake):
    with FakeTensorMode() if fake else torch.no_grad(), LiveStorageTracker() as tracker:
        first = torch.empty(2 * MIB, dtype=torch.uint8)
        second = torch.empty(2 * MIB, dtype=torch.uint8)
        del first
        third = torch.empty(3 * MIB, dtype=torch.uint8)
        with tracker.on_host():
            torch.empty(37 * MIB, dtype=torch.uint8)
    assert tracker.peak.nbytes == 5 * MIB
    assert tracker.reserved_peak == 20 * MIB  # 2 + 2 cut from one segment, then 3 from its rest
    assert tracker.host_peak == 64 * MIB
    assert second.numel() + third.numel() == 5 * MIB
