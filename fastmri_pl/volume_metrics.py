"""Per-volume validation metrics accumulated slice by slice, merged across DDP ranks.

SSIM is the mean of a volume's slice SSIMs (data range = the volume max); PSNR and NMSE use the volume's
summed squared error, so a volume's slices may arrive in any order and on any rank. `ssim_masked` is the SNU
leaderboard score: SSIM on the foreground-masked images, the mean over every slice of an acceleration, then
the mean over accelerations.
"""

import math
from collections import defaultdict
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class VolumeSums:
    """Running sums for one volume (one reconstruction method)."""

    acceleration: float = 0.0
    max_value: float = 0.0
    slices: int = 0
    ssim_sum: float = 0.0
    masked_ssim_sum: float = 0.0
    squared_error: float = 0.0
    squared_target: float = 0.0
    pixels: int = 0

    def merge(self, other: "VolumeSums") -> None:
        self.acceleration = other.acceleration or self.acceleration
        self.max_value = max(self.max_value, other.max_value)
        self.slices += other.slices
        self.ssim_sum += other.ssim_sum
        self.masked_ssim_sum += other.masked_ssim_sum
        self.squared_error += other.squared_error
        self.squared_target += other.squared_target
        self.pixels += other.pixels

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
    """Accumulates slices per (method, volume); reports means over volumes, overall and per acceleration."""

    def __init__(self) -> None:
        self.volumes: dict[tuple[str, str], VolumeSums] = defaultdict(VolumeSums)

    def reset(self) -> None:
        self.volumes.clear()

    def update(
        self,
        method: str,
        fname: str,
        acceleration: float,
        max_value: float,
        ssim_value: float,
        masked_ssim_value: float,
        prediction: torch.Tensor,
        target: torch.Tensor,
    ) -> None:
        sums = self.volumes[(method, fname)]
        sums.merge(
            VolumeSums(
                acceleration=float(acceleration),
                max_value=float(max_value),
                slices=1,
                ssim_sum=float(ssim_value),
                masked_ssim_sum=float(masked_ssim_value),
                squared_error=float(((prediction.float() - target.float()) ** 2).sum()),
                squared_target=float((target.float() ** 2).sum()),
                pixels=target.numel(),
            )
        )

    def sync(self) -> None:
        """Merge every rank's volumes into every rank (no-op without an initialised process group)."""
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return
        gathered: list[dict | None] = [None] * dist.get_world_size()
        dist.all_gather_object(gathered, dict(self.volumes))
        merged: dict[tuple[str, str], VolumeSums] = defaultdict(VolumeSums)
        for part in gathered:
            for key, sums in (part or {}).items():
                merged[key].merge(sums)
        self.volumes = merged

    def compute(self) -> dict[str, float]:
        """`{method}/{metric}` and `{method}/{metric}_acc{N}` means over volumes, plus `{method}/volumes` and
        the leaderboard score `{method}/ssim_masked` (`_acc{N}`: mean over that acceleration's slices)."""
        groups: dict[tuple[str, str], list[dict[str, float]]] = defaultdict(list)
        masked: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
        for (method, _), sums in sorted(self.volumes.items()):
            scores = sums.scores()
            groups[(method, "")].append(scores)
            groups[(method, f"_acc{sums.acceleration:g}")].append(scores)
            masked[method][sums.acceleration][0] += sums.masked_ssim_sum
            masked[method][sums.acceleration][1] += sums.slices
        result: dict[str, float] = {}
        for (method, suffix), rows in groups.items():
            for metric in ("ssim", "psnr", "nmse"):
                result[f"{method}/{metric}{suffix}"] = sum(r[metric] for r in rows) / len(rows)
            if not suffix:
                result[f"{method}/volumes"] = float(len(rows))
        for method, per_acceleration in masked.items():
            means = {acc: total / count for acc, (total, count) in per_acceleration.items()}
            for acc, mean in means.items():
                result[f"{method}/ssim_masked_acc{acc:g}"] = mean
            result[f"{method}/ssim_masked"] = sum(means.values()) / len(means)
        return result
