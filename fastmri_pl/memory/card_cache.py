"""What calibration measured on a card, remembered per card name so that later plans on it use it.

`$XDG_CACHE_HOME/fastmri_pl/cards.json` (default `~/.cache/fastmri_pl/cards.json`), written atomically:
`{"format": 1, "cards": {"<card name>": {...}}}`, each card with
- `total_gib`: what the driver reports as the card's total;
- `context_gib`, `others_gib`, `measured_on`, `torch`: the memory a run held outside the caching allocator
  after its calibration steps (CUDA context, loaded kernels, library handles), less what other processes
  held before it started CUDA (`others_gib`, read by NVML; null where NVML could not be read, and then the
  context includes them), the date and the torch build it was measured with;
- `workspace`: by model (`model_key`: the network's config and the precision), `{"workspace_gib", "model",
  "measured_on"}`: how far the reserved peak measured passed the estimate's at the same shape and levers (0
  when it stayed below): kernel workspaces and the estimate's error, what a profile's `workspace_gib` is an
  allowance for.
A plan made where that card is present, as the profile's own card (not a bigger one emulating it), takes
these figures instead of the profile's `context_gib` and `workspace_gib`; a model never measured on the card
keeps the profile's workspace. An unreadable file counts as empty and is replaced at the next measurement.
"""

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.report import GIB
from fastmri_pl.runs.atomic import WriteError, write_atomically
from fastmri_pl.runs.paths import user_cache_root
from fastmri_pl.runtime.gpu_check import CUDA_ACCELERATORS

CARDS_FILE = "cards.json"
FORMAT = 1


def cards_file() -> Path:
    return user_cache_root() / CARDS_FILE


def model_key(cfg: DictConfig) -> str:
    """What a measured workspace belongs to: the network's config and the precision."""
    described = {
        "net": OmegaConf.to_container(cfg.model.net, resolve=True),
        "precision": str(cfg.hardware.precision),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_cards() -> dict[str, dict[str, Any]]:
    """The cards measured so far by name; none when the file is absent, unreadable or of another format."""
    try:
        document = json.loads(cards_file().read_text())
        if document.get("format") != FORMAT or not isinstance(document.get("cards"), dict):
            return {}
        return document["cards"]
    except (OSError, ValueError, AttributeError):
        return {}


@dataclass(frozen=True)
class CardMeasurement:
    """One calibration's figures for the card cache (GiB); workspace None: not measured (no estimate)."""

    name: str
    total_gib: float
    context_gib: float
    others_gib: float | None
    measured_on: str
    model_key: str
    model: str
    workspace_gib: float | None


def remember_card(measured: CardMeasurement) -> str | None:
    """File `measured` under its card's name (the context replaced, the model's workspace added or replaced);
    a warning when the cache cannot be written (the run does not need it)."""
    cards = read_cards()
    card = dict(cards.get(measured.name) or {})
    card.update(
        total_gib=round(measured.total_gib, 3),
        context_gib=round(measured.context_gib, 3),
        others_gib=None if measured.others_gib is None else round(measured.others_gib, 3),
        measured_on=measured.measured_on,
        torch=torch.__version__,
    )
    workspaces = dict(card.get("workspace") or {})
    if measured.workspace_gib is not None:
        workspaces[measured.model_key] = {
            "workspace_gib": round(measured.workspace_gib, 3),
            "model": measured.model,
            "measured_on": measured.measured_on,
        }
    card["workspace"] = workspaces
    cards[measured.name] = card
    text = json.dumps({"format": FORMAT, "cards": cards}, indent=2, sort_keys=True) + "\n"
    try:
        write_atomically(cards_file(), text.encode())
    except WriteError as error:
        return f"warning: the card's measured figures are not kept for later runs: {error}"
    return None


@dataclass(frozen=True)
class PresentCard:
    """The CUDA card a GPU profile runs on: its name, total bytes, and whether it is bigger than the
    profile's card (`callbacks.memory.emulate_card` then caps it to behave like the profile's)."""

    index: int
    name: str
    total: int
    emulated: bool


def device_index() -> int:
    """The CUDA device this process trains on: its local rank's (one device per process)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def present_card(hardware: Any) -> PresentCard | None:
    """The card a GPU profile will run on; None for a CPU profile or without CUDA. Reads the device's
    properties only, which creates no CUDA context."""
    if str(hardware.accelerator) not in CUDA_ACCELERATORS or not torch.cuda.is_available():
        return None
    index = device_index()
    properties = torch.cuda.get_device_properties(index)
    budget = hardware.get("memory_gb")
    limit = None if budget is None else CardMemory.from_config(hardware).limit(int(float(budget) * GIB))
    emulated = limit is not None and properties.total_memory > limit
    return PresentCard(index, str(properties.name), int(properties.total_memory), emulated)


def with_card_figures(cfg: DictConfig) -> tuple[DictConfig, str | None]:
    """`cfg` with `hardware.context_gib` (and the model's `workspace_gib`) measured on the card present, where
    it is the profile's own card and was measured before; and the words the start line says them in (None
    for a CPU profile)."""
    if str(cfg.hardware.accelerator) not in CUDA_ACCELERATORS:
        return cfg, None
    assumed_context = float(cfg.hardware.get("context_gib") or 0)
    assumed_workspace = float(cfg.hardware.get("workspace_gib") or 0)
    card = present_card(cfg.hardware)
    measured = read_cards().get(card.name) if card is not None and not card.emulated else None
    if measured is None:
        why = f" (emulating the profile's card on {card.name})" if card is not None and card.emulated else ""
        words = f"context {assumed_context:.2f} GiB, workspace {assumed_workspace:.2f} GiB assumed{why}"
        return cfg, words
    workspace = (measured.get("workspace") or {}).get(model_key(cfg))
    updated = cfg.copy()
    with open_dict(updated):
        updated.hardware.context_gib = float(measured["context_gib"])
        if workspace is not None:
            updated.hardware.workspace_gib = float(workspace["workspace_gib"])
    words = f"context {measured['context_gib']:.2f} GiB measured on {card.name} on {measured['measured_on']}"
    if workspace is not None:
        words += f", workspace {workspace['workspace_gib']:.2f} GiB measured on {workspace['measured_on']}"
    else:
        words += f", workspace {assumed_workspace:.2f} GiB assumed (not measured for this model)"
    return updated, words
