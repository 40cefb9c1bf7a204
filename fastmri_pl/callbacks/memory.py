"""Callbacks for memory: cap the process at the profile's budget and log the peak of every training step."""

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_info

GIB = 2**30


class MemoryBudget(L.Callback):
    """Caps CUDA memory at `memory_gb` (`torch.cuda.set_per_process_memory_fraction`).

    A 24 GB card then behaves like the 8 GB card a profile targets, so an out-of-memory error shows up on the
    developer's machine rather than on the user's.
    """

    def __init__(self, memory_gb: float | None) -> None:
        self.memory_gb = memory_gb

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        device = pl_module.device
        if self.memory_gb is None or device.type != "cuda":
            return
        total = torch.cuda.get_device_properties(device).total_memory
        fraction = min(1.0, self.memory_gb * GIB / total)
        torch.cuda.set_per_process_memory_fraction(fraction, device)
        rank_zero_info(
            f"memory budget: {self.memory_gb} GiB of {total / GIB:.1f} GiB (fraction {fraction:.3f})"
        )


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
