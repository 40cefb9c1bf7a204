"""Every memory lever leaves PromptMR's outputs and gradients unchanged (fp32), and does what it says."""

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.models import checkpointing
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.models.promptmr import PromptMR

CONF = Path(CONFIG_DIR) / "model" / "promptmr_small.yaml"
COILS, HEIGHT, WIDTH = 2, 16, 20

# Tolerances, relative to the largest reference value: checkpointing and offload replay the same ops (exact
# in practice); chunking changes fp32 summation orders (conv batch sizes, partial coil sums).
OUTPUT_TOL = 1e-5
GRAD_TOL = 1e-5


def small_promptmr(levers: MemoryLevers | None = None) -> PromptMR:
    torch.manual_seed(0)
    cfg = OmegaConf.create({"model": OmegaConf.load(CONF)})
    return instantiate(cfg.model.net, levers=levers)


def batch(num_adj_slices: int):
    generator = torch.Generator().manual_seed(1)
    mask = torch.zeros(1, 1, 1, WIDTH)
    mask[..., ::3] = 1.0
    mask[..., 8:12] = 1.0
    shape = (1, num_adj_slices * COILS, HEIGHT, WIDTH)
    kspace = torch.randn(shape, dtype=torch.complex64, generator=generator) * mask
    return kspace, mask, torch.tensor([4])


def output_and_grads(net: PromptMR) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    net.zero_grad(set_to_none=True)
    image = net(*batch(net.num_adj_slices))
    (image * torch.linspace(0.5, 1.5, image.numel()).reshape(image.shape)).sum().backward()
    grads = {name: p.grad.clone() for name, p in net.named_parameters() if p.grad is not None}
    return image.detach(), grads


@pytest.fixture(scope="module")
def reference():
    return output_and_grads(small_promptmr())


@pytest.mark.slow
@pytest.mark.parametrize(
    "levers",
    [
        MemoryLevers(checkpoint="cascade"),
        MemoryLevers(checkpoint="level"),
        MemoryLevers(sens_chunk=1),
        MemoryLevers(sens_chunk=2, checkpoint="cascade"),
        MemoryLevers(coil_chunk=1),
        MemoryLevers(coil_chunk=COILS),
        MemoryLevers(checkpoint="level", coil_chunk=COILS),
        MemoryLevers(offload=True),
        MemoryLevers(offload=True, checkpoint="cascade"),
        MemoryLevers(checkpoint="level", sens_chunk=1, coil_chunk=1, offload=True),
        MemoryLevers(checkpoint="cascade", sens_chunk=1, sens_checkpoint="whole"),
        MemoryLevers(checkpoint="level", sens_chunk=2, coil_chunk=1, sens_checkpoint="whole"),
        MemoryLevers(checkpoint="cascade", sens_chunk=1, checkpoint_cascades=1),
        MemoryLevers(checkpoint="level", coil_chunk=1, offload=True, checkpoint_cascades=1),
    ],
    ids=str,
)
def test_lever_leaves_outputs_and_gradients_unchanged(reference, levers):
    expected_image, expected_grads = reference
    image, grads = output_and_grads(small_promptmr(levers))
    torch.testing.assert_close(
        image, expected_image, rtol=OUTPUT_TOL, atol=OUTPUT_TOL * expected_image.abs().max().item()
    )
    assert grads.keys() == expected_grads.keys()
    scale = max(g.abs().max().item() for g in expected_grads.values())
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=GRAD_TOL, atol=GRAD_TOL * scale, msg=name)


def test_levers_can_change_on_one_instance(reference):
    net = small_promptmr()
    net.set_levers(MemoryLevers(checkpoint="level", sens_chunk=1, coil_chunk=1))
    net.set_levers(MemoryLevers())
    image, _ = output_and_grads(net)
    torch.testing.assert_close(image, reference[0], rtol=0, atol=0)


@pytest.fixture
def checkpoint_calls(monkeypatch) -> list[torch.Size]:
    """The first argument's shape of every `torch.utils.checkpoint` call the levers make, in order."""
    calls: list[torch.Size] = []
    real_checkpoint = checkpointing.checkpoint

    def counting_checkpoint(fn, *args, **kwargs):
        calls.append(args[0].shape)
        return real_checkpoint(fn, *args, **kwargs)

    monkeypatch.setattr(checkpointing, "checkpoint", counting_checkpoint)
    return calls


def test_each_sensitivity_chunk_and_cascade_is_checkpointed_on_its_own(checkpoint_calls):
    calls = checkpoint_calls
    net = small_promptmr(MemoryLevers(checkpoint="cascade", sens_chunk=1))
    kspace, mask, acs = batch(net.num_adj_slices)
    net(kspace, mask, acs).sum().backward()
    coil_images = kspace.shape[1]
    chunk_calls = [shape for shape in calls if shape == (1, 1, HEIGHT, WIDTH)]
    assert len(chunk_calls) == coil_images
    assert len(calls) == coil_images + len(net.cascades)

    calls.clear()
    net.set_levers(MemoryLevers(checkpoint="level"))
    net(kspace, mask, acs)
    levels = 2 * 3 + 1  # encoder and decoder levels plus the bottleneck, per U-Net call
    assert len(calls) == 1 + len(net.cascades) * (1 + levels) + levels


def test_a_whole_sensitivity_checkpoint_wraps_the_chunk_loop_once(checkpoint_calls):
    """The reference's way: one checkpoint around the per-coil loop, none per chunk."""
    calls = checkpoint_calls
    net = small_promptmr(MemoryLevers(checkpoint="cascade", sens_chunk=1, sens_checkpoint="whole"))
    kspace, mask, acs = batch(net.num_adj_slices)
    net(kspace, mask, acs).sum().backward()
    assert calls.count(kspace.shape) == 1 + len(net.cascades)  # sensitivity net + one per cascade
    assert len(calls) == 1 + len(net.cascades)


@pytest.mark.parametrize(
    "fields",
    [{"sens_checkpoint": "coil"}, {"sens_checkpoint": "whole"}, {"checkpoint": "unit"}, {"sens_chunk": -1}],
    ids=str,
)
def test_invalid_levers_are_refused(fields):
    with pytest.raises(ValueError, match="levers"):
        MemoryLevers(**fields)


@pytest.mark.parametrize("levers", [MemoryLevers(), MemoryLevers("level", 1, 1)], ids=["all_coils", "parts"])
def test_inference_updates_k_space_in_place_with_the_training_result(levers):
    """Without autograd every cascade but the first overwrites its input parts; the batch stays untouched."""
    net = small_promptmr(levers)
    kspace, mask, acs = batch(net.num_adj_slices)
    with_autograd = net(kspace, mask, acs).detach()
    untouched = kspace.clone()
    returned_inputs = []

    def record(cascade, inputs, output):
        returned_inputs.append([a.data_ptr() == b.data_ptr() for a, b in zip(inputs[0], output, strict=True)])

    for cascade in net.cascades:
        cascade.register_forward_hook(record)
    with torch.no_grad():
        image = net(kspace, mask, acs)
    torch.testing.assert_close(kspace, untouched, rtol=0, atol=0)
    torch.testing.assert_close(image, with_autograd, rtol=0, atol=0)
    assert [all(same) for same in returned_inputs] == [False] + [True] * (len(net.cascades) - 1)


def test_a_cascade_refuses_to_overwrite_its_input_under_autograd():
    net = small_promptmr()
    kspace, mask, _ = batch(net.num_adj_slices)
    maps = torch.ones_like(kspace)
    with pytest.raises(RuntimeError, match="autograd is off"):
        net.cascades[0]((kspace.clone(),), (kspace,), mask, (maps,), in_place=True)


@pytest.mark.parametrize(
    ("levers", "part_coils"),
    [(MemoryLevers(checkpoint="cascade", offload=True), None), (MemoryLevers("level", 1, 1, True), 1)],
    ids=["all_coils", "coil_parts"],
)
def test_offload_with_checkpointing_saves_only_cascade_boundaries(monkeypatch, levers, part_coils):
    """With coil chunks, a boundary is its parts: the k-space is never concatenated between cascades."""
    packed = []

    class CountingSaveOnCpu(torch.autograd.graph.save_on_cpu):
        def __init__(self, pin_memory: bool = False) -> None:
            super().__init__(pin_memory=pin_memory)
            pack = self.pack_hook

            def counting_pack(tensor):
                packed.append(tuple(tensor.shape))
                return pack(tensor)

            self.pack_hook = counting_pack

    monkeypatch.setattr(torch.autograd.graph, "save_on_cpu", CountingSaveOnCpu)
    net = small_promptmr(levers)
    kspace, mask, acs = batch(net.num_adj_slices)
    net(kspace, mask, acs).sum().backward()
    if part_coils is None:
        assert packed == [tuple(kspace.shape)] * len(net.cascades)
    else:
        part = (1, part_coils, HEIGHT, WIDTH)
        assert packed == [part] * (kspace.shape[1] // part_coils) * len(net.cascades)


def test_a_checkpoint_count_checkpoints_only_the_first_cascades(checkpoint_calls):
    net = small_promptmr(MemoryLevers(checkpoint="cascade", sens_chunk=1, checkpoint_cascades=1))
    kspace, mask, acs = batch(net.num_adj_slices)
    net(kspace, mask, acs).sum().backward()
    chunk_calls = [shape for shape in checkpoint_calls if shape == (1, 1, HEIGHT, WIDTH)]
    assert len(chunk_calls) == kspace.shape[1]  # the sensitivity net's chunks do not depend on the count
    assert len(checkpoint_calls) == kspace.shape[1] + 1 < kspace.shape[1] + len(net.cascades)


def test_a_negative_checkpoint_count_is_refused():
    with pytest.raises(ValueError, match="checkpoint_cascades must be >= 0"):
        MemoryLevers(checkpoint="cascade", checkpoint_cascades=-1)
