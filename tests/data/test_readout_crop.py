"""Readout crop (`data.readout_crop`): the cropped k-space's image is the full image's centre rows."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.cli import batch_shape
from fastmri_pl.mri.crop import center_crop
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.mri.readout import crop_readout, readout_height
from fastmri_pl.reconstruct import reconstruct


@pytest.mark.parametrize(("rows", "height"), [(32, 16), (33, 16), (32, 15), (31, 17), (12, 12)])
def test_cropped_kspace_images_to_the_centre_rows_of_the_full_image(rows: int, height: int) -> None:
    generator = torch.Generator().manual_seed(rows * 100 + height)
    kspace = torch.randn(2, 3, rows, 10, dtype=torch.complex64, generator=generator)
    cropped = crop_readout(kspace, height)
    assert cropped.shape == (2, 3, height, 10) and cropped.dtype == torch.complex64
    expected = center_crop(ifft2c(kspace), (height, 10))
    torch.testing.assert_close(ifft2c(cropped), expected, rtol=1e-5, atol=1e-6)


def test_cropping_commutes_with_the_phase_encode_mask() -> None:
    generator = torch.Generator().manual_seed(1)
    kspace = torch.randn(4, 24, 12, dtype=torch.complex64, generator=generator)
    mask = (torch.arange(12) % 3 == 0).to(torch.float32)
    torch.testing.assert_close(crop_readout(kspace * mask, 10), crop_readout(kspace, 10) * mask)


def test_a_target_higher_than_the_kspace_keeps_every_row() -> None:
    """The output is zero-padded to such a target afterwards (`mri.crop.center_crop_or_pad`)."""
    kspace = torch.randn(1, 8, 4, dtype=torch.complex64, generator=torch.Generator().manual_seed(2))
    assert crop_readout(kspace, 9) is kspace
    assert (readout_height(8, 9), readout_height(640, 384)) == (8, 384)


def test_dataset_samples_hold_the_targets_rows(data_snu_root: Path, data_snu_config) -> None:
    volumes = index_volumes("snu", data_snu_root / "train")
    full, cropped = (ReconDataset(volumes, num_adj_slices=3, readout_crop=on)[1] for on in (False, True))
    height = data_snu_config.crop[0]
    assert full["masked_kspace"].shape[-2] == data_snu_config.height
    assert cropped["masked_kspace"].shape == (*full["masked_kspace"].shape[:-2], height, volumes[0].width)
    torch.testing.assert_close(
        ifft2c(cropped["masked_kspace"]),
        center_crop(ifft2c(full["masked_kspace"]), (height, volumes[0].width)),
        rtol=1e-5,
        atol=1e-9,
    )


def _reconstruct_cfg(root: Path, out: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            "reconstruct",
            overrides=[f"data.root={root}", f"output_dir={out}", "progress=false", *overrides],
        )


def test_zero_filled_reconstructions_are_the_same_with_and_without_the_crop(
    data_snu_root: Path, tmp_path: Path
) -> None:
    runs = {
        on: reconstruct(_reconstruct_cfg(data_snu_root, tmp_path / str(on), f"data.readout_crop={on}"))
        for on in (False, True)
    }
    assert len(runs[True].files) == len(runs[False].files) > 0
    for with_crop, without in zip(runs[True].files, runs[False].files, strict=True):
        with h5py.File(with_crop, "r") as a, h5py.File(without, "r") as b:
            cropped, full = a["reconstruction"][()], b["reconstruction"][()]
        assert cropped.shape == full.shape
        assert np.abs(cropped - full).max() <= 1e-5 * np.abs(full).max()


def test_memory_traces_the_cropped_height() -> None:
    assert BatchShape(coils=16, height=768, width=396).readout_cropped().height == 384
    assert BatchShape(coils=2, height=48, width=32).readout_cropped().height == 48  # target clipped to it
    higher = BatchShape(coils=2, height=48, width=32, target_size=(64, 64)).readout_cropped()
    assert (higher.height, higher.target_hw) == (48, (64, 64))  # every row kept, the output padded
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("memory")
        off = compose("memory", overrides=["memory.readout_crop=false"])
    assert (batch_shape(cfg).height, batch_shape(off).height) == (384, 768)
