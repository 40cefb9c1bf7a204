"""The organisers' 2026 harness vs `reconstruct challenge=2026 evaluate=true`: ms per slice on this CPU with
the same threads, and the two SSIMs, on the same checkpoint and data.

    python benchmarks/harness_timing.py [--model promptmr_small] [--threads 1] [--repeats 3]

A random-weight `--model` (seeded) is exported by `submit` from a stand-in of the organisers' repository
(tests/helpers/stand_in_harness.py, written from its contract: 5 warm-up slices per volume on the same ctx,
one `recon_slice` per timed slice); the synthetic knee leaderboard (`data=synthetic_knee`: 2 volumes x 8
slices per acceleration, 4 and 6 coils, 160 x 92/88 k-space, 96 x 96 targets: the organisers' 2026 geometry at
1/4) is generated in a temporary folder; the export's output crop is the targets' size. Each
repeat runs the stand-in's `recon_eval.py` (from the exported repository) and `reconstruct` as subprocesses
with `OMP_NUM_THREADS=--threads`, in alternating order, and reads the harness's printed `ms/slice` and
reconstruct's `metrics.json` `total.ms_per_slice`. Prints each repeat, the medians and harness / ours.
Run it from the repository root on an otherwise idle machine.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.synthetic import ensure_synthetic, synthetic_config
from fastmri_pl.submission.export import export_submission

# the stand-in harness and the random checkpoint are the tests' (tests/helpers): one copy of each
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers.random_checkpoint import random_checkpoint  # noqa: E402
from tests.helpers.stand_in_harness import write_stand_in_harness  # noqa: E402

NET = "bench"
PRINTED_MS = re.compile(r"^Leaderboard Recon Time : [\d.]+s \(([\d.]+) ms/slice\)$", re.M)
PRINTED_SSIM = re.compile(r"^Leaderboard (SSIM_full|SSIM_bbox) : ([\d.]+)$", re.M)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="promptmr_small", help="a conf/model option")
    parser.add_argument("--threads", type=int, default=1, help="OMP_NUM_THREADS of both subprocesses")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args()


def compose_cfg(name: str, overrides: list[str]) -> object:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=overrides)


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def main() -> int:
    args = arguments()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory(prefix="harness_timing_") as folder:
        work = Path(folder)
        data = work / "data"
        knee = compose_cfg("reconstruct", ["data=synthetic_knee"]).data
        ensure_synthetic(data, synthetic_config(layout=knee.layout, **OmegaConf.to_container(knee.synthetic)))
        model = [f"model={args.model}", "hardware=cpu"]
        ckpt = random_checkpoint(work / "random.ckpt", args.model)
        harness = write_stand_in_harness(work / "clone", 2026)
        submit = [*model, f"ckpt_path={ckpt}", f"harness={harness}", f"output_dir={work / 'root'}"]
        crop = "crop=[{},{}]".format(*knee.synthetic.crop)
        cfg = compose_cfg("submit", [*submit, f"net_name={NET}", crop])
        submission = export_submission(cfg, args.model, model)
        harness_command = [sys.executable, "recon_eval.py", "-n", NET, "-p", str(data / "leaderboard")]
        ours_dir = work / "reconstruct"
        ours_command = [sys.executable, "-m", "fastmri_pl.reconstruct", *model, f"ckpt_path={ckpt}"]
        ours_command += [
            "challenge=2026",
            f"data.root={data}",
            "evaluate=true",
            "num_worst=0",
            "progress=false",
        ]
        ours_command += [f"output_dir={ours_dir}", "overwrite=true", f"hydra.run.dir={work / 'run'}"]
        times: dict[str, list[float]] = {"harness": [], "ours": []}
        for repeat in range(args.repeats):
            order = ("harness", "ours") if repeat % 2 == 0 else ("ours", "harness")
            for name in order:
                if name == "harness":
                    printed = run(harness_command, submission.repository, env)
                    (ms,) = PRINTED_MS.findall(printed)
                    ssims = dict(PRINTED_SSIM.findall(printed))
                else:
                    run(ours_command, Path.cwd(), env)
                    total = json.loads((ours_dir / "metrics.json").read_text())["total"]
                    ms = total["ms_per_slice"]
                times[name].append(float(ms))
            last = {name: values[-1] for name, values in times.items()}
            print(f"repeat {repeat + 1}: harness {last['harness']:.1f} ms/slice, ours {last['ours']:.1f}")
    harness_ms, ours_ms = (statistics.median(times[name]) for name in ("harness", "ours"))
    print(f"model={args.model}, synthetic knee leaderboard, {args.threads} thread(s), CPU")
    ratio = harness_ms / ours_ms
    print(f"median ms/slice: harness {harness_ms:.1f}, reconstruct {ours_ms:.1f}; harness / ours {ratio:.3f}")
    print(
        f"SSIM_full: harness {ssims['SSIM_full']}, reconstruct {total['ssim_full']:.4f}; "
        f"SSIM_bbox: harness {ssims['SSIM_bbox']}, reconstruct {total['ssim_bbox']:.4f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
