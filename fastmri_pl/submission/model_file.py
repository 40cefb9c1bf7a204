"""The weights file the exported `test_part.load_model` reads: `result/<net_name>/checkpoints/best_model.pt`.

The organisers' harness sets `args.exp_dir = ../result/<net_name>/checkpoints` and their baseline loads
`best_model.pt` from there, a dict whose `model` is a plain state_dict. Ours keeps that name and key and adds
`config`: the network's config (`model.net`, as Hydra instantiates it) and the inference settings keyed like
a `reconstruct` config (hardware precision, levers and convolution flags; data.readout_crop and
data.virtual_coils; crop, null for the challenge's 384 x 384; sens_maps_once; compile), so `load_model`
builds the exact network that was trained and reconstructs as `reconstruct` does. The harness's `--cascade`,
`--chans` and `--sens_chans` describe the organisers' VarNet and are ignored. Plain tensors and containers
only: read with `weights_only=True`; `reconstruct ckpt_path=` reads the file too (`weights.checkpoint`).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl.errors import DataError
from fastmri_pl.reconstruction.inference import (
    CHALLENGE_CROP,
    InferenceSettings,
    VolumeInference,
    compile_for_inference,
    inference_settings,
)
from fastmri_pl.runs.checkpoint_io import save_atomically
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format
from fastmri_pl.training import build
from fastmri_pl.weights.checkpoint import MODEL_FILE_FORMAT

MODEL_FILE = "best_model.pt"
# the reconstruct config keys a model file carries (everything `load_model` needs to rebuild the inference)
HARDWARE_KEYS = ("precision", "levers", "cudnn_benchmark", "channels_last")
DATA_KEYS = ("readout_crop", "virtual_coils")


def model_config(cfg: DictConfig) -> dict[str, Any]:
    """What a model file keeps of a composed `submit` config, resolved to plain data."""
    config = {
        "model": {"net": cfg.model.net, "num_adj_slices": cfg.model.get("num_adj_slices", 1)},
        "hardware": {key: cfg.hardware.get(key) for key in HARDWARE_KEYS},
        "data": {key: cfg.data.get(key) for key in DATA_KEYS},
        "crop": cfg.get("crop"),
        "sens_maps_once": bool(cfg.sens_maps_once),
        "compile": bool(cfg.get("compile", False)),
    }
    return OmegaConf.to_container(OmegaConf.create(config), resolve=True)


def save_model_file(path: Path, net: nn.Module, config: dict[str, Any], origin: str) -> None:
    """Write `{"model": state_dict, "config": ..., "format", "trained_from"}` whole or not at all."""
    state = {key: value.detach().cpu() for key, value in net.state_dict().items()}
    save_atomically(
        {"format": MODEL_FILE_FORMAT, "model": state, "config": config, "trained_from": origin}, path
    )


def read_model_file(path: Path) -> dict[str, Any]:
    """The model file's dict; a file that is not one of ours is one DataError naming it."""
    if not path.is_file():
        raise DataError(path, "no such model file (submit writes it; train.sh rewrites it after re-training)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling errors come in many types; all mean the same here
        raise DataError(path, f"cannot be read as a model file: {type(error).__name__}") from error
    if not isinstance(saved, dict) or saved.get("format") != MODEL_FILE_FORMAT:
        raise DataError(
            path, f"is not a fastmri_pl model file (format {MODEL_FILE_FORMAT!r}); write it with submit"
        )
    return saved


@dataclass(frozen=True)
class ExportedModel:
    """What `load_model` hands the harness: the network (eval mode, on its device) and how it reconstructs."""

    net: nn.Module
    settings: InferenceSettings

    def volume(self, kspace: torch.Tensor, mask: torch.Tensor) -> VolumeInference:
        return VolumeInference(self.net, kspace, mask, self.settings)


def load_exported(path: Path, device: torch.device) -> ExportedModel:
    """The network a model file describes, its weights loaded (strictly), in eval mode on `device`, with the
    file's cuDNN and memory-format settings applied (the harness sets none)."""
    saved = read_model_file(path)
    cfg = OmegaConf.create(saved["config"])
    net = build.build_net(cfg)
    try:
        net.load_state_dict(saved["model"])
    except RuntimeError as error:
        raise DataError(
            path, f"its weights do not fit its own config: {str(error).splitlines()[0]}"
        ) from error
    set_cudnn_benchmark(cfg.hardware)
    net = to_memory_format(net.to(device).eval(), cfg.hardware)
    if cfg.get("compile"):
        net = compile_for_inference(net)
    crop = CHALLENGE_CROP if cfg.crop is None else (int(cfg.crop[0]), int(cfg.crop[1]))
    return ExportedModel(net, inference_settings(cfg, crop, device))
