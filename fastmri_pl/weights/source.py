"""Reading a reference checkpoint: a Lightning checkpoint or a bare state_dict, network prefix stripped.

Files are read with `torch.load(weights_only=True)`: a checkpoint is someone else's pickle, and only tensors
and plain containers are accepted from it.
"""

from dataclasses import dataclass
from pathlib import Path

import torch

from fastmri_pl.errors import DataError


@dataclass(frozen=True)
class ReferenceState:
    """The network's tensors by reference key; `ignored`: the checkpoint's other keys (e.g. a loss buffer)."""

    tensors: dict[str, torch.Tensor]
    prefix: str
    ignored: tuple[str, ...]


def read_reference(path: Path, prefixes: tuple[str, ...]) -> ReferenceState:
    """The reference network's state_dict in `path` (key `weights.input`): the keys under the first of
    `prefixes` any key starts with, that prefix stripped, else the whole state_dict."""
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
    for prefix in prefixes:
        if any(key.startswith(prefix) for key in state):
            inside = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
            ignored = tuple(key for key in state if not key.startswith(prefix))
            return ReferenceState(inside, prefix, ignored)
    return ReferenceState(dict(state), "", ())
