"""Timing GPU work: CUDA runs kernels asynchronously, so a clock read must wait for the queued ones."""

import torch


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued kernels (CUDA), so a clock read next times finished work; no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
