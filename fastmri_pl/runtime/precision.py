"""What a Lightning precision string (`hardware.precision`) means for the code that runs outside the Trainer.

Training hands the string to Lightning, whose precision plugin casts under autocast; reconstruction, the
benchmark, the memory trace and the roofline need the same meaning without a Trainer: the 16-bit type the
mixed precisions compute in, the autocast a real run uses on its device, the CPU autocast a trace stands in
with, and which peak (`hardware.speed.tflops` key) the roofline projects with. Any other string is refused as
one `DataError` naming `hardware.precision`.
"""

import contextlib

import torch

from fastmri_pl.errors import DataError

KEY = "hardware.precision"
COMPUTE_DTYPES = {"32-true": torch.float32, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
PRECISIONS = tuple(COMPUTE_DTYPES)
PEAK_KEYS = {torch.float32: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}


def check_precision(precision: str) -> str:
    """The precision as a string, or one `DataError` naming `hardware.precision` and the ones supported."""
    if str(precision) not in COMPUTE_DTYPES:
        raise DataError(KEY, f"must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return str(precision)


def compute_dtype(precision: str) -> torch.dtype:
    """The dtype autocast computes matmuls and convolutions in (float32 for `32-true`)."""
    return COMPUTE_DTYPES[check_precision(precision)]


def is_mixed(precision: str) -> bool:
    return compute_dtype(precision) != torch.float32


def peak_key(precision: str) -> str:
    """The `hardware.speed.tflops` entry of the precision's 16-bit ops: fp16, bf16 (fp32 for 32-true)."""
    return PEAK_KEYS[compute_dtype(precision)]


def uses_grad_scaler(precision: str, device: torch.device) -> bool:
    """fp16 on CUDA scales the loss (Lightning's `16-mixed` does); bf16 has fp32's range and needs none."""
    return compute_dtype(precision) == torch.float16 and device.type == "cuda"


def cpu_precision(precision: str) -> str:
    """What CPU can run of a precision: fp16 autocast becomes bf16 (same element size)."""
    return "bf16-mixed" if compute_dtype(precision) == torch.float16 else str(precision)


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast a run computes under on `device`: a mixed precision's on CUDA (FFTs stay fp32 inside
    `mri.fft`); none for `32-true` or on CPU, where inference runs in fp32."""
    dtype = compute_dtype(precision)
    if dtype == torch.float32 or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast(device_type="cuda", dtype=dtype)


def traced_autocast(precision: str) -> contextlib.AbstractContextManager:
    """CPU autocast standing in for the CUDA autocast of a precision (memory traces, CPU benchmark steps).

    Both mixed precisions use bf16 on CPU: fp16 has the same element size, and CPU autocast does not offer
    fp16 everywhere. CPU and CUDA autocast cast nearly the same op lists (convolutions and matmuls to 16 bit).
    The GradScaler of "16-mixed" is not emulated: it scales a scalar loss and unscales gradients in place.
    The cast cache is off, as Lightning's `MixedPrecision.autocast_context_manager` has it: each use of a
    weight casts it anew and the 16-bit copy dies with the op's saved tensors, instead of living until the
    forward ends.
    """
    if not is_mixed(precision):
        return contextlib.nullcontext()
    return torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False)
