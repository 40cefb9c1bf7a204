"""Per-volume timings and the projection against the SNU challenge's inference budget.

The 2024 rule: the whole leaderboard (both accelerations, every model, pre-processing) within 3000 s on one
GTX 1080. The projection scales this run's measured seconds per slice to the leaderboard's slice count; it
is only as good as the machine and the data size it was measured on.
"""

from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class ChallengeBudget:
    """The time limit and the leaderboard's size (2024: 58 volumes per acceleration, ~16 slices each)."""

    seconds: float = 3000.0
    volumes_per_acceleration: int = 58
    accelerations: int = 2
    slices_per_volume: int = 16

    @property
    def slices(self) -> int:
        return self.volumes_per_acceleration * self.accelerations * self.slices_per_volume


@dataclass(frozen=True)
class VolumeTiming:
    """One reconstructed volume: its output file, slices, k-space shape and wall-clock seconds."""

    group: str
    name: str
    slices: int
    shape: tuple[int, int, int]  # coils, height, width
    seconds: float


@dataclass
class RunTimings:
    """Every volume's timing plus the whole run's wall clock (model loading and writing included)."""

    volumes: list[VolumeTiming] = field(default_factory=list)
    total_seconds: float = 0.0

    @property
    def slices(self) -> int:
        return sum(v.slices for v in self.volumes)

    @property
    def seconds_per_slice(self) -> float:
        return self.total_seconds / max(self.slices, 1)

    def projected_seconds(self, budget: ChallengeBudget) -> float:
        return self.seconds_per_slice * budget.slices


def print_timings(timings: RunTimings, budget: ChallengeBudget, device: str, console: Console) -> None:
    """The per-volume table, the total, and the budget projection with what it was measured on."""
    table = Table(title="reconstruction time per volume")
    for column in ("acc", "file", "slices", "coils x H x W", "seconds", "s / slice"):
        table.add_column(column)
    for v in timings.volumes:
        table.add_row(
            v.group,
            v.name,
            str(v.slices),
            "x".join(str(n) for n in v.shape),
            f"{v.seconds:.2f}",
            f"{v.seconds / max(v.slices, 1):.3f}",
        )
    console.print(table)
    projected = timings.projected_seconds(budget)
    verdict = "within" if projected <= budget.seconds else "OVER"
    console.print(
        f"total {timings.total_seconds:.1f} s for {timings.slices} slices "
        f"({timings.seconds_per_slice:.3f} s/slice, model loading and writing included)\n"
        f"projection: {timings.seconds_per_slice:.3f} s/slice x {budget.slices} leaderboard slices = "
        f"{projected:.0f} s, {verdict} the {budget.seconds:.0f} s budget\n"
        f"note: measured on {device} at this data's size, not on the challenge's GTX 1080 at 768 x 396"
    )
