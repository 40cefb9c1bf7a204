"""A checkpoint in our format holding a random-weight network: what submit and reconstruct read."""

from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.training import build
from fastmri_pl.weights.checkpoint import save_net_weights


def random_checkpoint(path: Path, model: str, *overrides: str, **data: object) -> Path:
    """`model=<model>` (and `overrides`) with seeded random weights, trained (it says) with data.readout_crop
    on and `data` (the data settings `reconstruct` and `submit` check)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("reconstruct", overrides=[f"model={model}", *overrides])
    torch.manual_seed(0)
    save_net_weights(path, build.build_net(cfg).state_dict(), {"random": True})
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["datamodule_hyper_parameters"] = {"readout_crop": True, **data}
    torch.save(checkpoint, path)
    return path
