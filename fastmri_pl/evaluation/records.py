"""The files an evaluation leaves: metrics.json (the summary) and metrics_per_volume.csv, written atomically.

Each file is written to a temporary file in the same folder, synced and renamed over the target
(`fastmri_pl.runs.atomic`), so a reader (a sweep, a CI job) never sees half a file and a full disk is one
line. A perfect reconstruction has infinite PSNR, which JSON cannot hold: non-finite values are written as
null.
"""

import csv
import io
import json
import math
from pathlib import Path

from fastmri_pl.evaluation.scoring import VolumeScore
from fastmri_pl.runs.atomic import write_atomically

METRICS_JSON = "metrics.json"
PER_VOLUME_CSV = "metrics_per_volume.csv"
CSV_COLUMNS = ("acc", "file", "slices", "ssim", "psnr", "nmse")


def _finite_or_none(value: float | int) -> float | int | None:
    return value if math.isfinite(value) else None


def write_metrics_json(out_dir: Path, summary: dict[str, dict[str, float | int]], aggregation: str) -> Path:
    """`{"aggregation": "slices"|"volumes", <group>: {...}, ..., "total": {...}}`: the summary and how its
    SSIM was averaged, so that two files are compared only when they were averaged alike."""
    rows: dict[str, object] = {"aggregation": aggregation}
    rows.update(
        (group, {key: _finite_or_none(value) for key, value in row.items()}) for group, row in summary.items()
    )
    path = out_dir / METRICS_JSON
    write_atomically(path, (json.dumps(rows, indent=2, allow_nan=False) + "\n").encode())
    return path


def write_per_volume_csv(out_dir: Path, scores: list[VolumeScore]) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for score in scores:
        writer.writerow([score.pair.group, score.pair.name, score.slices, score.ssim, score.psnr, score.nmse])
    path = out_dir / PER_VOLUME_CSV
    write_atomically(path, buffer.getvalue().encode())
    return path
