"""E2E-VarNet: awkward sizes, the published parameter count, levers, bf16, the centre-slice pick, configs."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.models.unet import Unet
from fastmri_pl.models.varnet import VarNet
from fastmri_pl.mri.coils import rss

CONF_MODEL = Path(CONFIG_DIR) / "model"
TINY = {"num_cascades": 2, "chans": 4, "pools": 2, "sens_chans": 2, "sens_pools": 2}


def _batch(coils: int, h: int, w: int, batch: int = 1, acs: int = 4, seed: int = 0):
    """Random masked complex k-space, a 1-D mask with `acs` centre lines, and the ACS line counts."""
    generator = torch.Generator().manual_seed(seed)
    kspace = torch.randn(batch, coils, h, w, dtype=torch.complex64, generator=generator)
    mask = (torch.rand(batch, 1, 1, w, generator=generator) < 0.3).float()
    start = (w - acs + 1) // 2
    mask[..., start : start + acs] = 1.0
    return kspace * mask, mask, torch.full((batch,), acs, dtype=torch.long)


def _tiny(seed: int = 0, **kwargs) -> VarNet:
    torch.manual_seed(seed)
    return VarNet(**{**TINY, **kwargs})


def _unet_parameters(in_chans: int, out_chans: int, chans: int, pools: int) -> int:
    """fastMRI U-Net size from its structure: bias-free 3x3 and 2x2 transpose convs, 1x1 head with bias."""

    def conv_block(cin: int, cout: int) -> int:
        return 9 * cin * cout + 9 * cout * cout

    widths = [chans * 2**level for level in range(pools + 1)]
    down = conv_block(in_chans, chans) + sum(conv_block(widths[i], widths[i + 1]) for i in range(pools))
    up = sum(4 * widths[i + 1] * widths[i] + conv_block(2 * widths[i], widths[i]) for i in range(pools))
    return down + up + chans * out_chans + out_chans


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_published_varnet_parameter_count() -> None:
    net = VarNet(num_cascades=12, chans=18, pools=4, sens_chans=8, sens_pools=4)
    per_cascade = _unet_parameters(2, 2, 18, 4) + 1  # + the soft data-consistency weight
    expected = _unet_parameters(2, 2, 8, 4) + 12 * per_cascade
    assert _count(net.sens_net) == 484_898
    assert _count(net.cascades[0]) == per_cascade == 2_454_339
    assert _count(net) == expected == 29_936_966


@pytest.mark.parametrize(("coils", "h", "w"), [(1, 20, 18), (3, 84, 80), (5, 21, 19)])
def test_output_is_float_image_of_full_kspace_size(coils: int, h: int, w: int) -> None:
    kspace, mask, acs = _batch(coils, h, w, batch=2)
    image = _tiny()(kspace, mask, acs)
    assert image.shape == (2, h, w)
    assert image.dtype == torch.float32
    assert torch.isfinite(image).all()


def test_plain_unet_keeps_odd_sizes() -> None:
    out = Unet(in_chans=3, out_chans=1, chans=4, num_pools=3)(torch.randn(2, 3, 21, 19))
    assert out.shape == (2, 1, 21, 19)


def test_sensitivity_maps_use_only_acs_lines_and_have_unit_rss() -> None:
    kspace, mask, acs = _batch(4, 20, 18, acs=4)
    net = _tiny()
    outside_acs = 1.0 - torch.zeros(18).index_fill_(0, torch.arange(7, 11), 1.0)
    changed = kspace + 5.0 * mask * outside_acs * torch.randn_like(kspace)
    with torch.no_grad():
        maps = net.sens_net(kspace, acs)
        torch.testing.assert_close(net.sens_net(changed, acs), maps)
        assert not torch.allclose(net(changed, mask, acs), net(kspace, mask, acs))
    assert maps.dtype == torch.complex64
    torch.testing.assert_close(rss(maps), torch.ones(1, 20, 18))


def _output_and_grads(net: VarNet, kspace, mask, acs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    net.zero_grad()
    image = net(kspace, mask, acs)
    (image**2).mean().backward()
    return image.detach(), {name: p.grad.clone() for name, p in net.named_parameters()}


@pytest.mark.parametrize(
    "levers",
    [
        MemoryLevers(checkpoint="cascade"),
        MemoryLevers(checkpoint="level", sens_chunk=3),
        MemoryLevers(checkpoint="none", sens_chunk=2, coil_chunk=3),
        MemoryLevers(checkpoint="cascade", sens_chunk=1, coil_chunk=1, offload=True),
        MemoryLevers(checkpoint="cascade", sens_chunk=2, sens_checkpoint="whole"),
        MemoryLevers(checkpoint="cascade", sens_chunk=1, offload=True, checkpoint_cascades=1),
    ],
)
def test_levers_leave_outputs_and_gradients_unchanged(levers: MemoryLevers) -> None:
    kspace, mask, acs = _batch(5, 20, 18, batch=2)
    plain = _tiny()
    levered = _tiny(seed=1, levers=levers)
    levered.load_state_dict(plain.state_dict())
    image, grads = _output_and_grads(plain, kspace, mask, acs)
    levered_image, levered_grads = _output_and_grads(levered, kspace, mask, acs)
    torch.testing.assert_close(levered_image, image, rtol=1e-5, atol=1e-6)
    # the first cascade starts from the measured k-space, so its data-consistency term (and gradient) is zero
    assert [name for name, g in grads.items() if g.abs().sum() == 0] == ["cascades.0.data_consistency.weight"]
    for name, g_plain in grads.items():
        torch.testing.assert_close(levered_grads[name], g_plain, rtol=1e-4, atol=1e-6)


def test_bf16_autocast_is_close_to_fp32_and_keeps_complex64() -> None:
    kspace, mask, acs = _batch(3, 32, 24)
    net = _tiny()
    complex_dtypes = []
    net.cascades[0].register_forward_hook(lambda module, args, out: complex_dtypes.append(out.dtype))
    net.sens_net.register_forward_hook(lambda module, args, out: complex_dtypes.append(out.dtype))
    with torch.no_grad():
        reference = net(kspace, mask, acs)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = net(kspace, mask, acs)
    assert complex_dtypes == [torch.complex64] * 4
    assert mixed.dtype == torch.float32
    relative_error = (mixed - reference).norm() / reference.norm()
    assert relative_error < 0.02


def test_adjacent_slices_reconstruct_the_centre_slice_only() -> None:
    coils = 2
    centre, mask, acs = _batch(coils, 20, 18, seed=3)
    neighbours, _, _ = _batch(2 * coils, 20, 18, seed=4)
    stack = torch.cat([neighbours[:, :coils], centre, neighbours[:, coils:]], dim=1)
    single = _tiny()
    three = _tiny(seed=2, num_adj_slices=3)
    three.load_state_dict(single.state_dict())
    assert three.num_adj_slices == 3
    with torch.no_grad():
        torch.testing.assert_close(three(stack, mask, acs), single(centre, mask, acs))


def test_input_that_is_not_whole_adjacent_slices_is_refused() -> None:
    kspace, mask, acs = _batch(4, 20, 18)
    with pytest.raises(ValueError, match="adjacent slices"):
        _tiny(num_adj_slices=3)(kspace, mask, acs)


@pytest.mark.parametrize(
    ("name", "count"), [("varnet", 29_936_966), ("varnet_small", None), ("zero_filled", 0)]
)
def test_model_configs_instantiate(name: str, count: int | None) -> None:
    cfg = OmegaConf.create({"model": OmegaConf.load(CONF_MODEL / f"{name}.yaml")})
    net = instantiate(cfg.model.net, levers=MemoryLevers())
    assert net.num_adj_slices == cfg.model.num_adj_slices
    assert cfg.model.loss == "ssim"
    if count is not None:
        assert _count(net) == count
    if cfg.model.optimizer is not None:
        optimizer = instantiate(cfg.model.optimizer)(net.parameters())
        instantiate(cfg.model.scheduler)(optimizer)
