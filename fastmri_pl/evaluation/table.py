"""The summary printed to the terminal: one row per acceleration and the total."""

from rich.console import Console
from rich.table import Table


def summary_table(summary: dict[str, dict[str, float | int]], title: str) -> Table:
    table = Table(title=title)
    for column in ("acc", "slices", "SSIM", "PSNR (dB)", "NMSE"):
        table.add_column(column, justify="left" if column == "acc" else "right")
    last_group = list(summary)[-2]  # the row above "total"
    for group, row in summary.items():
        table.add_row(
            group,
            str(row["slices"]),
            f"{row['ssim']:.4f}",
            f"{row['psnr']:.2f}",
            f"{row['nmse']:.4g}",
            style="bold" if group == "total" else None,
            end_section=group == last_group,
        )
    return table


def print_summary(
    summary: dict[str, dict[str, float | int]], title: str, console: Console | None = None
) -> None:
    (console or Console()).print(summary_table(summary, title))
