"""How far the per-sample epoch's step-time model (`memory.epoch`) is from a real trace at a shape in between.

    .venv/bin/python benchmarks/epoch_interpolation.py model=promptmr_small hardware=gtx1080 \
        along=coils values=4,12,20 coils=20 height=384 width=396

Traces one training step (`memory.compose.estimate_composed`, the planner's estimator) with the profile's
levers at each value of `along` (coils or width; the other sizes fixed), projects its time on the profile's
card (`memory.roofline`), and prints for every inner value the line through the two outer ones against its own
trace. Projections only: no step is run, so the machine's load does not matter.
"""

import sys

import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.roofline import project_for
from fastmri_pl.models.levers import MemoryLevers

DEFAULTS = {
    "model": "promptmr_small",
    "hardware": "gtx1080",
    "along": "coils",
    "values": "4,12,20",
    "coils": "20",
    "height": "384",
    "width": "396",
}


def main() -> None:
    torch.set_num_threads(1)
    args = {**DEFAULTS, **dict(arg.split("=", 1) for arg in sys.argv[1:])}
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("memory", overrides=[f"model={args['model']}", f"hardware={args['hardware']}"])
    levers = MemoryLevers(**cfg.hardware.levers)
    values = [int(v) for v in args["values"].split(",")]
    steps = {}
    for value in values:
        sizes = {key: int(args[key]) for key in ("coils", "height", "width")} | {args["along"]: value}
        target = (sizes["height"], min(sizes["height"], sizes["width"]))
        shape = BatchShape(**sizes, adj_slices=int(cfg.model.num_adj_slices), target_size=target)
        estimate = estimate_composed(cfg, shape, levers)
        steps[value] = project_for(cfg, estimate.train_costs, estimate.infer_costs, 1).step_s
        print(
            f"{args['along']}={value}: projected step {steps[value][0]:.5g}-{steps[value][1]:.5g} s",
            flush=True,
        )
    low, high = values[0], values[-1]
    for value in values[1:-1]:
        share = (value - low) / (high - low)
        for end, name in ((0, "fast end"), (1, "slow end")):
            line = steps[low][end] + share * (steps[high][end] - steps[low][end])
            print(
                f"{args['along']}={value} {name}: line {line:.5g} s, traced {steps[value][end]:.5g} s, "
                f"{100 * (line / steps[value][end] - 1):+.2f} %"
            )


if __name__ == "__main__":
    main()
