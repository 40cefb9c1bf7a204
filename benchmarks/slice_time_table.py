"""ms per slice against model size (2026 score): projected on a GTX 1080 and an RTX 4070, measured on CPU.

    python benchmarks/slice_time_table.py [--threads 1] [--repeats 3] [--markdown]

Sizes: the 2026 recipe's PromptMR (3 adjacent slices, no channel attention) with 12, 8, 6, 4 and 2 cascades,
at the paper's cascade channels (n_feat0 48, features 72/96/120) and at half of them (24, 36/48/60); the
sensitivity net stays as it is. Projection (said so in the table): one inference pass as `reconstruct` and the
2026 export run a slice (each slice's sensitivity maps once, `memory.estimate.reconstruct_forward`), traced
on fake tensors at the 2026 knee shape (15 coils, 640 x 368 k-space read out to 384 rows: the organisers'
tutorial file), priced by the roofline (`memory.roofline`) at each profile's speed, precision and levers
(per-coil sensitivity net, `sens_chunk: 1`), low-high over its efficiency range, and again with the
sensitivity net on all coils at once. Measured: `VolumeInference` of random-weight networks on this CPU at a
reduced shape (`--coils`, `--height`, `--width`, default 4 x 192 x 184), each size's median CPU-time ms per
slice over `--repeats` passes of `--slices` slices (the sizes' passes interleaved), and its ratio to the
12-cascade full-channel model, beside the roofline's time and ratio for this CPU at that shape (its peak
efficiency): whether the projection ranks the sizes as the hardware does.
"""

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, replace

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from torch import nn

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import inference_trace
from fastmri_pl.memory.roofline import DeviceSpeed, roofline_seconds
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.reconstruction.inference import InferenceSettings, VolumeInference
from fastmri_pl.training import build

RECIPE = ["model=promptmr", "model.num_adj_slices=3", "model.net.no_use_ca=true"]
CHANNELS = {
    "full": ["model.net.n_feat0=48", "model.net.feature_dim=[72,96,120]", "model.net.prompt_dim=[24,48,72]"],
    "half": ["model.net.n_feat0=24", "model.net.feature_dim=[36,48,60]", "model.net.prompt_dim=[12,24,36]"],
}
SIZES = [(12, "full"), (8, "full"), (6, "full"), (4, "full"), (2, "full"), (12, "half"), (6, "half")]
KNEE_2026 = BatchShape(coils=15, height=640, width=368, adj_slices=3).readout_cropped()
CARDS = ("gtx1080", "rtx4070")


@dataclass(frozen=True)
class Row:
    cascades: int
    channels: str
    params: int
    projected: dict[str, tuple[float, float]]  # card (and card + ", all coils") -> (low, high) ms
    cpu_ms: float
    cpu_projected_ms: float


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--slices", type=int, default=4)
    parser.add_argument("--coils", type=int, default=4)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--width", type=int, default=184)
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    return parser.parse_args()


def config(hardware: str, cascades: int, channels: str) -> DictConfig:
    overrides = [*RECIPE, *CHANNELS[channels], f"model.net.num_cascades={cascades}", f"hardware={hardware}"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("reconstruct", overrides=overrides)


def projected_ms(cfg: DictConfig, shape: BatchShape, levers: MemoryLevers) -> tuple[float, float]:
    """(low, high) roofline ms of one slice's inference under the profile's speed and precision."""
    costs = inference_trace(cfg, shape, levers, None, {}).costs
    speed = DeviceSpeed.from_config(cfg.hardware)
    low, high = speed.efficiency
    precision = str(cfg.hardware.precision)
    return tuple(1e3 * roofline_seconds(costs, speed, precision, efficiency) for efficiency in (high, low))


def cpu_volume(args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked random k-space (S, C, H, W) at the reduced shape and its equispaced 4x mask."""
    generator = torch.Generator().manual_seed(0)
    shape = (args.slices, args.coils, args.height, args.width)
    mask = torch.zeros(args.width)
    mask[::4] = 1
    mask[args.width // 2 - 8 : args.width // 2 + 8] = 1
    return torch.randn(shape, dtype=torch.complex64, generator=generator) * mask, mask


def one_pass_ms(net: nn.Module, volume: tuple[torch.Tensor, torch.Tensor], args: argparse.Namespace) -> float:
    """CPU ms per slice of one `VolumeInference` pass over the volume: this process's CPU time, which the
    other jobs sharing the machine do not inflate as they do the wall clock (one thread: CPU time is the
    compute)."""
    settings = InferenceSettings((args.height, args.height), torch.device("cpu"))
    inference = VolumeInference(net, *volume, settings)
    start = time.process_time()
    for index in range(args.slices):
        inference.slice(index)
    return 1e3 * (time.process_time() - start) / args.slices


def measured_ms(nets: list[nn.Module], args: argparse.Namespace) -> list[float]:
    """Median ms per slice of each network (random weights), passes interleaved across the sizes so that
    the machine's load weighs on all alike; the first round warms the allocator and kernels up."""
    volume = cpu_volume(args)
    times: list[list[float]] = [[] for _ in nets]
    for repeat in range(args.repeats + 1):
        for net, values in zip(nets, times, strict=True):
            ms = one_pass_ms(net, volume, args)
            if repeat:
                values.append(ms)
    return [statistics.median(values) for values in times]


def projected_row(cascades: int, channels: str, args: argparse.Namespace) -> Row:
    """The size's projections (both cards and chunkings; this CPU at the reduced shape), unmeasured."""
    projected = {}
    for card in CARDS:
        cfg = config(card, cascades, channels)
        levers = MemoryLevers(**cfg.hardware.levers)
        projected[card] = projected_ms(cfg, KNEE_2026, levers)
        projected[f"{card}, all coils"] = projected_ms(cfg, KNEE_2026, replace(levers, sens_chunk=0))
    cpu = config("cpu", cascades, channels)
    small = BatchShape(coils=args.coils, height=args.height, width=args.width, adj_slices=3)
    cpu_speed = DeviceSpeed.from_config(cpu.hardware)
    cpu_costs = inference_trace(cpu, small, MemoryLevers(**cpu.hardware.levers), None, {}).costs
    return Row(
        cascades=cascades,
        channels=channels,
        params=sum(p.numel() for p in build.build_net(cpu).parameters()),
        projected=projected,
        cpu_ms=float("nan"),
        cpu_projected_ms=1e3 * roofline_seconds(cpu_costs, cpu_speed, "32-true", cpu_speed.efficiency[1]),
    )


def rows(args: argparse.Namespace) -> list[Row]:
    projected = [projected_row(cascades, channels, args) for cascades, channels in SIZES]
    nets = []
    for cascades, channels in SIZES:
        torch.manual_seed(0)
        nets.append(build.build_net(config("cpu", cascades, channels)).eval())
    return [replace(r, cpu_ms=ms) for r, ms in zip(projected, measured_ms(nets, args), strict=True)]


def span(values: tuple[float, float]) -> str:
    return f"{values[0]:.0f}–{values[1]:.0f}"


def main() -> int:
    args = arguments()
    torch.set_num_threads(args.threads)
    table = rows(args)
    full = table[0]
    header = [
        "cascades",
        "channels (n_feat0)",
        "parameters",
        "GTX 1080 ms/slice (projected; all coils)",
        "RTX 4070 ms/slice (projected; all coils)",
        f"CPU ms/slice at {args.coils}x{args.height}x{args.width} (measured / roofline)",
        "CPU ratio to 12 full (measured / roofline)",
    ]
    lines = []
    for r in table:
        gtx = f"{span(r.projected['gtx1080'])} ({span(r.projected['gtx1080, all coils'])})"
        rtx = f"{span(r.projected['rtx4070'])} ({span(r.projected['rtx4070, all coils'])})"
        measured_ratio = r.cpu_ms / full.cpu_ms
        projected_ratio = r.cpu_projected_ms / full.cpu_projected_ms
        n_feat0 = 48 if r.channels == "full" else 24
        lines.append(
            [
                str(r.cascades),
                f"{r.channels} ({n_feat0})",
                f"{r.params / 1e6:.1f} M",
                gtx,
                rtx,
                f"{r.cpu_ms:.0f} / {r.cpu_projected_ms:.0f}",
                f"{measured_ratio:.2f} / {projected_ratio:.2f}",
            ]
        )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for line in lines:
            print("| " + " | ".join(line) + " |")
    else:
        for line in [header, *lines]:
            print("  ".join(line))
    shape = KNEE_2026
    print(
        f"projected: roofline at the 2026 knee shape ({shape.coils} coils, {shape.height} x {shape.width} "
        "after the readout crop, 3 adjacent slices), each profile's precision and levers (per-coil "
        f"sensitivity net; in brackets all coils at once); measured: this CPU, {args.threads} thread(s), "
        "random weights"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
