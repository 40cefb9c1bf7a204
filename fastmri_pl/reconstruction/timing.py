"""Per-volume timings and what the year's rules make of them (`challenge.rules.ChallengeRules`).

Two clocks. `run` (2023-2025): the whole run's wall clock, projected to the leaderboard's slice count against
the year's limit (2024: 3000 s, 2025: 3600 s, every model and pre-processing included). `forward` (2026): the
model forward per slice (see `inference.reconstruct_volume`), averaged over every slice, the score's
`ms_per_slice`; a volume whose forward time passes `volume_flag_s` is flagged. Both are only as good as the
machine and data size they were measured on.
"""

import logging
import math
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

from fastmri_pl.challenge.rules import ChallengeRules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VolumeTiming:
    """One reconstructed volume: output file, slices, k-space shape, wall-clock seconds (writing included)
    and the summed forward seconds of its slices (warm-up excluded)."""

    group: str
    name: str
    slices: int
    shape: tuple[int, int, int]  # coils, height, width
    seconds: float
    forward_seconds: float


@dataclass
class RunTimings:
    """Every reconstructed volume's timing plus the whole run's wall clock (model loading and writing
    included); `skipped_volumes`: volumes a resumed run kept from before, which it did not time."""

    volumes: list[VolumeTiming] = field(default_factory=list)
    total_seconds: float = 0.0
    skipped_volumes: int = 0

    @property
    def slices(self) -> int:
        return sum(v.slices for v in self.volumes)

    @property
    def seconds_per_slice(self) -> float:
        return self.total_seconds / self.slices if self.slices else math.nan

    def projected_seconds(self, rules: ChallengeRules) -> float:
        return self.seconds_per_slice * rules.leaderboard_slices

    def ms_per_slice(self, group: str | None = None) -> float:
        """Mean forward milliseconds per slice, over one acceleration folder or (None) every timed slice; NaN
        (null in metrics.json) where no slice was timed (a resumed run kept them all), never a 0 that looks
        like a result."""
        chosen = [v for v in self.volumes if group is None or v.group == group]
        slices = sum(v.slices for v in chosen)
        return 1e3 * sum(v.forward_seconds for v in chosen) / slices if slices else math.nan

    def slow_volumes(self, rules: ChallengeRules, group: str | None = None) -> list[VolumeTiming]:
        """Volumes whose forward time exceeds the year's flag (none when the year has no flag)."""
        if rules.volume_flag_s is None:
            return []
        return [
            v
            for v in self.volumes
            if (group is None or v.group == group) and v.forward_seconds > rules.volume_flag_s
        ]


def print_timings(timings: RunTimings, rules: ChallengeRules, device: str, console: Console) -> None:
    """The per-volume table, the totals, and the year's verdict with what it was measured on."""
    if not timings.volumes:
        kept = timings.skipped_volumes
        log.info(f"nothing to time: the {kept} volume(s) were complete before this run")
        return
    table = Table(title="reconstruction time per volume")
    for column in ("acc", "file", "slices", "coils x H x W", "seconds", "forward ms / slice"):
        table.add_column(column)
    for v in timings.volumes:
        table.add_row(
            v.group,
            v.name,
            str(v.slices),
            "x".join(str(n) for n in v.shape),
            f"{v.seconds:.2f}",
            f"{1e3 * v.forward_seconds / max(v.slices, 1):.1f}",
        )
    console.print(table)  # a table stays on the console; the lines below go to the run's log too
    log.info(
        f"total {timings.total_seconds:.1f} s for {timings.slices} slices "
        f"({timings.seconds_per_slice:.3f} s/slice, model loading and writing included); "
        f"forward {timings.ms_per_slice():.1f} ms/slice"
    )
    if rules.clock == "forward":
        slow = timings.slow_volumes(rules)
        log.info(
            f"challenge={rules.year} score time: {timings.ms_per_slice():.1f} ms/slice (forward only, "
            f"batch 1, {rules.warmup_slices} warm-up slices per volume); {len(slow)} volume(s) over "
            f"{rules.volume_flag_s:.0f} s of forward time"
            + "".join(f"\n  slow: {v.group}/{v.name}" for v in slow)
        )
    else:
        projected = timings.projected_seconds(rules)
        if rules.time_limit_s is None:
            verdict = f"challenge={rules.year} states no time limit"
        else:
            within = "within" if projected <= rules.time_limit_s else "OVER"
            verdict = f"{within} challenge={rules.year}'s {rules.time_limit_s:.0f} s limit"
        log.info(
            f"projection: {timings.seconds_per_slice:.3f} s/slice x {rules.leaderboard_slices} leaderboard "
            f"slices = {projected:.0f} s, {verdict}"
        )
    log.info(f"note: measured on {device} at this data's size, not on the challenge's GPU")
    if timings.skipped_volumes:
        log.info(
            f"note: resumed run: these times cover the {len(timings.volumes)} volume(s) reconstructed now; "
            f"the {timings.skipped_volumes} kept from before are not timed (overwrite=true times them all)"
        )
