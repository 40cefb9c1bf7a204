"""Our checkpoint files as far as weights go: the network's tensors under `state_dict` with the `net.` prefix.

`ReconModule` holds the network as `net`, so a Lightning checkpoint's `state_dict` keys are `net.<key>`; an
imported checkpoint has the same layout (and nothing else a resume would need), so `reconstruct ckpt_path=`,
`train ckpt_path=` (checked before any work) and `train init_from=` read both alike, refusing files that are
not one or belong to another model with one line, not a traceback or 25 KB of state-dict keys. A challenge
submission's model file (`best_model.pt`, its weights without the prefix under `model`) reads alike.
"""

from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastmri_pl.errors import DataError
from fastmri_pl.runs.checkpoint_io import save_atomically

NET_PREFIX = "net."
# a challenge submission's `best_model.pt` (`fastmri_pl.submission.model_file`): the network's plain
# state_dict under `model`, as the organisers' baseline keeps it, and the config it was built from
MODEL_FILE_FORMAT = "fastmri_pl.submission/1"


def load_net_weights(net: nn.Module, ckpt_path: Path) -> dict:
    """Copy the checkpoint's `net.*` weights into `net`; every weight must be there and fit. Returns the
    whole checkpoint (its data hyperparameters say how the network was trained)."""
    if not ckpt_path.is_file():
        raise DataError(ckpt_path, "no such checkpoint file")
    try:
        checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types; all mean the same to the user
        problem = f"cannot be read as a Lightning checkpoint (truncated, or not one): {_line(error, '')}"
        raise DataError(ckpt_path, problem) from error
    if isinstance(checkpoint, dict) and checkpoint.get("format") == MODEL_FILE_FORMAT:
        weights = checkpoint["model"]
    else:
        state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
        if not isinstance(state, dict):
            raise DataError(ckpt_path, "holds no state_dict")
        weights = {k[len(NET_PREFIX) :]: v for k, v in state.items() if k.startswith(NET_PREFIX)}
    try:
        result = net.load_state_dict(weights, strict=False)
    except RuntimeError as error:  # same names, other shapes: another size of the same model
        problem = f"does not match the configured model ({_line(error, 'size mismatch')})"
        raise DataError(ckpt_path, problem + "; was it trained with this model=?") from error
    if result.missing_keys or result.unexpected_keys:
        raise DataError(
            ckpt_path,
            f"does not match the configured model ({len(result.missing_keys)} missing, "
            f"{len(result.unexpected_keys)} unexpected weights, e.g. "
            f"{(result.missing_keys or result.unexpected_keys)[0]!r}); was it trained with this model=?",
        )
    return checkpoint


def save_net_weights(path: Path, net_state: dict[str, torch.Tensor], origin: dict[str, Any]) -> None:
    """Write `{"state_dict": {"net.<key>": ...}, "imported_from": origin}` whole or not at all
    (a full disk is one `WriteError` line, an earlier file stays intact)."""
    checkpoint = {"state_dict": {NET_PREFIX + k: v for k, v in net_state.items()}, "imported_from": origin}
    save_atomically(checkpoint, path)


def _line(error: Exception, containing: str) -> str:
    """The line of a many-line torch message that says what is wrong: the first holding `containing`, the one
    after torch's "weights only" preamble, or the first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    for index, line in enumerate(lines[:-1]):
        if line.endswith("WeightsUnpickler error:"):
            return lines[index + 1]
    return next((line for line in lines if containing in line), lines[0])
