"""`reconstruct` calibrates its first slice on the card, as `train` its first steps (`memory.calibration`).

Before any volume is written, one slice of the largest leaderboard volume left to reconstruct (the shape its
chunking was planned for) runs untimed, as a warm-up would: its allocator peaks and the memory outside the
allocator are measured beside the estimate for that shape and chunking and recorded in
`<output_dir>/calibration.json` (beside the reconstructions, the timings and the scores: what a
`reconstruct` run leaves), the card's context in the card cache. Inference's levers are only the chunking, so
when that slice needs more than the card holds or runs out of memory, the network is built again with a
smaller sensitivity chunk (the inference plan's next candidate, or one coil at a time) and the slice tried
again; with nothing smaller left the command stops with exit 3. Nothing on the CPU.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from fastmri_pl.data.volumes import Volume
from fastmri_pl.errors import EXIT_OUT_OF_MEMORY, Stopped
from fastmri_pl.memory.calibration import (
    Calibration,
    append_record,
    card_limit,
    expected_inference,
    read_card,
    smaller_chunking,
    today,
)
from fastmri_pl.memory.card_cache import PresentCard, remember_card
from fastmri_pl.memory.data_shapes import SampleShape
from fastmri_pl.memory.estimate import with_levers
from fastmri_pl.memory.oom import free_card_memory, is_out_of_memory, levers_override
from fastmri_pl.memory.plan_cache import LeversPlan
from fastmri_pl.reconstruction.inference import InferenceSettings, VolumeInference, read_masked_kspace
from fastmri_pl.runtime.sync import synchronize
from fastmri_pl.training.build import build_levers

log = logging.getLogger(__name__)


def first_slice(net: nn.Module, volume: Volume, settings: InferenceSettings) -> tuple[float, int, int]:
    """Slice 0 of `volume` on the card, its image dropped: its seconds (warm-up included) and the allocator's
    peaks (allocated, reserved)."""
    kspace, mask = read_masked_kspace(volume)
    torch.cuda.reset_peak_memory_stats(settings.device)
    synchronize(settings.device)
    started = time.perf_counter()
    VolumeInference(net, kspace, mask, settings).slice(0)
    synchronize(settings.device)
    seconds = time.perf_counter() - started
    device = settings.device
    return seconds, torch.cuda.max_memory_allocated(device), torch.cuda.max_memory_reserved(device)


def calibrate_first_slice(
    cfg: DictConfig,
    net: nn.Module,
    build: Callable[[DictConfig], nn.Module],
    plan: LeversPlan | None,
    card: PresentCard | None,
    probe: tuple[Volume, SampleShape, InferenceSettings],
    free_before: int | None,
    output_dir: Path,
) -> tuple[DictConfig, nn.Module]:
    """The config and network to reconstruct with, after the first slice of `probe`'s volume fitted the card
    (`card`: None on the CPU, then nothing is done). `build(cfg)` makes the network for a config."""
    if card is None:
        return cfg, net
    volume, sample, settings = probe
    shape = sample.batch(int(cfg.model.get("num_adj_slices", 1)), 1)
    while True:
        levers = build_levers(cfg)
        try:  # the slice's own objects are gone when it returns: its blocks stay cached in the allocator
            seconds, max_allocated, max_reserved = first_slice(net, volume, settings)
            measured = read_card(settings.device, max_allocated, max_reserved, free_before, None)
            calibration: Calibration | None = Calibration(
                measured=measured,
                expected=expected_inference(cfg, shape, levers, plan),
                shape=shape,
                levers=levers,
                steps=1,
                limit=card_limit(cfg, measured.total),
                emulated=card.emulated,
                measured_on=today(),
                phase="inference",
            )
        except RuntimeError as error:  # torch.cuda.OutOfMemoryError, or a CUDA library's failed allocation
            if not is_out_of_memory(error):
                raise
            calibration, seconds = None, None
        free_card_memory()
        entry = {"file": sample.file, "first_slice_s": None if seconds is None else round(seconds, 4)}
        if calibration is not None:
            warning = remember_card(calibration.card_measurement(cfg))
            if warning:
                log.warning(warning)
            entry |= calibration.as_json()
            if calibration.fits:
                log.info(calibration.verdict())
                append_record(output_dir, {**entry, "outcome": "fits"})
                return cfg, net
        cfg = _fall_back(cfg, plan, calibration, entry, output_dir)
        del net  # before the next one is built: both would not fit
        free_card_memory()
        net = build(cfg)


def _fall_back(
    cfg: DictConfig, plan: LeversPlan | None, calibration: Calibration | None, entry: dict, output_dir: Path
) -> DictConfig:
    """The config with the next smaller chunking after the first slice did not fit (said in one line,
    recorded), or `Stopped` with exit 3 when nothing is smaller."""
    current = build_levers(cfg)
    if calibration is not None:
        excess = (calibration.need - calibration.expected.need) / 2**30
        what = (
            f"calibration: the first slice needs {calibration.need / 2**30:.2f} GiB on "
            f"{calibration.measured.card}, more than its {calibration.limit / 2**30:.2f} GiB"
        )
        entry |= {"outcome": "passes the card"}
    else:
        excess = None
        what = "calibration: CUDA out of memory in the first slice"
        entry |= {"phase": "inference", "measured_on": today(), "levers": asdict(current)}
        entry |= {"outcome": "out of memory"}
    chosen = smaller_chunking(current, plan, excess)
    if chosen is None:
        append_record(output_dir, entry)
        raise Stopped(
            f"{what} with the smallest sensitivity chunk ({levers_override(current)}); use a card with more "
            "memory",
            EXIT_OUT_OF_MEMORY,
        )
    append_record(output_dir, {**entry, "fallback": {"levers": asdict(chosen.levers), "why": chosen.why}})
    log.warning(f"{what}; trying again with {levers_override(chosen.levers)} ({chosen.why})")
    return with_levers(cfg, chosen.levers)
