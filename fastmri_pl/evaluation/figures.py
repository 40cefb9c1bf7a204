"""PNG figures of an evaluation: a gallery of the worst slices and SSIM per slice per acceleration.

Drawn on matplotlib `Figure` objects with the Agg canvas (no pyplot state, no display needed), small and at
low dpi so that a full leaderboard evaluation spends well under a second per figure. Each PNG is written
atomically (`save_figure`).
"""

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from fastmri_pl.evaluation.scoring import VolumeScore
from fastmri_pl.runs.atomic import write_atomically

ERROR_SCALE = 0.1  # error maps show |recon - target| / max_value on a fixed 0 .. 0.1 scale
PANEL_INCHES = 1.8
DPI = 80


@dataclass(frozen=True)
class GalleryRow:
    """One slice to show: its label, images (H, W) and foreground mask (None where the layout has none)."""

    label: str
    recon: torch.Tensor
    target: torch.Tensor
    max_value: float
    zero_filled: torch.Tensor | None = None
    mask: torch.Tensor | None = None


def _panels(row: GalleryRow) -> list[tuple[str, np.ndarray, str]]:
    error = (row.recon - row.target).abs() / row.max_value
    panels = [] if row.zero_filled is None else [("zero-filled", row.zero_filled.numpy(), "image")]
    panels += [("reconstruction", row.recon.numpy(), "image"), ("target", row.target.numpy(), "image")]
    return panels + [("|error| / max", error.numpy(), "error")]


def save_worst_gallery(path: Path, title: str, rows: list[GalleryRow]) -> Path:
    """Rows of zero-filled / reconstruction / target / error map, the mask contour on target and error."""
    columns = max(len(_panels(row)) for row in rows)
    size = (PANEL_INCHES * columns + 0.8, PANEL_INCHES * len(rows) + 0.4)
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    error_image = None
    for row_axes, row in zip(axes, rows, strict=True):
        for ax, (name, image, kind) in zip(row_axes, _panels(row), strict=False):
            if kind == "image":
                ax.imshow(image, cmap="gray", vmin=0.0, vmax=row.max_value)
            else:
                error_image = ax.imshow(image, cmap="inferno", vmin=0.0, vmax=ERROR_SCALE)
            if row.mask is not None and name in ("target", "|error| / max"):
                ax.contour(row.mask.float().numpy(), levels=[0.5], colors="cyan", linewidths=0.6)
            ax.set_title(name, fontsize=7)
        row_axes[0].set_ylabel(row.label, fontsize=6)
        for ax in row_axes:
            ax.set_xticks([])
            ax.set_yticks([])
    if error_image is not None:
        figure.colorbar(error_image, ax=axes.ravel().tolist(), shrink=0.5, label="|error| / max")
    figure.suptitle(title, fontsize=8)
    return save_figure(figure, path)


def save_ssim_per_slice(path: Path, scores: list[VolumeScore]) -> Path:
    """SSIM of every slice against its index in its volume, one colour per acceleration, and the mean."""
    figure = Figure(figsize=(5.0, 3.2), dpi=DPI)
    ax = figure.subplots()
    groups = list(dict.fromkeys(score.pair.group for score in scores))
    for group in groups:
        values = [(i, v) for s in scores if s.pair.group == group for i, v in enumerate(s.slice_ssim)]
        indices, ssims = np.array(values).T
        points = ax.scatter(indices, ssims, s=6, alpha=0.4, label=f"{group} slices")
        positions = np.unique(indices)
        means = [ssims[indices == position].mean() for position in positions]
        ax.plot(positions, means, color=points.get_facecolor()[0][:3], linewidth=1.2, label=f"{group} mean")
    ax.set_xlabel("slice index in volume")
    ax.set_ylabel("SSIM")
    ax.set_title("SSIM per slice", fontsize=9)
    ax.legend(fontsize=6)
    figure.tight_layout()
    return save_figure(figure, path)


def save_figure(figure: Figure, path: Path) -> Path:
    """The PNG drawn in memory, then written whole or not at all (`runs.atomic`): a full disk or a read-only
    folder is a `WriteError`, never half a PNG under the final name or a matplotlib traceback."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomically(path, buffer.getbuffer())
    return path
