"""GPU convolution settings (`hardware.cudnn_benchmark`, `hardware.channels_last`): profiles and results."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.mri.fft import fft2c
from fastmri_pl.runtime.conv_speed import set_cudnn_benchmark, to_memory_format

HARDWARE = Path(CONFIG_DIR) / "hardware"


@pytest.mark.parametrize(
    ("profile", "benchmark", "channels_last"),
    [("cpu", False, False), ("gtx1080", True, False), ("rtx4070", True, True), ("a100", True, True)],
)
def test_profiles_switch_them_on_for_gpus_only(profile: str, benchmark: bool, channels_last: bool) -> None:
    hardware = OmegaConf.load(HARDWARE / f"{profile}.yaml")
    assert (hardware.cudnn_benchmark, hardware.channels_last) == (benchmark, channels_last)
    before = torch.backends.cudnn.benchmark
    try:
        set_cudnn_benchmark(hardware)
        assert torch.backends.cudnn.benchmark is benchmark
    finally:
        torch.backends.cudnn.benchmark = before


def smooth_kspace(coil_images: int, height: int, width: int) -> torch.Tensor:
    """K-space of smooth blobs with coil phases: on white-noise k-space, VarNet's gradients move by percents
    under a 1e-6 change of the input, which would hide what this compares."""
    y, x = torch.meshgrid(torch.linspace(-1, 1, height), torch.linspace(-1, 1, width), indexing="ij")
    images = [torch.exp(-3 * ((x - 0.2 * c) ** 2 + y**2) + 1j * (c + 1) * x) for c in range(coil_images)]
    return fft2c(torch.stack(images).to(torch.complex64)).unsqueeze(0)


@pytest.mark.parametrize("model", ["promptmr_small", "varnet_small"])
def test_channels_last_weights_give_the_same_output_and_gradients(model: str) -> None:
    cfg = OmegaConf.create({"model": OmegaConf.load(Path(CONFIG_DIR) / "model" / f"{model}.yaml")})
    torch.manual_seed(0)
    plain = instantiate(cfg.model.net)
    fast = to_memory_format(instantiate(cfg.model.net), OmegaConf.create({"channels_last": True}))
    fast.load_state_dict(plain.state_dict())
    conv = next(m for m in fast.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    kspace = smooth_kspace(plain.num_adj_slices * 2, 24, 16)
    mask, acs = torch.ones(1, 1, 1, 16), torch.tensor([4])
    outputs = [net(kspace, mask, acs) for net in (plain, fast)]
    torch.testing.assert_close(
        outputs[1], outputs[0], rtol=1e-4, atol=1e-5 * float(outputs[0].detach().abs().max())
    )
    for output in outputs:
        output.sum().backward()
    for (name, a), b in zip(plain.named_parameters(), fast.parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(
                b.grad, a.grad, rtol=1e-3, atol=1e-4 * float(a.grad.abs().max()) + 1e-12, msg=name
            )


def test_a_profile_without_the_key_changes_nothing() -> None:
    net = torch.nn.Conv2d(2, 4, 3)
    assert to_memory_format(net, OmegaConf.create({})).weight.is_contiguous()
