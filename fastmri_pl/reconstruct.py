"""`python -m fastmri_pl.reconstruct model=... ckpt_path=... data=snu data.root=ROOT output_dir=OUT`.

Reconstructs every slice of every `ROOT/leaderboard/acc<N>/kspace/*.h5` volume into
`OUT/acc<N>/<same name>` (dataset `reconstruction`, (slices, h, w) float32), each file written atomically,
timed by the rules of `challenge=2023|2024|2025|2026` (default 2024); `submission=true` also fills that
year's submission folders (see `reconstruction.folders`); `evaluate=true` then scores the reconstructions in
the same command, the forward time per slice included, as the organisers' 2026 `recon_eval` does.
Bad input (missing `mask`, empty or absent leaderboard folders, a non-empty OUT without overwrite=true)
stops the run with one line on stderr naming the file, exit code 2.
"""

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from fastmri_pl import CONFIG_DIR
from fastmri_pl.challenge.rules import ChallengeRules, load_rules
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import ensure_synthetic, synthetic_config
from fastmri_pl.data.volumes import Volume
from fastmri_pl.errors import DataError, exit_on_data_error
from fastmri_pl.evaluate import evaluate
from fastmri_pl.memory.auto import resolve_levers
from fastmri_pl.reconstruction.folders import (
    SUBMISSION_DIR,
    acceleration_folders,
    check_output_dir,
    submission_folders,
    submission_warnings,
)
from fastmri_pl.reconstruction.inference import (
    crop_size,
    inference_device,
    inference_settings,
    load_net,
    reconstruct_volume,
)
from fastmri_pl.reconstruction.timing import RunTimings, VolumeTiming, print_timings
from fastmri_pl.reconstruction.writer import copy_atomically, write_reconstruction
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format
from fastmri_pl.runtime.gpu_check import check_cuda_build


@dataclass(frozen=True)
class ReconstructionRun:
    """What a run wrote: every reconstruction file (submission copies apart) and the timings."""

    files: list[Path]
    submission_files: list[Path]
    timings: RunTimings
    rules: ChallengeRules


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
    """The run a composed `conf/reconstruct.yaml` describes; see the module docstring."""
    console = console or Console()
    check_cuda_build(cfg.hardware.accelerator)
    started = time.perf_counter()
    rules: ChallengeRules = load_rules(cfg.challenge)
    volumes = _index(cfg)
    submission = submission_folders(rules if cfg.submission else None, list(volumes))
    if submission:
        names = {group: [v.fname for v in volumes[group]] for group in submission}
        for warning in submission_warnings(rules, names):
            console.print(f"warning: {warning}", soft_wrap=True)
    output_dir = check_output_dir(cfg.output_dir, cfg.overwrite)
    device = inference_device(cfg)
    set_cudnn_benchmark(cfg.hardware)
    net = to_memory_format(load_net(resolve_levers(cfg), device), cfg.hardware)
    readout_crop = bool(cfg.data.get("readout_crop", False))
    console.print(
        f"model {type(net).__name__} on {device}, precision {cfg.hardware.precision}, "
        f"readout crop {'on' if readout_crop else 'off'}"
    )
    timings = RunTimings()
    files: list[Path] = []
    submission_files: list[Path] = []
    total_slices = sum(v.num_slices for group in volumes.values() for v in group)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, disable=not cfg.progress) as progress:
        task = progress.add_task("reconstructing slices", total=total_slices)
        for group, group_volumes in volumes.items():
            for volume in group_volumes:
                crop = crop_size(cfg, volume)
                path = output_dir / group / volume.fname
                path.parent.mkdir(parents=True, exist_ok=True)
                volume_start = time.perf_counter()
                settings = inference_settings(cfg, crop, device)
                slices = reconstruct_volume(net, volume, settings, rules.warmup_slices)
                forward: list[float] = []
                shape = (volume.num_slices, *crop)
                write_reconstruction(path, _advancing(slices, volume, progress, task, forward), shape)
                seconds = time.perf_counter() - volume_start
                kspace_shape = (volume.num_coils, volume.height, volume.width)
                timings.volumes.append(
                    VolumeTiming(group, volume.fname, volume.num_slices, kspace_shape, seconds, sum(forward))
                )
                progress.console.print(
                    f"{group}/{volume.fname}: {volume.num_slices} slices in {seconds:.2f} s "
                    f"(forward {1e3 * sum(forward) / volume.num_slices:.1f} ms/slice)"
                )
                files.append(path)
                if group in submission:
                    copy = output_dir / SUBMISSION_DIR / submission[group] / volume.fname
                    copy_atomically(path, copy)
                    submission_files.append(copy)
    timings.total_seconds = time.perf_counter() - started
    print_timings(timings, rules, str(device), console)
    console.print(
        f"reconstructions in {output_dir}; score them with: python -m fastmri_pl.evaluate "
        f"challenge={rules.year} data=snu data.root={cfg.data.root} recon_dir={output_dir}"
    )
    return ReconstructionRun(files, submission_files, timings, rules)


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


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="reconstruct")
def main(cfg: DictConfig) -> None:
    with exit_on_data_error():
        reconstruct_and_score(cfg)


if __name__ == "__main__":
    main()
