"""A submission run as the organisers run it: a stand-in of their harness (tests/helpers/stand_in_harness.py,
written from its contract) in a subprocess from the exported repository, with this project installed from the
shipped wheel; its printed SSIM_full / SSIM_bbox equal `reconstruct challenge=2026 evaluate=true`'s; train.sh
re-trains and repacks; a 2024 submission holds the folders that year's scorer reads, and the README's command
reproduces them."""

import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.synthetic import SyntheticConfig
from fastmri_pl.reconstruct import reconstruct_and_score
from fastmri_pl.submission.export import Submission, export_submission
from fastmri_pl.submission.model_file import read_model_file
from tests.helpers.random_checkpoint import random_checkpoint
from tests.helpers.stand_in_harness import write_stand_in_harness

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

NET = "team_a"
PRINTED = {
    "ssim_full": re.compile(r"^Leaderboard SSIM_full : (\d\.\d{4})$", re.M),
    "ssim_bbox": re.compile(r"^Leaderboard SSIM_bbox : (\d\.\d{4})$", re.M),
    "time": re.compile(r"^Leaderboard Recon Time : (\d+\.\d{2})s \((\d+\.\d) ms/slice\)$", re.M),
}


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def compose_cfg(name: str, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(name, overrides=list(overrides))


def export(tmp_path: Path, year: int, data: Path, *overrides: str) -> Submission:
    """Export into tmp_path/root (the organisers' <root>), its Data/ the given data folder."""
    harness = write_stand_in_harness(tmp_path / "clone", year)
    root = tmp_path / "root"
    cfg = compose_cfg(
        "submit",
        f"challenge={year}",
        f"harness={harness}",
        f"output_dir={root}",
        f"net_name={NET}",
        *overrides,
    )
    model = next(o.partition("=")[2] for o in overrides if o.startswith("model="))
    submission = export_submission(cfg, model, list(overrides))
    (root / "Data").symlink_to(data)
    return submission


def wheel_venv(submission: Submission, folder: Path) -> Path:
    """A fresh venv with fastmri_pl installed from the submission's wheel, named as its requirements.txt
    names it (from the repository folder); the other requirements come from this interpreter's packages."""
    venv = folder / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], folder)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], folder)
    Path(site.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel_line = (submission.repository / "requirements.txt").read_text().splitlines()[-1]
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index"]
    run([*pip, wheel_line], submission.repository)
    return venv


def venv_env(venv: Path) -> dict[str, str]:
    """Only the wheel's fastmri_pl importable; `python` on PATH is the venv's (train.sh calls `python`)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return env | {"PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def promptmr_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "random.ckpt", "promptmr_small")


def knee_crop(config: SyntheticConfig) -> str:
    """The `crop` override of the knee data's targets (wider than their k-space, as the organisers')."""
    return f"crop=[{config.crop[0]},{config.crop[1]}]"


def test_the_harness_prints_reconstructs_scores_from_the_shipped_wheel(
    tmp_path: Path, data_knee_root: Path, data_knee_config: SyntheticConfig, promptmr_ckpt: Path
) -> None:
    model = ("model=promptmr_small", "hardware=cpu", f"ckpt_path={promptmr_ckpt}")
    submission = export(tmp_path, 2026, data_knee_root, *model, knee_crop(data_knee_config))
    venv = wheel_venv(submission, tmp_path)
    where = run(
        [str(venv / "bin" / "python"), "-c", "import fastmri_pl; print(fastmri_pl.__file__)"], tmp_path
    )
    assert Path(where.strip()).is_relative_to(venv)
    command = [str(venv / "bin" / "python"), "recon_eval.py", "-n", NET, "-p", "../Data/leaderboard"]
    printed = run(command, submission.repository, venv_env(venv))
    ours = tmp_path / "reconstruct"
    cfg = compose_cfg(
        "reconstruct",
        *model,
        "challenge=2026",
        f"data.root={data_knee_root}",
        f"output_dir={ours}",
        "evaluate=true",
        "num_worst=0",
        "progress=false",
    )
    reconstruct_and_score(cfg)
    total = json.loads((ours / "metrics.json").read_text())["total"]
    for key in ("ssim_full", "ssim_bbox"):
        (value,) = PRINTED[key].findall(printed)
        assert abs(float(value) - total[key]) <= 0.5e-4 + 1e-9, (key, value, total[key])
    ((seconds, ms_per_slice),) = PRINTED["time"].findall(printed)
    assert float(seconds) > 0 and float(ms_per_slice) > 0
    # the harness saved what reconstruct wrote, image for image
    for acc in ("acc4", "acc8"):
        theirs = submission.folder / "result" / NET / "reconstructions_leaderboard" / acc / "knee_test1.h5"
        with h5py.File(theirs, "r") as a, h5py.File(ours / acc / "knee_test1.h5", "r") as b:
            np.testing.assert_array_equal(a["reconstruction"][()], b["reconstruction"][()])


def test_train_sh_retrains_and_packs_the_best_checkpoint(
    tmp_path: Path, data_knee_root: Path, data_knee_config: SyntheticConfig, promptmr_ckpt: Path
) -> None:
    short = [
        "experiment=snu2026_promptmr",
        "model=promptmr_small",
        "~model.net.no_use_ca",
        "hardware=cpu",
        "data.num_workers=0",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=2",
        "callbacks.progress_bar=null",
        "validate_best=false",
    ]
    train_overrides = "train_overrides=[" + ",".join(f"'{o}'" for o in short) + "]"
    crop = knee_crop(data_knee_config)
    model = ("model=promptmr_small", "hardware=cpu", f"ckpt_path={promptmr_ckpt}", crop)
    submission = export(tmp_path, 2026, data_knee_root, *model, train_overrides)
    submitted = read_model_file(submission.model_file)
    venv = wheel_venv(submission, tmp_path)
    run(["sh", "train.sh"], submission.repository, venv_env(venv))
    repacked = read_model_file(submission.model_file)
    best = list((submission.folder / "result" / NET / "train" / "checkpoints").glob("epoch*.ckpt"))
    assert [Path(repacked["trained_from"]).name] == [p.name for p in best]
    assert repacked["config"] == submitted["config"]
    assert any(not torch.equal(repacked["model"][k], v) for k, v in submitted["model"].items())
    kept = read_model_file(submission.model_file.with_name("best_model_submitted.pt"))
    assert kept["trained_from"] == str(promptmr_ckpt)


def test_2024_submission_holds_the_folders_its_scorer_reads_and_the_readme_reproduces_them(
    tmp_path: Path, data_snu_root: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "leaderboard").mkdir()
    (data / "leaderboard" / "acc4").symlink_to(data_snu_root / "leaderboard" / "acc4")
    (data / "leaderboard" / "acc9").symlink_to(data_snu_root / "leaderboard" / "acc8")
    ckpt = random_checkpoint(tmp_path / "varnet.ckpt", "varnet_small")
    model = ["model=varnet_small", "hardware=cpu", "crop=null"]
    submission = export(
        tmp_path, 2024, data, *model, f"ckpt_path={ckpt}", f"data.root={data}", "progress=false"
    )
    shipped = submission.folder / "result" / NET / "reconstructions_leaderboard"
    assert sorted(p.relative_to(shipped).as_posix() for p in shipped.rglob("*.h5")) == [
        "private/brain_test1.h5",
        "public/brain_test1.h5",
    ]
    yp = f"../result/{NET}/reconstructions_leaderboard"
    scorer = [sys.executable, "leaderboard_eval.py", "../Data/leaderboard", yp]
    assert "Leaderboard folders : ok" in run(scorer, submission.repository)
    readme = (submission.repository / "README.md").read_text()
    (command,) = re.findall(r"^python -m fastmri_pl\.reconstruct .*$", readme, re.M)
    assert "challenge=2024" in command and f"ckpt_path=../result/{NET}/checkpoints/best_model.pt" in command
    before = {path: read_reconstruction(path) for path in shipped.rglob("*.h5")}
    arguments = shlex.split(command)[1:] + ["progress=false", f"hydra.run.dir={tmp_path / 'run'}"]
    run([sys.executable, *arguments], submission.repository)
    for path, images in before.items():
        np.testing.assert_array_equal(read_reconstruction(path), images)


def read_reconstruction(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["reconstruction"][()]
