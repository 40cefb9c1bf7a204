"""`python -m fastmri_pl.reconstruct model=... ckpt_path=... data=snu data.root=ROOT output_dir=OUT`.

Reconstructs every slice of every `ROOT/leaderboard/acc<N>/kspace/*.h5` volume into
`OUT/acc<N>/<same name>` (dataset `reconstruction`, (slices, h, w) float32), each file written atomically,
timed by the rules of `challenge=2023|2024|2025|2026` (default 2024); `submission=true` also fills that
year's submission folders (see `reconstruction.folders`); `evaluate=true` then scores the reconstructions in
the same command, the forward time per slice included, as the organisers' 2026 `recon_eval` does.
Bad input (missing `mask`, empty or absent leaderboard folders, a non-empty OUT without overwrite=true or
resume=true, an OUT that cannot be created) stops the run with one line on stderr naming the file, exit 2.
Ctrl-C says how many volumes are complete and exits 130; `resume=true` then finishes the rest in the same
OUT, keeping every complete file (`reconstruction.writer.is_complete`) and redoing anything less; its
timings (and with evaluate=true its `ms_per_slice`) cover the volumes reconstructed in that run only.
"""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from torch import nn

from fastmri_pl.challenge.rules import ChallengeRules, load_rules
from fastmri_pl.data.leaderboard import acceleration_folders
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import ensure_synthetic, synthetic_config
from fastmri_pl.data.volumes import Volume
from fastmri_pl.errors import DataError, Stopped, interrupt_exit_code
from fastmri_pl.evaluate import evaluate
from fastmri_pl.memory.auto import reconstruct_plan
from fastmri_pl.memory.card_cache import present_card, with_card_figures
from fastmri_pl.memory.data_shapes import largest, leaderboard_shapes
from fastmri_pl.reconstruction.calibration import calibrate_first_slice
from fastmri_pl.reconstruction.folders import (
    SUBMISSION_DIR,
    check_output_dir,
    submission_folders,
    submission_warnings,
)
from fastmri_pl.reconstruction.inference import (
    compile_for_inference,
    crop_size,
    inference_device,
    inference_settings,
    load_net,
    reconstruct_volume,
)
from fastmri_pl.reconstruction.timing import RunTimings, VolumeTiming, print_timings
from fastmri_pl.reconstruction.writer import (
    copy_atomically,
    is_complete,
    remove_temporaries,
    write_reconstruction,
)
from fastmri_pl.runtime.command import command, rerun_command
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format
from fastmri_pl.runtime.nvml import free_before_cuda

log = logging.getLogger(__name__)


@dataclass
class ReconstructionRun:
    """What a run wrote, filled as it goes: every reconstruction file (submission copies apart; with resume,
    the kept ones too), the timings of the volumes reconstructed, the rules and the device."""

    files: list[Path]
    submission_files: list[Path]
    timings: RunTimings
    rules: ChallengeRules
    device: torch.device = torch.device("cpu")


def _index(cfg: DictConfig) -> dict[str, list[Volume]]:
    """Every acceleration folder's volumes, validated before any work (k-space, `mask`).

    With `data=synthetic` the embedded data is generated first if absent, so the command runs anywhere.
    """
    root = Path(cfg.data.root)
    if cfg.data.get("synthetic"):
        synthetic = OmegaConf.to_container(cfg.data.synthetic, resolve=True)
        ensure_synthetic(root, synthetic_config(**{"layout": cfg.data.layout, **synthetic}))
    return {
        folder.name: index_volumes("snu", folder, require_image=False)
        for folder in acceleration_folders(root)
    }


def reconstruct(cfg: DictConfig, console: Console | None = None) -> ReconstructionRun:
    """The run a composed `conf/reconstruct.yaml` describes; see the module docstring.

    Ctrl-C (or SIGTERM raised as KeyboardInterrupt) ends it with one line saying how many volumes are
    complete and the `resume=true` command that finishes the rest, exit code 128 + the signal's number."""
    console = console or Console()
    started = time.perf_counter()
    rules: ChallengeRules = load_rules(cfg.challenge)
    volumes = _index(cfg)
    submission = submission_folders(rules if cfg.submission else None, list(volumes))
    if submission:
        names = {group: [v.fname for v in volumes[group]] for group in submission}
        for warning in submission_warnings(rules, names):
            log.warning(f"warning: {warning}")
    output_dir = check_output_dir(cfg.output_dir, cfg.overwrite, bool(cfg.resume))
    planned = [
        PlannedVolume(group, volume, crop_size(cfg, volume), output_dir / group / volume.fname)
        for group, group_volumes in volumes.items()
        for volume in group_volumes
    ]
    run = ReconstructionRun([], [], RunTimings(), rules)
    try:
        _reconstruct_planned(cfg, planned, submission, output_dir, run, console)
    except KeyboardInterrupt as interrupt:
        current = planned[len(run.files) : len(run.files) + 1]  # renamed into place just before the stop?
        complete = len(run.files) + sum(is_complete(item.path, item.shape) for item in current)
        raise Stopped(
            _interrupted(complete, len(planned), output_dir), interrupt_exit_code(interrupt)
        ) from None
    run.timings.total_seconds = time.perf_counter() - started
    print_timings(run.timings, rules, str(run.device), console)
    log.info(f"reconstructions in {output_dir}; score them with:")
    # on a line of its own, never wrapped (logging does not wrap): a wrapped command breaks when copied
    evaluate_command = (
        f"python -m fastmri_pl.evaluate challenge={rules.year} data=snu data.root={cfg.data.root} "
        f"recon_dir={output_dir}"
    )
    log.info(evaluate_command)
    return run


def _reconstruct_planned(
    cfg: DictConfig,
    planned: list["PlannedVolume"],
    submission: dict[str, str],
    output_dir: Path,
    run: ReconstructionRun,
    console: Console,
) -> None:
    """Reconstruct every planned volume (with resume, those not complete yet) into `run`, file by file, so
    that an interrupt finds in `run.files` exactly the volumes finished so far."""
    complete = _complete_before(planned, output_dir) if cfg.resume else set()
    run.timings.skipped_volumes = len(complete)
    run.device = device = inference_device(cfg)
    cfg, net = _network(cfg, planned, complete, device, output_dir)
    total_slices = sum(item.volume.num_slices for item in planned if item.path not in complete)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not cfg.progress) as progress:
        task = progress.add_task("reconstructing slices", total=total_slices)
        for item in planned:
            group, volume = item.group, item.volume
            if item.path not in complete:
                volume_start = time.perf_counter()
                settings = inference_settings(cfg, item.crop, device)
                slices = reconstruct_volume(net, volume, settings, run.rules.warmup_slices)
                forward: list[float] = []
                write_reconstruction(
                    item.path, _advancing(slices, volume, progress, task, forward), item.shape
                )
                seconds = time.perf_counter() - volume_start
                kspace_shape = (volume.num_coils, volume.height, volume.width)
                run.timings.volumes.append(
                    VolumeTiming(group, volume.fname, volume.num_slices, kspace_shape, seconds, sum(forward))
                )
                log.info(  # above the progress bar: rich redirects stdout while it is shown
                    f"{group}/{volume.fname}: {volume.num_slices} slices in {seconds:.2f} s "
                    f"(forward {1e3 * sum(forward) / volume.num_slices:.1f} ms/slice)"
                )
            run.files.append(item.path)
            if group in submission:  # a resumed run copies the kept files again: a copy may be missing
                copy = output_dir / SUBMISSION_DIR / submission[group] / volume.fname
                copy_atomically(item.path, copy)
                run.submission_files.append(copy)


def _network(
    cfg: DictConfig,
    planned: list["PlannedVolume"],
    complete: set[Path],
    device: torch.device,
    output_dir: Path,
) -> tuple[DictConfig, nn.Module]:
    """The network with its inference levers (planned for the largest leaderboard volume, with the card's
    measured figures where it was measured before), after the first slice of the largest volume left fitted
    the card (`reconstruction.calibration`); the config with those levers. Says so in one line."""
    card = present_card(cfg.hardware)
    free_before = free_before_cuda(card.index) if card is not None else None  # before CUDA starts
    cfg, card_words = with_card_figures(cfg)
    set_cudnn_benchmark(cfg.hardware)
    readout_crop = bool(cfg.data.get("readout_crop", False))
    cropped = [(item.volume, item.crop) for item in planned]
    samples = leaderboard_shapes(cropped, Path(cfg.data.root), readout_crop, cfg.data.get("virtual_coils"))
    cfg, plan = reconstruct_plan(cfg, samples)

    def build(run_cfg: DictConfig) -> nn.Module:
        net = to_memory_format(load_net(run_cfg, device), run_cfg.hardware)
        return compile_for_inference(net) if run_cfg.get("compile") else net

    net = build(cfg)
    pairs = zip(planned, samples, strict=True)
    left = [(item, sample) for item, sample in pairs if item.path not in complete]
    if left:
        first = largest([sample for _, sample in left])
        item = next(item for item, sample in left if sample is first)
        probe = (item.volume, first, inference_settings(cfg, item.crop, device))
        cfg, net = calibrate_first_slice(cfg, net, build, plan, card, probe, free_before, output_dir)
    log.info(
        f"model {type(net).__name__} on {device}, precision {cfg.hardware.precision}, "
        f"readout crop {'on' if readout_crop else 'off'}" + (f", card: {card_words}" if card_words else "")
    )
    return cfg, net


@dataclass(frozen=True)
class PlannedVolume:
    """One volume to reconstruct: its acceleration folder, its k-space, the output crop and file."""

    group: str
    volume: Volume
    crop: tuple[int, int]
    path: Path

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.volume.num_slices, *self.crop)


def _complete_before(planned: list[PlannedVolume], output_dir: Path) -> set[Path]:
    """resume=true: the output files an earlier run finished (`writer.is_complete`), after removing the
    temporary files a killed run left; every other volume is reconstructed again."""
    removed = remove_temporaries(output_dir)
    complete = {item.path for item in planned if is_complete(item.path, item.shape)}
    incomplete = [item.path for item in planned if item.path.exists() and item.path not in complete]
    log.info(
        f"resume: {len(complete)} of {len(planned)} volumes complete in {output_dir}, kept; reconstructing "
        f"the other {len(planned) - len(complete)}"
        + (f" ({len(incomplete)} incomplete file(s) replaced)" if incomplete else "")
        + (f"; {len(removed)} temporary file(s) of an interrupted write removed" if removed else "")
    )
    return complete


def _interrupted(complete: int, total: int, output_dir: Path) -> str:
    """What an interrupt kept and the command that finishes the rest (on its own line, whole)."""
    command = rerun_command("reconstruct", drop=("resume", "overwrite"), add=["resume=true"])
    command = command or "python -m fastmri_pl.reconstruct <the same arguments> resume=true"
    return (
        f"reconstruct interrupted: {complete} of {total} volumes complete in {output_dir} (each file whole; "
        f"the volume being written left nothing). Finish the rest with:\n{command}"
    )


def _advancing(
    slices: Iterator[tuple[torch.Tensor, float]],
    volume: Volume,
    progress: Progress,
    task: TaskID,
    forward: list[float],
) -> Iterator[torch.Tensor]:
    """Pass the images through, keeping each forward time and advancing the bar after each one is written.

    A NaN/Inf image stops the run (the volume's file is never completed): a diverged checkpoint would
    otherwise fill a whole submission with NaN."""
    for index, (image, seconds) in enumerate(slices):
        forward.append(seconds)
        if not bool(torch.isfinite(image).all()):
            raise DataError(
                volume.kspace_path,
                f"the model's reconstruction of slice {index} holds NaN or Inf (a diverged checkpoint?)",
            )
        yield image
        progress.advance(task)


def reconstruct_and_score(cfg: DictConfig) -> ReconstructionRun:
    """`reconstruct`, then with `evaluate=true` score the reconstructions against the leaderboard's image
    files by the same year's rules, the run's forward time per slice written beside the SSIMs."""
    run = reconstruct(cfg)
    if cfg.evaluate:
        evaluate(
            root=cfg.data.root,
            recon_dir=cfg.output_dir,
            layout="snu",
            num_worst=cfg.num_worst,
            progress=cfg.progress,
            rules=run.rules,
            timings=run.timings,
        )
    return run


@command("reconstruct", cuda="profile")
def main(cfg: DictConfig) -> None:
    reconstruct_and_score(cfg)


if __name__ == "__main__":
    main()
