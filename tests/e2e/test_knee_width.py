"""The 2026 knee geometry end to end: k-space narrower than its square target (the organisers' files: 640 x
368 k-space, 384 x 384 `image_label`; the tiny knee data: 80 x 46 and 80 x 45 against 48 x 48) trains,
validates, is reconstructed with the extra columns zero (as the organisers' baseline pads) and is scored."""

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import SyntheticConfig
from fastmri_pl.reconstruct import reconstruct_and_score
from fastmri_pl.train import train
from tests.helpers.random_checkpoint import random_checkpoint

pytestmark = pytest.mark.slow  # end-to-end runs of the commands


def test_a_knee_volume_narrower_than_its_target_trains_validates_reconstructs_and_is_scored(
    compose_config, data_knee_root: Path, data_knee_config: SyntheticConfig, tmp_path: Path
) -> None:
    leaderboard = [
        volume
        for acc in ("acc4", "acc8")
        for volume in index_volumes("snu", data_knee_root / "leaderboard" / acc)
    ]
    crop = data_knee_config.crop
    assert {crop[1] - v.width for v in leaderboard} == {2, 3}  # an even and an odd padding

    trained = compose_config(
        [
            "experiment=snu2026_promptmr",
            "model=varnet_small",
            "~model.net.no_use_ca",
            "hardware=cpu",
            "logger=csv",
            f"data.root={data_knee_root}",
            "data.num_workers=0",
            "debug=fdr",
            "callbacks.progress_bar=null",
            "trainer.enable_model_summary=false",
        ],
        output_dir=tmp_path / "train",
    )
    best_ssim = train(trained)
    assert best_ssim is not None and 0.0 < best_ssim <= 1.0

    checkpoint = random_checkpoint(tmp_path / "random.ckpt", "varnet_small")
    out = tmp_path / "recon"
    cfg = compose_config(
        [
            "model=varnet_small",
            f"ckpt_path={checkpoint}",
            "challenge=2026",
            f"data.root={data_knee_root}",
            f"output_dir={out}",
            "evaluate=true",
            "num_worst=0",
            "progress=false",
        ],
        output_dir=out,
        config_name="reconstruct",
    )
    reconstruct_and_score(cfg)
    for volume in leaderboard:
        with h5py.File(out / volume.kspace_path.parent.parent.name / volume.fname, "r") as f:
            recon = f["reconstruction"][()]
        assert recon.shape == (volume.num_slices, *crop) and recon.dtype == np.float32
        left = (crop[1] - volume.width) // 2  # the odd column goes to the right, as the organisers pad
        right = left + volume.width
        assert not recon[:, :, :left].any() and not recon[:, :, right:].any()
        assert (recon[:, :, left:right] != 0).all(axis=(0, 1)).all()  # every image column holds image
    total = json.loads((out / "metrics.json").read_text())["total"]
    assert 0.0 < total["ssim_full"] < 1.0 and 0.0 < total["ssim_bbox"] < 1.0 and total["boxes"] > 0
