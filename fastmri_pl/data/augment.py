"""Mask augmentation for SNU training: with a probability that ramps over epochs, a sample gets a freshly
drawn equispaced mask (acceleration from a range) instead of its file's own mask.

The epoch reaches the dataset (and its worker copies) through `ReconDataModule.set_epoch`, which the
`MaskAugmentationEpoch` callback calls at the start of every training epoch.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning as L

from fastmri_pl.mri.masks import RangeMaskFunc


@dataclass(frozen=True)
class MaskAugmentation:
    """Draw masks from `mask_func` with probability ramping linearly from `prob_start` (epoch 0) to
    `prob_end` (epoch `ramp_epochs` and after)."""

    mask_func: RangeMaskFunc = field(default_factory=RangeMaskFunc)
    prob_start: float = 0.0
    prob_end: float = 0.5
    ramp_epochs: int = 10

    def __post_init__(self) -> None:
        if not (0.0 <= self.prob_start <= 1.0 and 0.0 <= self.prob_end <= 1.0) or self.ramp_epochs < 0:
            raise ValueError("augmentation probabilities must lie in [0, 1] and ramp_epochs be >= 0")

    def probability(self, epoch: int) -> float:
        progress = 1.0 if self.ramp_epochs == 0 else min(max(epoch / self.ramp_epochs, 0.0), 1.0)
        return self.prob_start + (self.prob_end - self.prob_start) * progress

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> "MaskAugmentation":
        """Keys: acceleration_range, center_fraction_range, prob_start, prob_end, ramp_epochs."""
        cfg = dict(cfg)
        ranges: dict[str, Sequence[float]] = {
            k: cfg.pop(k) for k in ("acceleration_range", "center_fraction_range") if k in cfg
        }
        return cls(mask_func=RangeMaskFunc(**ranges), **cfg)


class MaskAugmentationEpoch(L.Callback):
    """Hands the current epoch to the datamodule (`set_epoch`) so the augmentation probability can ramp.

    Also at the start of fitting: a run resumed mid-epoch gets no `on_train_epoch_start` for that epoch. The
    training loader starts its workers at its first batch, after both hooks.
    """

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._hand_over_epoch(trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._hand_over_epoch(trainer)

    @staticmethod
    def _hand_over_epoch(trainer: L.Trainer) -> None:
        set_epoch = getattr(trainer.datamodule, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(trainer.current_epoch)
