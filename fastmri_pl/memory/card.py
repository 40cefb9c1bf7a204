"""What a card must hold for a traced step beyond its tensors, and the test of whether it fits.

need = reserved + workspace + context, where
- reserved: what the CUDA caching allocator would hold for the traced allocations (`memory.allocator`), the
  tensors' peak plus fragmentation (the peak itself where nothing was replayed);
- workspace (`hardware.workspace_gib`): scratch that cuDNN (a convolution algorithm's workspace) and cuFFT
  (plan work areas) take from the caching allocator during a call, never seen by the trace; one allowance
  for the largest such call, assumed to overlap the peak;
- context (`hardware.context_gib`): the CUDA context (driver state, loaded kernels, cuDNN/cuBLAS handles),
  held outside the allocator for the whole run.
A step fits when need <= the smaller of `hardware.card_gib` (the total the driver reports, below the vendor's
nominal size; null: no card limit, as on a CPU) and the budget (`hardware.memory_gb`).
"""

from dataclasses import dataclass
from typing import Any

from fastmri_pl.memory.estimate import Estimate
from fastmri_pl.memory.report import GIB

KEYS = ("card_gib", "context_gib", "workspace_gib")


@dataclass(frozen=True)
class CardMemory:
    """A profile's card in bytes: total (None: no limit), CUDA context, kernel-workspace allowance."""

    total: int | None
    context: int
    workspace: int

    @classmethod
    def from_config(cls, hardware: Any) -> "CardMemory":
        """`hardware.card_gib/context_gib/workspace_gib` (absent or null: no card limit, 0, 0)."""
        values = {key: hardware.get(key) for key in KEYS}
        for key, value in values.items():
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ValueError(f"hardware.{key} must be a number of GiB >= 0 or null, got {value!r}")
        total = values["card_gib"]
        return cls(
            total=None if total is None else int(total * GIB),
            context=int((values["context_gib"] or 0) * GIB),
            workspace=int((values["workspace_gib"] or 0) * GIB),
        )

    def need(self, peak: int, reserved: int) -> int:
        """Bytes the card must hold: reserved (or the tensors' peak where larger), workspace and context."""
        return max(peak, reserved) + self.workspace + self.context

    def limit(self, budget: int) -> int:
        """The bytes a step may need: the smaller of the card and `budget`."""
        return budget if self.total is None else min(budget, self.total)

    def allocator_cap(self, budget: int) -> int:
        """Bytes the caching allocator may reserve on a bigger card to behave like this one with `budget`:
        the card's limit less the context and the workspace modelled beside the tensors (on the real card
        both come out of the same memory). Counting the workspace here as well as in the allocator's reserved
        memory (cuDNN and cuFFT take it from there) keeps the emulated card on the strict side."""
        cap = self.limit(budget) - self.context - self.workspace
        if cap <= 0:
            raise ValueError(
                f"hardware.memory_gb leaves nothing for tensors: {self.limit(budget) / GIB:.2f} GiB less "
                f"context {self.context / GIB:.2f} and workspace {self.workspace / GIB:.2f} GiB"
            )
        return cap

    def as_json(self, estimate: Estimate) -> dict[str, float | None]:
        """The fields `python -m fastmri_pl.memory` reports (GiB): a training step's, and what inference
        (`reconstruct`, no optimizer, no autograd) needs on the same card."""
        peak, reserved = estimate.train_peak, estimate.train_reserved
        return {
            "reserved_gib": _gib(max(peak, reserved)),
            "workspace_gib": _gib(self.workspace),
            "context_gib": _gib(self.context),
            "card_fit_gib": _gib(self.need(peak, reserved)),
            "card_gib": None if self.total is None else _gib(self.total),
            "infer_card_fit_gib": _gib(self.need(estimate.infer_peak, estimate.infer_reserved)),
        }


def _gib(nbytes: int) -> float:
    return round(nbytes / GIB, 6)
