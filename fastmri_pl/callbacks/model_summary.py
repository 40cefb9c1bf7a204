"""The model summary at the start of `fit`: Lightning's rich table without its FLOPs column and total.

Lightning counts FLOPs only by running the module's `example_input_array` through it, which `ReconModule`
does not have (its batch is a dict of k-space, mask and target), so the column would read 0 on every row. We
leave it out rather than fill it: an extra forward at start-up would cost a real pass of the full network on
an 8 GB card. The FLOPs of a training step are counted where they are measured, on fake tensors at the data's
shape: `python -m fastmri_pl.bench` and `python -m fastmri_pl.memory` (`memory/opcost.py`).
"""

from typing import Any

from lightning.pytorch.callbacks import RichModelSummary
from lightning.pytorch.utilities.model_summary import get_formatted_model_size, get_human_readable_count
from rich import get_console
from rich.table import Table

LEFT_COLUMNS = (" ", "Name", "Type", "Mode")
LEFT_OUT = "FLOPs"


class ModelTable(RichModelSummary):
    """`RichModelSummary` (same columns, same totals) without FLOPs."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        columns = [(name, values) for name, values in summary_data if name != LEFT_OUT]
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        for name, _ in columns:
            justify = "left" if name in LEFT_COLUMNS else "right"
            table.add_column(name, justify=justify, style="dim" if name == " " else None)
        for row in zip(*(values for _, values in columns), strict=True):
            table.add_row(*row)
        totals = Table.grid(expand=True)
        totals.add_column()
        for label, value in (
            ("Trainable params", get_human_readable_count(trainable_parameters)),
            ("Non-trainable params", get_human_readable_count(total_parameters - trainable_parameters)),
            ("Total params", get_human_readable_count(total_parameters)),
            ("Total estimated model params size (MB)", get_formatted_model_size(model_size)),
            ("Modules in train mode", total_training_modes["train"]),
            ("Modules in eval mode", total_training_modes["eval"]),
        ):
            totals.add_row(f"[bold]{label}[/]: {value}")
        console = get_console()
        console.print(table)
        console.print(totals)
