"""Lightning checkpoints written atomically (`fit.factory` gives every `Trainer` this `CheckpointIO`), and the
`torch.save` behind it for other checkpoint files (imported weights)."""

import io
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch.plugins.io import TorchCheckpointIO

from fastmri_pl.runs.atomic import write_atomically


class AtomicCheckpointIO(TorchCheckpointIO):
    """Saves through a synced temporary file in the checkpoint's folder, renamed into place.

    Lightning's own `TorchCheckpointIO` writes under the final name (or copies across file systems), so a full
    disk or a kill mid-write leaves a truncated `last.ckpt` that a resume cannot read. Here the previous file
    stays until the new one is complete, and a failure ends the run with a `WriteError` naming the file.
    The checkpoint is serialised in memory first, as Lightning does too, so a write error is a plain OSError.
    Local paths only.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options, got {storage_options!r}")
        save_atomically(checkpoint, Path(path))


def save_atomically(obj: Any, path: Path) -> None:
    """`torch.save(obj, path)` whole or not at all: serialised in memory, then `atomic.write_atomically`."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_atomically(path, buffer.getbuffer())
