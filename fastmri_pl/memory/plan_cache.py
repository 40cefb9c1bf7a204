"""What `hardware.levers=auto` chose, kept so that a restart or a resume does not plan again (minutes).

A plan is keyed by what decides it: the model config, the hardware profile (budget, card, speed, precision),
the planned shapes and the training set's shape histogram (the epoch's time depends on it), the torch
version and this file's format. It is a JSON document, written atomically (`runs.atomic`) to
- `<run folder>/levers_plan.json` (`train`): the run's own record, read first on a resume;
- `$XDG_CACHE_HOME/fastmri_pl/plans/<key>.json` (default `~/.cache/fastmri_pl/plans/`): a fresh run (or
  `reconstruct`) with the same key takes it from there.
A record with another key, or one that cannot be read, is planned again and replaced. Besides the choice it
keeps what a calibration on the card compares against and falls back along: the chosen setting's reserved
peak and every candidate estimated, with its need on the card and projected time.
"""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.runs.atomic import WriteError, write_atomically
from fastmri_pl.runs.paths import user_cache_root

PLAN_FILE = "levers_plan.json"
FORMAT = 2
# profile keys that describe the job, not what one card holds or how fast it runs (so `ddp` shares `gtx1080`'s
# plans; SLURM's resolve only inside a job)
JOB_KEYS = ("devices", "num_nodes", "strategy", "num_workers", "checkpoint_interval_min", "calibration")


def user_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/fastmri_pl/plans`, `~/.cache/fastmri_pl/plans` when the variable is unset."""
    return user_cache_root() / "plans"


def plan_key(kind: str, cfg: DictConfig, shapes: dict[str, Any]) -> str:
    """A short hash of what decides a plan of `kind` ("train" or "inference") for `cfg` at `shapes`."""
    fields = {
        "format": FORMAT,
        "kind": kind,
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "hardware": {key: _plain(cfg.hardware[key]) for key in cfg.hardware if key not in JOB_KEYS},
        "shapes": shapes,
        "torch": torch.__version__,
    }
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _plain(value: Any) -> Any:
    """A config value as plain (resolved) Python data."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


@dataclass(frozen=True)
class LeversPlan:
    """A plan's outcome as the start line and a later run need it. Memory in GiB, times [low, high].

    need_gib: on the card for the planned phase (a training step, or an inference pass for `reconstruct`);
    reserved_gib: the caching allocator's reserved peak in it (the need less workspace and context);
    budget_gib: the smaller of `hardware.card_gib` and `hardware.memory_gb`; cascades: the model's count;
    candidates: every setting estimated, `{"levers", "need_gib", "time"}` (time: the step's [low, high] s
    for training, ms per slice for inference), what a calibration falls back along (`memory.calibration`).
    """

    key: str
    kind: str
    levers: dict[str, Any]
    planned_for: dict[str, dict[str, Any]]
    need_gib: float
    reserved_gib: float
    budget_gib: float
    cascades: int
    times: dict[str, Any]
    reason: str
    candidates: list[dict[str, Any]]

    @property
    def headroom_gib(self) -> float:
        return self.budget_gib - self.need_gib

    def as_json(self) -> dict[str, Any]:
        return {"format": FORMAT, **asdict(self), "headroom_gib": round(self.headroom_gib, 6)}

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> "LeversPlan":
        names = {name for name in cls.__dataclass_fields__}
        return cls(**{name: document[name] for name in names})


def _read(path: Path, key: str | None) -> LeversPlan | None:
    """The plan at `path` if it has this format and `key` (None: any key); None otherwise (absent, another,
    unreadable)."""
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT or key not in (None, document.get("key")):
            return None
        return LeversPlan.from_json(document)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def read_run_plan(run_dir: Path) -> LeversPlan | None:
    """The run folder's plan of this format, whatever its key (what the run was started with); None if
    absent or unreadable."""
    return _read(run_dir / PLAN_FILE, None)


def load_plan(key: str, run_dir: Path | None) -> tuple[LeversPlan, Path] | None:
    """The plan with `key` from the run folder, else from the user cache (then copied to the run folder)."""
    if run_dir is not None:
        found = _read(run_dir / PLAN_FILE, key)
        if found is not None:
            return found, run_dir / PLAN_FILE
    cached = user_cache_dir() / f"{key}.json"
    found = _read(cached, key)
    if found is None:
        return None
    if run_dir is not None:
        write_atomically(run_dir / PLAN_FILE, _encode(found))
    return found, cached


def save_plan(found: LeversPlan, run_dir: Path | None) -> list[str]:
    """Write the plan to the run folder (a failure there is the run's `WriteError`) and the user cache (a
    failure there is only reported: the run does not need it). Returns warnings."""
    if run_dir is not None:
        write_atomically(run_dir / PLAN_FILE, _encode(found))
    try:
        write_atomically(user_cache_dir() / f"{found.key}.json", _encode(found))
    except WriteError as error:
        return [f"warning: the plan is not cached for later runs: {error}"]
    return []


def _encode(found: LeversPlan) -> bytes:
    return (json.dumps(found.as_json(), indent=2) + "\n").encode()
