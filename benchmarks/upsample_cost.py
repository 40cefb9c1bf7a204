"""Side by side: PromptMR's x2 bilinear up-sampling as F.interpolate, as dense matmuls, as the banded form.

    .venv/bin/python benchmarks/upsample_cost.py [coils=4] [height=384] [width=396] [rounds=7] [threads=1]
        [op=1,72,192,198]

1. One training step of full PromptMR (12 cascades, `hardware=gtx1080`: its levers, 16-mixed as CPU bf16
   autocast), batch 1 x 5 slices x `coils` coils x `height` x `width` (the SNU image size after the readout
   crop; the trace's time grows with the coils, through the per-coil sensitivity net, not with the size),
   traced on fake tensors with `FlopCounterMode` and the roofline's `OpCostCounter` (FLOPs and bytes moved
   per op), for four variants of the decoders' up-sampling and the prompts' resize:
     interpolate: `nn.Upsample` / `F.interpolate` (before the determinism fix; raises on CUDA under
                  `trainer.deterministic`). flop_counter counts them as 0 FLOP: their cost is the bytes.
     dense:       both as two matmuls with interpolation matrices (the first determinism fix).
     banded:      the x2 up-sampling banded (`deterministic_ops.UpsampleAxisX2`), the prompt resize dense.
     banded+interp. prompt: the banded up-sampling with `F.interpolate` for the prompts, which isolates the
                  cost of the dense prompt resize.
   Prints FLOPs, bytes and ops of the step, the projected step time on a GTX 1080 (`memory.roofline`, the
   profile's 30-80 % efficiency range), and the up-sampling calls the step makes (input shape x calls,
   recompute included).
2. The up-sampling alone at `op` (1 x C x H x W input; default the main network's full-resolution decoder
   level at the SNU shape; the sensitivity net's has 36 channels), forward and backward in bf16 on fake
   tensors: traced FLOPs and bytes beside the same counted by hand, and the GTX 1080 projection.
3. CPU wall time of the up-sampling alone at `op` in fp32, forward + backward, `rounds` interleaved rounds
   (the variants' order rotates every round), `threads` threads: medians and ratios. The load average is
   printed before and after: on a shared machine only the ratios mean anything.
"""

import math
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from unittest import mock

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.flop_counter import FlopCounterMode

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.opcost import OpCostCounter, OpCosts
from fastmri_pl.memory.roofline import DeviceSpeed, roofline_seconds
from fastmri_pl.memory.trace import first_optimizer, prefer_foreach
from fastmri_pl.models import blocks
from fastmri_pl.models.deterministic_ops import BilinearUpsample, bilinear_resize
from fastmri_pl.runtime.precision import traced_autocast
from fastmri_pl.training import build

Resize = Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]


class DenseUpsample(nn.Module):
    """The x2 up-sampling as the first determinism fix had it: `bilinear_resize`'s two matmuls."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        return bilinear_resize(x, (2 * height, 2 * width))


def interpolate_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def interpolate_upsample() -> nn.Module:
    return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)


# name: (the decoders' up-sampling module, the prompts' resize)
VARIANTS: dict[str, tuple[Callable[[], nn.Module], Resize]] = {
    "interpolate": (interpolate_upsample, interpolate_resize),
    "dense": (DenseUpsample, bilinear_resize),
    "banded": (BilinearUpsample, bilinear_resize),
    "banded+interp. prompt": (BilinearUpsample, interpolate_resize),
}


def gtx1080_config() -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("memory", overrides=["model=promptmr", "hardware=gtx1080"])


def traced_step(
    cfg: DictConfig, shape: BatchShape, upsample: Callable[[], nn.Module], resize: Resize
) -> tuple[float, OpCosts, Counter]:
    """(FlopCounterMode's FLOPs, OpCostCounter's costs, up-sampling input shapes x calls) of one training
    step on fake tensors, the decoders' up-sampling and the prompts' resize swapped for the variant's."""
    calls: Counter = Counter()
    with FakeTensorMode(allow_non_fake_inputs=True), ExitStack() as patches:
        patches.enter_context(mock.patch.object(blocks, "bilinear_resize", resize))
        module = build.build_module(cfg).train()
        for level in module.modules():
            if isinstance(level, blocks.DecoderLevel):
                level.up[0] = upsample()
                level.up[0].register_forward_pre_hook(lambda _, args: calls.update([tuple(args[0].shape)]))
        optimizer = first_optimizer(module.configure_optimizers())
        prefer_foreach(optimizer)
        batch = shape()
        with FlopCounterMode(display=False) as flops, OpCostCounter() as counter:
            with traced_autocast(str(cfg.hardware.precision)):
                loss = module.compute_loss(batch)
            loss.backward()
            optimizer.step()
    return flops.get_total_flops(), counter.costs, calls


def projected(costs: OpCosts, cfg: DictConfig) -> tuple[float, float]:
    """Seconds on the profile's card at its high and low efficiency (fast, slow)."""
    speed = DeviceSpeed.from_config(cfg.hardware)
    precision = str(cfg.hardware.precision)
    return tuple(roofline_seconds(costs, speed, precision, e) for e in reversed(speed.efficiency))


def step_table(cfg: DictConfig, shape: BatchShape) -> None:
    print(
        f"1. one training step, full PromptMR, hardware=gtx1080 ({cfg.hardware.precision}), 1 x "
        f"{shape.adj_slices} slices x {shape.coils} coils x {shape.height} x {shape.width}, fake tensors"
    )
    print(f"{'variant':<24}{'TFLOP':>9}{'mm+bmm TFLOP':>14}{'GB moved':>10}{'ops':>9}{'GTX 1080 s':>16}")
    rows, calls = {}, Counter()
    for name, (upsample, resize) in VARIANTS.items():
        started = time.perf_counter()
        total, costs, variant_calls = traced_step(cfg, shape, upsample, resize)
        calls = variant_calls if name == "banded" else calls
        matmul = sum(f for op, f, _ in costs.by_op() if op in ("mm", "bmm"))
        fast, slow = projected(costs, cfg)
        rows[name] = (total, costs.bytes, fast, slow)
        print(
            f"{name:<24}{total / 1e12:>9.3f}{matmul / 1e12:>14.3f}{costs.bytes / 1e9:>10.1f}"
            f"{costs.calls:>9.0f}{f'{fast:.2f}-{slow:.2f}':>16}"
            f"   ({time.perf_counter() - started:.0f} s to trace)",
            flush=True,
        )
    base = rows["interpolate"]
    for name, (total, nbytes, fast, slow) in rows.items():
        print(
            f"  {name} - interpolate: {(total - base[0]) / 1e12:+.3f} TFLOP ({total / base[0] - 1:+.1%}), "
            f"{(nbytes - base[1]) / 1e9:+.1f} GB, {fast - base[2]:+.3f} to {slow - base[3]:+.3f} s per step"
        )
    print("  up-sampling calls per step (input shape x calls, recompute included):")
    for shape_in, count in sorted(calls.items(), key=lambda item: -item[1] * math.prod(item[0])):
        print(f"    {'x'.join(map(str, shape_in))}: {count}")


def hand_count(name: str, c: int, h: int, w: int, element: int) -> tuple[float, float]:
    """(FLOPs, bytes) of one forward + backward of the up-sampling of a (1, c, h, w) input, by hand, counted
    as `memory.opcost` counts: every tensor an op reads plus every tensor it writes, views free."""
    n = c * h * w
    if name == "interpolate":  # forward reads n, writes 4n; backward reads 4n, writes n
        return 0.0, 10 * n * element
    if name == "dense":
        # forward rows (2h x h) @ x, then @ cols^T (w x 2w); backward the two products transposed: FLOPs
        # 4 c (2h) w (h + 2w); bytes: the products' operands and results only (the trace adds the matrices'
        # construction, a dozen tiny ops per call, and `_unsafe_view`s, which opcost counts as copies)
        flops = 4 * c * (2 * h) * w * (h + 2 * w)
        return flops, (2 * (n + 2 * n) + 2 * (2 * n + 4 * n)) * element
    # banded, per axis with input n': forward cat 2n', stack 2n' + 2n', lerp n' + 2n' + 2n' = 11n';
    # backward cat of the gradient 2n' + 2n', two adds 3n' each, lerp 3n' = 13n'; axes n' = n, then 2n
    return 0.0, 24 * (n + 2 * n) * element


def op_table(cfg: DictConfig, c: int, h: int, w: int) -> None:
    print(f"2. the up-sampling alone, 1 x {c} x {h} x {w} -> {2 * h} x {2 * w}, bf16, forward + backward")
    print(f"{'variant':<14}{'GFLOP':>8}{'by hand':>9}{'MB moved':>10}{'by hand':>9}{'ops':>5}{'1080 ms':>13}")
    for name in ("interpolate", "dense", "banded"):
        with FakeTensorMode(), OpCostCounter() as counter:
            x = torch.empty(1, c, h, w, dtype=torch.bfloat16, requires_grad=True)
            y = VARIANTS[name][0]()(x)
            y.backward(torch.empty_like(y))
        flops, nbytes = hand_count(name, c, h, w, 2)
        fast, slow = projected(counter.costs, cfg)
        print(
            f"{name:<14}{counter.costs.flops / 1e9:>8.2f}{flops / 1e9:>9.2f}"
            f"{counter.costs.bytes / 1e6:>10.1f}{nbytes / 1e6:>9.1f}{counter.costs.calls:>5.0f}"
            f"{f'{fast * 1e3:.2f}-{slow * 1e3:.2f}':>13}"
        )


def timing(c: int, h: int, w: int, rounds: int) -> None:
    threads = torch.get_num_threads()
    print(f"3. CPU wall time, 1 x {c} x {h} x {w} fp32, forward + backward, {threads} thread(s)")
    x = torch.rand(1, c, h, w, requires_grad=True)
    upstream = torch.rand(1, c, 2 * h, 2 * w)
    modules = {name: VARIANTS[name][0]() for name in ("interpolate", "dense", "banded")}
    names = list(modules)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for name in names:  # warm-up
        modules[name](x).backward(upstream)
    for index in range(rounds):
        for name in names[index % 3 :] + names[: index % 3]:
            started = time.perf_counter()
            modules[name](x).backward(upstream)
            seconds[name].append(time.perf_counter() - started)
    median = {name: statistics.median(times) for name, times in seconds.items()}
    for name in names:
        print(
            f"  {name:<12} median {median[name] * 1e3:8.1f} ms  (min {min(seconds[name]) * 1e3:.1f}, max "
            f"{max(seconds[name]) * 1e3:.1f}); / interpolate {median[name] / median['interpolate']:.2f}, "
            f"/ dense {median[name] / median['dense']:.2f}"
        )


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    sizes = (("coils", 4), ("height", 384), ("width", 396))
    coils, height, width = (int(options.get(key, default)) for key, default in sizes)
    _, c, h, w = (int(v) for v in options.get("op", "1,72,192,198").split(","))
    torch.set_num_threads(int(options.get("threads", 1)))
    print(f"load average before: {os.getloadavg()}")
    cfg = gtx1080_config()
    step_table(cfg, BatchShape(coils, height, width, adj_slices=5))
    op_table(cfg, c, h, w)
    timing(c, h, w, int(options.get("rounds", 7)))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main(sys.argv[1:])
