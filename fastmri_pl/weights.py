"""A network's weights out of a Lightning checkpoint, refusing files that are not one or belong to another
model with one line, not a traceback or 25 KB of state-dict keys (`train` resumes, `reconstruct` infers)."""

from pathlib import Path

import torch
from torch import nn

from fastmri_pl.data.errors import DataError

NET_PREFIX = "net."


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


def _line(error: Exception, containing: str) -> str:
    """The line of a many-line torch message that says what is wrong: the first holding `containing`, the one
    after torch's "weights only" preamble, or the first."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
    for index, line in enumerate(lines[:-1]):
        if line.endswith("WeightsUnpickler error:"):
            return lines[index + 1]
    return next((line for line in lines if containing in line), lines[0])
