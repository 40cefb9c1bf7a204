"""`hardware.levers=auto`: the planner's choice for the profile's budget and the data that is there, cached.

`train` plans the training step for the largest sample of its training split and reports the inference pass
for the largest validation (or leaderboard) one (`memory.data_plan`); `reconstruct` plans the inference pass
for the largest leaderboard volume (`planner.plan_inference`). Plans are kept by `memory.plan_cache` (the
run folder and a user-level cache), so a restart or a resume does not plan again. `bench` and `submit`, and
`train` with `hardware.levers_auto_shape` set, plan once for that fixed shape (the SNU brain shape by
default) and keep nothing. Whichever answered, planning or a kept plan, the start-up output says what was
chosen in one line (`levers_plan_line`).
"""

import logging
import time
from dataclasses import asdict
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.data_shapes import SampleShape, data_shapes, largest
from fastmri_pl.memory.estimate import gib, with_levers
from fastmri_pl.memory.plan_cache import PLAN_FILE, LeversPlan, load_plan, plan_key, save_plan
from fastmri_pl.memory.planner import plan, plan_inference
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.mri.readout import readout_height

log = logging.getLogger("fastmri_pl")
# the SNU FastMRI Challenge brain k-space, the largest shape the profiles are made for
DEFAULT_AUTO_SHAPE = {"coils": 16, "height": 768, "width": 396}


def resolve_levers(cfg: DictConfig) -> DictConfig:
    """`cfg` with `hardware.levers=auto` replaced by the planner's choice at the fixed shape (`auto_levers`;
    logged); any other `cfg` as it is. For `bench` and `submit`, which train on no data of their own.

    The entry points call this (or `resolve_training_levers`, `resolve_inference_levers`) before
    `training.build` builds anything: the planner builds its candidates through it, so it cannot ask the
    planner itself without an import circle.
    """
    if not isinstance(cfg.hardware.levers, str):
        return cfg
    levers = auto_levers(cfg)
    rank_zero_info(f"hardware.levers=auto chose {levers}")
    return with_levers(cfg, levers)


def resolve_training_levers(cfg: DictConfig) -> DictConfig:
    """`train`'s `resolve_levers`: planned for the run's data (`data_levers`, kept in the run folder
    `paths.output_dir` and the user cache) and printed as the start-up output's levers line; with
    `hardware.levers_auto_shape` set, for that fixed shape instead."""
    if not isinstance(cfg.hardware.levers, str) or cfg.hardware.get("levers_auto_shape"):
        return resolve_levers(cfg)
    check_auto(cfg)
    run_dir = Path(cfg.paths.output_dir)
    found, origin = data_levers(cfg, run_dir)
    print_levers_plan(found, origin)
    return with_levers(cfg, MemoryLevers(**found.levers))


def check_auto(cfg: DictConfig) -> None:
    if cfg.hardware.levers != "auto":
        raise ValueError(f"hardware.levers must be a mapping or 'auto', got {cfg.hardware.levers!r}")
    if cfg.hardware.get("memory_gb") is None:
        raise ValueError("hardware.levers=auto needs hardware.memory_gb (the budget to plan for)")


def auto_levers(cfg: DictConfig, margin_gib: float = 0.0) -> MemoryLevers:
    """Levers for `hardware.memory_gb` at `hardware.levers_auto_shape` (or the SNU brain shape), its height
    cropped to the target's when the run's `data.readout_crop` is on."""
    check_auto(cfg)
    sizes = {**DEFAULT_AUTO_SHAPE, **(cfg.hardware.get("levers_auto_shape") or {})}
    shape = BatchShape(
        adj_slices=int(cfg.model.get("num_adj_slices", 1)),
        batch_size=int(cfg.hardware.get("batch_size") or 1),
        **{key: int(value) for key, value in sizes.items()},
    )
    if OmegaConf.select(cfg, "data.readout_crop", default=False):
        shape = shape.readout_cropped()
    return plan(cfg, shape, float(cfg.hardware.memory_gb), margin_gib).chosen.levers


def data_levers(cfg: DictConfig, run_dir: Path | None) -> tuple[LeversPlan, str]:
    """The training plan for the run's data (from the run folder or the user cache when its key matches),
    and where it came from."""
    shapes = data_shapes(cfg.data)
    adj_slices = int(cfg.model.get("num_adj_slices", 1))
    batch_size = int(cfg.hardware.get("batch_size") or 1)
    planned_for = {
        "train": shapes.largest_train.as_json(adj_slices),
        "infer": shapes.largest_infer.as_json(adj_slices),
    }
    key = plan_key("train", cfg, {"planned_for": planned_for, "train_shapes": shapes.histogram()})
    cached = load_plan(key, run_dir)
    if cached is not None:
        return cached[0], f"plan from {cached[1]}"
    started = time.perf_counter()
    planned = plan_for_data(cfg, shapes, None, adj_slices=adj_slices, batch_size=batch_size)
    assert planned.plan is not None  # levers None: a search
    estimate = planned.estimate
    found = LeversPlan(
        key=key,
        kind="train",
        levers=asdict(planned.levers),
        planned_for=planned.planned_for(),
        need_gib=gib(planned.need),
        reserved_gib=gib(max(estimate.train_peak, estimate.train_reserved)),
        budget_gib=gib(planned.plan.budget),
        cascades=int(cfg.model.net.get("num_cascades", 0) or 0),
        times=planned.time.as_json(),
        reason=planned.plan.reason,
        candidates=[
            {"levers": asdict(c.levers), "need_gib": gib(c.need), "time": list(c.time.step_s)}
            for c in planned.plan.candidates
        ],
    )
    return found, _saved(found, run_dir, started)


def resolve_inference_levers(cfg: DictConfig, samples: tuple[SampleShape, ...]) -> DictConfig:
    """`cfg` with `hardware.levers=auto` replaced by the fastest chunking whose inference pass at the largest
    of `samples` (batch 1, as `reconstruct` runs) fits; kept in the user cache; any other `cfg` as it is."""
    found = inference_plan(cfg, samples)
    return cfg if found is None else with_levers(cfg, MemoryLevers(**found.levers))


def inference_plan(cfg: DictConfig, samples: tuple[SampleShape, ...]) -> LeversPlan | None:
    """`resolve_inference_levers`' plan (printed as the levers line), None for fixed levers."""
    if not isinstance(cfg.hardware.levers, str):
        return None
    check_auto(cfg)
    sample = largest(samples)
    adj_slices = int(cfg.model.get("num_adj_slices", 1))
    planned_for = {"infer": sample.as_json(adj_slices)}
    key = plan_key("inference", cfg, {"planned_for": planned_for})
    cached = load_plan(key, None)
    if cached is not None:
        found, origin = cached[0], f"plan from {cached[1]}"
    else:
        started = time.perf_counter()
        searched = plan_inference(cfg, sample.batch(adj_slices, 1), float(cfg.hardware.memory_gb))
        chosen = searched.chosen
        found = LeversPlan(
            key=key,
            kind="inference",
            levers=asdict(chosen.levers),
            planned_for=planned_for,
            need_gib=gib(chosen.need),
            reserved_gib=gib(max(chosen.estimate.peak, chosen.estimate.reserved)),
            budget_gib=gib(searched.budget),
            cascades=int(cfg.model.net.get("num_cascades", 0) or 0),
            times={"ms_per_slice": list(chosen.ms_per_slice)},
            reason=searched.reason,
            candidates=[
                {"levers": asdict(c.levers), "need_gib": gib(c.need), "time": list(c.ms_per_slice)}
                for c in searched.candidates
            ],
        )
        origin = _saved(found, None, started)
    print_levers_plan(found, origin)
    return found


def resolve_reconstruct_levers(cfg: DictConfig, samples: tuple[SampleShape, ...]) -> DictConfig:
    """The levers inference runs with (`reconstruct`, the challenge export's model file).

    A profile's fixed levers are training's: without autograd, checkpointing and offload change nothing and
    only the chunking is left, and its per-coil sensitivity net launches each of its ops once per coil image.
    So unless `inference_levers: profile`, inference plans its own chunking as `hardware.levers=auto` does
    (`resolve_inference_levers`: the fastest projected one that fits the card at the largest of `samples`,
    all coils at once where that fits), and runs all coils at once on a profile with no budget (CPU).
    """
    return reconstruct_plan(cfg, samples)[0]


def reconstruct_plan(
    cfg: DictConfig, samples: tuple[SampleShape, ...]
) -> tuple[DictConfig, LeversPlan | None]:
    """`resolve_reconstruct_levers`' config and the inference plan it took the levers from (None: none made,
    the profile's levers or all coils at once)."""
    if not (isinstance(cfg.hardware.levers, str) or cfg.get("inference_levers", "plan") == "profile"):
        if cfg.hardware.get("memory_gb") is None:
            return with_levers(cfg, MemoryLevers()), None
        planned = cfg.copy()
        with open_dict(planned):
            planned.hardware.levers = "auto"
        cfg = planned
    found = inference_plan(cfg, samples)
    return (cfg, None) if found is None else (with_levers(cfg, MemoryLevers(**found.levers)), found)


def fixed_inference_sample(cfg: DictConfig) -> SampleShape:
    """`hardware.levers_auto_shape` (or the SNU brain shape) as one leaderboard volume's samples, read out to
    the crop's height when `data.readout_crop` is on: what `submit` plans its inference for (it has no
    leaderboard of its own; the 2026 knee k-space, 15 x 640 x 368, is smaller)."""
    sizes = {**DEFAULT_AUTO_SHAPE, **(cfg.hardware.get("levers_auto_shape") or {})}
    crop = (384, 384) if cfg.get("crop") is None else (int(cfg.crop[0]), int(cfg.crop[1]))
    height = int(sizes["height"])
    if OmegaConf.select(cfg, "data.readout_crop", default=False):
        height = readout_height(height, crop[0])
    return SampleShape(
        file="levers_auto_shape",
        coils=int(sizes["coils"]),
        height=height,
        width=int(sizes["width"]),
        slices=1,
        target_size=crop,
    )


def _saved(found: LeversPlan, run_dir: Path | None, started: float) -> str:
    """Save the plan; the start line's account of it."""
    for warning in save_plan(found, run_dir):
        rank_zero_info(warning)
    where = f", saved to {run_dir / PLAN_FILE}" if run_dir is not None else ""
    return f"planned in {time.perf_counter() - started:.0f} s{where}"


def describe_levers(levers: dict, cascades: int, inference: bool = False) -> str:
    """Levers in words ("checkpoint first 7/12 cascades, per-coil sens net"); inference: the chunking only."""
    parts = []
    if not inference:
        counted = levers.get("checkpoint_cascades") or cascades
        which = "every cascade" if counted >= cascades else f"first {counted}/{cascades} cascades"
        parts.append(
            {
                "none": "no checkpointing",
                "cascade": f"checkpoint {which}",
                "level": f"checkpoint U-Net levels of {which}",
            }[levers["checkpoint"]]
        )
        if levers.get("offload"):
            parts.append("host offload")
    chunk = levers.get("sens_chunk", 0)
    parts.append(
        {0: "sens net on all coils", 1: "per-coil sens net"}.get(chunk, f"sens net {chunk} coils a call")
    )
    return ", ".join(parts)


def levers_plan_line(found: LeversPlan, origin: str) -> str:
    """What `hardware.levers=auto` chose for which shape, its projected need and headroom, the projected epoch
    (or ms per slice) and where the plan came from, e.g. "levers: auto -> checkpoint first 7/12 cascades,
    per-coil sens net; planned for 20 coils x 384 x 396 x 5 slices (train/kspace/brain_acc8_12.h5): 7.60 of
    7.93 GiB, 0.33 GiB headroom (projected); ..."."""
    inference = found.kind == "inference"
    shape = found.planned_for["infer" if inference else "train"]
    times = found.times
    if inference:
        low, high = times["ms_per_slice"]
        time_text = f"{low:.0f}-{high:.0f} ms per slice"
    else:
        low, high = times["epoch_h"]
        time_text = f"epoch {low:.3g}-{high:.3g} h (each sample's step at its own shape)"
    return (
        f"levers: auto -> {describe_levers(found.levers, found.cascades, inference)}; planned for "
        f"{shape['coils']} coils x {shape['height']} x {shape['width']} x {shape['adj_slices']} slices "
        f"({shape['file']}): {'inference ' if inference else ''}{found.need_gib:.2f} of "
        f"{found.budget_gib:.2f} GiB, {found.headroom_gib:.2f} GiB headroom (projected); "
        f"{time_text}; {origin}"
    )


@rank_zero_only
def print_levers_plan(found: LeversPlan, origin: str) -> None:
    """The start-up output's levers line, once planning (or the plan cache) has answered."""
    log.info(levers_plan_line(found, origin))
