"""The time estimate: per-op FLOPs and bytes, the roofline arithmetic, and the costs the traces count."""

import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import estimate_full, reconstruct_forward
from fastmri_pl.memory.opcost import OpCostCounter, OpCosts
from fastmri_pl.memory.roofline import DeviceSpeed, project, roofline_seconds, slice_ms
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training import build

SPEED = DeviceSpeed(
    tflops={"fp32": 1.0, "fp16": 4.0, "bf16": None},
    memory_gbps=100.0,
    host_gbps=10.0,
    op_overhead_us=1.0,
    efficiency=(0.5, 1.0),
)


def counted(fn) -> OpCosts:
    with OpCostCounter() as counter:
        fn()
    return counter.costs


def test_a_matmul_counts_exact_flops_and_bytes():
    a, b = torch.randn(64, 32), torch.randn(32, 16)
    costs = counted(lambda: a @ b)
    assert costs.counts == {("mm", "fp32", 2 * 64 * 32 * 16, 4 * (64 * 32 + 32 * 16 + 64 * 16)): 1.0}


def test_views_move_nothing_broadcasts_are_read_once_and_copies_do_not_read_their_target():
    x, row, target = torch.randn(8, 16), torch.randn(16), torch.empty(8, 16)
    assert counted(lambda: x.view(16, 8).t()).counts == {}
    assert counted(lambda: x * row.expand(8, 16)).bytes == 4 * (8 * 16 + 16 + 8 * 16)
    assert counted(lambda: target.copy_(x)).bytes == 4 * (8 * 16 + 8 * 16)


def test_roofline_takes_the_slowest_of_compute_memory_and_overhead_per_op():
    compute_bound = OpCosts({("mm", "fp32", 10**9, 10**6): 2.0})  # 1 ms of FLOPs vs 10 us of bytes, twice
    memory_bound = OpCosts({("add", "fp32", 0, 10**8): 1.0})  # 1 ms of bytes
    tiny = OpCosts({("add", "fp32", 0, 8): 3.0})  # 3 x the 1 us overhead
    assert roofline_seconds(compute_bound, SPEED, "32-true", 1.0) == pytest.approx(2e-3)
    assert roofline_seconds(compute_bound, SPEED, "32-true", 0.5) == pytest.approx(4e-3)
    assert roofline_seconds(memory_bound, SPEED, "32-true", 1.0) == pytest.approx(1e-3)
    assert roofline_seconds(tiny, SPEED, "32-true", 0.5) == pytest.approx(3e-6)
    offloaded = OpCosts({}, host_bytes=10**8)  # 10 ms over the host link, efficiency aside
    assert roofline_seconds(offloaded, SPEED, "32-true", 0.5) == pytest.approx(1e-2)


def test_16_bit_ops_run_at_the_faster_of_the_16_bit_and_fp32_rates():
    half = OpCosts({("convolution", "half", 4 * 10**9, 0): 1.0})
    assert roofline_seconds(half, SPEED, "16-mixed", 1.0) == pytest.approx(1e-3)  # fp16 at 4 TFLOPS
    assert roofline_seconds(half, SPEED, "bf16-mixed", 1.0) == pytest.approx(4e-3)  # no bf16: fp32 rate


def test_projection_scales_a_step_to_an_epoch_and_a_slice_to_the_leaderboard():
    train = OpCosts({("mm", "fp32", 10**12, 0): 1.0})  # 1 s at peak
    infer = OpCosts({("mm", "fp32", 2 * 10**11, 0): 1.0})  # a batch of 2 slices: 0.1 s per slice at peak
    time = project(train, infer, SPEED, "32-true", batch_size=2, dataset_slices=7200, leaderboard_slices=100)
    assert time.train_tflop == 1.0 and time.infer_tflop == pytest.approx(0.1)
    assert time.step_s == pytest.approx((1.0, 2.0))
    assert time.epoch_h == pytest.approx((1.0, 2.0))  # 3,600 steps of 2 slices
    assert time.leaderboard_s == pytest.approx((10.0, 20.0))
    assert "50%-100%" in time.assumption


def test_a_profile_without_speed_or_with_a_bad_efficiency_is_refused():
    with pytest.raises(ValueError, match="hardware.speed is missing"):
        DeviceSpeed.from_config({"precision": "32-true"})
    with pytest.raises(ValueError, match="hardware.speed.efficiency"):
        DeviceSpeed({"fp32": 1.0}, 1.0, 1.0, 1.0, (0.9, 0.5))


def varnet_cfg(cascades: int):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            "memory", overrides=["model=varnet_small", "hardware=cpu", f"model.net.num_cascades={cascades}"]
        )


SHAPE = BatchShape(coils=2, height=32, width=24)


@pytest.mark.slow
def test_recompute_and_offload_show_in_the_traced_costs():
    cfg = varnet_cfg(2)
    plain, checkpointed, offloaded = (
        estimate_full(cfg, SHAPE, levers, steps=1).train_costs
        for levers in (MemoryLevers(), MemoryLevers("cascade", 1), MemoryLevers("cascade", 1, offload=True))
    )
    assert plain.flops < checkpointed.flops == offloaded.flops
    assert plain.host_bytes == checkpointed.host_bytes == 0 < offloaded.host_bytes


@pytest.mark.slow
def test_composed_costs_count_every_sensitivity_chunk_and_cascade():
    """The composition traces one sensitivity chunk (weighted by the chunk count) and 3 + 4 cascades (here
    behind one cascade left out of a partial checkpoint), and extrapolates to 6."""
    cfg, levers = varnet_cfg(6), MemoryLevers("cascade", 1, offload=True, checkpoint_cascades=5)
    full, composed = (
        estimate_full(cfg, SHAPE, levers, steps=1),
        estimate_composed(cfg, SHAPE, levers, steps=1),
    )
    assert composed.method == "composed"
    assert composed.train_costs.flops == pytest.approx(full.train_costs.flops, rel=1e-9)
    assert composed.infer_costs.flops == pytest.approx(full.infer_costs.flops, rel=1e-9)
    assert composed.train_costs.host_bytes == pytest.approx(full.train_costs.host_bytes, rel=1e-9)
    # gradients of the stand-in chunks are not summed one by one: bytes within a few per cent
    assert composed.train_costs.bytes == pytest.approx(full.train_costs.bytes, rel=0.05)
    assert composed.train_peak == pytest.approx(full.train_peak, rel=0.02)


def test_inference_costs_count_each_slices_sensitivity_maps_once_as_reconstruct_does():
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("memory", overrides=["model=promptmr_small", "hardware=cpu"])
    module = build.build_module(cfg).eval()
    batch = BatchShape(coils=2, height=32, width=24, adj_slices=3)()
    kspace, acs = batch["masked_kspace"], batch["num_low_frequencies"]
    with torch.no_grad():
        window, once, maps = (
            counted(run).flops
            for run in (
                lambda: module(batch),
                lambda: reconstruct_forward(module, batch),
                lambda: module.net.sens_net(kspace, acs),
            )
        )
        torch.testing.assert_close(reconstruct_forward(module, batch), module(batch))
    assert maps > 0 and window - once == pytest.approx(maps * (1 - 1 / 3), rel=1e-6)


def test_slice_ms_is_one_pass_in_milliseconds_over_the_efficiency_range():
    # 2 GB over 100 GB/s: 20 ms at full efficiency, 40 ms at half; plus one op at the overhead floor
    costs = OpCosts({("copy", "fp32", 0, 2 * 10**9): 1.0, ("add", "fp32", 0, 8): 1.0})
    assert slice_ms(costs, SPEED, "32-true") == pytest.approx((20.001, 40.001))
