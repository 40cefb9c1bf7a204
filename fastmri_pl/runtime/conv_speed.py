"""What speeds convolutions on a GPU, from the hardware profile: cuDNN autotuning and channels-last weights.

`hardware.cudnn_benchmark`: cuDNN times its convolution algorithms once per input shape and keeps the fastest
(a few shapes here: coil counts and widths vary between volumes, batch 1). `hardware.channels_last`: the
network's 4-D weights are stored NHWC; a convolution with a channels-last weight runs the NHWC kernels and
hands channels-last outputs on, which tensor cores (fp16/bf16 on Volta and newer) want. Both change kernel
choice only, not results beyond fp rounding; the GPU profiles switch them on, `hardware=cpu` off.
"""

import torch
from omegaconf import DictConfig
from torch import nn


def set_cudnn_benchmark(hardware: DictConfig) -> None:
    """`torch.backends.cudnn.benchmark` as the profile says (`hardware.cudnn_benchmark`, default off)."""
    torch.backends.cudnn.benchmark = bool(hardware.get("cudnn_benchmark", False))


def to_memory_format(module: nn.Module, hardware: DictConfig) -> nn.Module:
    """The module with its weights channels-last when `hardware.channels_last`, else as it is."""
    if hardware.get("channels_last", False):
        return module.to(memory_format=torch.channels_last)
    return module
