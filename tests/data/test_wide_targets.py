"""SNU targets larger than the k-space image (the 2026 knee: k-space 640 x 368, `image_label` 384 x 384): the
target keeps its size and the network's output is centre-cropped where larger and zero-padded where smaller,
as the organisers' baseline does (`data.h5checks.target_crop`, `mri.crop.center_crop_or_pad`)."""

from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import DictConfig
from torch.utils.data import default_collate

from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.h5checks import target_crop
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.volumes import Volume
from fastmri_pl.memory.data_shapes import volume_sample
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.crop import center_crop, center_crop_or_pad
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.training import build


@pytest.mark.parametrize(("height", "width"), [(640, 368), (768, 396), (300, 368), (384, 384), (90, 40)])
def test_an_snu_target_keeps_its_size_against_any_image(height: int, width: int) -> None:
    assert target_crop(Path("x.h5"), "image_label", (23, 384, 384), height, width, "snu") == (384, 384)


def test_an_unknown_layout_is_refused() -> None:
    with pytest.raises(ValueError, match="layout must be one of"):
        target_crop(Path("x.h5"), "image_label", (2, 8, 8), 8, 8, "knee")


def test_crop_or_pad_is_the_organisers_convention_on_a_hand_made_example() -> None:
    """Their `utils.common.utils.center_crop`: a smaller axis padded with zeros, (d // 2) before and the rest
    (the odd pixel) after; a larger axis cropped from (size - wanted) // 2."""
    image = torch.arange(1.0, 16.0).reshape(1, 5, 3)
    # rows 5 -> 4: from row (5 - 4) // 2 = 0; columns 3 -> 6: 1 zero column left, 2 right
    wider = torch.tensor(
        [
            [0.0, 1.0, 2.0, 3.0, 0.0, 0.0],
            [0.0, 4.0, 5.0, 6.0, 0.0, 0.0],
            [0.0, 7.0, 8.0, 9.0, 0.0, 0.0],
            [0.0, 10.0, 11.0, 12.0, 0.0, 0.0],
        ]
    )
    assert torch.equal(center_crop_or_pad(image, (4, 6))[0], wider)
    # rows 5 -> 8: 1 zero row above, 2 below; columns 3 -> 2: from column (3 - 2) // 2 = 0
    higher = torch.tensor(
        [[0.0, 0.0], [1.0, 2.0], [4.0, 5.0], [7.0, 8.0], [10.0, 11.0], [13.0, 14.0], [0.0, 0.0], [0.0, 0.0]]
    )
    assert torch.equal(center_crop_or_pad(image, (8, 2))[0], higher)


def test_the_module_pads_an_image_narrower_than_its_target(
    compose_config: Callable[..., DictConfig],
) -> None:
    """Loss, validation scores and the image panels all see the output at the target's size."""
    module = build.build_module(compose_config(["model=zero_filled", "hardware=cpu", "logger=none"]))
    generator = torch.Generator().manual_seed(0)
    kspace = torch.randn(1, 2, 10, 7, dtype=torch.complex64, generator=generator)
    batch = {
        "masked_kspace": kspace,
        "mask": torch.ones(1, 1, 7),
        "num_low_frequencies": torch.tensor([7]),
        "target": torch.rand(1, 8, 10, generator=generator),
        "max_value": torch.ones(1),
        "acceleration": torch.tensor([4.0]),
        "slice_num": torch.tensor([0]),
        "fname": ["knee_acc4_1.h5"],
    }
    out = module.validation_step(batch, 0)
    image = rss(ifft2c(kspace))  # the zero-filled network's full 10 x 7 image
    for images in (module(batch), out["prediction"], out["zero_filled"]):
        assert images.shape == (1, 8, 10)
        # rows 10 -> 8 from row 1; columns 7 -> 10: 1 zero column left, 2 right
        torch.testing.assert_close(images[:, :, 1:8], image[:, 1:9, :])
        assert not images[:, :, 0].any() and not images[:, :, 8:].any()
    assert torch.isfinite(module.compute_loss(batch))


def test_snu_brain_targets_inside_the_image_meet_the_output_as_before(
    compose_config: Callable[..., DictConfig], data_snu_root: Path
) -> None:
    """Brain k-space (wider and higher than its targets): the sample's target is the file's `image_label`
    slice bit for bit and the module's output is the network's image centre-cropped (the rule before targets
    could be larger than the image: `mri.crop.center_crop`), bit for bit."""
    cfg = compose_config(["model=varnet_small", "hardware=cpu", "logger=none", f"data.root={data_snu_root}"])
    torch.manual_seed(0)
    module = build.build_module(cfg).eval()
    volumes = index_volumes("snu", data_snu_root / "val")
    assert all(v.crop[0] < v.height and v.crop[1] < v.width for v in volumes)
    dataset = ReconDataset(volumes, num_adj_slices=module.num_adj_slices, readout_crop=True)
    for index in (0, len(dataset) - 1):
        batch = default_collate([dataset[index]])
        volume = next(v for v in volumes if v.fname == batch["fname"][0])
        with h5py.File(volume.target_path) as f:
            stored = f["image_label"][int(batch["slice_num"][0])]
        assert np.array_equal(batch["target"][0].numpy(), stored)
        with torch.no_grad():
            image = module.net(batch["masked_kspace"], batch["mask"], batch["num_low_frequencies"])
            assert torch.equal(module(batch), center_crop(image, volume.crop))


def test_the_planner_plans_for_the_sample_a_wide_target_delivers() -> None:
    """2026 knee: 640 x 368 k-space, read out to the target's 384 rows, the width as stored, and the 384 x 384
    target the loss compares (not clipped to the k-space's 368 columns)."""
    knee = Volume(
        fname="knee_acc4_1.h5",
        kspace_path=Path("/data/train/kspace/knee_acc4_1.h5"),
        target_path=Path("/data/train/image/knee_acc4_1.h5"),
        target_key="image_label",
        num_slices=23,
        num_coils=15,
        height=640,
        width=368,
        has_mask=True,
        acceleration=4.0,
        max_value=1e-3,
        crop=(384, 384),
    )
    cropped = volume_sample(knee, Path("/data"), readout_crop=True, virtual_coils=None)
    assert (cropped.coils, cropped.height, cropped.width, cropped.target_size) == (15, 384, 368, (384, 384))
    full = volume_sample(knee, Path("/data"), readout_crop=False, virtual_coils=None)
    assert (full.height, full.width, full.target_size) == (640, 368, (384, 384))
    short = volume_sample(knee, Path("/data"), readout_crop=True, virtual_coils=None, crop=(700, 384))
    assert (short.height, short.target_size) == (640, (700, 384))  # every row kept, the output padded
