"""GPU-free memory estimation: trace a training step on fake tensors and account every live storage."""

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.report import MemoryReport, format_bytes
from fastmri_pl.memory.trace import trace_inference, trace_training_step
from fastmri_pl.memory.tracker import LiveStorageTracker, PeakSnapshot, TensorRecord

__all__ = [
    "BatchShape",
    "LiveStorageTracker",
    "MemoryReport",
    "PeakSnapshot",
    "TensorRecord",
    "format_bytes",
    "trace_inference",
    "trace_training_step",
]
