"""Hydra callback for multiruns: a result file per job, and a summary of all jobs kept current after each one.

Each job (wherever the launcher runs it: in process or as a SLURM job) writes `result.json` in its own
folder, then rewrites `summary.csv` / `summary.json` in the sweep folder from every job's result so far,
sorted by best validation SSIM. That happens in `on_job_end`, which Hydra calls for failed jobs too: after
a failure Hydra skips `on_multirun_end`, which only prints the final table. Jobs of one multirun share a W&B
group named after the sweep folder.
"""

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from fastmri_pl.runs.atomic import write_atomically

RESULT_FILE = "result.json"
SUMMARY_FIELDS = ("job", "status", "best_val_ssim", "varied", "overrides", "folder")
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


def is_rank_zero() -> bool:
    """Only the first process of a (DDP / multi-task SLURM) job reports its result."""
    return all(os.environ.get(name, "0") == "0" for name in RANK_VARIABLES)


def job_result(job_return: JobReturn) -> dict[str, Any]:
    """The row of one finished job: its overrides, status and the value `train` returned (best val SSIM)."""
    runtime = job_return.hydra_cfg.hydra.runtime
    value, status = None, "completed"
    try:
        value = job_return.return_value  # re-raises the job's exception when it failed
    except Exception as error:
        first_line = next(iter(str(error).strip().splitlines()), "")
        status = f"failed: {type(error).__name__}: {first_line}".rstrip(": ")
    return {
        "job": int(job_return.hydra_cfg.hydra.job.get("num", 0) or 0),
        "status": status,
        "best_val_ssim": None if value is None else float(value),
        "overrides": " ".join(job_return.overrides or []),
        "folder": str(runtime.output_dir),
    }


def read_results(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every job's `result.json` under the sweep folder, best SSIM first (failed and empty jobs last).

    `varied` keeps the overrides that differ between jobs (the swept ones), which the table shows.
    """
    rows = [json.loads(path.read_text()) for path in sweep_dir.glob(f"*/{RESULT_FILE}")]

    def rank(row: dict[str, Any]) -> tuple[float, int]:
        value = row["best_val_ssim"]
        return (-value if value is not None and math.isfinite(value) else math.inf, row["job"])

    common = set.intersection(*(set(row["overrides"].split()) for row in rows)) if len(rows) > 1 else set()
    for row in rows:
        row["varied"] = " ".join(o for o in row["overrides"].split() if o not in common)
    return sorted(rows, key=rank)


def write_atomic(path: Path, text: str) -> None:
    """A reader (or a concurrent SLURM job) sees the old file or the new one, never half of one."""
    write_atomically(path, text.encode())


def write_summary(sweep_dir: Path, rows: list[dict[str, Any]]) -> tuple[Path, Path]:
    csv_path, json_path = sweep_dir / "summary.csv", sweep_dir / "summary.json"
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(csv_path, table.getvalue())
    write_atomic(json_path, json.dumps({"best": rows[0] if rows else None, "jobs": rows}, indent=2))
    return csv_path, json_path


def print_summary_table(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("job", "best val SSIM", "overrides (varied)", "status"):
        table.add_column(column)
    for row in rows:
        value = row["best_val_ssim"]
        ssim = "" if value is None else f"{value:.4f}"
        table.add_row(str(row["job"]), ssim, row["varied"], row["status"])
    Console().print(table)


class MultirunSummary(Callback):
    """`hydra.callbacks` entry: per-job `result.json`, sweep-wide summary files after every job, the final
    table, W&B grouping."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        if config.hydra.mode == RunMode.MULTIRUN:
            os.environ["WANDB_RUN_GROUP"] = f"{config.hydra.job.name}-{Path(config.hydra.sweep.dir).name}"
            os.environ["WANDB_NAME"] = f"{config.hydra.job.num}:{config.hydra.job.override_dirname}"

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN or not is_rank_zero():
            return
        row = job_result(job_return)
        write_atomic(Path(row["folder"]) / RESULT_FILE, json.dumps(row, indent=2))
        write_summary(Path(config.hydra.sweep.dir), read_results(Path(config.hydra.sweep.dir)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = read_results(sweep_dir)
        csv_path, _ = write_summary(sweep_dir, rows)
        print_summary_table(rows, f"multirun summary ({len(rows)} jobs): {csv_path}")
