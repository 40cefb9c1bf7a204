"""`trainer.deterministic=true` on CUDA: no training or validation step of a shipped model or experiment runs
an op that torch refuses under `torch.use_deterministic_algorithms(True)`, and the replacements equal the ops
they replace.

A CPU run never raises (the refusals are CUDA's), so the steps are traced with a `TorchDispatchMode` and every
ATen op is checked against torch's own list of refusing ops.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.trace import first_optimizer, prefer_foreach
from fastmri_pl.models.deterministic_ops import BilinearUpsample, SpatialMean, UpsampleAxisX2, bilinear_resize
from fastmri_pl.mri.padding import reflect_pad
from fastmri_pl.runtime.precision import traced_autocast
from fastmri_pl.training.build import build_module
from fastmri_pl.training.losses import LOSSES, build_loss


def _always(arguments: dict[str, Any], output: Any) -> bool:
    return True


def _floating_output(arguments: dict[str, Any], output: Any) -> bool:
    return output.is_floating_point() or output.is_complex()


@dataclass(frozen=True)
class Refusal:
    """One entry of torch's list, the ATen ops a dispatch trace shows for it, and when they refuse.

    "When attempting to differentiate" means the backward op; "with indices" etc. are checked on the op's
    schema-named arguments and its output.
    """

    entry: str
    ops: tuple[str, ...]
    when: Callable[[dict[str, Any], Any], bool] = _always


# torch 2.13.0, docstring of torch.use_deterministic_algorithms: "The following normally-nondeterministic
# operations will throw a RuntimeError when mode=True" (entries verbatim, sub-items joined).
LIST_TORCH_VERSION = "2.13.0"
REFUSALS = (
    Refusal(
        ":class:`torch.nn.AvgPool3d` when attempting to differentiate a CUDA tensor", ("avg_pool3d_backward",)
    ),
    Refusal(
        ":class:`torch.nn.AdaptiveAvgPool2d` when attempting to differentiate a CUDA tensor",
        ("_adaptive_avg_pool2d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.AdaptiveAvgPool3d` when attempting to differentiate a CUDA tensor",
        ("_adaptive_avg_pool3d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.AdaptiveMaxPool2d` when attempting to differentiate a CUDA tensor",
        ("adaptive_max_pool2d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.FractionalMaxPool2d` when attempting to differentiate a CUDA tensor",
        ("fractional_max_pool2d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.FractionalMaxPool3d` when attempting to differentiate a CUDA tensor",
        ("fractional_max_pool3d_backward",),
    ),
    # MaxUnpool1d runs max_unpool2d on an added axis
    Refusal(":class:`torch.nn.MaxUnpool1d`", ("max_unpool2d",)),
    Refusal(":class:`torch.nn.MaxUnpool2d`", ("max_unpool2d",)),
    Refusal(":class:`torch.nn.MaxUnpool3d`", ("max_unpool3d",)),
    Refusal(
        ":func:`torch.nn.functional.interpolate` when attempting to differentiate a CUDA tensor and one of"
        " the following modes is used: - ``linear`` - ``bilinear`` - ``bicubic`` - ``trilinear``",
        (
            "upsample_linear1d_backward",
            "upsample_bilinear2d_backward",
            "_upsample_bilinear2d_aa_backward",  # antialias=True
            "upsample_bicubic2d_backward",
            "_upsample_bicubic2d_aa_backward",
            "upsample_trilinear3d_backward",
        ),
    ),
    Refusal(
        ":class:`torch.nn.ReflectionPad1d` when attempting to differentiate a CUDA tensor",
        ("reflection_pad1d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.ReflectionPad2d` when attempting to differentiate a CUDA tensor",
        ("reflection_pad2d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.ReflectionPad3d` when attempting to differentiate a CUDA tensor",
        ("reflection_pad3d_backward",),
    ),
    Refusal(
        ":class:`torch.nn.NLLLoss` when called on a CUDA tensor", ("nll_loss_forward", "nll_loss2d_forward")
    ),
    Refusal(
        ":class:`torch.nn.CTCLoss` when attempting to differentiate a CUDA tensor", ("_ctc_loss_backward",)
    ),
    Refusal(
        ":class:`torch.nn.EmbeddingBag` when attempting to differentiate a CUDA tensor when ``mode='max'``",
        ("_embedding_bag_backward", "_embedding_bag_dense_backward"),
        lambda arguments, output: arguments.get("mode") == 2,  # ATen's mode code: 0 sum, 1 mean, 2 max
    ),
    Refusal(":func:`torch.Tensor.put_` when ``accumulate=False``", ("put_", "put")),
    Refusal(
        ":func:`torch.Tensor.put_` when ``accumulate=True`` and called on a CUDA tensor", ("put_", "put")
    ),
    Refusal(":func:`torch.histc` when called on a CUDA tensor", ("histc",)),
    Refusal(
        ":func:`torch.bincount` when called on a CUDA tensor and ``weights`` tensor is given",
        ("bincount",),
        lambda arguments, output: arguments.get("weights") is not None,
    ),
    Refusal(
        ":func:`torch.median` with indices output when called on a CUDA tensor",
        ("median",),
        lambda arguments, output: isinstance(output, tuple),
    ),
    Refusal(
        ":func:`torch.nn.functional.grid_sample` when attempting to differentiate a CUDA tensor",
        ("grid_sampler_2d_backward", "grid_sampler_3d_backward", "cudnn_grid_sampler_backward"),
    ),
    Refusal(
        ":func:`torch.cumsum` when called on a CUDA tensor when dtype is floating point or complex",
        ("cumsum", "cumsum_"),
        _floating_output,
    ),
    Refusal(
        ":func:`torch.Tensor.scatter_reduce` when ``reduce='prod'`` and called on CUDA tensor",
        ("scatter_reduce", "scatter_reduce_"),
        lambda arguments, output: arguments.get("reduce") == "prod",
    ),
    Refusal(
        ":func:`torch.Tensor.resize_` when called with a quantized tensor",
        ("resize_",),
        lambda arguments, output: arguments["self"].is_quantized,
    ),
)
REFUSING_OPS: dict[str, list[Refusal]] = {}
for _refusal in REFUSALS:
    for _op in _refusal.ops:
        REFUSING_OPS.setdefault(_op, []).append(_refusal)


def docstring_refusals(doc: str) -> list[str]:
    """The entries of the "will throw a RuntimeError" list in `use_deterministic_algorithms`' docstring."""
    section = re.split(r"will throw a\s+:class:`RuntimeError` when ``mode=True``:", doc)[1]
    section = section.split("In addition,")[0]
    entries: list[str] = []
    for line in section.splitlines():
        text = line.strip()
        if text.startswith("* "):
            entries.append(text[2:])
        elif text and entries:
            entries[-1] += " " + text
    return [re.sub(r"\s+", " ", entry) for entry in entries]


class RefusalRecorder(TorchDispatchMode):
    """Records every ATen op that runs, and those that would refuse under deterministic algorithms on CUDA."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()
        self.refused: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 (torch's hook)
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        self.ops.add(name)
        names = [argument.name for argument in func._schema.arguments]
        arguments = {**dict(zip(names, args, strict=False)), **kwargs}
        for refusal in REFUSING_OPS.get(name, []):
            if refusal.when(arguments, output):
                self.refused.add(f"{name} ({refusal.entry})")
        return output


def test_the_list_is_this_torchs_and_names_real_aten_ops() -> None:
    listed = docstring_refusals(torch.use_deterministic_algorithms.__doc__)
    assert listed == [refusal.entry for refusal in REFUSALS], (
        f"torch {torch.__version__} lists other refusing ops than torch {LIST_TORCH_VERSION}: update REFUSALS"
    )
    for op in REFUSING_OPS:
        assert isinstance(getattr(torch.ops.aten, op), torch._ops.OpOverloadPacket), op


def _record(step: Callable[[], Any]) -> RefusalRecorder:
    with RefusalRecorder() as recorder:
        step()
    return recorder


def _differentiated(fn: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
    def step() -> None:
        x = torch.rand(1, 2, 6, 5, requires_grad=True)
        fn(x).sum().backward()

    return step


@pytest.mark.parametrize(
    ("step", "refused_op"),
    [
        (
            _differentiated(lambda x: F.interpolate(x, size=(9, 4), mode="bilinear")),
            "upsample_bilinear2d_backward",
        ),
        (_differentiated(nn.Upsample(scale_factor=2, mode="bilinear")), "upsample_bilinear2d_backward"),
        (_differentiated(nn.AdaptiveAvgPool2d(2)), "_adaptive_avg_pool2d_backward"),
        (_differentiated(lambda x: F.pad(x, (1, 2, 2, 1), mode="reflect")), "reflection_pad2d_backward"),
        (
            _differentiated(lambda x: F.grid_sample(x, torch.rand(1, 3, 3, 2), align_corners=False)),
            "grid_sampler",
        ),
        (lambda: torch.rand(5).cumsum(0), "cumsum"),
        (lambda: torch.rand(2, 5).median(dim=1), "median"),
    ],
)
def test_the_recorder_catches_listed_ops(step: Callable[[], Any], refused_op: str) -> None:
    refused = _record(step).refused
    assert any(entry.startswith(refused_op) for entry in refused), refused


@pytest.mark.parametrize(
    "step",
    [
        lambda: torch.arange(5).cumsum(0),  # integer cumsum is deterministic on CUDA
        lambda: torch.rand(2, 5).median(),  # no indices
        _differentiated(nn.AdaptiveAvgPool2d(1)),  # torch lowers a 1 x 1 output to mean (see SpatialMean)
        _differentiated(lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
    ],
)
def test_the_recorder_passes_what_cuda_runs_deterministically(step: Callable[[], Any]) -> None:
    assert _record(step).refused == set()


# --- the replacements equal what they replace -----------------------------------------------------------

# fp32 matmul form against torch's kernels, relative to the largest value (inputs and upstream gradients in
# [0, 1); an input gradient sums up to (out / in)^2 upstream values, ~5 for 16 -> 48, so its last bits
# depend on the summation order)
RESIZE_TOL = 1e-6


def assert_close_to(got: torch.Tensor, expected: torch.Tensor, tol: float = RESIZE_TOL) -> None:
    torch.testing.assert_close(got, expected, rtol=0, atol=tol * max(1.0, float(expected.abs().max())))


def _values_and_input_grads(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, upstream: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    y = fn(x)
    if upstream is None:
        upstream = torch.rand(y.shape, generator=torch.Generator().manual_seed(1))
    (y * upstream).sum().backward()
    return y.detach(), x.grad


@pytest.mark.parametrize(
    ("size_in", "size_out"),
    [
        ((64, 64), (48, 50)),  # prompt 64 down to a 384 x 400 level-3 map
        ((16, 16), (48, 50)),  # prompt 16 up
        ((32, 32), (96, 99)),
        ((64, 64), (2, 3)),  # prompt larger than a tiny feature map
        ((16, 16), (5, 7)),
        ((7, 9), (14, 18)),
        ((5, 4), (11, 3)),
        ((1, 3), (4, 1)),
    ],
)
def test_bilinear_resize_equals_interpolate_in_values_and_gradients(size_in, size_out) -> None:
    x = torch.rand(2, 3, *size_in, generator=torch.Generator().manual_seed(0))
    expected = _values_and_input_grads(
        lambda t: F.interpolate(t, size=size_out, mode="bilinear", align_corners=False), x
    )
    got = _values_and_input_grads(lambda t: bilinear_resize(t, size_out), x)
    assert got[0].shape == (2, 3, *size_out)
    assert_close_to(got[0], expected[0])
    assert_close_to(got[1], expected[1])


UPSAMPLE_SIZES = [(1, 1), (1, 4), (2, 3), (6, 6), (7, 5), (48, 50), (25, 49)]


@pytest.mark.parametrize("size", UPSAMPLE_SIZES)
def test_bilinear_upsample_equals_nn_upsample_in_values_and_gradients(size) -> None:
    x = torch.rand(1, 4, *size, generator=torch.Generator().manual_seed(0))
    expected = _values_and_input_grads(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), x)
    got = _values_and_input_grads(BilinearUpsample(), x)
    assert got[0].shape == (1, 4, 2 * size[0], 2 * size[1])
    assert_close_to(got[0], expected[0])
    assert_close_to(got[1], expected[1])


def ulps_from(got: torch.Tensor, exact: torch.Tensor) -> float:
    """The largest |got - exact| in units of the last place of `exact` (both of one dtype, exact > 0)."""
    spacing = torch.nextafter(exact, torch.tensor(float("inf"), dtype=exact.dtype)) - exact
    return float(((got.double() - exact.double()).abs() / spacing.double()).max())


@pytest.mark.parametrize(
    ("dtype", "per_axis", "both_axes"), [(torch.float32, 1, 2), (torch.bfloat16, 0, 1), (torch.float16, 0, 1)]
)
@pytest.mark.parametrize("scale", [1e-3, 1.0, 300.0])
def test_bilinear_upsample_is_within_ulps_of_the_exact_value(dtype, per_axis, both_axes, scale) -> None:
    """Against the float64 result rounded once: one lerp per axis is within 1 ulp in fp32 and exactly rounded
    in 16 bit (computed in fp32); two axes round twice. `F.interpolate`'s own CPU kernel is 2 ulps off in
    fp32 too (0.5 + the weights' products)."""
    generator = torch.Generator().manual_seed(0)
    for size in [(1, 2), (7, 5), (48, 50), (25, 49)]:
        x = ((torch.rand(2, 8, *size, generator=generator) + 0.01) * scale).to(dtype)
        exact_w = F.interpolate(x.double(), size=(size[0], 2 * size[1]), mode="bilinear", align_corners=False)
        exact = F.interpolate(x.double(), scale_factor=2, mode="bilinear", align_corners=False)
        assert ulps_from(UpsampleAxisX2.apply(x, -1), exact_w.to(dtype)) <= per_axis
        assert ulps_from(BilinearUpsample()(x), exact.to(dtype)) <= both_axes
        assert ulps_from(F.interpolate(x, scale_factor=2, mode="bilinear"), exact.to(dtype)) <= both_axes


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 3), (5, 4), (4, 7)])
def test_the_upsamples_backward_is_the_exact_adjoint(size) -> None:
    """gradcheck in float64: the written-out backward equals the Jacobian of the forward."""
    x = torch.rand(2, 3, *size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(BilinearUpsample(), (x.requires_grad_(),))
    for dim in (-1, -2, 1):
        assert torch.autograd.gradcheck(lambda t, d=dim: UpsampleAxisX2.apply(t, d), (x,))


# what the banded up-sampling may run, forward and backward: views, copies, elementwise ops; no matmul
BANDED_OPS = {"slice", "cat", "stack", "unsqueeze", "lerp", "view", "select", "add", "detach"}


def test_the_upsample_is_banded_and_deterministic_on_cuda() -> None:
    x, upstream = torch.rand(1, 2, 6, 5, requires_grad=True), torch.ones(1, 2, 12, 10)
    recorder = _record(lambda: BilinearUpsample()(x).backward(upstream))
    assert recorder.ops <= BANDED_OPS, recorder.ops - BANDED_OPS
    assert recorder.refused == set()
    assert torch.allclose(
        x.grad, torch.full_like(x, 4.0)
    )  # each input feeds 4 outputs with weights summing to 4


@pytest.mark.parametrize("size", [(5, 4), (6, 7)])
def test_bilinear_upsample_under_autocast_equals_nn_upsample(size) -> None:
    """CPU bf16 autocast: a bf16 input (as a convolution under autocast hands it on) stays bf16 and the values
    equal `nn.Upsample`'s within 1 ulp, the gradients within bf16 precision; an fp32 input stays fp32, as
    `nn.Upsample` leaves it under autocast (CUDA autocast does not cast `upsample_bilinear2d` either)."""
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0)) + 0.01
    reference = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
    for dtype in (torch.bfloat16, torch.float32):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            expected = _values_and_input_grads(reference, x.to(dtype))
            got = _values_and_input_grads(BilinearUpsample(), x.to(dtype))
        assert got[0].dtype == expected[0].dtype == dtype
        assert got[1].dtype == expected[1].dtype == dtype
        if dtype == torch.bfloat16:
            assert ulps_from(got[0], expected[0]) <= 1
            torch.testing.assert_close(got[1], expected[1], rtol=1e-2, atol=1e-2)
        else:
            assert_close_to(got[0], expected[0])
            assert_close_to(got[1], expected[1])


def test_spatial_mean_is_adaptive_average_pooling_to_one_pixel() -> None:
    x = torch.rand(2, 5, 7, 6, generator=torch.Generator().manual_seed(0))
    expected = _values_and_input_grads(nn.AdaptiveAvgPool2d(1), x)
    got = _values_and_input_grads(SpatialMean(), x)
    assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])


@pytest.mark.parametrize("padding", [(0, 1, 0, 1), (2, 1, 3, 0), (4, 4, 5, 5)])
def test_reflect_pad_equals_f_pad_reflect(padding) -> None:
    x = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(0))
    expected = _values_and_input_grads(lambda t: F.pad(t, padding, mode="reflect"), x)
    got = _values_and_input_grads(lambda t: reflect_pad(t, *padding), x)
    torch.testing.assert_close(got[0], expected[0], rtol=0, atol=0)
    torch.testing.assert_close(got[1], expected[1], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="smaller than the image"):
        reflect_pad(x, 0, 5, 0, 0)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_resize_follows_the_input_dtype_and_autocast(dtype: torch.dtype) -> None:
    x = torch.rand(1, 2, 6, 5, generator=torch.Generator().manual_seed(0))
    reference = F.interpolate(x, size=(12, 10), mode="bilinear", align_corners=False)
    low = bilinear_resize(x.to(dtype), (12, 10))
    with torch.autocast("cpu", dtype=dtype):
        cast = bilinear_resize(x, (12, 10))  # matmuls: autocast casts them
    for result in (low, cast, BilinearUpsample()(x.to(dtype))):
        assert result.dtype == dtype
        torch.testing.assert_close(result.float(), reference, rtol=0, atol=1e-2)


def test_resize_runs_on_fake_tensors_as_the_memory_estimator_traces() -> None:
    with FakeTensorMode():
        x = torch.empty(1, 8, 48, 50)
        assert bilinear_resize(x, (64, 64)).shape == (1, 8, 64, 64)
        y = BilinearUpsample()(x.requires_grad_())
        assert y.shape == (1, 8, 96, 100)
        y.sum().backward()
        assert x.grad.shape == x.shape


# --- the shipped configs ---------------------------------------------------------------------------------

CONF = Path(CONFIG_DIR)
MODELS = sorted(path.stem for path in (CONF / "model").glob("*.yaml"))
EXPERIMENTS = sorted(path.stem for path in (CONF / "experiment").glob("*.yaml"))
PROFILES = sorted(path.stem for path in (CONF / "hardware").glob("*.yaml"))
# the full-size PromptMR: 4-6 s a step here, the rest well under 2 s
FULL_SIZE = {"promptmr", "snu_promptmr", "snu2026_promptmr"}


def _marked(names: list[str]) -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.slow) if name in FULL_SIZE else name for name in names]


COILS, HEIGHT, WIDTH, CROP = 2, 16, 20, 16


def tiny_batch(slices: int) -> dict[str, Any]:
    """A batch as `fastmri_pl.data` delivers it (docs/interfaces.md), k-space 16 x 20 after a readout crop."""
    generator = torch.Generator().manual_seed(0)
    mask = torch.zeros(1, 1, 1, WIDTH)
    mask[..., ::3] = 1.0
    mask[..., 8:12] = 1.0
    shape = (1, slices * COILS, HEIGHT, WIDTH)
    kspace = torch.randn(shape, dtype=torch.complex64, generator=generator) * mask
    return {
        "masked_kspace": kspace,
        "mask": mask,
        "num_low_frequencies": torch.tensor([4]),
        "target": torch.rand(1, CROP, CROP, generator=generator) * 1e-3,
        "max_value": torch.tensor([1e-3]),
        "acceleration": torch.tensor([4.0]),
        "slice_num": torch.tensor([2]),
        "fname": ["knee_tiny.h5"],
    }


def assert_steps_deterministic_on_cuda(cfg: DictConfig) -> None:
    """Records one training step (forward and loss under the profile's autocast, backward, gradient clipping
    and optimizer step, as Lightning runs them; a model without parameters is never fitted) and one
    validation step, and asserts that neither runs a refusing op.

    Autocast is the memory tracer's CPU stand-in (bf16 for both mixed precisions): the traced op names are
    the same under fp32, CPU fp16 and bf16 autocast (62 in a step of the 2026 recipe); CPU fp16 is 4x slower.
    """
    torch.manual_seed(0)
    module = build_module(cfg)
    batch = tiny_batch(module.num_adj_slices)
    autocast = traced_autocast(cfg.trainer.precision)
    if module.has_trainable_parameters:
        optimizer = first_optimizer(module.configure_optimizers())
        prefer_foreach(optimizer)  # what CUDA picks
        with RefusalRecorder() as training:
            with autocast:
                loss = module.training_step(batch, 0)
            loss.backward()
            if cfg.trainer.gradient_clip_val:
                nn.utils.clip_grad_norm_(module.parameters(), cfg.trainer.gradient_clip_val, foreach=True)
            optimizer.step()
        assert "convolution_backward" in training.ops  # the backward ran through the network
        assert training.refused == set(), training.refused
    # no_grad, not Lightning's inference_mode: under a dispatch mode, inference mode hands CPU autocast's
    # uncast einsum to the mode whole (torch 2.13), and its bmm then meets mixed dtypes; the ops are the same
    with RefusalRecorder() as validation, torch.no_grad(), autocast:
        module.on_validation_epoch_start()
        module.validation_step(batch, 0)
        module.on_validation_epoch_end()
    assert validation.refused == set(), validation.refused


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("model", _marked(MODELS))
def test_shipped_model_steps_run_only_ops_cuda_runs_deterministically(model: str, compose_config) -> None:
    assert_steps_deterministic_on_cuda(compose_config([f"model={model}"]))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("experiment", _marked(EXPERIMENTS))
def test_experiment_steps_run_only_ops_cuda_runs_deterministically(experiment: str, compose_config) -> None:
    assert_steps_deterministic_on_cuda(compose_config([f"experiment={experiment}"]))


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
@pytest.mark.parametrize("profile", PROFILES)
def test_every_profiles_levers_and_precision_keep_the_steps_deterministic(
    profile: str, compose_config
) -> None:
    """Each hardware profile's memory levers (checkpoint recompute, chunks) and autocast, on promptmr_small:
    the same blocks as the full model at a fraction of the cost (the full one runs under gtx1080 above)."""
    assert_steps_deterministic_on_cuda(compose_config([f"hardware={profile}", "model=promptmr_small"]))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_runs_only_ops_cuda_runs_deterministically(name: str) -> None:
    """Every `model.loss` choice at the SNU target size (MS-SSIM's five scales), forward and backward."""
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(1, 384, 384, generator=generator)
    pred = (target + 0.1 * torch.rand(1, 384, 384, generator=generator)).requires_grad_()
    with RefusalRecorder() as recorder:
        build_loss(name)(pred, target, torch.tensor([1.0])).backward()
    assert "avg_pool2d_backward" in recorder.ops or name != "msssim_l1"  # all five scales were differentiated
    assert recorder.refused == set(), recorder.refused
