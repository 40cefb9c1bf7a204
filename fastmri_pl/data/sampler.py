"""A shuffling sampler whose order depends only on (seed, epoch), so a resumed run sees the same batches."""

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """A permutation drawn from `seed + epoch`; Lightning calls `set_epoch` at every training epoch.

    The default RandomSampler draws from the global RNG, whose state a checkpoint does not hold, so a run
    resumed after epoch k would visit epoch k+1's slices in another order than the uninterrupted run.
    (Under DDP Lightning's DistributedSampler does the same job and this sampler is not used.)
    """

    def __init__(self, length: int, seed: int = 0) -> None:
        self.length = length
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.length, generator=generator).tolist())

    def __len__(self) -> int:
        return self.length
