"""A simulated CUDA card for CPU tests: torch.cuda's memory API answering chosen numbers.

The tests train on the CPU; the calibration reads the card through `torch.cuda.max_memory_allocated`,
`max_memory_reserved`, `memory_reserved`, `mem_get_info`, `get_device_name`, `get_device_properties`,
`reset_peak_memory_stats` (and `is_available`), all faked here. `reserved_gib` may be a function of the
levers of the network being trained (`levers()`, recorded by `track_levers`), so that one lever setting
passes the card and a stronger one fits.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace

import pytest
import torch

from fastmri_pl.memory.card_cache import PresentCard
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training import build

GIB = 2**30


@dataclass
class FakeCard:
    """A card of `total_gib`; the allocator's peaks; what the process holds outside the allocator at the
    end of the steps (`outside_gib`); the free memory NVML reads before CUDA starts (None: unreadable)."""

    name: str = "NVIDIA GeForce GTX 1080"
    total_gib: float = 7.93
    allocated_gib: float = 0.8
    reserved_gib: float | Callable[[MemoryLevers], float] = 1.0
    outside_gib: float = 0.55
    free_before_gib: float | None = 7.80
    built: list[MemoryLevers] = field(default_factory=list)  # levers of every network built, in order

    def levers(self) -> MemoryLevers:
        return self.built[-1] if self.built else MemoryLevers()

    def reserved(self) -> int:
        value = self.reserved_gib(self.levers()) if callable(self.reserved_gib) else self.reserved_gib
        return int(value * GIB)

    @property
    def total(self) -> int:
        return int(self.total_gib * GIB)

    def present(self, emulated: bool = False) -> PresentCard:
        return PresentCard(0, self.name, self.total, emulated)

    def install(self, monkeypatch: pytest.MonkeyPatch, available: bool = True) -> "FakeCard":
        """Fake torch.cuda's memory API; `available`: also `is_available` and the device's properties."""
        monkeypatch.setattr(
            torch.cuda, "max_memory_allocated", lambda device=None: int(self.allocated_gib * GIB)
        )
        monkeypatch.setattr(torch.cuda, "max_memory_reserved", lambda device=None: self.reserved())
        monkeypatch.setattr(torch.cuda, "memory_reserved", lambda device=None: self.reserved())
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: None)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: self.name)
        free = lambda device=None: (self.total - self.reserved() - int(self.outside_gib * GIB), self.total)  # noqa: E731
        monkeypatch.setattr(torch.cuda, "mem_get_info", free)
        if available:
            properties = SimpleNamespace(name=self.name, total_memory=self.total, uuid="0123-fake")
            monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
            monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: properties)
        return self

    def install_as_the_card_of(self, monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> "FakeCard":
        """Installed (not available to Lightning: the run stays on the CPU), recording the levers built, and
        the card `module`'s calibration finds: its `present_card` and `free_before_cuda` (`fit.calibrate` for
        train, `fastmri_pl.reconstruct` for reconstruct)."""
        self.install(monkeypatch, available=False)
        self.track_levers(monkeypatch)
        monkeypatch.setattr(module, "present_card", lambda hardware: self.present())
        free = None if self.free_before_gib is None else int(self.free_before_gib * GIB)
        monkeypatch.setattr(module, "free_before_cuda", lambda index: free)
        return self

    def track_levers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Record the levers of every network `train` or `reconstruct` builds (`build.build_net`, which
        `build_module` calls too): what `reserved_gib` may depend on."""
        build_net = build.build_net

        def recording(cfg):
            self.built.append(build.build_levers(cfg))
            return build_net(cfg)

        monkeypatch.setattr(build, "build_net", recording)
