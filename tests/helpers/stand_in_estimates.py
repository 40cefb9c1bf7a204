"""Stand-ins for the estimator's traces where a test checks what is built on them (a real plan traces every
candidate for seconds to minutes): memory and work grow with the batch's coil pixels."""

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import Estimate, InferenceEstimate
from fastmri_pl.memory.opcost import OpCosts
from fastmri_pl.models.levers import MemoryLevers


def stand_in_estimate(cfg, shape: BatchShape, levers: MemoryLevers) -> Estimate:
    """1 MiB per coil pixel; one op whose bytes grow with the coil pixels (memory-bound on the cpu card)."""
    pixels = shape.coils * shape.height * shape.width
    costs = OpCosts({("copy", "fp32", 0, 10_000 * pixels): 1.0})
    return Estimate(levers, "32-true", 1, pixels * 2**20, 2**20, {}, 0, train_costs=costs, infer_costs=costs)


def stand_in_inference(cfg, shape: BatchShape, levers: MemoryLevers) -> InferenceEstimate:
    """1 MiB and one small op, whatever the shape."""
    return InferenceEstimate(2**20, 2**20, OpCosts({("copy", "fp32", 0, 10_000): 1.0}))
