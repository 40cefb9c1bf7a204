"""Memory levers a network honours, from `conf/hardware/*` (key `levers`); results never change."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CHECKPOINT_GRANULARITIES = ("none", "cascade", "level")
SENSITIVITY_CHECKPOINT_UNITS = ("chunk", "whole")


@dataclass(frozen=True)
class MemoryLevers:
    """How a network trades compute and host traffic for GPU memory.

    checkpoint: activation checkpointing granularity: none, per cascade, or per U-Net level inside cascades.
    sens_chunk: coil images per sensitivity-net call (0 = all at once).
    coil_chunk: coils per expand / reduce / data-consistency step (0 = all coils at once).
    offload: keep checkpoint boundaries in pinned host memory (`torch.autograd.graph.save_on_cpu`).
    sens_checkpoint: what checkpointing wraps in the sensitivity net when checkpoint != none: "chunk" (each
        chunk on its own, so the backward holds one chunk's activations at a time) or "whole" (the net as one
        unit around its chunk loop, so its recompute holds every coil image's activations at once). "whole"
        saves nothing and exists only to reproduce the reference code's memory figures.
    checkpoint_cascades: how many cascades (the first ones) `checkpoint` and `offload` apply to; 0 or None =
        all. The others keep their activations on the device (no recompute, no offload): each one left out
        saves its forward's recompute at the cost of its activations; the planner picks the count.
        The sensitivity net's checkpointing (`sens_checkpoint`) does not depend on it.
    """

    checkpoint: str = "none"
    sens_chunk: int = 0
    coil_chunk: int = 0
    offload: bool = False
    sens_checkpoint: str = "chunk"
    checkpoint_cascades: int | None = None

    def __post_init__(self) -> None:
        if self.checkpoint not in CHECKPOINT_GRANULARITIES:
            raise ValueError(
                f"levers.checkpoint must be one of {CHECKPOINT_GRANULARITIES}, got {self.checkpoint!r}"
            )
        if self.sens_chunk < 0 or self.coil_chunk < 0:
            raise ValueError(
                "levers.sens_chunk and levers.coil_chunk must be >= 0 (0 means all coils at once)"
            )
        if self.sens_checkpoint not in SENSITIVITY_CHECKPOINT_UNITS:
            raise ValueError(
                f"levers.sens_checkpoint must be one of {SENSITIVITY_CHECKPOINT_UNITS}, "
                f"got {self.sens_checkpoint!r}"
            )
        if self.checkpoint_cascades is not None and self.checkpoint_cascades < 0:
            raise ValueError("levers.checkpoint_cascades must be >= 0 or null (0 and null: every cascade)")
        if self.sens_checkpoint == "whole" and self.checkpoint == "none":
            raise ValueError("levers.sens_checkpoint='whole' needs levers.checkpoint 'cascade' or 'level'")

    def checkpoints_cascade(self, index: int) -> bool:
        """Whether cascade `index` (0-based) is checkpointed."""
        return self.checkpoint != "none" and self._counted(index)

    def offloads_cascade(self, index: int) -> bool:
        """Whether what cascade `index` saves for the backward goes to host memory."""
        return self.offload and self._counted(index)

    def _counted(self, index: int) -> bool:
        return not self.checkpoint_cascades or index < self.checkpoint_cascades


def as_levers(levers: MemoryLevers | Mapping[str, Any] | None) -> MemoryLevers:
    """`levers` as a `MemoryLevers`: Hydra's `instantiate` hands a network its levers as a config mapping."""
    if levers is None:
        return MemoryLevers()
    if isinstance(levers, MemoryLevers):
        return levers
    return MemoryLevers(**levers)
