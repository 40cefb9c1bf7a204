"""Print the quick start's results as the README and docs/challenge.md hold them: `make train`'s validation
scores and the synthetic leaderboard of zero-filled against the quick start's model.

    .venv/bin/python benchmarks/synthetic_results.py [--root DIR]

In a fresh project root (a temporary one by default; `FASTMRI_PL_ROOT`), runs the commands a user runs:
`python -m fastmri_pl.train experiment=quickstart` (what `make train` runs, with `logger=csv` to read its
scores back), then `python -m fastmri_pl.reconstruct data=synthetic ... evaluate=true` for `model=zero_filled`
and for `model=varnet_small` with the run's best checkpoint, and prints the validation line and the
leaderboard table (masked SSIM, challenge=2024's rule; forward ms per slice on this machine, `--threads`
torch threads, one by default). Wall time and the load average are printed last: the SSIMs do not depend on
the machine's load, the times do.
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GROUPS = ("acc4", "acc8", "total")


def run(command: list[str], root: Path, threads: int) -> None:
    env = {
        **os.environ,
        "FASTMRI_PL_ROOT": str(root),
        "WANDB_MODE": "offline",
        "OMP_NUM_THREADS": str(threads),
    }
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=root, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"error: {' '.join(command)} failed:\n{result.stderr[-3000:]}")


def validation_scores(run_dir: Path) -> dict[str, float]:
    """The best checkpoint's validation row of the run's CSV log (`best/...` keys)."""
    rows = list(csv.DictReader((run_dir / "csv" / "metrics.csv").open()))
    best = next(row for row in reversed(rows) if row.get("best/val/ssim"))
    return {
        key.removeprefix("best/"): float(value) for key, value in best.items() if value and "best/" in key
    }


def leaderboard_row(label: str, recon_dir: Path) -> str:
    metrics = json.loads((recon_dir / "metrics.json").read_text())
    ssims = " | ".join(f"{metrics[group]['ssim']:.4f}" for group in GROUPS)
    return (
        f"| {label} | {ssims} | {metrics['total']['psnr']:.2f} dB | {metrics['total']['ms_per_slice']:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, help="project root to work in (default: a temporary one)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of the commands (1: a shared machine's load stalls "
        "a second thread at every parallel region)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        root = (args.root or Path(folder)).resolve()
        run_dir = root / "outputs" / "quickstart"
        run(
            ["fastmri_pl.train", "experiment=quickstart", "logger=csv", f"hydra.run.dir={run_dir}"],
            root,
            args.threads,
        )
        scores = validation_scores(run_dir)
        best = next(path for path in (run_dir / "checkpoints").glob("epoch*.ckpt"))
        models = {
            "`model=zero_filled`": ["model=zero_filled"],
            "`model=varnet_small`, the quick start's best checkpoint": [
                "model=varnet_small",
                f"ckpt_path={best}",
            ],
        }
        rows = []
        for index, (label, overrides) in enumerate(models.items()):
            out = root / "outputs" / f"leaderboard{index}"
            run(
                [
                    "fastmri_pl.reconstruct",
                    "data=synthetic",
                    *overrides,
                    "evaluate=true",
                    "num_worst=0",
                    f"output_dir={out}",
                ],
                root,
                args.threads,
            )
            rows.append(leaderboard_row(label, out))
    print(
        f"quick start (experiment=quickstart): validation SSIM {scores['val/ssim']:.4f} vs zero-filled "
        f"{scores['val_zf/ssim']:.4f} (leaderboard-masked {scores['val/ssim_masked']:.4f} vs "
        f"{scores['val_zf/ssim_masked']:.4f}; PSNR {scores['val/psnr']:.2f} vs "
        f"{scores['val_zf/psnr']:.2f} dB)\n"
    )
    print("| reconstruction | acc4 SSIM | acc8 SSIM | total SSIM | total PSNR | forward ms per slice |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print(
        f"\n({time.perf_counter() - started:.0f} s on {os.uname().nodename}, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
