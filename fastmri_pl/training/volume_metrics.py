"""Per-volume validation metrics kept slice by slice, merged across DDP ranks with each slice counted once.

SSIM is the mean of a volume's slice SSIMs (data range = the volume max); PSNR and NMSE use the volume's
summed squared error, so a volume's slices may arrive in any order and on any rank. `ssim_masked` is the SNU
leaderboard score: SSIM on the foreground-masked images, the mean over every slice of an acceleration, then
the mean over accelerations. `loss` is the mean training loss over the validated slices.

Slices are kept by (method, file, slice): under DDP, Lightning's validation sampler pads the ranks to equal
length by repeating samples, and a repeated slice must not count twice (9 slices on 2 ranks gave a `val/ssim`
of 0.28280 where one process gave 0.28016). Sums run in key order, so any split over ranks gives the
single-process numbers.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class SliceScores:
    """What one validated slice of one method contributes; `loss` only for the model (None for baselines)."""

    acceleration: float
    max_value: float
    ssim: float
    masked_ssim: float
    squared_error: float
    squared_target: float
    pixels: int
    loss: float | None = None

    @classmethod
    def of(
        cls,
        prediction: torch.Tensor,
        target: torch.Tensor,
        acceleration: float,
        max_value: float,
        ssim: float,
        masked_ssim: float,
        loss: float | None = None,
    ) -> "SliceScores":
        """The scores of a (h, w) prediction against its target, SSIMs computed by the caller."""
        return cls(
            acceleration=float(acceleration),
            max_value=float(max_value),
            ssim=float(ssim),
            masked_ssim=float(masked_ssim),
            squared_error=float(((prediction.float() - target.float()) ** 2).sum()),
            squared_target=float((target.float() ** 2).sum()),
            pixels=target.numel(),
            loss=loss,
        )


@dataclass
class VolumeSums:
    """Running sums for one volume (one reconstruction method)."""

    acceleration: float = 0.0
    max_value: float = 0.0
    slices: int = 0
    ssim_sum: float = 0.0
    masked_ssim_sum: float = 0.0
    masked_slices: int = 0  # slices the leaderboard rule scores (2026 leaves out empty foreground masks: NaN)
    squared_error: float = 0.0
    squared_target: float = 0.0
    pixels: int = 0

    def add(self, scores: SliceScores) -> None:
        self.acceleration = scores.acceleration or self.acceleration
        self.max_value = max(self.max_value, scores.max_value)
        self.slices += 1
        self.ssim_sum += scores.ssim
        if not math.isnan(scores.masked_ssim):
            self.masked_ssim_sum += scores.masked_ssim
            self.masked_slices += 1
        self.squared_error += scores.squared_error
        self.squared_target += scores.squared_target
        self.pixels += scores.pixels

    def scores(self) -> dict[str, float]:
        mse = self.squared_error / max(self.pixels, 1)
        # a perfect volume has infinite PSNR; a NaN image (mse NaN) must stay NaN, never look perfect
        psnr = float("inf") if mse == 0 else 10 * math.log10(self.max_value**2 / mse)
        return {
            "ssim": self.ssim_sum / max(self.slices, 1),
            "psnr": psnr,
            "nmse": self.squared_error / max(self.squared_target, 1e-30),
        }


class VolumeMetrics:
    """Keeps slices per (method, volume, slice); reports means over volumes, overall and per acceleration."""

    def __init__(self) -> None:
        self.slices: dict[tuple[str, str, int], SliceScores] = {}

    def reset(self) -> None:
        self.slices.clear()

    def update(self, method: str, fname: str, slice_num: int, scores: SliceScores) -> None:
        """Record a slice; the same (method, file, slice) again replaces it (a DDP padding repeat)."""
        self.slices[(method, fname, int(slice_num))] = scores

    def sync(self) -> None:
        """Merge every rank's slices into every rank, each slice once (no-op without a process group)."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        gathered: list[dict | None] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, self.slices)
        merged: dict[tuple[str, str, int], SliceScores] = {}
        for part in gathered:
            merged.update(part or {})
        self.slices = merged

    @property
    def volumes(self) -> dict[tuple[str, str], VolumeSums]:
        """Sums per (method, volume), accumulated in slice order whatever order the slices came in."""
        volumes: dict[tuple[str, str], VolumeSums] = defaultdict(VolumeSums)
        for (method, fname, _), scores in sorted(self.slices.items()):
            volumes[(method, fname)].add(scores)
        return dict(volumes)

    def compute(self) -> dict[str, float]:
        """`{method}/{metric}` and `{method}/{metric}_acc{N}` means over volumes, plus `{method}/volumes`, the
        leaderboard score `{method}/ssim_masked` (`_acc{N}`: mean over that acceleration's slices) and, for
        methods with a loss, `{method}/loss` (mean over slices)."""
        groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
        masked: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        for (method, _), sums in sorted(self.volumes.items()):
            scores = sums.scores()
            groups[(method, "")].append(scores)
            groups[(method, f"_acc{sums.acceleration:g}")].append(scores)
            masked[method][sums.acceleration][0] += sums.masked_ssim_sum
            masked[method][sums.acceleration][1] += sums.masked_slices
        result: dict[str, float] = {}
        for (method, suffix), rows in groups.items():
            for metric in ("ssim", "psnr", "nmse"):
                result[f"{method}/{metric}{suffix}"] = sum(r[metric] for r in rows) / len(rows)
            if not suffix:
                result[f"{method}/volumes"] = float(len(rows))
        for method, per_acceleration in masked.items():
            means = {
                acc: total / count if count else math.nan for acc, (total, count) in per_acceleration.items()
            }
            for acc, mean in means.items():
                result[f"{method}/ssim_masked_acc{acc:g}"] = mean
            result[f"{method}/ssim_masked"] = sum(means.values()) / len(means)
        losses: dict[str, list[float]] = defaultdict(list)
        for (method, _, _), scores in sorted(self.slices.items()):
            if scores.loss is not None:
                losses[method].append(scores.loss)
        for method, values in losses.items():
            result[f"{method}/loss"] = sum(values) / len(values)
        return result
