"""Inference with and without the exact levers: readout crop and sensitivity maps once per slice.

    .venv/bin/python benchmarks/inference_levers.py [--model promptmr] [--skip-flops] [--skip-time]
        [--coils 4 --height 256 --width 128 --crop 128 --slices 4 --repeats 2 --threads 1] [--markdown]

`--markdown` prints each result as the rows of docs/time.md's tables instead of text.

FLOPs: full-size PromptMR (or --model) at the SNU shape (16 coils, 768 x 396 k-space, 384-row target,
5 adjacent slices), counted by `torch.utils.flop_counter.FlopCounterMode` on fake tensors (nothing is
computed): what one leaderboard slice costs when `reconstruct` runs a window per slice with every window's
maps (no levers), with either lever, and with both (the slice's own maps once, then the cascades on the
384-row window). FlopCounterMode counts no FFTs, in any column.

Time: `reconstruction.inference.reconstruct_volume` of one synthetic SNU-layout volume on this CPU, with and
without the levers, interleaved (off, on, off, on, ...) after one untimed run of each, fp32, one thread by
default; seconds per slice (wall clock and this process's CPU time, the latter robust to other jobs on the
machine) are the median over the repeats, and the ratio is off / on.
"""

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import generate, synthetic_config
from fastmri_pl.data.volumes import Volume
from fastmri_pl.reconstruction.inference import InferenceSettings, reconstruct_volume

SNU_SHAPE = {"coils": 16, "height": 768, "width": 396, "crop": 384}
TERA = 1e12


def build_model(name: str) -> nn.Module:
    cfg = OmegaConf.create({"model": OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{name}.yaml")})
    torch.manual_seed(0)
    return instantiate(cfg.model.net).eval()


def count_flops(step: Callable[[], object]) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


@torch.inference_mode()
def flops_per_slice(net: nn.Module, coils: int, height: int, width: int, crop: int) -> dict[str, int]:
    """FLOPs of one leaderboard slice per lever set, counted on fake tensors."""
    slices = int(net.num_adj_slices)
    acs = torch.tensor([round(0.08 * width)])
    counts = {}
    with FakeTensorMode(allow_non_fake_inputs=True):
        mask = torch.ones(1, 1, 1, width)
        for rows, crop_label in ((height, ""), (crop, "readout crop")):
            window = torch.zeros(1, slices * coils, rows, width, dtype=torch.complex64)
            one_slice = torch.zeros(1, coils, rows, width, dtype=torch.complex64)
            maps = torch.zeros_like(window)
            counts[crop_label or "no levers"] = count_flops(lambda w=window: net(w, mask, acs))
            own_maps = count_flops(lambda s=one_slice: net.slice_sensitivity_maps(s, acs))
            cascades = count_flops(lambda w=window, m=maps: net.forward_with_maps(w, mask, m))
            label = " + ".join(filter(None, (crop_label, "maps once per slice")))
            counts[label] = own_maps + cascades
    return counts


def synthetic_volume(root: Path, coils: int, height: int, width: int, crop: int, slices: int) -> Volume:
    cfg = synthetic_config(
        num_train=0,
        num_val=0,
        num_leaderboard=1,
        leaderboard_accelerations=(4,),
        slices=slices,
        coils=(coils,),
        height=height,
        widths=(width,),
        crop=(crop, crop),
    )
    generate(root, cfg, progress=False)
    return index_volumes("snu", root / "leaderboard" / "acc4")[0]


def seconds_per_slice(net: nn.Module, volume: Volume, crop: int, levers: bool) -> tuple[float, float]:
    """(wall, process CPU) seconds per slice of one `reconstruct_volume` pass."""
    wall, cpu = time.perf_counter(), time.process_time()
    settings = InferenceSettings((crop, crop), torch.device("cpu"), readout_crop=levers, maps_once=levers)
    images = reconstruct_volume(net, volume, settings)
    for _ in images:
        pass
    slices = volume.num_slices
    return (time.perf_counter() - wall) / slices, (time.process_time() - cpu) / slices


def time_levers(net: nn.Module, args: argparse.Namespace) -> None:
    """Prints the interleaved timings as text, or (`--markdown`) as one row of docs/time.md's time table."""
    with tempfile.TemporaryDirectory() as folder:
        volume = synthetic_volume(Path(folder), args.coils, args.height, args.width, args.crop, args.slices)
        times: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for levers in (False, True):
            seconds_per_slice(net, volume, args.crop, levers)  # untimed: allocator and kernel warm-up
        for _ in range(args.repeats):
            for levers in (False, True):
                times[levers].append(seconds_per_slice(net, volume, args.crop, levers))
    if args.markdown:
        print_time_row(times, args)
        return
    print(
        f"reconstruct, {args.model}, 1 volume x {args.slices} slices, {args.coils} coils x {args.height} x "
        f"{args.width}, crop {args.crop}, {net.num_adj_slices} adjacent slices, fp32, "
        f"{torch.get_num_threads()} threads, {args.repeats} interleaved repeats (median)"
    )
    for column, clock in enumerate(("wall", "process CPU")):
        off = [t[column] for t in times[False]]
        on = [t[column] for t in times[True]]
        pairs = ", ".join(f"{a / b:.2f}" for a, b in zip(off, on, strict=True))
        without, with_levers = statistics.median(off), statistics.median(on)
        print(
            f"  {clock:>11}: without levers {without:.3f} s/slice, with {with_levers:.3f} s/slice; "
            f"ratio {without / with_levers:.2f}x (per interleaved pair: {pairs})"
        )


def print_time_row(times: dict[bool, list[tuple[float, float]]], args: argparse.Namespace) -> None:
    """| shape | CPU s/slice without | with both levers | ratio (CPU) | ratio (wall) |, medians."""
    wall = [statistics.median(t[0] for t in times[levers]) for levers in (False, True)]
    cpu = [statistics.median(t[1] for t in times[levers]) for levers in (False, True)]
    print(
        "| shape (coils × k-space, crop, slices) | CPU s/slice without | with both levers | ratio (CPU) "
        "| ratio (wall) |"
    )
    print("|---|---|---|---|---|")
    print(
        f"| {args.coils} × {args.height} × {args.width}, crop {args.crop}, {args.slices} slices "
        f"| {cpu[0]:.2f} | {cpu[1]:.2f} | {cpu[0] / cpu[1]:.2f}× | {wall[0] / wall[1]:.2f}× |"
    )


def print_flops(counts: dict[str, int], model: str, adj_slices: int, markdown: bool) -> None:
    baseline = counts["no levers"]
    if markdown:
        print("| lever set | TFLOP per slice | vs none |")
        print("|---|---|---|")
        for label, flops in counts.items():
            print(f"| {label} | {flops / TERA:.2f} | {baseline / flops:.2f}× fewer |")
        return
    print(
        f"FLOPs per leaderboard slice, {model}, {SNU_SHAPE['coils']} coils x "
        f"{SNU_SHAPE['height']} x {SNU_SHAPE['width']} (crop {SNU_SHAPE['crop']} rows), "
        f"{adj_slices} adjacent slices (FlopCounterMode, fake tensors, FFTs not counted):"
    )
    for label, flops in counts.items():
        print(f"  {label:<45} {flops / TERA:6.2f} TFLOP  ({baseline / flops:.2f}x fewer)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="promptmr", help="a conf/model/ name with PromptMR")
    parser.add_argument("--skip-flops", action="store_true")
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--coils", type=int, default=4)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: CPU time robust to load)")
    parser.add_argument("--markdown", action="store_true", help="the rows of docs/time.md's tables")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    net = build_model(args.model)
    if not hasattr(net, "slice_sensitivity_maps"):
        raise SystemExit(f"error: --model {args.model} has no per-slice sensitivity maps (PromptMR only)")
    if not args.skip_flops:
        print_flops(flops_per_slice(net, **SNU_SHAPE), args.model, int(net.num_adj_slices), args.markdown)
    if not args.skip_time:
        time_levers(net, args)


if __name__ == "__main__":
    main()
