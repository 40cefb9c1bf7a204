"""Stand-in folders for the organisers' repository (LISTatSNU/FastMRI_challenge), written here from its
contract as /work/notes/harness.md describes it (it has no licence: nothing of theirs is copied).

2026: `recon_eval.py` imports `INPUT_KIND, load_model, prep_volume, recon_slice` from the team's
`utils/learning/test_part.py` with `utils/model/` put on `sys.path` first, loads the model once with its
argparse arguments (`args.exp_dir = ../result/<net>/checkpoints`), and per acceleration (acc4 then acc8) per
image file (sorted, every entry of `image/`): untimed `prep_volume`, 5 untimed warm-up slices on the same ctx,
then every slice timed alone between CUDA synchronisations, all under `torch.no_grad()`; it scores SSIM_full
(the SSIM map of recon*m vs target*m averaged over the mask's valid interior, a slice with an empty mask
skipped) and SSIM_bbox (each lesion box of `attrs['annotations'][str(s)]`, clipped, boxes under 7 px skipped,
unmasked crops), pooled per acceleration (an acceleration with nothing scored gives 0.0), the totals the mean
of the two accelerations, and the time pooled over every slice; it saves the outputs to
`../result/<net>/reconstructions_leaderboard/accN/<image file name>` and prints the same lines. The SSIM
arithmetic of the placeholder `utils/common/metrics.py` is this project's (`fastmri_pl.mri`).
2023-2025: a `leaderboard_eval.py` that reads the year's submission folders by the image files' names, and
holds the text by which `fastmri_pl.submission.harness` tells the years apart.
"""

from pathlib import Path

RECON_EVAL = """\
import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(1, os.getcwd() + "/utils/model/")

import h5py
import numpy as np
import torch

from utils.common.metrics import SSIM, foreground_mask, ssim_bbox, ssim_full
from utils.learning.test_part import INPUT_KIND, load_model, prep_volume, recon_slice

WARMUP_SLICES = 5
VOLUME_TIME_WARN_S = 60.0


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def run_acc(args, model, ssim, device, acc):
    image_dir = args.path_data / acc / "image"
    kspace_dir = args.path_data / acc / "kspace"
    full, boxes, times, outputs, slow, count = [], [], [], {}, 0, 0
    for img_path in sorted(image_dir.iterdir()):
        with h5py.File(img_path, "r") as f:
            label = f["image_label"][()]
            maximum = f.attrs["max"]
            annotations = json.loads(f.attrs.get("annotations", "{}"))
        ks_path = kspace_dir / img_path.name
        ctx = prep_volume(img_path, ks_path if ks_path.exists() else None, device)
        n = ctx["num_slices"]
        outs, volume_time = [], 0.0
        with torch.no_grad():
            for s in range(min(WARMUP_SLICES, n)):
                recon_slice(model, ctx, s)
            for s in range(n):
                _sync()
                t0 = time.perf_counter()
                out = recon_slice(model, ctx, s)
                _sync()
                dt = time.perf_counter() - t0
                times.append(dt)
                volume_time += dt
                outs.append(out)
        if volume_time > VOLUME_TIME_WARN_S:
            slow += 1
        for s in range(n):
            target = torch.from_numpy(label[s]).to(device)
            mask = torch.from_numpy(foreground_mask(label[s])).float().to(device)
            value = ssim_full(ssim, outs[s], target, mask, maximum)
            if value is not None:
                full.append(value)
            for box in annotations.get(str(s), []):
                value = ssim_bbox(ssim, outs[s], target, box, maximum)
                if value is not None:
                    boxes.append(value)
        outputs[img_path.name] = torch.stack(outs).cpu().numpy()
        count += n
    save_dir = Path("../result") / args.net_name / "reconstructions_leaderboard" / acc
    save_dir.mkdir(parents=True, exist_ok=True)
    for name, stacked in outputs.items():
        with h5py.File(save_dir / name, "w") as f:
            f.create_dataset("reconstruction", data=stacked)
    mean_ms = statistics.mean(times) * 1e3
    return (
        sum(full) / len(full) if full else 0.0,
        sum(boxes) / len(boxes) if boxes else 0.0,
        mean_ms,
        mean_ms * count / 1e3,
        slow,
        count,
    )


def main():
    parser = argparse.ArgumentParser(formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("-g", "--GPU_NUM", type=int, default=0)
    parser.add_argument("-n", "--net_name", type=Path, default="test_varnet")
    parser.add_argument("-p", "--path_data", type=Path, default="/Data/leaderboard/")
    parser.add_argument("--cascade", type=int, default=1)
    parser.add_argument("--chans", type=int, default=9)
    parser.add_argument("--sens_chans", type=int, default=4)
    parser.add_argument("--input_key", type=str, default="kspace")
    args = parser.parse_args()
    args.exp_dir = "../result" / args.net_name / "checkpoints"
    assert (args.path_data / "acc4").is_dir() and (args.path_data / "acc8").is_dir()
    device = torch.device(f"cuda:{args.GPU_NUM}" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        torch.cuda.set_device(device)
    model = load_model(args, device)
    ssim = SSIM().to(device)
    f4, b4, ms4, t4, slow4, n4 = run_acc(args, model, ssim, device, "acc4")
    f8, b8, ms8, t8, slow8, n8 = run_acc(args, model, ssim, device, "acc8")
    total = t4 + t8
    print("Leaderboard SSIM_full : {:.4f}".format((f4 + f8) / 2))
    print("Leaderboard SSIM_bbox : {:.4f}".format((b4 + b8) / 2))
    print("Leaderboard Recon Time : {:.2f}s ({:.1f} ms/slice)".format(total, total * 1e3 / (n4 + n8)))
    print("=" * 10 + " Details " + "=" * 10)
    print("SSIM_full (acc4): {:.4f}   SSIM_full (acc8): {:.4f}".format(f4, f8))
    print("SSIM_bbox (acc4): {:.4f}   SSIM_bbox (acc8): {:.4f}".format(b4, b8))
    print("Recon Time (acc4): {:.2f}s ({:.1f} ms/slice)   (acc8): {:.2f}s ({:.1f} ms/slice)".format(
        t4, ms4, t8, ms8))
    print("Recon Time (total): {:.2f}s".format(total))
    if slow4 + slow8:
        print("[WARNING] {} volume(s) exceeded {:.0f}s of forward time (acc4: {}, acc8: {})".format(
            slow4 + slow8, VOLUME_TIME_WARN_S, slow4, slow8))


if __name__ == "__main__":
    main()
"""

METRICS = '''\
"""Placeholder for the organisers' fixed metrics, with the SSIM arithmetic of fastmri_pl.mri."""

import torch
from torch import nn

from fastmri_pl.mri.foreground import snu_foreground_mask
from fastmri_pl.mri.ssim import ssim_map

WIN_SIZE = 7


class SSIM(nn.Module):
    def forward(self, X, Y, data_range):
        if X.dim() != 2 or Y.dim() != 2:
            raise ValueError("2-D images only")
        if X.dtype != torch.float32:
            raise RuntimeError("the organisers' conv2d weight is float32")
        return ssim_map(X[None], Y[None], float(data_range), win_size=WIN_SIZE)[0]


def foreground_mask(target):
    return snu_foreground_mask(torch.from_numpy(target), 2e-5).numpy().astype("float64")


def ssim_full(ssim, recon, target, mask, data_range):
    ssim_values = ssim(recon * mask, target * mask, data_range)
    r = WIN_SIZE // 2
    valid = mask[r:-r, r:-r]
    if valid.sum() <= 0:
        return None
    return float((ssim_values * valid).sum() / valid.sum())


def ssim_bbox(ssim, recon, target, box, data_range):
    height, width = target.shape
    x0, y0 = max(0, box["x"]), max(0, box["y"])
    x1, y1 = min(width, box["x"] + box["width"]), min(height, box["y"] + box["height"])
    if x1 - x0 < WIN_SIZE or y1 - y0 < WIN_SIZE:
        return None
    return float(ssim(recon[y0:y1, x0:x1], target[y0:y1, x0:x1], data_range).mean())
'''

BASELINE_TEST_PART = """\
INPUT_KIND = "kspace"


def load_model(args, device):
    raise NotImplementedError("the stand-in baseline: a submission replaces this file")


def prep_volume(image_path, kspace_path, device):
    raise NotImplementedError


def recon_slice(model, ctx, s):
    raise NotImplementedError
"""

# the organisers' model folder is put first on sys.path: a package of ours named like one of theirs would be
# shadowed; importing this one fails loudly
SHADOWING_PACKAGE = 'raise ImportError("utils/model/fastmri shadows a top-level fastmri")\n'
REQUIREMENTS = "torch\nnumpy\nrequests\ntqdm\nh5py\nscikit-image\npyyaml\nopencv-python\nmatplotlib"

LEADERBOARD_EVAL = {
    2023: """\
import sys
from pathlib import Path
import h5py
FOLDERS = {"acc4": "acc4", "acc8": "acc8"}
""",
    2024: """\
import os
import sys
from pathlib import Path
import h5py
PUBLIC = ("acc4", "acc5", "acc8")
def folders(lp):
    entries = sorted(os.listdir(lp))
    assert len(entries) == 2
    public = next(e for e in entries if e in PUBLIC)
    private = next(e for e in entries if e != public)
    return {public: "public", private: "private"}
""",
    2025: """\
import sys
from pathlib import Path
import h5py
FOLDERS = {"acc4": "acc4", "acc8": "acc8"}
NAMES = ("brain_test", "knee_test")
""",
}
# 2023-2025: every image file must have a same-named float32 reconstruction of the same shape
LEADERBOARD_CHECK = """\
def check(lp, yp, mapping):
    for acc, folder in mapping.items():
        for image in sorted((Path(lp) / acc / "image").glob("*.h5")):
            with h5py.File(image, "r") as target, h5py.File(Path(yp) / folder / image.name, "r") as recon:
                assert recon["reconstruction"].dtype == "float32", image.name
                assert recon["reconstruction"].shape == target["image_label"].shape, image.name
    print("Leaderboard folders : ok")


if __name__ == "__main__":
    lp, yp = sys.argv[1], sys.argv[2]
    check(lp, yp, folders(lp) if "folders" in globals() else FOLDERS)
"""


def write_stand_in_harness(folder: Path, year: int = 2026) -> Path:
    """A stand-in for the user's clone of the organisers' branch of `year`; returns the folder."""
    files = {
        "README.md": f"# SNU FastMRI Challenge {year} (stand-in)\n\nThe organisers' README.\n",
        "requirements.txt": REQUIREMENTS,
        "train.py": "raise SystemExit('the baseline training script')\n",
        "train.sh": "python train.py -b 1 -e 5 -n 'test_Varnet'\n",
        "utils/common/loss_function.py": "# the SSIM loss the metric derives from\n",
        "utils/model/varnet.py": "# the organisers' VarNet\n",
        "utils/model/fastmri/__init__.py": SHADOWING_PACKAGE,
    }
    if year == 2026:
        files |= {
            "recon_eval.py": RECON_EVAL,
            "utils/common/metrics.py": METRICS,
            "utils/learning/test_part.py": BASELINE_TEST_PART,
            "leaderboard_eval.py": "# the reference scorer\n",
        }
    else:
        files |= {
            "leaderboard_eval.py": LEADERBOARD_EVAL[year] + LEADERBOARD_CHECK,
            "utils/learning/test_part.py": "# the baseline's forward()\n",
        }
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "docs").mkdir(exist_ok=True)
    (folder / "docs" / "fastmri_folder_structure.png").write_bytes(bytes(range(256)) * 4)
    return folder
