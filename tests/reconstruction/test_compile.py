"""`reconstruct compile=true`: the methods inference calls go through torch.compile and give eager's images.

Inductor's code generation takes minutes per shape on this CPU (benchmarks/inference_compile.py measures it
and its equality to eager); here the graphs are captured by TorchDynamo and run by the `eager` backend,
which exercises the capture of our inference code (its graph breaks included) in seconds.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.reconstruction import inference
from tests.helpers.random_checkpoint import random_checkpoint

pytestmark = pytest.mark.slow  # TorchDynamo captures the graphs of a PromptMR: tens of seconds


def test_compiled_inference_gives_eagers_images(
    data_knee_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled: list[str] = []
    real_compile = torch.compile

    def captured(function):
        compiled.append(function.__name__)
        return real_compile(function, backend="eager")

    monkeypatch.setattr(inference.torch, "compile", captured)
    ckpt = random_checkpoint(tmp_path / "random.ckpt", "promptmr_small", "model.net.num_cascades=1")
    images = {}
    for compile_ in (False, True):
        out = tmp_path / f"compile_{compile_}"
        with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
            cfg = compose(
                "reconstruct",
                overrides=[
                    "model=promptmr_small",
                    "model.net.num_cascades=1",
                    f"ckpt_path={ckpt}",
                    "challenge=2026",
                    f"data.root={data_knee_root}",
                    f"output_dir={out}",
                    f"compile={str(compile_).lower()}",
                    "progress=false",
                ],
            )
        run = reconstruct(cfg)
        images[compile_] = [h5py.File(path, "r")["reconstruction"][()] for path in run.files]
    assert compiled == ["forward", "forward_with_maps", "slice_sensitivity_maps"]
    for eager, graph in zip(images[False], images[True], strict=True):
        np.testing.assert_allclose(graph, eager, rtol=0, atol=1e-5 * float(np.abs(eager).max()))
