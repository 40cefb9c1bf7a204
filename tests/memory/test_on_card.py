"""What a real `Trainer.fit` adds to the traced step: gradient accumulation and Lightning's autocast."""

import lightning as L
import torch
from torch import nn

from fastmri_pl.memory import LiveStorageTracker, trace_training_step
from fastmri_pl.runtime.precision import traced_autocast
from tests.memory.test_tracker import SMALL, StandInModule, stand_in


class LightningStandIn(L.LightningModule):
    """The stand-in model trained by Lightning itself, so that Lightning decides when gradients are zeroed."""

    def __init__(self) -> None:
        super().__init__()
        self.inner: StandInModule = stand_in()

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self.inner.compute_loss(batch)

    def configure_optimizers(self) -> dict:
        return self.inner.configure_optimizers()


def fit_peak(accumulate: int, precision: str) -> int:
    """Tracked peak of a real CPU `Trainer.fit` of two optimizer steps, all of it built inside the tracker."""
    with LiveStorageTracker() as tracker:
        module = LightningStandIn()
        batches = torch.utils.data.DataLoader([SMALL()] * (2 * accumulate), batch_size=None)
        trainer = L.Trainer(
            accelerator="cpu",
            max_steps=2,
            accumulate_grad_batches=accumulate,
            precision=precision,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        trainer.fit(module, train_dataloaders=batches)
    return tracker.peak.nbytes


def test_an_accumulating_trace_peaks_like_a_real_accumulating_fit():
    """Lightning zeroes gradients on a window's first micro-batch only; later backwards run with them alive.

    bf16-mixed: Lightning's autocast has the cast cache off, like the trace's. The real fit holds one more
    512-byte block (a scalar Lightning keeps from the step); the trace that zeroes first is lower by the
    gradients the backward had not yet made at its peak.
    """
    real = fit_peak(accumulate=2, precision="bf16-mixed")
    traced = trace_training_step(stand_in, SMALL, precision="bf16-mixed", cuda_foreach=False, accumulate=True)
    zeroing = trace_training_step(stand_in, SMALL, precision="bf16-mixed", cuda_foreach=False)
    assert 0 <= real - traced.peak_bytes <= 512
    assert real - zeroing.peak_bytes > 10 * 512


def test_the_traced_autocast_keeps_no_cast_weight():
    """Lightning's autocast runs with `cache_enabled=False`: a weight's 16-bit copy dies with the graph."""
    with LiveStorageTracker() as tracker:
        linear = nn.Linear(256, 256)
        features = torch.randn(4, 256)
        with traced_autocast("bf16-mixed"):
            assert not torch.is_autocast_cache_enabled()
            before = tracker.live_bytes
            output = linear(features)
            del output
            after = tracker.live_bytes
    assert after == before
