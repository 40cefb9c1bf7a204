"""Memory levers a network honours; set from `fastmri_pl/conf/hardware/*` (key `levers`) and never change results."""

from dataclasses import dataclass

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
    """

    checkpoint: str = "none"
    sens_chunk: int = 0
    coil_chunk: int = 0
    offload: bool = False
    sens_checkpoint: str = "chunk"

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
        if self.sens_checkpoint == "whole" and self.checkpoint == "none":
            raise ValueError("levers.sens_checkpoint='whole' needs levers.checkpoint 'cascade' or 'level'")
