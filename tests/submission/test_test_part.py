"""The shipped `test_part.py` keeps the organisers' 2026 contract: `load_model` builds the saved network,
`prep_volume` only reads, every network call happens inside `recon_slice`, whose timed pass starts cold, and
each output is a new (h, w) float32 tensor on the device, the image `reconstruct` makes."""

from argparse import Namespace
from pathlib import Path

import h5py
import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.data.synthetic import SyntheticConfig
from fastmri_pl.errors import DataError
from fastmri_pl.reconstruction.inference import reconstruct_volume
from fastmri_pl.submission import test_part
from fastmri_pl.submission.model_file import MODEL_FILE, model_config, save_model_file
from fastmri_pl.training import build

WARMUP = 5


@pytest.fixture
def model_dir(tmp_path: Path, data_knee_config: SyntheticConfig) -> Path:
    """A model file of a random-weight PromptMR (3 adjacent slices, readout crop) for the knee data, its
    output the knee targets' size (wider than their k-space, as the organisers')."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(
            "submit",
            overrides=[
                "harness=h",
                "output_dir=o",
                "net_name=n",
                "model=promptmr_small",
                "hardware=cpu",
                f"crop=[{data_knee_config.crop[0]},{data_knee_config.crop[1]}]",
            ],
        )
    torch.manual_seed(0)
    net = build.build_net(cfg)
    save_model_file(folder / MODEL_FILE, net, model_config(cfg), origin="random weights")
    return folder


def harness_pass(model, image_path: Path, kspace_path: Path, calls: list[str]) -> list[torch.Tensor]:
    """What recon_eval does with one volume: prep, 5 warm-up slices, then every slice (the timed ones)."""
    ctx = test_part.prep_volume(image_path, kspace_path, torch.device("cpu"))
    assert calls == []  # prep_volume computes nothing of the model's
    with torch.no_grad():
        for s in range(min(WARMUP, ctx["num_slices"])):
            test_part.recon_slice(model, ctx, s)
        calls.clear()
        return [test_part.recon_slice(model, ctx, s) for s in range(ctx["num_slices"])]


def test_recon_slice_does_all_the_work_cold_and_returns_reconstructs_images(
    model_dir: Path, data_knee_root: Path, data_knee_config: SyntheticConfig
) -> None:
    model = test_part.load_model(Namespace(exp_dir=model_dir, cascade=1, chans=9), torch.device("cpu"))
    assert test_part.INPUT_KIND == "kspace" and not model.net.training
    calls: list[str] = []
    for name in ("slice_sensitivity_maps", "forward_with_maps"):
        method = getattr(model.net, name)
        setattr(model.net, name, lambda *args, name=name, method=method: calls.append(name) or method(*args))
    folder = data_knee_root / "leaderboard" / "acc4"
    image_path, kspace_path = folder / "image" / "knee_test1.h5", folder / "kspace" / "knee_test1.h5"
    outputs = harness_pass(model, image_path, kspace_path, calls)
    with h5py.File(image_path, "r") as f:
        slices = f["image_label"].shape[0]
    # the timed pass computes every slice's sensitivity maps again and runs the network once per slice
    assert calls.count("slice_sensitivity_maps") == calls.count("forward_with_maps") == slices == len(outputs)
    for image in outputs:
        assert image.shape == data_knee_config.crop and image.dtype == torch.float32
        assert image.device.type == "cpu" and not image.requires_grad
    assert len({image.data_ptr() for image in outputs}) == slices  # new tensors, no shared buffer
    volume = index_volumes("snu", folder)[0]
    expected = [image for image, _ in reconstruct_volume(model.net, volume, model.settings, WARMUP)]
    torch.testing.assert_close(torch.stack(outputs), torch.stack(expected), rtol=0, atol=0)


def test_prep_volume_without_a_kspace_file_names_the_image(data_knee_root: Path) -> None:
    image = data_knee_root / "leaderboard" / "acc4" / "image" / "knee_test1.h5"
    with pytest.raises(DataError, match="has no k-space file") as error:
        test_part.prep_volume(image, None, torch.device("cpu"))
    assert error.value.path == str(image)


def test_load_model_refuses_what_is_not_a_model_file(tmp_path: Path, model_dir: Path) -> None:
    other = tmp_path / "other"
    with pytest.raises(DataError, match="no such model file"):
        test_part.load_model(Namespace(exp_dir=other), torch.device("cpu"))
    other.mkdir()
    torch.save({"model": {}}, other / MODEL_FILE)  # the organisers' baseline format
    with pytest.raises(DataError, match="is not a fastmri_pl model file"):
        test_part.load_model(Namespace(exp_dir=other), torch.device("cpu"))
    saved = torch.load(model_dir / MODEL_FILE, weights_only=True)
    saved["config"]["model"]["net"]["num_cascades"] = 3
    torch.save(saved, other / MODEL_FILE)
    with pytest.raises(DataError, match="its weights do not fit its own config"):
        test_part.load_model(Namespace(exp_dir=other), torch.device("cpu"))


def test_a_model_file_saved_with_compile_compiles_what_inference_calls(
    model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saved = torch.load(model_dir / MODEL_FILE, weights_only=True)
    assert saved["config"]["compile"] is False
    saved["config"]["compile"] = True
    (tmp_path / "compiled").mkdir()
    torch.save(saved, tmp_path / "compiled" / MODEL_FILE)
    compiled: list[str] = []
    monkeypatch.setattr(torch, "compile", lambda function: compiled.append(function.__name__) or function)
    test_part.load_model(Namespace(exp_dir=tmp_path / "compiled"), torch.device("cpu"))
    assert compiled == ["forward", "forward_with_maps", "slice_sensitivity_maps"]
