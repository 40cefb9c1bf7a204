"""`make gpu-check` (`python -m benchmarks.gpu_check [--dry-run] [--out DIR]` from the checkout): what a GPU
must confirm, in one command, in under 8 minutes on one card. What to do with the report: docs/gpu-check.md.

Steps, each an exact command run as its own process (a profile's emulated card, or a crash, stays in it), its
output shown and kept in OUT/logs/:
1. estimates: the estimator's figures for every memory row below, on CPU, one process per row (a full-size
   PromptMR estimate at the SNU shape takes minutes on one core), into OUT/estimates.json; a row filed there
   under its key (configs, shape, levers, torch, source: `memory.row_estimate`) is read, not estimated again.
2. bench: `promptmr` under `gtx1080` and `rtx4070` at the SNU shape (20 coils, 384 x 396 after the readout
   crop), each profile's budget emulated on the bigger card (`hardware.memory_gb`): training and inference
   need on the card vs the estimate.
3. determinism: the 2026 recipe (`experiment=snu2026_promptmr`, `trainer.deterministic=true`) twice, 3
   optimizer steps each on the synthetic knee data; the weights' sha256 must be equal.
4. data: synthetic leaderboard volumes at the SNU brain shape (20 coils, 768 x 396) and a fastMRI knee shape
   (15 coils, 640 x 368), written by `fastmri_pl.data.synthetic`.
5. reconstruct: each shape reconstructed by the 2026 recipe's network (run 1's weights) under `gtx1080`'s
   emulated card (`benchmarks.reconstruct_row`): ms per slice, and inference need on the card vs the
   estimate at that shape.
Beside them, the calibration rows: what the first steps of each determinism run and the first slice of each
reconstruct step measured (`<run>/calibration.json`, `<output_dir>/calibration.json`) against the estimate at
the shape they met, the context measured beside the profile's assumed one. The determinism runs' estimate is
computed with the others in step 1 and filed in the user cache (`memory.calibration.file_estimates`), so the
runs do not trace it inside their time limit.
The report, OUT/report.json and OUT/report.md, holds measured vs estimated and a verdict per row
(`gpu_check_report.py`); exit 1 if a measured need passes its estimate by more than 10 %, a row does not fit,
the two runs differ, or a step fails. A previous run's files are moved to OUT/previous-<time>/ first.
`--dry-run` needs no CUDA: it prints every command and the estimates the check will compare against
(computing them, each one's time printed, or reading them from OUT/estimates.json), then exits 0.
"""

import argparse
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import IO, Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from benchmarks.gpu_check_report import (
    ReportRow,
    Verdict,
    determinism_verdict,
    memory_verdict,
    report_document,
    report_markdown,
    step_failed,
)
from fastmri_pl import CONFIG_DIR
from fastmri_pl.bench import profile_config, row_setup
from fastmri_pl.memory.auto import resolve_levers
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.calibration import (
    CALIBRATION_FILE,
    estimate_cache_key,
    file_estimates,
    without_card,
)
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.data_shapes import data_shapes
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.row_estimate import (
    RowEstimate,
    estimate_key,
    estimate_row,
    estimates_json,
    read_estimates,
)
from fastmri_pl.runs.atomic import write_atomically
from fastmri_pl.runs.paths import project_root
from fastmri_pl.training import build

ROOT = Path(__file__).resolve().parents[1]
ESTIMATOR = "composed"  # the planner's estimate, the one the profiles' figures come from
KEPT = ("estimates.json", "data")  # caches a later run reuses: never moved aside


@dataclass(frozen=True)
class VolumeShape:
    """Synthetic leaderboard volumes for `reconstruct`: k-space coils x height x width, the image crop."""

    name: str
    anatomy: str
    coils: int
    height: int
    width: int
    crop: tuple[int, int]
    slices: int = 8


@dataclass(frozen=True)
class CheckPlan:
    """What the check runs. The defaults are the GPU check; a test shrinks the models and shapes."""

    out: Path
    bench_model: str = "promptmr"
    profiles: tuple[str, ...] = ("gtx1080", "rtx4070")
    # coils, height, width of the bench rows: the SNU shape the profiles are planned at (readout-cropped)
    bench_shape: tuple[int, int, int] = (20, 768, 396)
    recipe: str = "snu2026_promptmr"
    recipe_data: str = "synthetic_knee"
    recipe_steps: int = 3
    # the recipe's network as `reconstruct` takes it (conf/experiment/snu2026_promptmr.yaml says the same)
    recipe_model: tuple[str, ...] = ("model=promptmr", "model.num_adj_slices=3", "model.net.no_use_ca=true")
    recipe_profile: str = "gtx1080"
    volumes: tuple[VolumeShape, ...] = (
        VolumeShape("snu_brain", "brain", 20, 768, 396, (384, 384)),
        VolumeShape("fastmri_knee", "knee", 15, 640, 368, (320, 320)),
    )
    python: str = sys.executable
    # estimates computed at once, one process and one core each (a GPU machine has the cores to spare)
    workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    timeouts: dict[str, int] = field(
        default_factory=lambda: {"bench": 240, "train": 200, "data": 120, "reconstruct": 120}
    )


@dataclass(frozen=True)
class Step:
    """One command of the check: a name, its argv, its time limit."""

    name: str
    argv: tuple[str, ...]
    timeout_s: int

    @property
    def command(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class EstimateJob:
    """One memory row to estimate: its name, the config it is estimated with, its shape, levers and key."""

    name: str
    cfg: DictConfig
    shape: BatchShape
    levers: Any
    key: str


# ---- the plan: commands and estimates -----------------------------------------------------------------


def bench_step(plan: CheckPlan) -> Step:
    coils, height, width = plan.bench_shape
    argv = (
        plan.python,
        "-m",
        "fastmri_pl.bench",
        f"bench.models=[{plan.bench_model}]",
        f"bench.profiles=[{','.join(plan.profiles)}]",
        f"bench.gpu_shape={{coils: {coils}, height: {height}, width: {width}}}",
        "bench.readout_crop=true",
        "bench.baseline=false",
        "bench.flops=false",
        f"bench.estimate={ESTIMATOR}",
        f"bench.estimates={plan.out / 'estimates.json'}",
        f"bench.output={plan.out / 'bench.json'}",
    )
    return Step("bench", argv, plan.timeouts["bench"])


def recipe_overrides(plan: CheckPlan, accumulate: int) -> list[str]:
    """The 2026 recipe cut to `recipe_steps` optimizer steps (x `accumulate` batches), 2 validation ones."""
    return [
        f"experiment={plan.recipe}",
        f"data={plan.recipe_data}",
        "trainer.deterministic=true",
        "trainer.max_epochs=1",
        f"++trainer.limit_train_batches={plan.recipe_steps * accumulate}",
        "++trainer.limit_val_batches=2",
        "validate_best=false",
        "logger=csv",
        "print_config=false",
        "callbacks.progress_bar=null",
    ]


def train_steps(plan: CheckPlan) -> list[Step]:
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        recipe = compose("train", overrides=[f"experiment={plan.recipe}"])
    accumulate = int(recipe.hardware.accumulate_grad_batches)
    return [
        Step(
            f"train_run{n}",
            (
                plan.python,
                "-m",
                "fastmri_pl.train",
                *recipe_overrides(plan, accumulate),
                f"hydra.run.dir={run_dir(plan, n)}",
            ),
            plan.timeouts["train"],
        )
        for n in (1, 2)
    ]


def run_dir(plan: CheckPlan, n: int) -> Path:
    return plan.out / "determinism" / f"run{n}"


def data_step(plan: CheckPlan, volume: VolumeShape) -> Step:
    argv = (
        plan.python,
        "-m",
        "fastmri_pl.data.synthetic",
        "--root",
        str(plan.out / "data" / volume.name),
        "--anatomy",
        volume.anatomy,
        "--coils",
        str(volume.coils),
        "--height",
        str(volume.height),
        "--widths",
        str(volume.width),
        "--crop",
        str(volume.crop[0]),
        str(volume.crop[1]),
        "--slices",
        str(volume.slices),
        "--num-train",
        "0",
        "--num-val",
        "0",
        "--num-leaderboard",
        "1",
        "--leaderboard-accelerations",
        "4",
    )
    return Step(f"data_{volume.name}", argv, plan.timeouts["data"])


def reconstruct_overrides(plan: CheckPlan, volume: VolumeShape) -> list[str]:
    return [
        *plan.recipe_model,
        f"hardware={plan.recipe_profile}",
        "challenge=2026",
        "data=snu",
        f"data.root={plan.out / 'data' / volume.name}",
        f"ckpt_path={run_dir(plan, 1) / 'checkpoints' / 'last.ckpt'}",
        f"output_dir={plan.out / 'reconstructions' / volume.name}",
        "progress=false",
    ]


def reconstruct_step(plan: CheckPlan, volume: VolumeShape) -> Step:
    argv = (
        plan.python,
        "-m",
        "benchmarks.reconstruct_row",
        "--output",
        str(plan.out / f"reconstruct_{volume.name}.json"),
        "--",
        *reconstruct_overrides(plan, volume),
    )
    return Step(f"reconstruct_{volume.name}", argv, plan.timeouts["reconstruct"])


def steps(plan: CheckPlan) -> list[Step]:
    return [
        bench_step(plan),
        *train_steps(plan),
        *(data_step(plan, v) for v in plan.volumes),
        *(reconstruct_step(plan, v) for v in plan.volumes),
    ]


def estimate_jobs(plan: CheckPlan) -> list[EstimateJob]:
    """The memory rows, composed as the bench and `reconstruct` compose them (the keys match the bench's)."""
    jobs = []
    cuda = torch.device("cuda")  # only its type is read: the rows as a GPU composes them
    coils, height, width = plan.bench_shape
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        base = compose(
            "bench",
            overrides=[f"bench.gpu_shape={{coils: {coils}, height: {height}, width: {width}}}"],
        )
        for profile in plan.profiles:
            setup = row_setup(profile_config(base, plan.bench_model, profile, cuda), profile, cuda)
            key = estimate_key(setup.cfg, setup.shape, setup.levers, ESTIMATOR)
            jobs.append(EstimateJob(f"bench {profile}", setup.cfg, setup.shape, setup.levers, key))
        for volume in plan.volumes:
            cfg = resolve_levers(compose("reconstruct", overrides=reconstruct_overrides(plan, volume)))
            shape = BatchShape(
                coils=volume.coils,
                height=volume.height,
                width=volume.width,
                adj_slices=int(cfg.model.num_adj_slices),
                target_size=volume.crop,
            ).readout_cropped()
            levers = build.build_levers(cfg)
            key = estimate_key(cfg, shape, levers, ESTIMATOR)
            jobs.append(EstimateJob(f"reconstruct {volume.name}", cfg, shape, levers, key))
    return [*jobs, calibration_job(plan)]


def calibration_job(plan: CheckPlan) -> EstimateJob:
    """What the determinism runs' calibration compares with: the recipe with the profile's levers at its
    data's largest training sample (its first steps meet one: the synthetic knee volumes alternate 4 and 6
    coils), context and workspace left out, under the key `train` looks it up by. The synthetic data is
    generated if absent (its headers give the shape)."""
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        recipe = compose("train", overrides=[f"experiment={plan.recipe}", f"data={plan.recipe_data}"])
    cfg = resolve_levers(recipe)
    levers = build.build_levers(cfg)
    sample = data_shapes(cfg.data).largest_train
    shape = sample.batch(int(cfg.model.get("num_adj_slices", 1)), int(cfg.hardware.get("batch_size") or 1))
    key = estimate_cache_key(cfg, shape, levers)
    return EstimateJob("calibration train (reserved only)", without_card(cfg), shape, levers, key)


def file_calibration_estimate(jobs: list[EstimateJob], figures: dict[str, RowEstimate]) -> None:
    """The determinism runs' calibration estimate into the user cache, where `train` looks first."""
    job = jobs[-1]
    file_estimates({job.key: (f"{job.name}: {_shape_text(job.shape)}", figures[job.key])})


def _estimate_one(job: EstimateJob) -> RowEstimate:
    """A worker's job: one estimate on one thread (the workers share the machine's cores)."""
    torch.set_num_threads(1)
    return estimate_row(job.cfg, job.shape, job.levers, ESTIMATOR)


def estimates(plan: CheckPlan, jobs: list[EstimateJob]) -> dict[str, RowEstimate]:
    """Every job's estimate by key: read from OUT/estimates.json, the rest computed (in parallel), filed."""
    path = plan.out / "estimates.json"
    known = read_estimates(path)
    missing = [job for job in jobs if job.key not in known]
    for job in jobs:
        if job.key in known:
            print(f"estimate of {job.name}: read from {path}")
    if missing:
        print(
            f"estimating {len(missing)} row(s) on CPU, {min(plan.workers, len(missing))} at a time "
            "(full-size PromptMR at the SNU shape: minutes per row on one core)",
            flush=True,
        )
        started = time.perf_counter()
        with ExitStack() as stack:
            results: Iterator[RowEstimate] = map(_estimate_one, missing)
            if plan.workers > 1 and len(missing) > 1:
                context = get_context("spawn")
                pool = stack.enter_context(ProcessPoolExecutor(min(plan.workers, len(missing)), context))
                results = pool.map(_estimate_one, missing)
            for job, estimate in zip(missing, results, strict=True):  # each said as it is done
                print(f"estimate of {job.name}: {estimate.seconds:.0f} s", flush=True)
                known[job.key] = estimate
        print(f"estimates took {time.perf_counter() - started:.0f} s", flush=True)
        filed = {job.key: (f"{job.name}: {_shape_text(job.shape)}", known[job.key]) for job in jobs}
        write_atomically(path, estimates_json(filed).encode())
    return {job.key: known[job.key] for job in jobs}


def _shape_text(shape: BatchShape) -> str:
    return f"{shape.adj_slices} slices x {shape.coils} coils x {shape.height} x {shape.width}"


def describe_estimates(jobs: list[EstimateJob], figures: dict[str, RowEstimate]) -> str:
    """The estimates the check compares against: need on the card for a training step and for inference,
    and the projected time per slice on the profile's card."""
    lines = [f"{'row':<26}{'shape':<34}{'train need':>12}{'infer need':>12}  slice on the profile's card"]
    for job in jobs:
        e = figures[job.key]
        train, infer = f"{e.train_card / GIB:.2f} GiB", f"{e.infer_card / GIB:.2f} GiB"
        projected = f"{1e3 * e.slice_s[0]:.0f}-{1e3 * e.slice_s[1]:.0f} ms (projected)"
        lines.append(f"{job.name:<26}{_shape_text(job.shape):<34}{train:>12}{infer:>12}  {projected}")
    return "\n".join(lines)


# ---- running ------------------------------------------------------------------------------------------


def run_step(step: Step, logs: Path) -> dict[str, Any]:
    """Run `step`, its output shown and written to logs/<name>.log; its exit status (None: timed out)."""
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{step.name}.log"
    print(f"\n$ {step.command}", flush=True)
    started = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("w") as sink:
        process = subprocess.Popen(
            step.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        copier = threading.Thread(target=_copy_lines, args=(process.stdout, sink), daemon=True)
        copier.start()
        returncode: int | None
        try:
            returncode = process.wait(timeout=step.timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            returncode = None
        copier.join(timeout=10)
    if returncode is None:
        print(f"{step.name}: timed out after {step.timeout_s} s", flush=True)
    return {
        "name": step.name,
        "command": step.command,
        "returncode": returncode,
        "seconds": round(time.perf_counter() - started, 1),
        "log": str(log),
    }


def _copy_lines(source: IO[str], sink: IO[str]) -> None:
    """A step's output to the terminal and its log, line by line, as it comes."""
    for line in source:
        sys.stdout.write(line)
        sys.stdout.flush()
        sink.write(line)


def weights_sha256(checkpoint: Path) -> str | None:
    """sha256 over a Lightning checkpoint's state_dict (names, dtypes, shapes, bytes); None without one."""
    if not checkpoint.is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def move_previous(out: Path) -> Path | None:
    """A previous run's files (all but the caches) moved to OUT/previous-<its report's time>/: never
    overwritten, never mixed with this run's."""
    if not out.is_dir():
        return None
    leftovers = [p for p in out.iterdir() if p.name not in KEPT and not p.name.startswith("previous-")]
    if not leftovers:
        return None
    report = out / "report.json"
    stamp = datetime.fromtimestamp((report if report.exists() else leftovers[0]).stat().st_mtime)
    target = out / f"previous-{stamp:%Y%m%d-%H%M%S}"
    target.mkdir()
    for path in leftovers:
        path.rename(target / path.name)
    return target


def memory_rows(
    plan: CheckPlan, jobs: list[EstimateJob], figures: dict[str, RowEstimate], done: dict[str, dict]
) -> list[ReportRow]:
    """The bench's and reconstruct's rows, each against its estimate; `done`: the steps run, by name."""
    rows = []
    bench = _read_json(plan.out / "bench.json")
    bench_rows = {row["profile"]: row for row in (bench or {}).get("rows", [])}
    for job in jobs[: len(plan.profiles)]:
        profile = job.name.removeprefix("bench ")
        estimate = figures[job.key]
        row = bench_rows.get(profile)
        limit = _profile_gib(job.cfg)
        for phase, est in (("train", estimate.train_card), ("inference", estimate.infer_card)):
            name = f"bench {plan.bench_model} {profile} {phase}"
            if row is None:
                rows.append(ReportRow(name, None, _gib(est), _not_measured("bench", done)))
                continue
            measured = row["train_card_gib" if phase == "train" else "infer_card_gib"]
            # a measured phase ran to the end, whatever the other phase did; the note says which ran out
            fits = True if measured is not None else row["fits"]
            verdict = memory_verdict(fits, measured, est / GIB, row["note"], row["device_gib"], limit)
            shown = {"card": row["card"], "cap_gib": row["cap_gib"]}
            if phase == "train":
                shown |= {
                    "max_allocated_gib": row["max_allocated_gib"],
                    "max_reserved_gib": row["max_reserved_gib"],
                    "estimated_tensors_gib": row["train_peak_gib"],
                    "outside_allocator_gib": row["outside_gib"],
                    "step_seconds": row["step_seconds"],
                    "projected_step_s_on_profile_card": [round(s, 3) for s in estimate.step_s],
                }
            rows.append(ReportRow(name, measured, _gib(est), verdict, shown))
    reconstruct_jobs = jobs[len(plan.profiles) : len(plan.profiles) + len(plan.volumes)]
    for job, volume in zip(reconstruct_jobs, plan.volumes, strict=True):
        estimate = figures[job.key]
        name = f"reconstruct {volume.name} {volume.coils}x{volume.height}x{volume.width}"
        measured_row = _read_json(plan.out / f"reconstruct_{volume.name}.json")
        if measured_row is None:
            verdict = _not_measured(f"reconstruct_{volume.name}", done)
            rows.append(ReportRow(name, None, _gib(estimate.infer_card), verdict))
            continue
        verdict = memory_verdict(
            measured_row["fits"],
            measured_row.get("infer_card_gib"),
            estimate.infer_card / GIB,
            measured_row.get("note", ""),
            measured_row.get("device_gib"),
            _profile_gib(job.cfg),
        )
        shown = {
            "ms_per_slice": measured_row.get("ms_per_slice"),
            "projected_ms_per_slice_on_profile_card": [round(1e3 * s, 1) for s in estimate.slice_s],
            "card": measured_row.get("card"),
        }
        measured = measured_row.get("infer_card_gib")
        rows.append(ReportRow(name, measured, _gib(estimate.infer_card), verdict, shown))
    return rows


def _not_measured(step: str, done: dict[str, dict]) -> Verdict:
    """The verdict on a row whose step left no measurement: how the step ended, or that it never ran."""
    record = done.get(step)
    if record is None:
        return Verdict("not measured", True, f"{step} did not run (a step it needs failed)")
    return step_failed(step, record["returncode"], record["log"])


def calibration_rows(plan: CheckPlan, done: dict[str, dict]) -> list[ReportRow]:
    """What each determinism run's first steps and each reconstruct step's first slice measured against the
    estimate at the shape they met: the first calibration of each (the profile's own levers; a fallback is
    shown beside it). A step that failed or did not run has its own row: no calibration row then."""
    sources = [(f"train_run{n}", run_dir(plan, n)) for n in (1, 2)]
    sources += [(f"reconstruct_{v.name}", plan.out / "reconstructions" / v.name) for v in plan.volumes]
    rows = []
    for step, folder in sources:
        record = done.get(step)
        if record is None or record["returncode"] != 0:
            continue
        name = f"calibration {step}"
        document = _read_json(folder / CALIBRATION_FILE)
        if not document or not document.get("calibrations"):
            rows.append(ReportRow(name, None, None, Verdict("not measured", True, f"no {CALIBRATION_FILE}")))
            continue
        first = document["calibrations"][0]
        measured, estimated, card = first.get("measured"), first.get("estimated"), first.get("card") or {}
        if measured is None:  # out of memory in its first steps
            verdict = memory_verdict(False, None, 0.0, "does not fit: out of memory in the calibration")
            rows.append(ReportRow(name, None, None, verdict, {"fallback": first.get("fallback")}))
            continue
        verdict = memory_verdict(
            first["fits"],
            measured["need_gib"],
            estimated["need_gib"],
            first["outcome"],
            card.get("total_gib"),
            card.get("limit_gib"),
        )
        shown = {
            "card": card.get("name"),
            "emulated": card.get("emulated"),
            "measured_context_gib": measured["context_gib"],
            "assumed_context_gib": estimated["context_gib"],
            "others_before_gib": measured["others_before_gib"],
            "max_reserved_gib": measured["max_reserved_gib"],
            "estimated_reserved_gib": estimated["reserved_gib"],
            "step_s": measured["step_s"],
            "projected_step_s_on_profile_card": estimated["step_s"],
            "fell_back_to": (first.get("fallback") or {}).get("levers"),
        }
        rows.append(ReportRow(name, measured["need_gib"], estimated["need_gib"], verdict, shown))
    return rows


def determinism_row(plan: CheckPlan) -> ReportRow:
    hashes = [weights_sha256(run_dir(plan, n) / "checkpoints" / "last.ckpt") for n in (1, 2)]
    verdict = determinism_verdict(*hashes)
    return ReportRow(f"determinism {plan.recipe} x2, {plan.recipe_steps} steps", None, None, verdict)


def check(plan: CheckPlan) -> int:
    """The whole check on the card; the report; 1 if any row failed."""
    if not torch.cuda.is_available():
        print("error: no CUDA device: `make gpu-check` measures a GPU (try DRY_RUN=1)", file=sys.stderr)
        return 2
    started, wall = datetime.now(), time.perf_counter()
    plan.out.mkdir(parents=True, exist_ok=True)
    moved = move_previous(plan.out)
    if moved is not None:
        print(f"the previous run's files moved to {moved}")
    jobs = estimate_jobs(plan)
    figures = estimates(plan, jobs)
    file_calibration_estimate(jobs, figures)
    print(describe_estimates(jobs, figures))
    logs, done = plan.out / "logs", {}
    for step in steps(plan):
        if step.name.startswith("reconstruct") and not (run_dir(plan, 1) / "checkpoints/last.ckpt").is_file():
            print(f"{step.name}: not run, the determinism run 1 left no checkpoint")
            continue
        done[step.name] = run_step(step, logs)
    rows = memory_rows(plan, jobs, figures, done) + calibration_rows(plan, done) + [determinism_row(plan)]
    bench = _read_json(plan.out / "bench.json") or {}
    context = {
        "device": bench.get("device", "?"),
        "torch": torch.__version__,
        "started": f"{started:%Y-%m-%d %H:%M:%S}",
        "seconds": round(time.perf_counter() - wall, 1),
    }
    document = report_document(rows, list(done.values()), context)
    write_atomically(plan.out / "report.json", (json.dumps(document, indent=1) + "\n").encode())
    write_atomically(plan.out / "report.md", report_markdown(document).encode())
    print("\n" + report_markdown(document))
    print(f"wrote {plan.out / 'report.json'} and report.md; {context['seconds'] / 60:.1f} min (target: < 8)")
    return 0 if document["passed"] else 1


def dry_run(plan: CheckPlan) -> int:
    """Every command the check runs and the estimates it compares against; no CUDA needed."""
    print("gpu-check, dry run: the commands it runs, in order (OUT = " + str(plan.out) + ")")
    print(f"\n1. estimates: the rows below, {ESTIMATOR} estimator, into {plan.out / 'estimates.json'}")
    for number, step in enumerate(steps(plan), start=2):
        print(f"\n{number}. {step.name} (limit {step.timeout_s} s)\n   {step.command}")
    print(f"\nthen: weights' sha256 of {run_dir(plan, 1)} vs {run_dir(plan, 2)} (checkpoints/last.ckpt)")
    print(f"report: {plan.out / 'report.json'}, {plan.out / 'report.md'}\n")
    plan.out.mkdir(parents=True, exist_ok=True)
    jobs = estimate_jobs(plan)
    figures = estimates(plan, jobs)
    file_calibration_estimate(jobs, figures)
    print(describe_estimates(jobs, figures))
    print("\nthe check fails a row whose measured need passes its estimate by over 10 %; dry run: exit 0")
    return 0


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _gib(nbytes: int) -> float:
    return round(nbytes / GIB, 3)


def _profile_gib(cfg: DictConfig) -> float | None:
    """The profile's card: min(card_gib, memory_gb) in GiB (None without a budget)."""
    budget = cfg.hardware.get("memory_gb")
    if budget is None:
        return None
    return CardMemory.from_config(cfg.hardware).limit(int(float(budget) * GIB)) / GIB


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the commands and estimates only")
    parser.add_argument("--out", type=Path, default=Path(project_root()) / "outputs" / "gpu-check")
    args = parser.parse_args(argv)
    plan = CheckPlan(out=args.out.resolve())
    return dry_run(plan) if args.dry_run else check(plan)


if __name__ == "__main__":
    raise SystemExit(main())
