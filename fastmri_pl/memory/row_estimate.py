"""The estimator's figures for one measured row (`bench`, `benchmarks/gpu_check.py`), and a file of them.

A full-size PromptMR estimate at the SNU shape takes minutes on one CPU core, and a GPU check needs several:
they can be computed once (in parallel, or before the GPU is there) into a JSON file and read back. Each entry
is filed under a key of everything the figures depend on: the model and hardware configs, the batch shape,
the levers, the estimator, torch's release and the source of the packages the trace runs through. A changed
config or code gives a new key, so a stale figure is never read: the row is estimated again.
"""

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, estimate_full
from fastmri_pl.memory.roofline import LEADERBOARD_SLICES, project_for
from fastmri_pl.models.levers import MemoryLevers

ESTIMATORS: dict[str, Callable[..., Estimate]] = {"composed": estimate_composed, "full": estimate_full}
# the packages a traced step runs through: a change in any of them may change the figures
TRACED_PACKAGES = ("memory", "models", "mri", "training")


@dataclass(frozen=True)
class RowEstimate:
    """Bytes the tensors peak at and what the card must hold (`CardMemory.need`) for a training step and an
    inference pass; their projected seconds on the profile's card ([low, high], `memory.roofline`); the
    estimate's own seconds."""

    params: int
    train_peak: int
    infer_peak: int
    train_card: int
    infer_card: int
    step_s: tuple[float, float]
    slice_s: tuple[float, float]
    seconds: float

    @classmethod
    def of(cls, cfg: DictConfig, shape: BatchShape, estimate: Estimate, seconds: float) -> "RowEstimate":
        card = CardMemory.from_config(cfg.hardware)
        time = project_for(cfg, estimate.train_costs, estimate.infer_costs, shape.batch_size)
        # project_for prices this many leaderboard slices (memory.leaderboard_slices, else the SNU count)
        slices = int((cfg.get("memory") or {}).get("leaderboard_slices") or LEADERBOARD_SLICES)
        return cls(
            params=estimate.params,
            train_peak=estimate.train_peak,
            infer_peak=estimate.infer_peak,
            train_card=card.need(estimate.train_peak, estimate.train_reserved),
            infer_card=card.need(estimate.infer_peak, estimate.infer_reserved),
            step_s=time.step_s,
            slice_s=(time.leaderboard_s[0] / slices, time.leaderboard_s[1] / slices),
            seconds=seconds,
        )

    @classmethod
    def from_json(cls, fields: Mapping[str, Any]) -> "RowEstimate":
        values = dict(fields)
        values["step_s"], values["slice_s"] = tuple(values["step_s"]), tuple(values["slice_s"])
        return cls(**values)


def estimate_row(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, method: str) -> RowEstimate:
    """The estimate of `cfg` with `levers` at `shape` (`composed`: the planner's; `full`: every op traced)."""
    if method not in ESTIMATORS:
        raise ValueError(f"the estimate must be one of {sorted(ESTIMATORS)}, got {method!r}")
    started = time.perf_counter()
    estimate = ESTIMATORS[method](cfg, shape, levers)
    return RowEstimate.of(cfg, shape, estimate, time.perf_counter() - started)


def estimate_key(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers, method: str) -> str:
    """A digest of everything a row's figures depend on (torch's release without its build tag: the trace
    runs on fake tensors, the CUDA build plays no part)."""
    described = {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "hardware": OmegaConf.to_container(cfg.hardware, resolve=True),
        "shape": asdict(shape),
        "levers": asdict(levers),
        "method": method,
        "torch": torch.__version__.split("+")[0],
        "sources": source_digest(),
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()[:20]


@lru_cache(maxsize=1)
def source_digest() -> str:
    """sha256 of the Python sources of `TRACED_PACKAGES`."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in TRACED_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def read_estimates(path: str | Path | None) -> dict[str, RowEstimate]:
    """A file of estimates by key (`write_estimates`); none when `path` is None or absent."""
    if path is None or not Path(path).is_file():
        return {}
    document = json.loads(Path(path).read_text())
    return {key: RowEstimate.from_json(entry["estimate"]) for key, entry in document.items()}


def estimates_json(entries: Mapping[str, tuple[str, RowEstimate]]) -> str:
    """The file's text: key -> {"row": what it estimates, in words, "estimate": the figures}."""
    document = {key: {"row": row, "estimate": asdict(estimate)} for key, (row, estimate) in entries.items()}
    return json.dumps(document, indent=1, sort_keys=True) + "\n"
