"""Start-up check: stop with one line when the installed torch has no kernels for the CUDA card.

Without it a GTX 1080 under a torch build without Pascal kernels fails at the first CUDA kernel, minutes in,
with "no kernel image is available for execution on the device".

Which code runs on a card of compute capability X.Y (NVIDIA's compatibility rules, as torch applies them):
- a cubin `sm_AB` runs on cards of the same major version with minor >= B (`sm_60` serves the GTX 1080's 6.1:
  the CUDA 12.6 builds list sm_50, sm_60, sm_70, ... and no sm_61), except on the integrated Tegra GPUs
  (5.3, 6.2, 7.2, 8.7), which run only their own cubins;
- an arch-specific cubin `sm_ABa` runs on A.B only; a family cubin `sm_ABf` like a plain one;
- PTX `compute_AB` is compiled by the driver for any card >= A.B.
"""

import sys

import torch

from fastmri_pl.runtime.torch_install import Capability, TorchInstallError, choose

TEGRA = {(5, 3), (6, 2), (7, 2), (8, 7)}
CUDA_ACCELERATORS = ("gpu", "cuda", "auto")


def _arch_capability(arch: str) -> tuple[str, Capability, str]:
    """Split an arch: 'sm_61' -> ('sm', (6, 1), ''), 'sm_90a' -> ('sm', (9, 0), 'a')."""
    kind, _, code = arch.partition("_")
    suffix = code[-1] if code and code[-1].isalpha() else ""
    major, minor = divmod(int(code.rstrip("af")), 10)
    return kind, (major, minor), suffix


def arch_serves(arch: str, capability: Capability) -> bool:
    """Whether code compiled for `arch` (an entry of `torch.cuda.get_arch_list()`) runs on `capability`."""
    kind, built, suffix = _arch_capability(arch)
    if kind == "compute":
        return built <= capability
    if suffix == "a" or capability in TEGRA:
        return built == capability
    return built[0] == capability[0] and built[1] <= capability[1]


def build_supports(capability: Capability, arch_list: list[str]) -> bool:
    return any(arch_serves(arch, capability) for arch in arch_list)


def unsupported_message(name: str, capability: Capability, arch_list: list[str]) -> str:
    """One line: the card, the torch build, and the command that installs a build with its kernels."""
    sm = f"sm_{capability[0]}{capability[1]}"
    problem = (
        f"error: {name} ({sm}) has no kernels in torch {torch.__version__} (built for {' '.join(arch_list)})"
    )
    try:
        fix = choose(capability).command(sys.executable, extra=("--force-reinstall",))
    except TorchInstallError as error:
        return f"{problem}; {error}"
    return f"{problem}; install one that has: {fix}"


def check_cuda_build(accelerator: str) -> None:
    """Exit with `unsupported_message` when a run that would use CUDA finds a card the build cannot serve."""
    if str(accelerator) not in CUDA_ACCELERATORS or torch.version.cuda is None:
        return
    if not torch.cuda.is_available():
        return
    arch_list = torch.cuda.get_arch_list()
    for index in range(torch.cuda.device_count()):
        capability = tuple(torch.cuda.get_device_capability(index))
        if not build_supports(capability, arch_list):
            raise SystemExit(unsupported_message(torch.cuda.get_device_name(index), capability, arch_list))
