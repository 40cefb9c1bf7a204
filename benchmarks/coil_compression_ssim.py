"""What coil compression (`data.virtual_coils`) costs in leaderboard SSIM on the synthetic data, zero-filled.

    .venv/bin/python benchmarks/coil_compression_ssim.py [--coils 16] [--virtual 4 8 12] [--root DIR]

Writes a synthetic SNU-layout leaderboard (4 volumes per acceleration, 4x and 8x, `--coils` coils, 160 x 84/80
k-space, crop 80) under --root (a temporary folder by default), then runs `python -m fastmri_pl.reconstruct
model=zero_filled ... evaluate=true` once without compression and once per virtual coil count, and prints the
masked SSIM per acceleration. Zero-filled: the RSS of the compressed coils shows what the projection itself
loses; a trained network's cost can differ (it also loses the discarded coils' information, but learns).
"""

import argparse
import json
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.reconstruct import reconstruct_and_score


def score(root: Path, out: Path, coils: int, virtual_coils: int | None) -> dict:
    overrides = [
        "model=zero_filled",
        "data=synthetic",
        f"data.root={root}",
        "data.synthetic.num_train=0",
        "data.synthetic.num_val=0",
        "data.synthetic.num_leaderboard=4",
        f"data.synthetic.coils=[{coils}]",
        f"data.virtual_coils={'null' if virtual_coils is None else virtual_coils}",
        f"output_dir={out}",
        "evaluate=true",
        "num_worst=0",
        "progress=false",
    ]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        reconstruct_and_score(compose("reconstruct", overrides=overrides))
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--coils", type=int, default=16)
    parser.add_argument("--virtual", type=int, nargs="+", default=[4, 8, 12])
    parser.add_argument("--root", type=Path, help="synthetic data folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = args.root or Path(folder) / "data"
        rows = {n: score(root, Path(folder) / f"out_{n}", args.coils, n) for n in [None, *args.virtual]}
    print(f"\nzero-filled, synthetic leaderboard, {args.coils} coils, masked SSIM (data.virtual_coils):")
    print("| virtual coils | acc4 SSIM | acc8 SSIM | total SSIM | total PSNR |")
    print("|---|---|---|---|---|")
    for n, metrics in rows.items():
        label = f"off ({args.coils})" if n is None else str(n)
        print(
            f"| {label} | {metrics['acc4']['ssim']:.4f} | {metrics['acc8']['ssim']:.4f} | "
            f"{metrics['total']['ssim']:.4f} | {metrics['total']['psnr']:.2f} dB |"
        )


if __name__ == "__main__":
    main()
