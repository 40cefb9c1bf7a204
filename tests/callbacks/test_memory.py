"""`hardware.memory_gb` on a bigger card: the allocator's cap leaves out the modelled context and workspace.

The CUDA memory API is faked (device properties, the fraction setter), so this runs on CPU.
"""

import logging
from types import SimpleNamespace

import pytest
import torch

from fastmri_pl.callbacks.memory import MemoryBudget, emulate_card
from fastmri_pl.memory.report import GIB

GTX1080 = {"memory_gb": 8, "card_gib": 7.93, "context_gib": 0.7, "workspace_gib": 0.25}
CUDA = torch.device("cuda", 0)


@pytest.fixture
def card_of(monkeypatch):
    """A fake card of `total_gib`; returns the list the fractions passed to the allocator land in."""
    fractions: list[tuple[float, torch.device]] = []

    def install(total_gib: float) -> list[tuple[float, torch.device]]:
        properties = SimpleNamespace(total_memory=int(total_gib * GIB), name="fake card")
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: properties)
        monkeypatch.setattr(
            torch.cuda,
            "set_per_process_memory_fraction",
            lambda fraction, device=None: fractions.append((fraction, device)),
        )
        return fractions

    return install


def test_a_big_card_is_capped_at_the_profile_card_less_context_and_workspace(card_of):
    fractions = card_of(80.0)
    emulated = emulate_card(GTX1080, CUDA)
    # min(8, 7.93) - 0.7 - 0.25 = 6.98 GiB of the 80
    assert fractions == [(pytest.approx(6.98 / 80.0, rel=1e-6), CUDA)]
    assert emulated is not None and emulated.cap == pytest.approx(6.98 * GIB, abs=1)
    assert emulated.line == (
        "emulating an 8 GB card: allocator capped at 6.98 GiB of 80.00 "
        "(context 0.70 + workspace 0.25 GiB modelled)"
    )


def test_a_budget_below_the_card_caps_at_the_budget(card_of):
    fractions = card_of(80.0)
    emulated = emulate_card({**GTX1080, "memory_gb": 6}, CUDA)
    assert fractions == [(pytest.approx((6 - 0.95) / 80.0, rel=1e-6), CUDA)]
    assert emulated is not None
    assert emulated.line.startswith("emulating a 6 GB card: allocator capped at 5.05 GiB")


def test_the_real_card_is_its_own_limit(card_of):
    """On a GTX 1080 itself (7.93 GiB) the driver already holds the context outside the allocator."""
    fractions = card_of(7.93)
    emulated = emulate_card(GTX1080, CUDA)
    assert fractions == [] and emulated is not None and emulated.cap is None
    assert "no allocator cap" in emulated.line


def test_no_budget_or_no_cuda_changes_nothing(card_of):
    fractions = card_of(80.0)
    assert emulate_card({**GTX1080, "memory_gb": None}, CUDA) is None
    assert emulate_card(GTX1080, torch.device("cpu")) is None
    assert fractions == []


def test_a_budget_eaten_by_context_and_workspace_is_refused(card_of):
    card_of(80.0)
    with pytest.raises(ValueError, match="hardware.memory_gb leaves nothing for tensors"):
        emulate_card({**GTX1080, "memory_gb": 0.9}, CUDA)


def test_the_configured_callback_caps_with_the_profile_keys_and_says_so(card_of, caplog, compose_config):
    """The callbacks config hands the profile's card keys to `MemoryBudget`, whose setup logs the line."""
    fractions = card_of(80.0)
    cfg = compose_config(["hardware=rtx4070"])
    budget = cfg.callbacks.memory_budget
    callback = MemoryBudget(budget.memory_gb, budget.card_gib, budget.context_gib, budget.workspace_gib)
    with caplog.at_level(logging.INFO):
        callback.setup(SimpleNamespace(), SimpleNamespace(device=CUDA), "fit")
    # min(12, 11.99) - 0.7 - 0.25 = 11.04 GiB of the 80
    assert fractions == [(pytest.approx(11.04 / 80.0, rel=1e-6), CUDA)]
    assert "emulating a 12 GB card: allocator capped at 11.04 GiB of 80.00" in caplog.text
