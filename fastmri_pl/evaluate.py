"""`python -m fastmri_pl.evaluate [challenge=YEAR] data=snu data.root=ROOT recon_dir=OUT`: recons vs targets.

Checks every pair first (a missing file, key or wrong shape stops the run with exit code 2 before any work),
then scores each volume by the layout's and the challenge year's rules, prints the table, writes
OUT/metrics.json and OUT/metrics_per_volume.csv (a folder that cannot take them: one `error:` line after the
table, exit code 2), then the PNGs under OUT/figures/ (one that cannot be written: a warning line), and hands
metrics and pictures to the configured loggers. `python -m fastmri_pl.reconstruct ... evaluate=true` calls
`evaluate` with the run's timings, which adds the forward time per slice to the metrics.
"""

import logging
import math
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig
from rich.progress import track

from fastmri_pl.challenge.rules import DEFAULT_YEAR, ChallengeRules, load_rules
from fastmri_pl.evaluation.figures import GalleryRow, save_ssim_per_slice, save_worst_gallery
from fastmri_pl.evaluation.pairs import check_pair, find_pairs, read_volume
from fastmri_pl.evaluation.records import write_metrics_json, write_per_volume_csv
from fastmri_pl.evaluation.scoring import (
    VolumeScore,
    aggregation,
    score_volume,
    scores_boxes,
    summarize,
    worst_slices,
)
from fastmri_pl.evaluation.table import print_summary
from fastmri_pl.fit import factory
from fastmri_pl.mri.foreground import snu_foreground_mask
from fastmri_pl.reconstruction.timing import RunTimings
from fastmri_pl.runs.atomic import WriteError
from fastmri_pl.runtime.command import command

FIGURES_DIR = "figures"
log = logging.getLogger(__name__)


def _gallery_rows(
    scores: list[VolumeScore], group: str, layout: str, count: int, rules: ChallengeRules
) -> list[GalleryRow]:
    rows = []
    for score, index in worst_slices(scores, group, count):
        volume = read_volume(score.pair, layout, slices=slice(index, index + 1))
        target = volume.target[0]
        threshold = rules.threshold(score.pair.target_path) if layout == "snu" else None
        rows.append(
            GalleryRow(
                label=f"{score.pair.name} #{index}\nSSIM {score.slice_ssim[index]:.4f}",
                recon=volume.recon[0],
                target=target,
                max_value=volume.max_value,
                zero_filled=None if volume.zero_filled is None else volume.zero_filled[0],
                mask=None if threshold is None else snu_foreground_mask(target, threshold),
            )
        )
    return rows


def draw_figures(
    figures_dir: Path, scores: list[VolumeScore], layout: str, num_worst: int, rules: ChallengeRules
) -> list[Path]:
    """SSIM per slice, and per group a gallery of its `num_worst` worst slices (none when num_worst is 0).

    Pictures only illustrate the scores, which are printed and saved by now: a figure that cannot be written
    (full disk, read-only folder) is one warning line and the rest are not tried; returns those written."""
    paths: list[Path] = []
    try:
        paths.append(save_ssim_per_slice(figures_dir / "ssim_per_slice.png", scores))
        if num_worst > 0:
            for group in dict.fromkeys(score.pair.group for score in scores):
                rows = _gallery_rows(scores, group, layout, num_worst, rules)
                title = f"{group}: {len(rows)} worst slices"
                paths.append(save_worst_gallery(figures_dir / f"worst_{group}.png", title, rows))
    except WriteError as error:
        log.warning(f"warning: figures not written: {error}; the scores above are complete")
    return paths


def log_results(
    loggers: Sequence[Logger], summary: dict[str, dict[str, float | int]], figures: list[Path]
) -> None:
    """Metrics to every logger; pictures to those that take images (W&B), the files stay for the others."""
    metrics = {
        f"eval/{group}/{name}": float(value)
        for group, row in summary.items()
        for name, value in row.items()
        if math.isfinite(value)
    }
    for logger in loggers:
        logger.log_metrics(metrics)
        if hasattr(logger, "log_image"):
            for figure in figures:
                logger.log_image(key=f"eval/{figure.stem}", images=[str(figure)])
        logger.save()
        logger.finalize("success")


def add_timings(
    summary: dict[str, dict[str, float | int]], timings: RunTimings, rules: ChallengeRules
) -> None:
    """The run's forward ms per slice (and, where the year flags slow volumes, their count) in every row."""
    for group, row in summary.items():
        chosen = None if group == "total" else group
        row["ms_per_slice"] = timings.ms_per_slice(chosen)
        if rules.volume_flag_s is not None:
            row["slow_volumes"] = len(timings.slow_volumes(rules, chosen))


def evaluate(
    root: str | Path,
    recon_dir: str | Path,
    layout: str,
    split: str = "leaderboard",
    num_worst: int = 4,
    loggers: Sequence[Logger] = (),
    progress: bool = True,
    rules: ChallengeRules | None = None,
    timings: RunTimings | None = None,
) -> dict[str, dict[str, float | int]]:
    """Score every reconstruction under recon_dir against its target under root/split; returns the summary.

    rules: the SNU challenge year's (default: `challenge_years/2024.yaml`); fastMRI ignores them. timings: the
    reconstruction run's, adding `ms_per_slice` to every row.
    """
    rules = rules or load_rules(DEFAULT_YEAR)
    recon_dir = Path(recon_dir)
    pairs = find_pairs(root, recon_dir, layout, split)
    for pair in pairs:
        check_pair(pair, layout)
        if layout == "snu":
            rules.anatomy(pair.target_path)
    # closed on an error too: a suspended `track` keeps its display on rich's console, and an in-process
    # caller's next display (Lightning's progress bar) would be popped in its place when it is collected
    with closing(track(pairs, description="scoring volumes", transient=True, disable=not progress)) as scored:
        scores = [score_volume(pair, read_volume(pair, layout), layout, rules) for pair in scored]
    over = aggregation(layout)
    summary = summarize(scores, over, with_boxes=scores_boxes(layout, rules))
    if timings is not None:
        add_timings(summary, timings, rules)
    rule = f"SNU challenge={rules.year} leaderboard" if layout == "snu" else "SSIM (fastMRI)"
    rule += f", mean over {over}"
    print_summary(summary, title=f"{recon_dir} vs {Path(root) / split}: {rule}")  # shown whatever fails next
    write_metrics_json(recon_dir, summary, over)
    write_per_volume_csv(recon_dir, scores)
    figures = draw_figures(recon_dir / FIGURES_DIR, scores, layout, num_worst, rules)
    log_results(loggers, summary, figures)
    return summary


def run(cfg: DictConfig) -> dict[str, dict[str, float | int]]:
    """The evaluation a composed `conf/evaluate.yaml` describes."""
    return evaluate(
        root=cfg.data.root,
        recon_dir=cfg.recon_dir,
        layout=cfg.layout,
        split=cfg.split,
        num_worst=cfg.num_worst,
        loggers=factory.build_loggers(cfg),
        progress=cfg.progress,
        rules=load_rules(cfg.challenge),
    )


@command("evaluate")
def main(cfg: DictConfig) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
