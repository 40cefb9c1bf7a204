"""utils/learning/test_part.py of a fastmri_pl submission to the SNU FastMRI Challenge 2026 (phase 2).

Written by `python -m fastmri_pl.submit` (this file, verbatim) into the team's copy of the organisers'
repository; their `recon_eval.py` imports the four names below and times each `recon_slice` call. The network
and every step of the reconstruction live in the installed package `fastmri_pl` (requirements.txt: its wheel).

- `load_model`: builds the network from `../result/<net_name>/checkpoints/best_model.pt` (its saved
  config; `--cascade/--chans/--sens_chans` describe the organisers' VarNet and are ignored), eval(), weights.
- `prep_volume` (untimed): reads the k-space file's `kspace` and `mask` and multiplies them, on the host;
  nothing else. The image file is never read.
- `recon_slice` (timed): the slice's transfer to the device, readout crop, coil compression, sensitivity maps,
  the network and the crop to 384 x 384 all happen here. Work shared by neighbouring slices (their k-space and
  sensitivity maps, used by each adjacent-slice window) is kept only within one pass over the volume: a call
  that does not move forward (the timed pass after the warm-up) starts again with nothing kept, so the timed
  pass pays for every slice of the volume.
"""

from pathlib import Path
from typing import Any

import torch

from fastmri_pl.data.readers import snu_volume
from fastmri_pl.errors import DataError
from fastmri_pl.reconstruction.inference import read_masked_kspace
from fastmri_pl.submission.model_file import MODEL_FILE, ExportedModel, load_exported

INPUT_KIND = "kspace"


def load_model(args: Any, device: torch.device) -> ExportedModel:
    return load_exported(Path(args.exp_dir) / MODEL_FILE, torch.device(device))


def prep_volume(image_path: Path, kspace_path: Path | None, device: torch.device) -> dict[str, Any]:
    if kspace_path is None:
        raise DataError(image_path, "has no k-space file of the same name in the kspace folder")
    kspace, mask = read_masked_kspace(snu_volume(Path(kspace_path), None))
    if torch.device(device).type == "cuda":
        kspace = kspace.pin_memory()  # a faster copy of each slice inside recon_slice
    return {"num_slices": kspace.shape[0], "kspace": kspace, "mask": mask}


def recon_slice(model: ExportedModel, ctx: dict[str, Any], s: int) -> torch.Tensor:
    if "volume" not in ctx:
        ctx["volume"] = model.volume(ctx["kspace"], ctx["mask"])
    return ctx["volume"].slice(s)
