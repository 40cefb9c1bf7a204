"""Print the README's memory table: estimator figures for the reference-equivalent lever sets beside ours.

    .venv/bin/python benchmarks/memory_table.py [model=promptmr] [coils=16,20] [height=768] [width=396]

Every figure is the composed fake-tensor estimate (`fastmri_pl.memory.compose`: 3 and 4 cascades traced,
extrapolated) of the unchanged model, one column per coil count. The reference column holds the issue's
traces of the reference code at 16 coils. The reference-equivalent rows checkpoint the sensitivity net as one
unit (`sens_checkpoint="whole"`), as the reference does; its per-coil loop is `sens_chunk=1` in that unit.
"""

import sys
import time
from dataclasses import dataclass

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.cli import CONFIG_DIR
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, gib
from fastmri_pl.models.levers import MemoryLevers


@dataclass(frozen=True)
class Row:
    """One lever set; `inference` rows report the inference peak, the others the training step's."""

    label: str
    precision: str
    levers: MemoryLevers
    reference_gib: float | None = None
    inference: bool = False


REFERENCE_PER_COIL_LOOP = MemoryLevers("cascade", 1, 0, False, sens_checkpoint="whole")
GTX1080 = MemoryLevers("level", 1, 16, True)

ROWS = (
    Row("reference-equivalent: fp32, no levers", "32-true", MemoryLevers(), 117.4),
    Row(
        "reference-equivalent: fp32, checkpoint per cascade and the sensitivity net (one unit)",
        "32-true",
        MemoryLevers("cascade", 0, 0, False, sens_checkpoint="whole"),
        86.9,
    ),
    Row("reference-equivalent: + per-coil sensitivity loop", "32-true", REFERENCE_PER_COIL_LOOP, 83.6),
    Row("reference-equivalent: + fp16 autocast", "16-mixed", REFERENCE_PER_COIL_LOOP, 43.1),
    Row(
        "ours: fp16, checkpoint per cascade, sensitivity net checkpointed per coil image",
        "16-mixed",
        MemoryLevers("cascade", 1, 0, False),
    ),
    Row(
        "ours: + checkpoint per U-Net level, coil chunks of 16",
        "16-mixed",
        MemoryLevers("level", 1, 16, False),
    ),
    Row("ours: + cascade boundaries offloaded to host (gtx1080 profile)", "16-mixed", GTX1080),
    Row(
        "inference, reference-equivalent: per-coil sensitivity, fp16",
        "16-mixed",
        REFERENCE_PER_COIL_LOOP,
        1.9,
        inference=True,
    ),
    Row("inference, ours (gtx1080 profile)", "16-mixed", GTX1080, inference=True),
)


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    coil_counts = [int(c) for c in options.get("coils", "16,20").split(",")]
    height, width = int(options.get("height", 768)), int(options.get("width", 396))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        base = compose("memory", overrides=[f"model={options.get('model', 'promptmr')}"])
    adj_slices = int(base.model.num_adj_slices)
    shapes = [BatchShape(coils, height, width, adj_slices=adj_slices) for coils in coil_counts]
    print(
        f"{base.model.net._target_.rsplit('.', 1)[-1]}, {adj_slices} adjacent slices x {height} x {width}, "
        "batch 1; peaks in GiB (fake-tensor estimate; host = offloaded to host memory)\n"
    )
    columns = "".join(f" {c} coils | host |" for c in coil_counts)
    print(f"| lever set | precision |{columns} reference code, 16 coils (issue 4) |")
    print("|---|---|" + "---|---|" * len(coil_counts) + "---|")
    started = time.perf_counter()
    estimates: dict[tuple[str, MemoryLevers, BatchShape], Estimate] = {}
    for row in ROWS:
        cfg = with_precision(base, row.precision)
        for shape in shapes:
            key = (row.precision, row.levers, shape)
            if key not in estimates:
                estimates[key] = estimate_composed(cfg, shape, row.levers)
        cells = "".join(cell(row, estimates[row.precision, row.levers, shape]) for shape in shapes)
        reference = "—" if row.reference_gib is None else f"{row.reference_gib:.1f}"
        print(f"| {row.label} | {row.precision} |{cells} {reference} |", flush=True)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def cell(row: Row, estimate: Estimate) -> str:
    """The row's peak and host memory for one shape, as table cells."""
    if row.inference:
        return f" {gib(estimate.infer_peak):.2f} | — |"
    host = f"{gib(estimate.host_peak):.2f}" if estimate.host_peak else "—"
    return f" {gib(estimate.train_peak):.2f} | {host} |"


def with_precision(cfg: DictConfig, precision: str) -> DictConfig:
    merged = OmegaConf.merge(cfg, {"hardware": {"precision": precision}})
    assert isinstance(merged, DictConfig)
    return merged


if __name__ == "__main__":
    main(sys.argv[1:])
