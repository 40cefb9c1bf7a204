"""The summary printed to the terminal: one row per acceleration and the total, the year's columns only."""

from rich.console import Console
from rich.table import Table

# (metrics.json key, column title, format); a column shows only when the summary has its key
COLUMNS = (
    ("slices", "slices", "{}"),
    ("ssim", "SSIM", "{:.4f}"),
    ("ssim_bbox", "SSIM_bbox", "{:.4f}"),
    ("boxes", "boxes", "{}"),
    ("psnr", "PSNR (dB)", "{:.2f}"),
    ("nmse", "NMSE", "{:.4g}"),
    ("ms_per_slice", "ms / slice", "{:.1f}"),
    ("slow_volumes", "slow volumes", "{}"),
)


def summary_table(summary: dict[str, dict[str, float | int]], title: str) -> Table:
    total = summary["total"]
    columns = [(key, name, fmt) for key, name, fmt in COLUMNS if key in total]
    if "ssim_full" in total:  # 2026: the leaderboard calls the masked score SSIM_full
        columns = [(key, "SSIM_full" if key == "ssim" else name, fmt) for key, name, fmt in columns]
    table = Table(title=title)
    table.add_column("acc", justify="left")
    for _, name, _ in columns:
        table.add_column(name, justify="right")
    last_group = list(summary)[-2]  # the row above "total"
    for group, row in summary.items():
        table.add_row(
            group,
            *(fmt.format(row[key]) for key, _, fmt in columns),
            style="bold" if group == "total" else None,
            end_section=group == last_group,
        )
    return table


def print_summary(
    summary: dict[str, dict[str, float | int]], title: str, console: Console | None = None
) -> None:
    (console or Console()).print(summary_table(summary, title))
