"""The GPU-free memory tracker: fake-tensor estimates equal real-tensor accounting and follow the levers."""

import contextlib
import functools

import pytest
import torch
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils.checkpoint import checkpoint

from fastmri_pl.memory import BatchShape, LiveStorageTracker, trace_inference, trace_training_step
from fastmri_pl.memory.trace import first_optimizer
from fastmri_pl.mri.complex import complex_to_channels
from fastmri_pl.mri.crop import center_crop
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.mri.masks import acs_mask

SMALL = BatchShape(coils=4, height=64, width=48, adj_slices=3, target_size=(48, 40))
FLOAT_BYTES = 4


class ConvStack(nn.Module):
    """Blocks of two conv-ReLUs on the coil-combined image; each block checkpointed on its own if asked.

    Two convolutions per block, so a checkpointed block keeps one activation (its input) instead of two.
    """

    num_adj_slices = 3

    def __init__(self, chans: int = 16, depth: int = 3, checkpointed: bool = False) -> None:
        super().__init__()
        widths = [2] + [chans] * depth
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(w_in, w_out, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(w_out, w_out, 3, padding=1),
                nn.ReLU(),
            )
            for w_in, w_out in zip(widths[:-1], widths[1:], strict=True)
        )
        self.head = nn.Conv2d(chans, 1, 1)
        self.checkpointed = checkpointed

    def forward(self, masked_kspace: torch.Tensor, mask: torch.Tensor, num_low_frequencies: torch.Tensor):
        coils = masked_kspace.shape[1] // self.num_adj_slices
        centre = masked_kspace[:, coils * (self.num_adj_slices // 2) : coils * (self.num_adj_slices // 2 + 1)]
        acs = acs_mask(num_low_frequencies, mask.shape[-1])  # exercises a tensor-valued count under fakes
        image = ifft2c(centre * (mask + acs).clamp(max=1)).sum(1, keepdim=True)
        x = complex_to_channels(image)
        for block in self.blocks:
            x = checkpoint(block, x, use_reentrant=False) if self.checkpointed else block(x)
        return self.head(x).squeeze(1).abs()


class StandInModule(nn.Module):
    """What the tracer uses of `ReconModule`: forward(batch), compute_loss(batch), configure_optimizers()."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: dict) -> torch.Tensor:
        image = self.net(batch["masked_kspace"], batch["mask"], batch["num_low_frequencies"])
        return center_crop(image, batch["target"].shape[-2:])

    def compute_loss(self, batch: dict) -> torch.Tensor:
        return (self(batch) - batch["target"]).abs().mean() / batch["max_value"].mean()

    def configure_optimizers(self) -> dict:
        return {"optimizer": torch.optim.AdamW(self.parameters(), lr=1e-3, weight_decay=0.01)}


def stand_in(**net_options) -> StandInModule:
    return StandInModule(ConvStack(**net_options))


def within_one_percent(estimate: int, measured: int) -> bool:
    return abs(estimate - measured) <= 0.01 * measured


@pytest.mark.parametrize("fake", [False, True])
def test_view_of_a_tracked_tensor_adds_nothing(fake):
    with FakeTensorMode() if fake else contextlib.nullcontext(), LiveStorageTracker() as tracker:
        big = torch.empty(256, 256)
        before = tracker.live_bytes
        views = [big.view(-1), big[10:20], big.t(), big.unsqueeze(0)]
        big.add_(1.0)  # in place: same storage
    assert before == 256 * 256 * FLOAT_BYTES
    assert tracker.live_bytes == before
    assert len(views) == 4


@pytest.mark.parametrize("fake", [False, True])
def test_freed_tensor_leaves_the_live_total_but_not_the_peak(fake):
    with FakeTensorMode() if fake else contextlib.nullcontext(), LiveStorageTracker() as tracker:
        kept = torch.zeros(128, 128)
        temporary = torch.ones(512, 512)
        view = temporary[0]
        del temporary
        still_alive = tracker.live_bytes  # the view keeps the storage alive
        del view
    assert still_alive == (128 * 128 + 512 * 512) * FLOAT_BYTES
    assert tracker.live_bytes == 128 * 128 * FLOAT_BYTES
    assert tracker.peak.nbytes == still_alive
    assert [record.shape for record in tracker.peak.largest] == [(512, 512), (128, 128)]
    assert kept.shape == (128, 128)


def test_tensors_made_before_entering_are_not_counted():
    outside = torch.zeros(64, 64)
    with LiveStorageTracker() as tracker:
        alias = outside[1:]
        fresh = outside + 1
    assert tracker.live_bytes == 64 * 64 * FLOAT_BYTES
    assert alias.shape == (63, 64) and fresh.shape == (64, 64)


@pytest.mark.parametrize("fake", [False, True])
def test_resizing_a_tracked_storage_updates_the_total(fake):
    with FakeTensorMode() if fake else contextlib.nullcontext(), LiveStorageTracker() as tracker:
        grown = torch.empty(0)
        grown.resize_(1000)
    assert tracker.live_bytes == tracker.peak.nbytes == 4096  # 4000 bytes in 512-byte blocks
    assert grown.numel() == 1000


def test_sizes_round_up_to_allocator_blocks():
    with LiveStorageTracker() as tracker:
        one = torch.zeros(1)
        exact = torch.zeros(128)  # 512 bytes
        over = torch.zeros(129)  # 516 bytes
    assert tracker.live_bytes == 512 + 512 + 1024
    with LiveStorageTracker(rounding=1) as unrounded:
        also_over = torch.zeros(129)
    assert unrounded.live_bytes == 516
    assert one.numel() + exact.numel() + over.numel() + also_over.numel() == 387


def test_phases_keep_their_own_peak_and_records_name_module_and_phase():
    net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU())
    with torch.no_grad(), LiveStorageTracker() as tracker:
        with tracker.phase("small"):
            small = torch.zeros(1, 1, 16, 16)
        tracker.watch_modules(net)
        with tracker.phase("large"):
            out = net(torch.zeros(1, 1, 64, 64))
    peaks = tracker.phase_peaks
    assert peaks["small"].nbytes == small.numel() * FLOAT_BYTES
    assert peaks["large"].nbytes == tracker.peak.nbytes > peaks["small"].nbytes
    conv = next(r for r in tracker.peak.largest if r.op == "convolution")
    assert (conv.module, conv.phase, conv.shape) == ("0", "large", (1, 8, 64, 64))
    assert out.shape == (1, 8, 64, 64)


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_fake_training_estimate_equals_real_accounting(precision):
    fake = trace_training_step(stand_in, SMALL, fake=True, precision=precision)
    real = trace_training_step(stand_in, SMALL, fake=False, precision=precision)
    assert fake.fake and not real.fake
    assert within_one_percent(fake.peak_bytes, real.peak_bytes)
    for phase in ("setup", "forward", "backward", "optimizer"):
        assert within_one_percent(fake.phases[phase].nbytes, real.phases[phase].nbytes), phase
    assert fake.resident_bytes == real.resident_bytes
    assert fake.parameters == real.parameters == sum(p.numel() for p in stand_in().parameters())


def test_fake_inference_estimate_equals_real_accounting():
    fake = trace_inference(stand_in, SMALL, fake=True)
    real = trace_inference(stand_in, SMALL, fake=False)
    assert within_one_percent(fake.peak_bytes, real.peak_bytes)
    assert set(fake.phases) == {"setup", "forward"}
    assert fake.peak_bytes < trace_training_step(stand_in, SMALL).peak_bytes


def test_training_report_accounts_for_parameters_gradients_and_adamw_state():
    report = trace_training_step(stand_in, SMALL)
    resident = dict(report.resident.by_source)
    # Gradients stay alive after the step: Lightning zeroes them between the next forward and backward.
    assert resident["parameters"] == resident["gradients"] >= report.parameter_bytes
    assert resident["optimizer state"] >= 2 * report.parameter_bytes
    assert resident["batch"] >= 12 * 64 * 48 * 8
    assert report.resident_bytes == sum(resident.values())
    # ... so the second forward peaks higher than the first by at least the gradients and AdamW moments.
    first_forward = trace_training_step(stand_in, SMALL, steps=1).phases["forward"].nbytes
    assert report.phases["forward"].nbytes >= first_forward + 3 * report.parameter_bytes
    assert report.inputs["masked_kspace"] == (1, 12, 64, 48)
    assert "training peak" in report.summary()


def test_bigger_input_gives_bigger_estimate():
    small = trace_training_step(stand_in, SMALL)
    taller = trace_training_step(stand_in, BatchShape(coils=4, height=128, width=48, adj_slices=3))
    assert taller.peak_bytes > 1.5 * small.peak_bytes


def test_checkpointing_lowers_the_training_estimate():
    plain = trace_training_step(functools.partial(stand_in, depth=4), SMALL)
    checkpointed = trace_training_step(functools.partial(stand_in, depth=4, checkpointed=True), SMALL)
    assert checkpointed.phases["forward"].nbytes < plain.phases["forward"].nbytes
    assert checkpointed.peak_bytes < plain.peak_bytes


def test_bf16_autocast_lowers_activation_memory():
    fp32 = trace_training_step(stand_in, SMALL, precision="32-true")
    bf16 = trace_training_step(stand_in, SMALL, precision="bf16-mixed")
    fp16_stand_in = trace_training_step(stand_in, SMALL, precision="16-mixed")
    activations = {
        name: report.phases["forward"].nbytes - report.phases["setup"].nbytes
        for name, report in (("fp32", fp32), ("bf16", bf16))
    }
    assert activations["bf16"] < 0.8 * activations["fp32"]
    assert fp16_stand_in.peak_bytes == bf16.peak_bytes


def test_batch_shape_builds_the_interface_batch_under_fake_tensors():
    with FakeTensorMode():
        batch = BatchShape(coils=2, height=32, width=24, adj_slices=5, batch_size=2)()
    assert batch["masked_kspace"].shape == (2, 10, 32, 24) and batch["masked_kspace"].dtype == torch.complex64
    assert batch["mask"].shape == (2, 1, 1, 24) and batch["mask"].dtype == torch.float32
    assert batch["num_low_frequencies"].dtype == torch.int64 and batch["num_low_frequencies"].shape == (2,)
    assert batch["target"].shape == (2, 32, 24)
    assert batch["fname"] == ["synthetic_0.h5", "synthetic_1.h5"]


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="precision"):
        trace_training_step(stand_in, SMALL, precision="8-mixed")
    with pytest.raises(ValueError, match="steps"):
        trace_training_step(stand_in, SMALL, steps=0)
    with pytest.raises(ValueError, match="no optimizer"):
        first_optimizer(None)
    with pytest.raises(ValueError, match=">= 1"):
        BatchShape(coils=0, height=8, width=8)


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_a_primed_step_peaks_like_the_second_of_two_steps(precision):
    two = trace_training_step(stand_in, SMALL, steps=2, precision=precision)
    primed = trace_training_step(stand_in, SMALL, steps=1, precision=precision, primed=True)
    assert primed.peak_bytes == two.peak_bytes
    for phase in ("setup", "forward", "backward", "optimizer"):
        assert primed.phases[phase].nbytes == two.phases[phase].nbytes, phase
    assert dict(primed.resident.by_source) == dict(two.resident.by_source)
