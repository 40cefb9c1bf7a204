"""Print the README's memory table: estimator figures for the reference-equivalent lever sets beside ours.

    .venv/bin/python benchmarks/memory_table.py [model=promptmr] [coils=16] [height=768] [width=396]

Every row is the composed fake-tensor estimate (`fastmri_pl.memory.compose`: 2 and 3 cascades traced,
extrapolated; equal to the full trace at this shape for our gtx1080 levers) of the unchanged model.
"""

import sys

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.cli import CONFIG_DIR
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import gib
from fastmri_pl.models.levers import MemoryLevers

# (label, precision, levers); the reference's per-coil loop without per-coil checkpointing has no twin in our
# levers (a chunked sensitivity net is checkpointed per chunk whenever checkpointing is on)
ROWS = (
    ("reference-equivalent: fp32, no levers", "32-true", MemoryLevers("none", 0, 0, False)),
    (
        "reference-equivalent: fp32, checkpoint per cascade + sensitivity net",
        "32-true",
        MemoryLevers("cascade", 0, 0, False),
    ),
    ("reference-equivalent: + fp16 autocast", "16-mixed", MemoryLevers("cascade", 0, 0, False)),
    (
        "ours: fp16, per-cascade checkpoint, sensitivity net per coil image",
        "16-mixed",
        MemoryLevers("cascade", 1, 16, False),
    ),
    (
        "ours: fp16, + per U-Net level checkpoint, coil-chunked cascades",
        "16-mixed",
        MemoryLevers("level", 1, 16, False),
    ),
    (
        "ours: fp16, + cascade boundaries offloaded to host (gtx1080 profile)",
        "16-mixed",
        MemoryLevers("level", 1, 16, True),
    ),
)


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    shape = BatchShape(
        coils=int(options.get("coils", 16)),
        height=int(options.get("height", 768)),
        width=int(options.get("width", 396)),
        adj_slices=5,
    )
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        base = compose("memory", overrides=[f"model={options.get('model', 'promptmr')}"])
    shape = BatchShape(shape.coils, shape.height, shape.width, adj_slices=int(base.model.num_adj_slices))
    print(
        f"{base.model.net._target_.rsplit('.', 1)[-1]}, {shape.coils} coils x {shape.adj_slices} adjacent "
        f"slices x {shape.height} x {shape.width}, batch 1 (fake-tensor estimate)\n"
    )
    print("| lever set | precision | train peak GiB | host GiB | inference GiB |")
    print("|---|---|---|---|---|")
    for label, precision, levers in ROWS:
        cfg = compose_precision(base, precision)
        est = estimate_composed(cfg, shape, levers)
        host = f"{gib(est.host_peak):.2f}" if est.host_peak else "—"
        print(
            f"| {label} | {precision} | {gib(est.train_peak):.2f} | {host} | {gib(est.infer_peak):.2f} |",
            flush=True,
        )


def compose_precision(cfg: DictConfig, precision: str) -> DictConfig:
    return OmegaConf.merge(cfg, {"hardware": {"precision": precision}})


if __name__ == "__main__":
    main(sys.argv[1:])
