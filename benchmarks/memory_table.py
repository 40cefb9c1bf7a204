"""Print docs/memory.md's table: estimator figures for the reference-equivalent lever sets beside ours.

    .venv/bin/python benchmarks/memory_table.py [model=promptmr] [coils=16,20] [height=768] [width=396]
        [rows=reference,ours,shipped]

Every figure is the composed fake-tensor estimate (`fastmri_pl.memory.compose`: 3 and 4 cascades traced,
extrapolated) of the unchanged model, one column per coil count, traced as the `gtx1080` profile trains
(accumulation, autocast without the cast cache); the `shipped` rows take each shipped profile's levers and
precision from `conf/hardware/<profile>.yaml` and trace as that profile trains. The figures do not depend on
the machine (fake tensors); the time printed at the end does. The reference column holds the issue's traces
of the reference code at 16 coils. The reference-equivalent rows checkpoint the sensitivity net as one unit
(`sens_checkpoint="whole"`), as the reference does; its per-coil loop is `sens_chunk=1` in that unit.
`rows=` picks the groups of rows to estimate (all three by default).
"""

import os
import platform
import sys
import time
from dataclasses import dataclass

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, gib
from fastmri_pl.models.levers import MemoryLevers

# the profiles whose levers the `shipped` rows trace (the cards the project is made for)
SHIPPED_PROFILES = ("gtx1080", "rtx4070")
GROUPS = ("reference", "ours", "shipped")


@dataclass(frozen=True)
class Row:
    """One lever set; `inference` rows report the inference peak, the others the training step's."""

    group: str
    label: str
    precision: str
    levers: MemoryLevers
    reference_gib: float | None = None
    inference: bool = False
    profile: str = "gtx1080"  # the profile whose training the row traces


REFERENCE_PER_COIL_LOOP = MemoryLevers("cascade", 1, 0, False, sens_checkpoint="whole")
# the levers `gtx1080` shipped before the planner chose per-cascade checkpointing of the first 7 cascades
PREVIOUS_GTX1080 = MemoryLevers("level", 1, 16, True)

FIXED_ROWS = (
    Row("reference", "reference-equivalent: no levers", "32-true", MemoryLevers(), 117.4),
    Row(
        "reference",
        "reference-equivalent: checkpoint per cascade and the sensitivity net (one unit)",
        "32-true",
        MemoryLevers("cascade", 0, 0, False, sens_checkpoint="whole"),
        86.9,
    ),
    Row(
        "reference",
        "reference-equivalent: + per-coil sensitivity loop (`sens_chunk=1 sens_checkpoint=whole`)",
        "32-true",
        REFERENCE_PER_COIL_LOOP,
        83.6,
    ),
    Row("reference", "reference-equivalent: + fp16 autocast", "16-mixed", REFERENCE_PER_COIL_LOOP, 43.1),
    Row(
        "ours",
        "ours: checkpoint per cascade, sensitivity net checkpointed per coil image",
        "16-mixed",
        MemoryLevers("cascade", 1, 0, False),
    ),
    Row(
        "ours",
        "ours: + checkpoint per U-Net level, coil chunks of 16",
        "16-mixed",
        MemoryLevers("level", 1, 16, False),
    ),
    Row(
        "ours",
        "ours: + cascade boundaries offloaded to host (the set `gtx1080` shipped before the planner)",
        "16-mixed",
        PREVIOUS_GTX1080,
    ),
    Row(
        "reference",
        "inference, reference-equivalent: per-coil sensitivity",
        "16-mixed",
        REFERENCE_PER_COIL_LOOP,
        1.9,
        inference=True,
    ),
    Row(
        "ours",
        "inference, ours (the set `gtx1080` shipped before the planner)",
        "16-mixed",
        PREVIOUS_GTX1080,
        inference=True,
    ),
)


def profile_config(profile: str, model: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("memory", overrides=[f"model={model}", f"hardware={profile}"])


def shipped_rows(model: str) -> list[Row]:
    """Each shipped profile's own levers and precision, as `conf/hardware/<profile>.yaml` holds them now."""
    rows = []
    for profile in SHIPPED_PROFILES:
        hardware = profile_config(profile, model).hardware
        levers = MemoryLevers(**OmegaConf.to_container(hardware.levers))
        label = f"`{profile}` profile's levers"
        rows.append(Row("shipped", label, hardware.precision, levers, profile=profile))
        rows.append(
            Row("shipped", f"inference, {label}", hardware.precision, levers, inference=True, profile=profile)
        )
    return rows


def main(argv: list[str]) -> None:
    options = dict(arg.split("=", 1) for arg in argv)
    coil_counts = [int(c) for c in options.get("coils", "16,20").split(",")]
    height, width = int(options.get("height", 768)), int(options.get("width", 396))
    groups = options.get("rows", ",".join(GROUPS)).split(",")
    if unknown := set(groups) - set(GROUPS):
        raise SystemExit(f"error: rows: {sorted(unknown)} not among {list(GROUPS)}")
    model = options.get("model", "promptmr")
    configs = {profile: profile_config(profile, model) for profile in ("gtx1080", *SHIPPED_PROFILES)}
    rows = [row for row in (*FIXED_ROWS, *shipped_rows(model)) if row.group in groups]
    base = configs["gtx1080"]
    adj_slices = int(base.model.num_adj_slices)
    shapes = [BatchShape(coils, height, width, adj_slices=adj_slices) for coils in coil_counts]
    print(
        f"{base.model.net._target_.rsplit('.', 1)[-1]}, {adj_slices} adjacent slices x {height} x {width}, "
        "batch 1; peak allocated GiB (fake-tensor estimate; host = pinned host memory of the offload)\n"
    )
    columns = "".join(f" {c} coils | host |" for c in coil_counts)
    print(f"| lever set | precision |{columns} reference code, 16 coils |")
    print("|---|---|" + "---|---|" * len(coil_counts) + "---|")
    started = time.perf_counter()
    estimates: dict[tuple[str, str, MemoryLevers, BatchShape], Estimate] = {}
    for row in rows:
        cfg = with_precision(configs[row.profile], row.precision)
        for shape in shapes:
            key = (row.profile, row.precision, row.levers, shape)
            if key not in estimates:
                estimates[key] = estimate_composed(cfg, shape, row.levers)
        cells = "".join(cell(row, estimates[(row.profile, row.precision, row.levers, s)]) for s in shapes)
        reference = "—" if row.reference_gib is None else f"{row.reference_gib:.1f}"
        print(f"| {row.label} | {row.precision} |{cells} {reference} |", flush=True)
    print(
        f"\n({time.perf_counter() - started:.0f} s on {platform.node()}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f})"
    )


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
