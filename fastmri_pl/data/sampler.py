"""A shuffling sampler whose order depends only on (seed, epoch), and a loader that remembers its position in
the epoch, so a run resumed from any checkpoint, mid-epoch ones included, sees the same batches."""

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, Sampler


class EpochPosition:
    """A sampler's place in the epoch for a resume: `start`, the samples of `epoch` a mid-epoch checkpoint had
    already trained on, which the sampler skips; another epoch starts from its first sample."""

    epoch = 0
    start = 0

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.start = 0
        self.epoch = epoch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.start = int(state["epoch"]), int(state["start"])


class EpochShuffleSampler(EpochPosition, Sampler[int]):
    """A permutation drawn from `seed + epoch`; Lightning calls `set_epoch` at every training epoch.

    The default RandomSampler draws from the global RNG, whose state a checkpoint does not hold, so a run
    resumed after epoch k would visit epoch k+1's slices in another order than the uninterrupted run.
    (Under DDP `ShardedEpochSampler` does the same per rank.)
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length = length
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator)[self.start :].tolist())

    def __len__(self) -> int:
        return self.length


class ShardedEpochSampler(EpochPosition, DistributedSampler):
    """DDP's sampler (each rank its share of the `seed + epoch` permutation, as Lightning's own would draw)
    with `start` counted in this rank's share. Every rank trains on as many batches as rank 0, whose loader
    state the checkpoint holds, so one count serves all. Being a `DistributedSampler`, Lightning leaves it in
    place instead of injecting its own."""

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start :])


class ResumableLoader(DataLoader):
    """A DataLoader whose `state_dict` says how far into the epoch training got.

    Lightning stores the state of every training loader that has `state_dict`/`load_state_dict` in each
    checkpoint and hands it back before the first batch of a resumed run; with an `EpochShuffleSampler` the
    state is (epoch, samples already trained on), so the resumed epoch continues with the next unseen batch.
    Batches are counted as this process receives them, which is as Lightning trains on them, however far the
    workers have read ahead. `len` stays the whole epoch's, as Lightning expects of a resumed loader.
    With another sampler (Lightning's, under `overfit_batches`) the state is empty.
    """

    _batches_seen = 0

    def __iter__(self) -> Iterator[Any]:
        self._batches_seen = 0
        for batch in super().__iter__():
            self._batches_seen += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        if not isinstance(self.sampler, EpochPosition):
            return {}
        position = self.sampler.start + self._batches_seen * (self.batch_size or 1)
        return {"epoch": self.sampler.epoch, "start": min(position, len(self.sampler))}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state and isinstance(self.sampler, EpochPosition):
            self.sampler.load_state_dict(state)
