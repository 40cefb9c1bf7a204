"""fastMRI brain volumes narrower than their 320 x 320 target ("FLAIR 203" in fastMRI's code): compared on a
W x W square, as fastMRI's VarNet module does, in validation and in `evaluate` (the SNU rule, a target wider
than the image, is tests/data/test_wide_targets.py)."""

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from omegaconf import DictConfig

from fastmri_pl.data.h5checks import target_crop
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import generate, synthetic_config
from fastmri_pl.errors import DataError
from fastmri_pl.evaluate import evaluate
from fastmri_pl.fit import factory
from fastmri_pl.reconstruction.writer import write_reconstruction
from fastmri_pl.training import build

NARROW = 264  # a brain volume's k-space width below the 320 x 320 target


@pytest.fixture(scope="module")
def brain_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train: one 320-wide volume; val: a 264-wide and a 320-wide one, all 640 rows, targets 320 x 320."""
    root = tmp_path_factory.mktemp("brain_narrow")
    config = synthetic_config(
        layout="fastmri",
        num_train=1,
        num_val=2,
        slices=2,
        coils=(2,),
        height=640,
        widths=(320, NARROW),
        crop=(320, 320),
    )
    generate(root, config, progress=False)
    return root


def test_the_rule_crops_only_narrow_fastmri_volumes() -> None:
    path = Path("x.h5")
    assert target_crop(path, "t", (2, 320, 320), 640, 368, "fastmri") == (320, 320)
    assert target_crop(path, "t", (2, 320, 320), 640, NARROW, "fastmri") == (NARROW, NARROW)
    assert target_crop(path, "t", (2, 320, NARROW), 640, NARROW, "fastmri") == (320, NARROW)
    assert target_crop(path, "t", (2, 384, 384), 768, 372, "snu") == (384, 384)  # SNU: the target's own
    with pytest.raises(DataError, match="larger than the k-space image 200 x 264"):
        target_crop(path, "t", (2, 320, 320), 200, NARROW, "fastmri")  # no square fits
    with pytest.raises(DataError, match="t is 320 x 320, larger than the k-space image 300 x 330"):
        target_crop(path, "t", (2, 320, 320), 300, 330, "fastmri")  # fastMRI never pads


@pytest.mark.slow  # the real brain geometry: 640 x 320 k-space, 320 x 320 targets
def test_narrow_volume_is_validated_and_scored_on_its_square(
    brain_root: Path, compose_config: Callable[..., DictConfig], tmp_path: Path
) -> None:
    volumes = {v.fname: v for v in index_volumes("fastmri", brain_root / "val")}
    (narrow,) = [v for v in volumes.values() if v.width == NARROW]
    assert narrow.crop == (NARROW, NARROW)
    assert {v.crop for v in volumes.values() if v is not narrow} == {(320, 320)}
    with h5py.File(narrow.target_path) as f:
        stored = f["reconstruction_rss"][()]
    assert stored.shape == (2, 320, 320) and (stored[:, :, :20] == 0).all()  # the zeros beside the image

    cfg = compose_config(
        [
            "data=fastmri_brain",
            f"data.root={brain_root}",
            "data.train_dir=train",
            "data.val_dir=val",
            "model=zero_filled",
            "hardware=cpu",
            "logger=none",
        ]
    )
    datamodule, module = factory.build_datamodule(cfg), build.build_module(cfg)
    datamodule.setup("validate")
    images: dict[str, list[torch.Tensor]] = defaultdict(list)
    for index, batch in enumerate(datamodule.val_dataloader()):
        if batch["fname"][0] == narrow.fname:
            assert batch["target"].shape[-2:] == (NARROW, NARROW)
            assert (batch["target"] != 0).all()  # the square holds image only, none of the padding
        images[batch["fname"][0]].append(module.validation_step(batch, index)["prediction"][0])
    scores = module.val_metrics.compute()
    assert 0.0 < scores["val/ssim"] <= 1.0

    recon_dir = tmp_path / "recon"
    for fname, slices in images.items():
        write_reconstruction(recon_dir / fname, iter(slices), (len(slices), *slices[0].shape))
    summary = evaluate(brain_root, recon_dir, layout="fastmri", split="val", num_worst=1, progress=False)
    assert summary["val"]["slices"] == 4 and 0.0 < summary["val"]["ssim"] <= 1.0
    assert (recon_dir / "figures" / "worst_val.png").is_file()

    whole = np.zeros((2, 320, 320), dtype=np.float32)  # the target's own size is not what fastMRI compares
    with h5py.File(recon_dir / narrow.fname, "w") as f:
        f["reconstruction"] = whole
    with pytest.raises(DataError, match=r"compared on \(2, 264, 264\) \(fastMRI's square crop\)"):
        evaluate(brain_root, recon_dir, layout="fastmri", split="val", num_worst=0, progress=False)
