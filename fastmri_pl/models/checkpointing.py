"""Memory-lever mechanics any unrolled network can reuse: checkpointing, chunked calls, host offload.

Each helper changes only where activations live or when they are recomputed, never the result; the
networks decide *what* to wrap (a cascade, a U-Net level, one chunk of coil images).
"""

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

import torch
from torch.utils.checkpoint import checkpoint


def checkpointed(fn: Callable[..., torch.Tensor], *args: torch.Tensor, enabled: bool) -> torch.Tensor:
    """Call `fn(*args)`, under non-reentrant activation checkpointing when `enabled` and autograd records.

    Non-reentrant checkpointing nests (cascade around U-Net levels), handles inputs that need no gradient and
    tensors captured by `fn`'s closure, and saves its inputs through the saved-tensor hooks, so `offloaded`
    moves them to the host. Tensors that `fn` closes over are not saved again per call.
    """
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def map_in_chunks(
    fn: Callable[..., torch.Tensor],
    batch: torch.Tensor,
    chunk_size: int,
    checkpoint_each: bool,
    *aligned: torch.Tensor,
) -> torch.Tensor:
    """`fn` over dim 0 of `batch` in chunks of `chunk_size` (0 = one call), concatenated back along dim 0.

    `aligned` tensors share dim 0 with `batch` and are sliced alike: `fn(batch_chunk, *aligned_chunks)`.
    With `checkpoint_each`, every chunk's call is checkpointed on its own, so the backward recomputes and
    holds one chunk's activations at a time instead of the whole batch's. `fn` must treat the items of dim 0
    independently (no batch statistics) for the result to equal a single call.
    """
    total = batch.shape[0]
    step = total if chunk_size <= 0 else min(chunk_size, total)
    if step >= total:
        return checkpointed(fn, batch, *aligned, enabled=checkpoint_each)
    parts = [
        checkpointed(fn, *(t[start : start + step] for t in (batch, *aligned)), enabled=checkpoint_each)
        for start in range(0, total, step)
    ]
    return torch.cat(parts, dim=0)


def grouped_chunks(num_groups: int, group_size: int, chunk_size: int) -> list[list[slice]]:
    """Ranges over a flat axis of `num_groups` consecutive groups (adjacent slices) of `group_size` coils.

    Returns one list per group of slices of at most `chunk_size` coils that never cross a group boundary, so a
    per-group reduction (coil combination of one adjacent slice) can be accumulated chunk by chunk.
    `chunk_size` 0 or >= `group_size` gives one range per group.
    """
    step = group_size if chunk_size <= 0 else min(chunk_size, group_size)
    return [
        [slice(first + start, first + min(start + step, group_size)) for start in range(0, group_size, step)]
        for first in range(0, num_groups * group_size, group_size)
    ]


def offloaded(enabled: bool) -> AbstractContextManager[None]:
    """Context that keeps tensors autograd saves (checkpoint inputs included) in host memory when `enabled`.

    Pinned host memory only when CUDA exists: pinning needs a CUDA context, and makes the copies asynchronous.
    """
    if not enabled:
        return nullcontext()
    return torch.autograd.graph.save_on_cpu(pin_memory=torch.cuda.is_available())
