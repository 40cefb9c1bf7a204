"""PromptMR: reference parameter counts, shapes, the centre slice, mixed precision with fp32 FFTs."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from fastmri_pl import CONFIG_DIR
from fastmri_pl.models.blocks import CAB
from fastmri_pl.models.promptmr import PromptMR, parameter_breakdown
from fastmri_pl.models.promptmr_sensitivity import NormalizeCoils
from fastmri_pl.mri.coils import normalize_sens_maps, rss
from fastmri_pl.mri.fft import ifft2c

CONF = Path(CONFIG_DIR) / "model"


def from_config(name: str, **overrides) -> PromptMR:
    cfg = OmegaConf.create({"model": OmegaConf.load(CONF / f"{name}.yaml")})
    return instantiate(cfg.model.net, **overrides)


def inputs(batch: int, slices: int, coils: int, height: int, width: int, seed: int = 0):
    """Masked k-space with every other line plus a 4-line ACS block, its mask and ACS width."""
    generator = torch.Generator().manual_seed(seed)
    mask = torch.zeros(batch, 1, 1, width)
    mask[..., ::2] = 1.0
    centre = (width - 4 + 1) // 2
    mask[..., centre : centre + 4] = 1.0
    kspace = torch.randn(batch, slices * coils, height, width, dtype=torch.complex64, generator=generator)
    return kspace * mask, mask, torch.full((batch,), 4, dtype=torch.int64)


def test_paper_configuration_matches_reference_parameter_counts():
    with torch.device("meta"):
        five = parameter_breakdown(from_config("promptmr"))
        three = parameter_breakdown(from_config("promptmr", num_adj_slices=3))
    assert five == {"sensitivity": 1_865_009, "per_cascade": 6_638_610, "cascades": 12, "total": 81_528_317}
    assert three["total"] == 81_449_981


def test_shared_prelu_is_one_module_except_each_first_encoder_block():
    with torch.device("meta"):
        shared = PromptMR(num_cascades=2)
        separate = PromptMR(num_cascades=2, shared_prelu=False)
    prelus = {id(m) for m in shared.modules() if isinstance(m, torch.nn.PReLU)}
    unets = 1 + len(shared.cascades)
    assert len(prelus) == 1 + unets  # the shared one plus each U-Net's first encoder CAB
    cabs = [m for m in separate.modules() if isinstance(m, CAB)]
    assert len({id(m.body[1]) for m in cabs}) == len(cabs)
    extra = len(cabs) - len(prelus)
    assert parameter_breakdown(separate)["total"] == parameter_breakdown(shared)["total"] + extra


@pytest.mark.parametrize(
    ("batch", "coils", "height", "width"), [(1, 1, 16, 20), (2, 2, 16, 18), (1, 3, 19, 20), (1, 4, 24, 21)]
)
def test_forward_gives_finite_full_size_centre_image(batch, coils, height, width):
    torch.manual_seed(0)
    net = from_config("promptmr_small")
    kspace, mask, acs = inputs(batch, net.num_adj_slices, coils, height, width)
    image = net(kspace, mask, acs)
    assert image.shape == (batch, height, width)
    assert image.dtype == torch.float32
    assert torch.isfinite(image).all()
    image.mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def test_without_cascades_output_is_the_centre_slices_zero_filled_image():
    net = from_config("promptmr_small", num_cascades=0, num_adj_slices=5)
    coils = 2
    kspace, mask, acs = inputs(1, 5, coils, 16, 20)
    per_slice = [rss(ifft2c(kspace[:, s * coils : (s + 1) * coils]), dim=1) for s in range(5)]
    image = net(kspace, mask, acs)
    torch.testing.assert_close(image, per_slice[2])
    for s in (0, 1, 3, 4):
        assert not torch.allclose(image, per_slice[s], rtol=1e-2, atol=1e-2)


def test_output_depends_on_adjacent_slices():
    torch.manual_seed(0)
    net = from_config("promptmr_small").eval()
    coils = 2
    kspace, mask, acs = inputs(1, net.num_adj_slices, coils, 16, 20)
    changed = kspace.clone()
    changed[:, :coils] *= 3.0  # the first (non-centre) slice only
    with torch.no_grad():
        difference = (net(kspace, mask, acs) - net(changed, mask, acs)).abs().max()
    assert difference > 1e-3


class DtypeRecorder(TorchDispatchMode):
    """Records the dtypes of every op's outputs, by op name."""

    def __init__(self) -> None:
        super().__init__()
        self.dtypes: dict[str, set[torch.dtype]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                self.dtypes.setdefault(str(func), set()).add(tensor.dtype)
        return out


def test_bf16_autocast_matches_fp32_and_keeps_complex_in_complex64():
    torch.manual_seed(0)
    net = from_config("promptmr_small")
    kspace, mask, acs = inputs(1, net.num_adj_slices, 2, 16, 20)
    reference = net(kspace, mask, acs).detach()
    recorder = DtypeRecorder()
    with recorder:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            image = net(kspace, mask, acs)
        image.mean().backward()
    assert image.dtype == torch.float32
    assert any(torch.bfloat16 in dtypes for dtypes in recorder.dtypes.values()), "autocast did not engage"
    all_dtypes = set().union(*recorder.dtypes.values())
    assert torch.complex32 not in all_dtypes
    fft_dtypes = set().union(*(d for op, d in recorder.dtypes.items() if "fft" in op))
    assert fft_dtypes == {torch.complex64}
    # bf16 keeps 8 mantissa bits; measured ~0.14% relative L2 error here, 1% allowed
    relative_error = (image.detach() - reference).norm() / reference.norm()
    assert relative_error < 1e-2


def test_rejects_even_slice_counts_and_mismatched_coil_axis():
    with pytest.raises(ValueError, match="odd"):
        PromptMR(num_adj_slices=4)
    net = from_config("promptmr_small")
    kspace, mask, acs = inputs(1, 1, 4, 16, 20)
    with pytest.raises(ValueError, match="adjacent slices"):
        net(kspace, mask, acs)


def test_normalize_coils_equals_the_plain_expression_and_its_gradient():
    generator = torch.Generator().manual_seed(3)
    maps = torch.randn(2, 4, 6, 5, dtype=torch.complex128, generator=generator, requires_grad=True)
    weights = torch.randn(2, 4, 6, 5, dtype=torch.complex128, generator=generator)
    ours, plain = NormalizeCoils.apply(maps), normalize_sens_maps(maps)
    torch.testing.assert_close(ours, plain, rtol=1e-12, atol=1e-12)
    (ours_grad,) = torch.autograd.grad((ours * weights).real.sum(), maps)
    (plain_grad,) = torch.autograd.grad((plain * weights).real.sum(), maps)
    torch.testing.assert_close(ours_grad, plain_grad, rtol=1e-10, atol=1e-10)
    assert torch.autograd.gradcheck(NormalizeCoils.apply, (maps[:1, :, :2, :2].detach().requires_grad_(),))
