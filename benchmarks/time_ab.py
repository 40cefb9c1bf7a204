"""Side by side on this CPU: the planner's GTX 1080 choice vs the lever set `hardware=gtx1080` shipped before.

    .venv/bin/python benchmarks/time_ab.py [cascades=4] [rounds=3] [coils=4] [height=128] [width=96]
        [threads=1]

A: the previous `gtx1080` set (checkpoint per U-Net level, per-coil sensitivity net, coil chunks, offload) on
   the full readout. B: the levers `hardware=gtx1080` ships now (the planner's answer at the SNU shape) with
   `data.readout_crop` (on for data=snu): the k-space height is the target's, half the readout here as at
   SNU (384 of 768 rows). A partial checkpoint keeps its share: N of 12 becomes round(N x cascades / 12).
PromptMR at full width with `cascades` cascades (12 takes minutes a step here), fp32 for both (CPU autocast
is not what a GTX 1080 runs; on Pascal 16-bit saves memory, not time), batch 1, 5 adjacent slices, one
thread by default (see `roofline_check.py`). Steps alternate A, B, B, A, ... after a warm-up step each, so
load drift hits both alike. Prints every step, the means, and B / A beside the ratio of their traced FLOPs.
"""

import dataclasses
import os
import sys
import time

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import estimate_full, with_levers
from fastmri_pl.memory.trace import first_optimizer
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training import build

PREVIOUS_GTX1080 = MemoryLevers("level", 1, 16, True)
FULL_CASCADES = 12


class Stepper:
    """A module, its optimizer and one batch: `step()` runs and times one fp32 training step."""

    def __init__(self, cfg: DictConfig, shape: BatchShape) -> None:
        self.module = build.build_module(cfg).train()
        self.optimizer = first_optimizer(self.module.configure_optimizers())
        self.batch = shape()

    def step(self) -> float:
        started = time.perf_counter()
        loss = self.module.compute_loss(self.batch)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return time.perf_counter() - started


def shipped_levers(cascades: int) -> MemoryLevers:
    """`hardware=gtx1080`'s levers, a partial checkpoint scaled to `cascades` (same share checkpointed)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        levers = MemoryLevers(**compose("memory", overrides=["hardware=gtx1080"]).hardware.levers)
    if not levers.checkpoint_cascades:
        return levers
    share = max(1, round(levers.checkpoint_cascades * cascades / FULL_CASCADES))
    return dataclasses.replace(levers, checkpoint_cascades=share)


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    cascades, rounds = int(options.get("cascades", 4)), int(options.get("rounds", 3))
    coils, height, width = (int(options.get(k, d)) for k, d in (("coils", 4), ("height", 128), ("width", 96)))
    torch.set_num_threads(int(options.get("threads", 1)))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        base = compose(
            "memory", overrides=["model=promptmr", "hardware=cpu", f"model.net.num_cascades={cascades}"]
        )
    full = BatchShape(coils, height, width, adj_slices=5, target_size=(height // 2, width))
    settings = {
        "A previous gtx1080 set, full readout": (PREVIOUS_GTX1080, full),
        "B shipped gtx1080 set, readout crop": (shipped_levers(cascades), full.readout_cropped()),
    }
    print(f"load average before: {os.getloadavg()}; {torch.get_num_threads()} threads")
    print(
        f"PromptMR full width, {cascades} cascades, fp32, batch 1 x 5 slices x {coils} coils, width {width}"
    )
    flops, steppers = {}, {}
    for name, (levers, shape) in settings.items():
        cfg = with_levers(base, levers)
        flops[name] = estimate_full(cfg, shape, levers, steps=1).train_costs.flops
        steppers[name] = Stepper(cfg, shape)
        steppers[name].step()
        print(f"{name}: {levers}, k-space {shape.height} x {shape.width}, {flops[name] / 1e9:.1f} GFLOP/step")
    times: dict[str, list[float]] = {name: [] for name in settings}
    names = list(settings)
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            times[name].append(steppers[name].step())
            print(f"  round {index + 1} {name[0]}: {times[name][-1]:.2f} s", flush=True)
    (a, b) = (sum(times[name]) / len(times[name]) for name in names)
    flop_ratio = flops[names[1]] / flops[names[0]]
    print(f"mean step: A {a:.2f} s, B {b:.2f} s; B / A = {b / a:.2f} (FLOP ratio {flop_ratio:.2f})")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main(sys.argv[1:])
