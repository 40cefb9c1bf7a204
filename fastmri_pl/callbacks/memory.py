"""Callbacks for memory: cap the process at the profile's budget and log the peak of every training step."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.report import GIB


@dataclass(frozen=True)
class CardCap:
    """What `emulate_card` did on a CUDA device: the allocator's cap in bytes (None: the card is no larger
    than the profile's, its own limit), the card's total, the profile's limit, and the line that says so."""

    cap: int | None
    total: int
    limit: int
    line: str


def emulate_card(hardware: Mapping[str, Any], device: torch.device) -> CardCap | None:
    """Cap CUDA's caching allocator so that a bigger card behaves like the profile's.

    `hardware`: a profile's `memory_gb`, `card_gib`, `context_gib`, `workspace_gib`. The cap is
    min(memory_gb, card_gib) less the modelled context and workspace (`CardMemory.allocator_cap`): a real
    GTX 1080 loses those from the same 7.93 GiB, while on a big card they come out of its spare memory. On a
    card no larger than the profile's limit the card itself is the limit: no cap. None without a budget or
    off CUDA.
    """
    budget = hardware.get("memory_gb")
    if budget is None or device.type != "cuda":
        return None
    card = CardMemory.from_config(hardware)
    total = torch.cuda.get_device_properties(device).total_memory
    limit = card.limit(int(float(budget) * GIB))
    if total <= limit:
        line = (
            f"memory budget: the card's {total / GIB:.2f} GiB are within the profile's "
            f"{limit / GIB:.2f} GiB: nothing to emulate, no allocator cap"
        )
        return CardCap(None, total, limit, line)
    cap = card.allocator_cap(int(float(budget) * GIB))
    torch.cuda.set_per_process_memory_fraction(cap / total, device)
    line = (
        f"emulating {_article(budget)} {budget:g} GB card: allocator capped at {cap / GIB:.2f} GiB of "
        f"{total / GIB:.2f} (context {card.context / GIB:.2f} + workspace {card.workspace / GIB:.2f} GiB "
        "modelled)"
    )
    return CardCap(cap, total, limit, line)


def _article(number: float) -> str:
    """'an' before numbers said with a vowel sound (8, 11, 18, 80...), 'a' otherwise."""
    spoken = f"{number:g}"
    return "an" if spoken.startswith(("8", "18")) or spoken.split(".")[0] == "11" else "a"


class MemoryBudget(L.Callback):
    """Caps CUDA memory at the profile's card (`emulate_card`).

    A 24 GB card then behaves like the 8 GB card a profile targets, so an out-of-memory error shows up on the
    developer's machine rather than on the user's.
    """

    def __init__(
        self,
        memory_gb: float | None,
        card_gib: float | None = None,
        context_gib: float | None = 0.0,
        workspace_gib: float | None = 0.0,
    ) -> None:
        self.hardware = {
            "memory_gb": memory_gb,
            "card_gib": card_gib,
            "context_gib": context_gib,
            "workspace_gib": workspace_gib,
        }

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        emulated = emulate_card(self.hardware, pl_module.device)
        if emulated is not None:
            rank_zero_info(emulated.line)


class PeakMemory(L.Callback):
    """Logs `memory/peak_gib`, the largest CUDA allocation of each training step (nothing on CPU)."""

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int
    ) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(pl_module.device)

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs, batch, batch_idx
    ) -> None:
        if pl_module.device.type == "cuda":
            peak = torch.cuda.max_memory_allocated(pl_module.device) / GIB
            pl_module.log("memory/peak_gib", peak, on_step=True, on_epoch=False, batch_size=1)
