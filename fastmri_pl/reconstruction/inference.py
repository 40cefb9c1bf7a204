"""The network for inference (config + checkpoint), its device and autocast, and one volume's slices.

`VolumeInference` is the one way a volume is reconstructed: by `reconstruct` (`reconstruct_volume`) and by the
challenge export's `recon_slice` (`fastmri_pl.submission`), so both give the same images and are timed over
the same work. The volume's k-space is read once; the leaderboard k-space is already masked, and its own
`mask` tells the network which lines were sampled.
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl.data.coil_compression import volume_compression_matrix
from fastmri_pl.data.transforms import adjacent_slice_indices
from fastmri_pl.data.volumes import Volume, read_kspace_slices, read_mask
from fastmri_pl.errors import DataError
from fastmri_pl.mri.coil_compression import compress_coils
from fastmri_pl.mri.crop import center_crop_or_pad
from fastmri_pl.mri.masks import num_low_frequencies
from fastmri_pl.mri.readout import crop_readout
from fastmri_pl.runtime.gpu_check import CUDA_ACCELERATORS
from fastmri_pl.runtime.precision import autocast
from fastmri_pl.runtime.sync import synchronize
from fastmri_pl.training import build
from fastmri_pl.weights import load_net_weights

CHALLENGE_CROP = (384, 384)
T = TypeVar("T")


def inference_device(cfg: DictConfig) -> torch.device:
    """CUDA when the profile asks for a GPU and one is present, else the CPU."""
    wants_gpu = str(cfg.hardware.accelerator) in CUDA_ACCELERATORS
    return torch.device("cuda" if wants_gpu and torch.cuda.is_available() else "cpu")


def load_net(cfg: DictConfig, device: torch.device) -> nn.Module:
    """The configured network with the profile's levers, its weights from `ckpt_path` if it has any."""
    net = build.build_net(cfg)
    if any(p.requires_grad for p in net.parameters()):
        if cfg.ckpt_path is None:
            raise DataError(
                "ckpt_path", "this model has weights: pass ckpt_path=<.ckpt or best_model.pt file>"
            )
        checkpoint = load_net_weights(net, Path(cfg.ckpt_path))
        check_data_settings(checkpoint, Path(cfg.ckpt_path), cfg.data)
    return net.to(device).eval()


# what `VolumeInference` calls on a network: PromptMR's per-slice maps and its cascades on given maps, or the
# plain forward
INFERENCE_METHODS = ("forward", "forward_with_maps", "slice_sensitivity_maps")


def compile_for_inference(net: nn.Module) -> nn.Module:
    """`reconstruct.compile`: `torch.compile` of each method inference calls, set on the instance (the
    module, its weights and state_dict stay as they are). Compiling happens at a shape's first call (the
    warm-up slices, untimed) and again for each new k-space shape; on CPU it needs a C compiler. The
    network's complex-valued FFT and coil arithmetic stay eager kernels (Inductor generates no code for
    complex ops); docs/time.md has the measured effect."""
    for name in INFERENCE_METHODS:
        if hasattr(net, name):
            setattr(net, name, torch.compile(getattr(net, name)))
    return net


DATA_SETTINGS = {"readout_crop": False, "virtual_coils": None}


def check_data_settings(checkpoint: dict, ckpt_path: Path, data: DictConfig) -> None:
    """A network sees the k-space it was trained on: refuse a `data.readout_crop` (field of view) or
    `data.virtual_coils` that differs from the training run's (checkpoints from before a setting existed were
    trained with its default, off; a submission's model file keeps them in its config)."""
    trained = checkpoint.get("datamodule_hyper_parameters") or checkpoint.get("config", {}).get("data") or {}
    for key, default in DATA_SETTINGS.items():
        was, asked = trained.get(key, default), data.get(key, default)
        if was != asked:
            setting = "null" if was is None else str(was).lower()
            raise DataError(
                ckpt_path, f"was trained with data.{key}={setting}; reconstruct with data.{key}={setting}"
            )


def crop_size(cfg: DictConfig, volume: Volume) -> tuple[int, int]:
    """`crop` if set; else the image twin's size (`Volume.crop`); else the synthetic data's crop; else
    384 x 384."""
    if cfg.get("crop") is not None:
        return int(cfg.crop[0]), int(cfg.crop[1])
    if volume.crop is not None:
        return volume.crop
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


@dataclass(frozen=True)
class InferenceSettings:
    """How a network reconstructs the leaderboard: output size, device, precision and the exact levers.

    readout_crop: crop the k-space along the readout to `crop[0]` rows first (all rows where it has fewer:
    `mri.readout.readout_height`); the image is then cropped or zero-padded to `crop`; maps_once:
    PromptMR's sensitivity maps computed once per slice and reused by every window holding it; virtual_coils:
    compress each volume to that many coils (`data.virtual_coils`).
    """

    crop: tuple[int, int]
    device: torch.device
    precision: str = "32-true"
    readout_crop: bool = False
    maps_once: bool = True
    virtual_coils: int | None = None

    def __post_init__(self) -> None:
        if self.virtual_coils is not None and self.virtual_coils < 1:
            raise DataError("data.virtual_coils", f"must be >= 1 or null (off), got {self.virtual_coils}")


def inference_settings(cfg: DictConfig, crop: tuple[int, int], device: torch.device) -> InferenceSettings:
    """The settings a composed `reconstruct` (or `submit`) config gives, for output size `crop`."""
    virtual_coils = cfg.data.get("virtual_coils")
    return InferenceSettings(
        crop=(int(crop[0]), int(crop[1])),
        device=device,
        precision=str(cfg.hardware.precision),
        readout_crop=bool(cfg.data.get("readout_crop", False)),
        maps_once=bool(cfg.sens_maps_once),
        virtual_coils=None if virtual_coils is None else int(virtual_coils),
    )


def read_masked_kspace(volume: Volume) -> tuple[torch.Tensor, torch.Tensor]:
    """The volume's (S, C, H, W) complex64 k-space times its own (W,) float32 mask, and the mask, on the host:
    what is read before a volume's slices are reconstructed (what the organisers' `prep_volume` may do)."""
    kspace = torch.from_numpy(read_kspace_slices(volume, range(volume.num_slices)))
    mask = torch.from_numpy(read_mask(volume))
    return kspace * mask, mask


class VolumeInference:
    """One volume reconstructed slice by slice: `slice(index)` is the (h, w) float32 image on the device.

    Holds only what was read (masked k-space and mask on the host). Everything computed from them happens in
    `slice`, on the clock of whoever times it: the slice's transfer to the device, the readout crop, the coil
    compression (its matrix from the whole volume, at a pass's first slice), the sensitivity maps, the forward
    and the crop. Each slice is reconstructed from `num_adj_slices` neighbours (edges replicate, as in
    training). A *pass* is a run of calls with increasing slice indices; each slice's prepared k-space (and,
    with `maps_once`, its sensitivity maps, `forward_with_maps`: the same images) is computed once per pass
    and reused by the windows holding it, the work timed with the first slice that needs it. A call whose
    index does not exceed the previous one's starts a new pass with nothing kept: the organisers' harness
    runs its warm-up slices 0-4 and then its timed pass 0..S-1 on the same volume, and the timed pass must
    pay for every slice's work.
    """

    def __init__(
        self, net: nn.Module, kspace: torch.Tensor, mask: torch.Tensor, settings: InferenceSettings
    ) -> None:
        self.net, self.kspace, self.host_mask, self.settings = net, kspace, mask, settings
        device = settings.device
        self.num_slices = kspace.shape[0]
        self.mask = mask.reshape(1, 1, 1, -1).to(device)
        self.acs = torch.tensor([num_low_frequencies(mask)], dtype=torch.int64, device=device)
        self.num_adj = int(getattr(net, "num_adj_slices", 1))
        self.with_maps = settings.maps_once and hasattr(net, "slice_sensitivity_maps")
        self.previous: int | None = None
        self.cache = SliceCache(self._prepare)
        self.coil_matrix: torch.Tensor | None = None

    def _start_pass(self) -> None:
        self.cache = SliceCache(self._prepare)
        virtual_coils = self.settings.virtual_coils
        if virtual_coils:
            matrix = volume_compression_matrix(self.kspace, self.host_mask, virtual_coils)
            self.coil_matrix = None if matrix is None else matrix.to(self.settings.device)

    def _prepare(self, index: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A slice's (C, h or H, W) k-space on the device and, with_maps, its sensitivity maps."""
        settings = self.settings
        kspace = self.kspace[index].to(settings.device, non_blocking=True)
        if settings.readout_crop:
            kspace = crop_readout(kspace, settings.crop[0])
        if self.coil_matrix is not None:
            kspace = compress_coils(kspace, self.coil_matrix)
        if not self.with_maps:
            return kspace, None
        with autocast(settings.precision, settings.device):
            return kspace, self.net.slice_sensitivity_maps(kspace.unsqueeze(0), self.acs)[0]

    @torch.inference_mode()
    def slice(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.num_slices:
            raise IndexError(f"slice {index} of a volume of {self.num_slices}")
        if self.previous is None or index <= self.previous:
            self._start_pass()
        self.previous = index
        window = self.cache.window(adjacent_slice_indices(index, self.num_slices, self.num_adj))
        stacked = torch.cat([k for k, _ in window]).unsqueeze(0)
        settings = self.settings
        with autocast(settings.precision, settings.device):
            if self.with_maps:
                maps = torch.cat([m for _, m in window]).unsqueeze(0)
                image = self.net.forward_with_maps(stacked, self.mask, maps)
            else:
                image = self.net(stacked, self.mask, self.acs)
        return center_crop_or_pad(image.float(), settings.crop)[0].contiguous()


def reconstruct_volume(
    net: nn.Module, volume: Volume, settings: InferenceSettings, warmup_slices: int = 0
) -> Iterator[tuple[torch.Tensor, float]]:
    """Yield each slice's (h, w) float32 reconstruction and its seconds, in slice order, as the organisers'
    2026 harness times its `recon_slice`: the volume is read (and masked) untimed, the first `warmup_slices`
    slices run once untimed, then every slice is timed alone (`VolumeInference.slice`, a fresh pass),
    synchronised before and after on CUDA."""
    kspace, mask = read_masked_kspace(volume)
    inference = VolumeInference(net, kspace, mask, settings)
    for index in range(min(warmup_slices, volume.num_slices)):
        inference.slice(index)
    for index in range(volume.num_slices):
        synchronize(settings.device)
        start = time.perf_counter()
        image = inference.slice(index)
        synchronize(settings.device)
        yield image, time.perf_counter() - start
