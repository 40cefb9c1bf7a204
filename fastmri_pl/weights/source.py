"""Reading a reference checkpoint: a Lightning checkpoint or a bare state_dict, network prefix stripped.

Files are read with `torch.load(weights_only=True)`: a checkpoint is someone else's pickle, and only tensors
and plain containers are accepted from it.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from fastmri_pl.data.errors import DataError

# The attribute names the reference Lightning modules give the network, and a generic one
PREFIXES = {
    "promptmr_reference": ("promptmr.", "model."),
    "fastmri_varnet": ("varnet.", "model."),
}


@dataclass(frozen=True)
class ReferenceState:
    """The network's tensors by reference key; `ignored`: the checkpoint's other keys (e.g. a loss buffer)."""

    tensors: dict[str, torch.Tensor]
    prefix: str
    ignored: tuple[str, ...]


def read_reference(path: Path, source: str) -> ReferenceState:
    """The reference network's state_dict in `path` (key `weights.input`) for `source` (`weights.source`)."""
    if source not in PREFIXES:
        raise DataError("weights.source", f"must be one of {tuple(PREFIXES)}, got {source!r}")
    if not path.is_file():
        raise DataError(path, "no such checkpoint file (weights.input)")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types; all mean the same to the user
        raise DataError(
            path,
            f"cannot be read with torch.load(weights_only=True) ({type(error).__name__}); save its "
            "state_dict alone from a trusted Python session and import that",
        ) from error
    state = loaded.get("state_dict", loaded) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(path, "holds no state_dict of tensors (a Lightning checkpoint or a bare state_dict)")
    for prefix in PREFIXES[source]:
        if any(key.startswith(prefix) for key in state):
            inside = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            ignored = tuple(key for key in state if not key.startswith(prefix))
            return ReferenceState(inside, prefix, ignored)
    return ReferenceState(dict(state), "", ())
