"""Coil compression (`data.virtual_coils`): orthonormal projection, exact at the coil space's rank."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.coil_compression import (
    VolumeCompression,
    calibration_columns,
    volume_compression_matrix,
)
from fastmri_pl.data.dataset import ReconDataset
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.mri.coil_compression import coil_covariance, compress_coils, compression_matrix
from fastmri_pl.mri.coils import rss
from fastmri_pl.mri.fft import ifft2c
from fastmri_pl.reconstruct import reconstruct


def low_rank_kspace(coils: int, rank: int, seed: int = 0) -> torch.Tensor:
    """(2, coils, 12, 10) k-space whose coil vectors span `rank` directions."""
    generator = torch.Generator().manual_seed(seed)
    mixing = torch.randn(coils, rank, dtype=torch.complex64, generator=generator)
    sources = torch.randn(2, rank, 12, 10, dtype=torch.complex64, generator=generator)
    return torch.einsum("cr,srhw->schw", mixing, sources)


def test_rows_are_orthonormal_and_all_coils_keep_the_rss_image() -> None:
    kspace = low_rank_kspace(coils=5, rank=5)
    matrix = compression_matrix(coil_covariance(kspace[..., 4:7]), 5)
    torch.testing.assert_close(
        matrix @ matrix.conj().T, torch.eye(5, dtype=torch.complex64), atol=1e-5, rtol=0
    )
    compressed = compress_coils(kspace, matrix)
    torch.testing.assert_close(rss(ifft2c(compressed)), rss(ifft2c(kspace)), rtol=1e-4, atol=1e-5)


def test_as_many_virtual_coils_as_the_rank_lose_nothing_and_fewer_lose_energy() -> None:
    kspace = low_rank_kspace(coils=6, rank=2)
    covariance = coil_covariance(kspace)
    exact = compress_coils(kspace, compression_matrix(covariance, 2))
    assert exact.shape == (2, 2, 12, 10)
    torch.testing.assert_close(rss(ifft2c(exact)), rss(ifft2c(kspace)), rtol=1e-4, atol=1e-4)
    lossy = compress_coils(kspace, compression_matrix(covariance, 1))
    assert lossy.abs().pow(2).sum() < 0.99 * kspace.abs().pow(2).sum()


def test_more_virtual_coils_than_coils_is_refused() -> None:
    with pytest.raises(ValueError, match="between 1 and the 3 coils"):
        compression_matrix(torch.eye(3, dtype=torch.complex128), 4)


def test_dataset_compresses_volumes_with_more_coils_and_leaves_the_others(data_snu_root: Path) -> None:
    volumes = index_volumes("snu", data_snu_root / "train")  # 2 and 3 coils
    dataset = ReconDataset(volumes, num_adj_slices=3, virtual_coils=2)
    for volume, index in zip(volumes, (0, volumes[0].num_slices), strict=True):
        sample = dataset[index]
        assert sample["masked_kspace"].shape[0] == 3 * min(volume.num_coils, 2)
    big = next(v for v in volumes if v.num_coils == 3)
    with h5py.File(big.kspace_path, "r") as f:
        mask, kspace = f["mask"][()], torch.from_numpy(f["kspace"][()])
    columns = calibration_columns(torch.from_numpy(mask), big.width)
    assert np.all(mask[columns] == 1) and columns.stop - columns.start >= 1
    assert dataset.compression.matrix(big) is dataset.compression.matrix(big)  # once per volume
    # inference computes it from the volume in memory: the same matrix
    in_memory = volume_compression_matrix(kspace, torch.from_numpy(mask), 2)
    assert torch.equal(in_memory, dataset.compression.matrix(big))
    assert VolumeCompression(2).matrix(next(v for v in volumes if v.num_coils == 2)) is None


def test_reconstruct_compresses_only_volumes_with_more_coils(data_snu_root: Path, tmp_path: Path) -> None:
    runs = {}
    for n in ("null", "2"):
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                "reconstruct",
                overrides=[
                    f"data.root={data_snu_root}",
                    f"output_dir={tmp_path / n}",
                    "progress=false",
                    f"data.virtual_coils={n}",
                ],
            )
        runs[n] = reconstruct(cfg)
    coils = {
        (acc, v.fname): v.num_coils
        for acc in ("acc4", "acc8")
        for v in index_volumes("snu", data_snu_root / "leaderboard" / acc, require_image=False)
    }
    assert sorted(coils.values()) == [2, 3]
    for full, compressed in zip(runs["null"].files, runs["2"].files, strict=True):
        with h5py.File(full, "r") as a, h5py.File(compressed, "r") as b:
            image, approximation = a["reconstruction"][()], b["reconstruction"][()]
        assert approximation.shape == image.shape and np.isfinite(approximation).all()
        difference = np.abs(approximation - image).max()
        if coils[(full.parent.name, full.name)] <= 2:
            assert difference == 0  # nothing to compress
        else:
            assert 0 < difference < 0.5 * image.max()  # 3 coils -> 2: close, not equal
