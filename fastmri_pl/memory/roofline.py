"""Time from counted work: a roofline per op with a card's peak compute, memory bandwidth and host link.

Each op costs max(FLOPs / (peak x efficiency), bytes / (bandwidth x efficiency), per-op overhead): it is
bounded by arithmetic or by memory traffic, and never shorter than the launch and dispatch cost of one eager
PyTorch op. Host offload adds its bytes over the host link (PyTorch's `save_on_cpu` copies on the compute
stream, so they do not overlap kernels). Ops of the "half" class run at the faster of the profile's 16-bit
rate and its fp32 rate: PyTorch's 16-bit matmuls and convolutions accumulate in fp32, which on a card without
fast 16-bit arithmetic (Pascal) runs at the fp32 rate. The efficiency range (`hardware.speed.efficiency`) is
the assumption every projected time carries: the fraction of peak compute and bandwidth that kernels reach.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastmri_pl.memory.opcost import OpCosts
from fastmri_pl.runtime.precision import is_mixed, peak_key


@dataclass(frozen=True)
class DeviceSpeed:
    """A card's (or CPU's) peaks: TFLOPS per dtype, memory and host-link GB/s, per-op overhead (us)."""

    tflops: Mapping[str, float | None]
    memory_gbps: float
    host_gbps: float
    op_overhead_us: float
    efficiency: tuple[float, float]

    def __post_init__(self) -> None:
        low, high = self.efficiency
        if not 0 < low <= high <= 1:
            raise ValueError(
                f"hardware.speed.efficiency must be [low, high] with 0 < low <= high <= 1, got "
                f"{list(self.efficiency)}"
            )
        if not (self.tflops.get("fp32") or 0) > 0 or self.memory_gbps <= 0 or self.host_gbps <= 0:
            raise ValueError("hardware.speed needs tflops.fp32, memory_gbps and host_gbps > 0")

    @classmethod
    def from_config(cls, hardware: Any) -> "DeviceSpeed":
        """`hardware.speed` of a profile; one clear error when the profile has none."""
        speed = hardware.get("speed") if hasattr(hardware, "get") else None
        if speed is None:
            raise ValueError("hardware.speed is missing in this profile: the time estimate needs its peaks")
        return cls(
            tflops=dict(speed.tflops),
            memory_gbps=float(speed.memory_gbps),
            host_gbps=float(speed.host_gbps),
            op_overhead_us=float(speed.op_overhead_us),
            efficiency=(float(speed.efficiency[0]), float(speed.efficiency[1])),
        )

    def peak_flops(self, compute_class: str, precision: str) -> float:
        """FLOP/s of an op class under a Lightning precision (see the module docstring for "half")."""
        fp32 = float(self.tflops["fp32"] or 0)
        if compute_class != "half":
            return fp32 * 1e12
        half = self.tflops.get(peak_key(precision)) or 0.0
        return max(float(half), fp32) * 1e12


def roofline_seconds(costs: OpCosts, speed: DeviceSpeed, precision: str, efficiency: float) -> float:
    """Seconds of `costs` at `efficiency` of the peaks: per op the slowest of compute, memory and overhead."""
    bandwidth = speed.memory_gbps * 1e9 * efficiency
    overhead = speed.op_overhead_us * 1e-6
    rates = {cls: speed.peak_flops(cls, precision) * efficiency for cls in ("fp32", "half")}
    device = sum(
        count * max(flops / rates[cls], nbytes / bandwidth, overhead)
        for (_, cls, flops, nbytes), count in costs.counts.items()
    )
    return device + costs.host_bytes / (speed.host_gbps * 1e9)


@dataclass(frozen=True)
class TimeEstimate:
    """Work and projected times of one lever setting; times are [low, high] over the efficiency range.

    epoch_basis: how `epoch_h` was computed, in words (a slice count times one step at the traced shape, or
    the sum of every training sample's step at its own shape, `memory.epoch`).
    """

    train_tflop: float
    infer_tflop: float
    host_gb: float
    step_s: tuple[float, float]
    epoch_h: tuple[float, float]
    leaderboard_s: tuple[float, float]
    assumption: str
    epoch_basis: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "train_tflop": _significant(self.train_tflop),
            "infer_tflop": _significant(self.infer_tflop),
            "host_gb_per_step": _significant(self.host_gb),
            "step_s": [_significant(value) for value in self.step_s],
            "epoch_h": [_significant(value) for value in self.epoch_h],
            "leaderboard_s": [_significant(value) for value in self.leaderboard_s],
            "epoch_basis": self.epoch_basis,
            "time_assumption": self.assumption,
        }


def _significant(value: float) -> float:
    """Four significant digits: the projections are not more precise, and tiny test shapes stay nonzero."""
    return float(f"{value:.4g}")


def project(
    train: OpCosts,
    infer: OpCosts,
    speed: DeviceSpeed,
    precision: str,
    batch_size: int,
    dataset_slices: int,
    leaderboard_slices: int,
) -> TimeEstimate:
    """Step, epoch and leaderboard times of a training step's and an inference pass's costs.

    An epoch is `dataset_slices / batch_size` steps; the leaderboard is `leaderboard_slices` inference passes
    of one slice (the inference trace's batch divided by `batch_size`).
    """
    low, high = speed.efficiency
    step = tuple(roofline_seconds(train, speed, precision, eff) for eff in (high, low))
    per_slice = tuple(roofline_seconds(infer, speed, precision, eff) / batch_size for eff in (high, low))
    steps_per_epoch = dataset_slices / batch_size
    assumption = (
        f"roofline at {low:.0%}-{high:.0%} of {speed.tflops['fp32']} TFLOPS fp32"
        + (f" / {speed.peak_flops('half', precision) / 1e12:g} TFLOPS 16-bit" if is_mixed(precision) else "")
        + f" and {speed.memory_gbps:g} GB/s, host link {speed.host_gbps:g} GB/s, "
        f">= {speed.op_overhead_us:g} us per op; {dataset_slices} slices per epoch, "
        f"{leaderboard_slices} leaderboard slices"
    )
    return TimeEstimate(
        train_tflop=train.flops / 1e12,
        infer_tflop=infer.flops / 1e12 / batch_size,
        host_gb=train.host_bytes / 1e9,
        step_s=(step[0], step[1]),
        epoch_h=(step[0] * steps_per_epoch / 3600, step[1] * steps_per_epoch / 3600),
        leaderboard_s=(per_slice[0] * leaderboard_slices, per_slice[1] * leaderboard_slices),
        assumption=assumption,
        epoch_basis=f"{dataset_slices} slices x one step at the traced shape",
    )


def slice_ms(costs: OpCosts, speed: DeviceSpeed, precision: str) -> tuple[float, float]:
    """Milliseconds of one inference pass traced at batch 1 (one slice as `reconstruct` runs it), [low, high]
    over the efficiency range."""
    low, high = speed.efficiency
    fast, slow = (1e3 * roofline_seconds(costs, speed, precision, eff) for eff in (high, low))
    return fast, slow


# an SNU training set (2024) and its two leaderboard accelerations, when the config does not say
DATASET_SLICES = 5400
LEADERBOARD_SLICES = 1860


def project_for(cfg: Any, train: OpCosts, infer: OpCosts, batch_size: int) -> TimeEstimate:
    """`project` with the profile's `hardware.speed` and precision and `memory.dataset_slices` /
    `memory.leaderboard_slices` (defaults above when the config has no `memory` group, as in training)."""
    memory = cfg.get("memory") or {}
    return project(
        train,
        infer,
        DeviceSpeed.from_config(cfg.hardware),
        str(cfg.hardware.precision),
        batch_size,
        int(memory.get("dataset_slices") or DATASET_SLICES),
        int(memory.get("leaderboard_slices") or LEADERBOARD_SLICES),
    )
