"""The network for inference (config + checkpoint), its device and autocast, and one volume's slices.

Every slice is reconstructed from `num_adj_slices` neighbours (edges replicate, as in training) and cropped
to the target size; each slice's k-space is prepared (and PromptMR's sensitivity maps computed) once per
volume, not once per window. The volume's k-space is read once; the leaderboard k-space is already masked,
and its own `mask` tells the network which lines were sampled.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl.data.h5checks import open_h5
from fastmri_pl.data.transforms import adjacent_slice_indices
from fastmri_pl.data.volumes import Volume, read_kspace_slices, read_mask
from fastmri_pl.errors import DataError
from fastmri_pl.mri.coil_compression import compress_coils
from fastmri_pl.mri.crop import center_crop
from fastmri_pl.mri.masks import num_low_frequencies
from fastmri_pl.mri.readout import crop_readout
from fastmri_pl.runtime.precision import autocast
from fastmri_pl.runtime.sync import synchronize
from fastmri_pl.training import factory
from fastmri_pl.weights import load_net_weights

CHALLENGE_CROP = (384, 384)
T = TypeVar("T")


def inference_device(cfg: DictConfig) -> torch.device:
    """CUDA when the profile asks for a GPU and one is present, else the CPU."""
    wants_gpu = str(cfg.hardware.accelerator) in ("gpu", "cuda", "auto")
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def load_net(cfg: DictConfig, device: torch.device) -> nn.Module:
    """The configured network with the profile's levers, its weights from `ckpt_path` if it has any."""
    net = factory.build_net(cfg)
    if any(p.requires_grad for p in net.parameters()):
        if cfg.ckpt_path is None:
            raise DataError("ckpt_path", "this model has weights: pass ckpt_path=<Lightning .ckpt file>")
        checkpoint = load_net_weights(net, Path(cfg.ckpt_path))
        _check_data_settings(checkpoint, Path(cfg.ckpt_path), cfg.data)
    return net.to(device).eval()


DATA_SETTINGS = {"readout_crop": False, "virtual_coils": None}


def _check_data_settings(checkpoint: dict, ckpt_path: Path, data: DictConfig) -> None:
    """A network sees the k-space it was trained on: refuse a `data.readout_crop` (field of view) or
    `data.virtual_coils` that differs from the training run's (checkpoints from before a setting existed were
    trained with its default, off)."""
    trained = checkpoint.get("datamodule_hyper_parameters") or {}
    for key, default in DATA_SETTINGS.items():
        was, asked = trained.get(key, default), data.get(key, default)
        if was != asked:
            setting = "null" if was is None else str(was).lower()
            raise DataError(
                ckpt_path, f"was trained with data.{key}={setting}; reconstruct with data.{key}={setting}"
            )


def crop_size(cfg: DictConfig, volume: Volume) -> tuple[int, int]:
    """`crop` if set; else the image twin's size; else the synthetic data's crop; else 384 x 384."""
    if cfg.get("crop") is not None:
        return int(cfg.crop[0]), int(cfg.crop[1])
    if volume.target_path is not None:
        with open_h5(volume.target_path) as f:
            height, width = f[volume.target_key].shape[-2:]
        return int(height), int(width)
    synthetic = OmegaConf.select(cfg, "data.synthetic.crop")
    if synthetic is not None:
        return int(synthetic[0]), int(synthetic[1])
    return CHALLENGE_CROP


class SliceCache:
    """Per-slice results computed once each while adjacent-slice windows slide forward through a volume.

    Windows come in slice order, so a slice below the current window is never asked for again and is dropped:
    at most one window's slices are held.
    """

    def __init__(self, compute: Callable[[int], T]) -> None:
        self.compute = compute
        self.items: dict[int, T] = {}

    def window(self, indices: Sequence[int]) -> list[T]:
        first = min(indices)
        for index in [i for i in self.items if i < first]:
            del self.items[index]
        for index in indices:
            if index not in self.items:
                self.items[index] = self.compute(index)
        return [self.items[index] for index in indices]


@torch.inference_mode()
def reconstruct_volume(
    net: nn.Module,
    volume: Volume,
    crop: tuple[int, int],
    device: torch.device,
    precision: str,
    warmup_slices: int = 0,
    readout_crop: bool = False,
    maps_once: bool = True,
    coil_matrix: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, float]]:
    """Yield each slice's (h, w) float32 reconstruction and its forward seconds, in slice order.

    The clock covers what the SNU 2026 harness times per slice (its `recon_slice`): the slice's transfer to
    the device, the forward and the crop, synchronised before and after on CUDA; reading the volume and
    writing the output stay outside. The first `warmup_slices` slices run once untimed before the timed pass,
    as the organisers' `recon_eval` does for every volume.

    Each slice's k-space is moved, masked (and with `readout_crop` cropped to the `crop` height along the
    readout, `mri.readout`) once. With `maps_once`, a network that has `slice_sensitivity_maps` (PromptMR)
    gets each slice's sensitivity maps computed once and reused by every window holding it
    (`forward_with_maps`) rather than recomputed per window: the same images. That work is timed with the
    slice whose window first needs it, so per-slice times vary while their sum is the volume's. `coil_matrix`
    (N, C) compresses every slice to N virtual coils (`data.virtual_coils`).
    """
    num_adj = int(getattr(net, "num_adj_slices", 1))
    kspace = torch.from_numpy(read_kspace_slices(volume, range(volume.num_slices)))
    mask = torch.from_numpy(read_mask(volume))
    acs = torch.tensor([num_low_frequencies(mask)], dtype=torch.int64, device=device)
    mask_batch = mask.reshape(1, 1, 1, -1).to(device)
    if readout_crop and crop[0] > volume.height:
        raise DataError(
            volume.kspace_path,
            f"data.readout_crop: crop height {crop[0]} exceeds the k-space's {volume.height}",
        )
    with_maps = maps_once and hasattr(net, "slice_sensitivity_maps")

    def prepare(index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A slice's masked (C, h or H, W) k-space on the device and, with_maps, its sensitivity maps."""
        masked = kspace[index].to(device) * mask_batch[0]
        if readout_crop:
            masked = crop_readout(masked, crop[0])
        if coil_matrix is not None:
            masked = compress_coils(masked, coil_matrix.to(device))
        if not with_maps:
            return masked, None
        with autocast(precision, device):
            return masked, net.slice_sensitivity_maps(masked.unsqueeze(0), acs)[0]

    def one_slice(cache: SliceCache, index: int) -> torch.Tensor:
        window = cache.window(adjacent_slice_indices(index, volume.num_slices, num_adj))
        stacked = torch.cat([k for k, _ in window]).unsqueeze(0)
        with autocast(precision, device):
            if with_maps:
                maps = torch.cat([m for _, m in window]).unsqueeze(0)
                image = net.forward_with_maps(stacked, mask_batch, maps)
            else:
                image = net(stacked, mask_batch, acs)
        return center_crop(image.float(), crop)[0]

    warmup = SliceCache(prepare)
    for index in range(min(warmup_slices, volume.num_slices)):
        one_slice(warmup, index)
    del warmup
    cache = SliceCache(prepare)
    for index in range(volume.num_slices):
        synchronize(device)
        start = time.perf_counter()
        image = one_slice(cache, index)
        synchronize(device)
        yield image, time.perf_counter() - start
