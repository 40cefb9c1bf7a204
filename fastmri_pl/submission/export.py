"""The submission folder `submit` writes: the organisers' repository with this project's model in it.

OUT/FastMRI_challenge: the user's clone of the organisers' branch, every file byte-identical except those a
team edits: 2026 `utils/learning/test_part.py` (this package's `test_part.py`, verbatim), `train.sh`
(re-training), and every year `README.md` (our section on top of theirs) and `requirements.txt` (theirs plus
this project's wheel, shipped in `wheels/`). OUT/result/<net_name>/checkpoints/best_model.pt: the weights and
the network's config (`model_file`). 2023-2025 also OUT/result/<net_name>/reconstructions_leaderboard/: the
leaderboard reconstructed by `reconstruct` with `submission=true`, the folders that year's unchanged
`leaderboard_eval.py` scores (the per-acceleration copies `reconstruct` writes beside them stay too).
The folder is assembled under a temporary name beside OUT and renamed into place when complete: a failure
leaves no half submission, and with overwrite=true the earlier OUT is replaced only by a complete one.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console

from fastmri_pl.challenge.rules import load_rules
from fastmri_pl.errors import DataError
from fastmri_pl.memory.auto import fixed_inference_sample, resolve_levers, resolve_reconstruct_levers
from fastmri_pl.reconstruct import reconstruct_and_score
from fastmri_pl.reconstruction.folders import SUBMISSION_DIR
from fastmri_pl.reconstruction.inference import load_net
from fastmri_pl.runs.atomic import write_atomically
from fastmri_pl.submission import instructions
from fastmri_pl.submission.harness import NOT_COPIED, TEST_PART, check_harness
from fastmri_pl.submission.model_file import MODEL_FILE, model_config, save_model_file
from fastmri_pl.submission.wheel import WHEELS_DIR, build_wheel, requirements_text

REPOSITORY_DIR = "FastMRI_challenge"
TEST_PART_SOURCE = Path(__file__).with_name("test_part.py")
RECIPE_2026 = "experiment=snu2026_promptmr"
# overrides of a training run that name the machine it ran on, not the model or its training
MACHINE_KEYS = ("data.root", "hydra.", "paths.", "ckpt_path", "logger", "hardware=", "print_config")
# overrides of the submit command that say which network and inference settings reconstruct must use
MODEL_KEYS = ("model", "data.readout_crop", "data.virtual_coils", "hardware", "sens_maps_once", "crop")


@dataclass(frozen=True)
class Submission:
    """What `export_submission` wrote: the folder and, inside it, the repository and the model file."""

    folder: Path
    repository: Path
    model_file: Path
    train_overrides: tuple[str, ...]


def check_net_name(net_name: object) -> str:
    """The organisers' `-n` becomes a folder name under result/: one plain name, no path."""
    name = str(net_name)
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name.strip() or name in (".", "..") or any(s in name for s in separators) or "\0" in name:
        raise DataError("net_name", f"{name!r} must be a plain folder name (no path separator)")
    return name


def check_new_output(output_dir: object, overwrite: bool, harness: Path) -> Path:
    """OUT must not exist (unless overwrite) and must not lie inside the harness or hold it."""
    out = Path(str(output_dir)).expanduser().resolve()
    if out.exists() and not overwrite:
        raise DataError(out, "exists; pass overwrite=true to replace it with the new submission")
    if out == harness or out.is_relative_to(harness) or harness.is_relative_to(out):
        raise DataError(out, f"output_dir and harness ({harness}) must not contain one another")
    return out


def _matching(overrides: list[str], prefixes: tuple[str, ...]) -> list[str]:
    return [o for o in overrides if o.lstrip("+~").startswith(prefixes)]


def _run_file(cfg: DictConfig, name: str) -> Path | None:
    """A file of the checkpoint's run folder (`<run>/checkpoints/x.ckpt` -> `<run>/.hydra/<name>`), if any."""
    path = Path(str(cfg.ckpt_path)).parent.parent / ".hydra" / name if cfg.ckpt_path else None
    return path if path is not None and path.is_file() else None


def check_model_matches_run(cfg: DictConfig) -> None:
    """The network submitted must be the one trained: every `model.net` setting of the checkpoint's training
    run (where its folder says) equals this command's, also those that leave the weights' shapes alone."""
    run_config = _run_file(cfg, "config.yaml")
    if run_config is None:
        return
    trained = OmegaConf.to_container(OmegaConf.load(run_config).model.net, resolve=True)
    given = OmegaConf.to_container(cfg.model.net, resolve=True)
    for key in sorted(set(trained) | set(given)):
        if trained.get(key) != given.get(key):
            raise DataError(
                cfg.ckpt_path,
                f"was trained with model.net.{key}={trained.get(key)}, not {given.get(key)}: submit with the "
                "training run's model settings",
            )


def train_overrides(cfg: DictConfig, model_name: str, submit_overrides: list[str]) -> list[str]:
    """`train_overrides`, else the checkpoint's training run's overrides without its machine's paths, else
    the 2026 recipe with this model."""
    if cfg.get("train_overrides") is not None:
        return [str(o) for o in cfg.train_overrides]
    run_overrides = _run_file(cfg, "overrides.yaml")
    if run_overrides is not None:
        found = [str(o) for o in OmegaConf.load(run_overrides)]
        return [o for o in found if o not in _matching(found, MACHINE_KEYS)]
    return [RECIPE_2026, f"model={model_name}", *_matching(submit_overrides, ("model.",))]


def _staging(out: Path) -> Path:
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    return stage


def _replace(stage: Path, out: Path) -> None:
    """Rename the complete submission into place; an earlier OUT (overwrite=true) goes only after that."""
    old = out.parent / f".{out.name}.old-{os.getpid()}" if out.exists() else None
    if old is not None:
        out.rename(old)
    stage.rename(out)
    if old is not None:
        shutil.rmtree(old)


def _copy_repository(harness: Path, repository: Path) -> None:
    shutil.copytree(harness, repository, symlinks=True, ignore=shutil.ignore_patterns(*NOT_COPIED))


def _write_text(path: Path, text: str, executable: bool = False) -> None:
    write_atomically(path, text.encode())
    if executable:
        path.chmod(0o755)


def _readme(repository: Path, section: str) -> None:
    """Our section on top of the organisers' README (kept below it, unchanged)."""
    theirs = repository / "README.md"
    _write_text(theirs, section + (theirs.read_text() if theirs.is_file() else ""))


def _reconstruct_leaderboard(cfg: DictConfig, result: Path) -> None:
    """2023-2025: the leaderboard reconstructed into `result` (its submission folders included)."""
    run_cfg = cfg.copy()
    with open_dict(run_cfg):
        run_cfg.output_dir = str(result)
        run_cfg.overwrite = False
        run_cfg.submission = True
    reconstruct_and_score(run_cfg)


def reconstruct_command(cfg: DictConfig, net_name: str, model_overrides: list[str]) -> list[str]:
    """The command that reproduces a 2023-2025 submission's reconstructions from its model file."""
    result = instructions.result_dir(net_name)
    return [
        "python",
        "-m",
        "fastmri_pl.reconstruct",
        f"challenge={cfg.challenge}",
        *model_overrides,
        f"ckpt_path={result}/checkpoints/{MODEL_FILE}",
        f"data.root={instructions.DATA_ROOT}",
        f"output_dir={result}",
        "overwrite=true",
        "submission=true",
    ]


def export_submission(
    cfg: DictConfig, model_name: str, submit_overrides: list[str], console: Console | None = None
) -> Submission:
    """The submission a composed `conf/submit.yaml` describes; see the module docstring.

    model_name: the `model=` choice; submit_overrides: the command's overrides (train.sh and the README repeat
    the ones that choose the network).
    """
    console = console or Console()
    year = int(cfg.challenge)
    load_rules(year)  # an unknown year is one line before any work
    net_name = check_net_name(cfg.net_name)
    harness = check_harness(cfg.harness, year)
    out = check_new_output(cfg.output_dir, bool(cfg.overwrite), harness)
    cfg = resolve_levers(cfg)
    net = load_net(cfg, torch.device("cpu"))  # a checkpoint of another model is refused here
    check_model_matches_run(cfg)
    model_overrides = _matching(submit_overrides, MODEL_KEYS)
    overrides = train_overrides(cfg, model_name, submit_overrides) if year == 2026 else []
    stage = _staging(out)
    try:
        repository, result = stage / REPOSITORY_DIR, stage / "result" / net_name
        _copy_repository(harness, repository)
        if year == 2026:
            write_atomically(repository / TEST_PART, TEST_PART_SOURCE.read_bytes())
            _write_text(
                repository / "train.sh", instructions.train_script(net_name, overrides), executable=True
            )
            _readme(repository, instructions.readme_2026(net_name, model_name, overrides))
        else:
            _reconstruct_leaderboard(cfg, result)
            command = reconstruct_command(cfg, net_name, model_overrides)
            _readme(repository, instructions.readme_older(year, net_name, model_name, command))
        wheel = build_wheel(repository / WHEELS_DIR)
        _write_text(repository / "requirements.txt", requirements_text(harness / "requirements.txt", wheel))
        origin = str(cfg.ckpt_path) if cfg.ckpt_path else "no weights"
        inference = resolve_reconstruct_levers(cfg, (fixed_inference_sample(cfg),))
        save_model_file(result / "checkpoints" / MODEL_FILE, net, model_config(inference), origin)
        _replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    submission = Submission(
        out, out / REPOSITORY_DIR, out / "result" / net_name / "checkpoints" / MODEL_FILE, tuple(overrides)
    )
    _print_summary(submission, year, net_name, console)
    return submission


def _print_summary(submission: Submission, year: int, net_name: str, console: Console) -> None:
    console.print(f"submission for challenge={year} in {submission.folder}", soft_wrap=True)
    console.print(f"  model file: {submission.model_file}", soft_wrap=True)
    if year == 2026:
        retrain = " ".join(submission.train_overrides)
        console.print(f"  re-training (train.sh): python -m fastmri_pl.train {retrain}", soft_wrap=True)
        if RECIPE_2026 not in submission.train_overrides:
            console.print(
                f"  warning: the training run did not use {RECIPE_2026}; the organisers' re-training "
                "reproduces only a seed-fixed, deterministic recipe",
                soft_wrap=True,
            )
        command = f"python recon_eval.py -n {net_name} -p ../Data/leaderboard"
    else:
        leaderboard = f"../result/{net_name}/{SUBMISSION_DIR}"
        command = f"python leaderboard_eval.py -lp ../Data/leaderboard -yp {leaderboard}"
    console.print(f"  the organisers' command, from {submission.repository}: {command}", soft_wrap=True)
