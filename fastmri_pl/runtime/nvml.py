"""The card's free memory before this process starts CUDA, read through NVML (the driver's management
library, what `nvidia-smi` reads).

`torch.cuda.mem_get_info` cannot give that reading: it needs a CUDA context, and the first call creates this
process's own, so "before" would already hold part of what it is meant to measure. NVML reads the card
without a context. It is loaded with ctypes from the driver's `libnvidia-ml.so.1`, as torch itself does to
count devices (`torch.cuda._raw_device_uuid_nvml`), so no package is needed; anywhere it cannot be read (no
driver, another platform) the reading is None and the caller says so.
"""

import ctypes
import logging
from typing import Any

import torch

log = logging.getLogger(__name__)
LIBRARY = "libnvidia-ml.so.1"


class _Memory(ctypes.Structure):
    """NVML's `nvmlMemory_t` (bytes)."""

    _fields_ = [
        ("total", ctypes.c_ulonglong),
        ("free", ctypes.c_ulonglong),
        ("used", ctypes.c_ulonglong),
    ]


def nvml_uuid(uuid: Any) -> bytes:
    """A device's UUID as NVML names it ("GPU-xxxxxxxx-..."), from torch's device property."""
    text = str(uuid)
    return (text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}").encode()


def free_before_cuda(index: int) -> int | None:
    """Free bytes on CUDA device `index` (as this process numbers it) by NVML, creating no CUDA context;
    None where NVML cannot be read."""
    try:
        uuid = nvml_uuid(torch.cuda.get_device_properties(index).uuid)
        library = ctypes.CDLL(LIBRARY)
    except (OSError, RuntimeError, AssertionError, AttributeError) as error:
        log.debug(f"NVML not readable: {error}")
        return None
    if library.nvmlInit_v2() != 0:
        return None
    try:
        handle, memory = ctypes.c_void_p(), _Memory()
        if library.nvmlDeviceGetHandleByUUID(ctypes.c_char_p(uuid), ctypes.byref(handle)) != 0:
            return None
        if library.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(memory)) != 0:
            return None
        return int(memory.free)
    finally:
        library.nvmlShutdown()
