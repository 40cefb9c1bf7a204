"""Check the time estimate on a device at hand: this CPU's measured step time vs its roofline projection.

    .venv/bin/python benchmarks/roofline_check.py [cascades=2] [steps=2] [threads=1] [markdown=true]

1. Measures this CPU's peaks the way the card profiles quote theirs: the fp32 rate of a large matmul, the
   bandwidth of a large copy (read + write), and the time of one tiny eager op (best of repeats), with
   `threads` threads: one by default, since on a shared machine a descheduled thread stalls the others at
   every parallel region, which would charge the load to the method.
2. For PromptMR at full width (the paper's channels, `cascades` cascades instead of 12) in fp32 at two small
   shapes, traces one training step on fake tensors (the estimator's trace, `memory.opcost` counting) and
   projects it with those peaks at 100 % efficiency (`memory.roofline`), then times the real step.
3. Prints projected / measured: the fraction of the roofline this CPU reaches, the efficiency `hardware=cpu`
   should carry (and its own figures' projection beside).
The machine's load average is printed before and after: on a shared machine every measurement is slower.
`markdown=true` prints the shapes' rows as docs/time.md's table (without the `hardware=cpu` column).
"""

import os
import sys
import time

import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import estimate_full, with_levers
from fastmri_pl.memory.roofline import DeviceSpeed, roofline_seconds
from fastmri_pl.memory.trace import first_optimizer
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training import build

SHAPES = (BatchShape(2, 64, 48, adj_slices=5), BatchShape(4, 128, 96, adj_slices=5))


def best_seconds(fn, repeats: int) -> float:
    """The fastest of `repeats` calls: the closest to what the hardware can do on a shared machine."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def measure_peaks(repeats: int = 7) -> DeviceSpeed:
    """This CPU's fp32 matmul rate, copy bandwidth and tiny-op time, as a `DeviceSpeed` at 100 %."""
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    flops = 2 * n**3 / best_seconds(lambda: a @ b, repeats)
    x = torch.randn(32 * 2**20)
    y = torch.empty_like(x)
    bandwidth = 2 * x.numel() * 4 / best_seconds(lambda: y.copy_(x), repeats)
    tiny = torch.randn(8)
    overhead = best_seconds(lambda: [torch.add(tiny, tiny) for _ in range(2000)], repeats) / 2000
    gbps = bandwidth / 1e9
    return DeviceSpeed({"fp32": flops / 1e12}, gbps, gbps, overhead * 1e6, (1.0, 1.0))


def measured_step(cfg, shape: BatchShape, steps: int) -> float:
    """Mean seconds of real fp32 training steps after one warm-up step."""
    module = build.build_module(cfg).train()
    optimizer = first_optimizer(module.configure_optimizers())
    batch = shape()
    elapsed = 0.0
    for index in range(steps + 1):
        started = time.perf_counter()
        loss = module.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if index:
            elapsed += time.perf_counter() - started
    return elapsed / steps


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    cascades, steps = int(options.get("cascades", 2)), int(options.get("steps", 2))
    torch.set_num_threads(int(options.get("threads", 1)))
    print(f"load average before: {os.getloadavg()}; {torch.get_num_threads()} threads")
    speed = measure_peaks()
    print(
        f"measured peaks: {speed.tflops['fp32'] * 1e3:.1f} GFLOPS fp32 (2048^2 matmul), "
        f"{speed.memory_gbps:.1f} GB/s (copy, read + write), {speed.op_overhead_us:.1f} us per tiny op"
    )
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "memory", overrides=["model=promptmr", "hardware=cpu", f"model.net.num_cascades={cascades}"]
        )
    profile = DeviceSpeed.from_config(cfg.hardware)
    cfg = with_levers(cfg, MemoryLevers())
    markdown = options.get("markdown", "false") == "true"
    print(f"PromptMR, full width, {cascades} cascades, fp32, no levers; one training step")
    if markdown:
        print(
            "| shape (coils × slices × H × W) | GFLOP | GB moved | ops | projected s | measured s "
            "| projected / measured |"
        )
        print("|---|---|---|---|---|---|---|")
    else:
        print(
            f"{'shape (coils x slices x H x W)':<32}{'GFLOP':>8}{'GB':>7}{'ops':>8}{'projected s':>13}"
            f"{'measured s':>12}{'projected/measured':>20}{'with hardware=cpu':>19}"
        )
    for shape in SHAPES:
        costs = estimate_full(cfg, shape, MemoryLevers(), steps=1).train_costs
        projected = roofline_seconds(costs, speed, "32-true", 1.0)
        with_profile = [roofline_seconds(costs, profile, "32-true", e) for e in reversed(profile.efficiency)]
        measured = measured_step(cfg, shape, steps)
        label = f"{shape.coils} x {shape.adj_slices} x {shape.height} x {shape.width}"
        if markdown:
            print(
                f"| {label.replace(' x ', ' × ')} | {costs.flops / 1e9:.1f} | {costs.bytes / 1e9:.2f} "
                f"| {costs.calls:,.0f} | {projected:.2f} | {measured:.2f} | {projected / measured:.2f} |",
                flush=True,
            )
            continue
        print(
            f"{label:<32}{costs.flops / 1e9:>8.1f}{costs.bytes / 1e9:>7.2f}{costs.calls:>8.0f}"
            f"{projected:>13.2f}{measured:>12.2f}{projected / measured:>20.2f}"
            f"{f'{with_profile[0]:.1f}-{with_profile[1]:.1f} s':>19}",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main(sys.argv[1:])
