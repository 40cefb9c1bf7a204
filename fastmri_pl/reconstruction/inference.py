"""The network for inference (config + checkpoint), its device and autocast, and one volume's slices.

Every slice is reconstructed from `num_adj_slices` neighbours (edges replicate, as in training) and cropped
to the target size. The volume's k-space is read once; the leaderboard k-space is already masked, and its
own `mask` tells the network which lines were sampled.
"""

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import h5py
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl import factory
from fastmri_pl.data.errors import DataError
from fastmri_pl.data.transforms import adjacent_slice_indices
from fastmri_pl.data.volumes import Volume, read_kspace_slices, read_mask
from fastmri_pl.mri.crop import center_crop
from fastmri_pl.mri.masks import num_low_frequencies
from fastmri_pl.weights import load_net_weights

CHALLENGE_CROP = (384, 384)
AUTOCAST_DTYPES = {"16-mixed": torch.float16, "bf16-mixed": torch.bfloat16}


def inference_device(cfg: DictConfig) -> torch.device:
    """CUDA when the profile asks for a GPU and one is present, else the CPU."""
    wants_gpu = str(cfg.hardware.accelerator) in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """Autocast for a mixed precision on CUDA (FFTs stay fp32 inside `mri.fft`); plain fp32 otherwise."""
    dtype = AUTOCAST_DTYPES.get(str(precision))
    if dtype is None or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def load_net(cfg: DictConfig, device: torch.device) -> nn.Module:
    """The configured network with the profile's levers, its weights from `ckpt_path` if it has any."""
    net = factory.build_net(cfg)
    if any(p.requires_grad for p in net.parameters()):
        if cfg.ckpt_path is None:
            raise DataError("ckpt_path", "this model has weights: pass ckpt_path=<Lightning .ckpt file>")
        load_net_weights(net, Path(cfg.ckpt_path))
    return net.to(device).eval()


def crop_size(cfg: DictConfig, volume: Volume) -> tuple[int, int]:
    """`crop` if set; else the image twin's size; else the synthetic data's crop; else 384 x 384."""
    if cfg.get("crop") is not None:
        return int(cfg.crop[0]), int(cfg.crop[1])
    if volume.target_path is not None:
        with h5py.File(volume.target_path, "r") as f:
            height, width = f[volume.target_key].shape[-2:]
        return int(height), int(width)
    synthetic = OmegaConf.select(cfg, "data.synthetic.crop")
    if synthetic is not None:
        return int(synthetic[0]), int(synthetic[1])
    return CHALLENGE_CROP


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def reconstruct_volume(
    net: nn.Module,
    volume: Volume,
    crop: tuple[int, int],
    device: torch.device,
    precision: str,
    warmup_slices: int = 0,
) -> Iterator[tuple[torch.Tensor, float]]:
    """Yield each slice's (h, w) float32 reconstruction and its forward seconds, in slice order.

    The clock covers what the SNU 2026 harness times per slice (its `recon_slice`): the slice's transfer to
    the device, the forward and the crop, synchronised before and after on CUDA; reading the volume and
    writing the output stay outside. The first `warmup_slices` slices run once untimed before the timed pass,
    as the organisers' `recon_eval` does for every volume.
    """
    num_adj = int(getattr(net, "num_adj_slices", 1))
    kspace = torch.from_numpy(read_kspace_slices(volume, range(volume.num_slices)))
    mask = torch.from_numpy(read_mask(volume))
    acs = torch.tensor([num_low_frequencies(mask)], dtype=torch.int64, device=device)
    mask_batch = mask.reshape(1, 1, 1, -1).to(device)
    coils, height, width = kspace.shape[1:]

    def one_slice(index: int) -> torch.Tensor:
        neighbours = adjacent_slice_indices(index, volume.num_slices, num_adj)
        stacked = kspace[neighbours].reshape(1, num_adj * coils, height, width).to(device)
        with autocast_context(precision, device):
            image = net(stacked * mask_batch, mask_batch, acs)
        return center_crop(image.float(), crop)[0]

    for index in range(min(warmup_slices, volume.num_slices)):
        one_slice(index)
    for index in range(volume.num_slices):
        _synchronize(device)
        start = time.perf_counter()
        image = one_slice(index)
        _synchronize(device)
        yield image, time.perf_counter() - start
