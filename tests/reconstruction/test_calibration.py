"""`reconstruct` calibrates its first slice on a simulated card (torch.cuda's memory API faked; the slices run
on the CPU): measured beside the estimate in `<output_dir>/calibration.json`, a smaller sensitivity chunk when
the slice passes the card or runs out of memory, exit 3 when nothing is smaller, nothing on the CPU."""

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl import reconstruct as reconstruct_cli
from fastmri_pl.errors import Stopped
from fastmri_pl.memory import calibration as memory_calibration
from fastmri_pl.memory.calibration import CALIBRATION_FILE
from fastmri_pl.memory.card_cache import read_cards
from fastmri_pl.memory.estimate import InferenceEstimate
from fastmri_pl.memory.opcost import OpCosts
from fastmri_pl.reconstruct import reconstruct
from fastmri_pl.reconstruction import inference
from tests.helpers.fake_cuda import FakeCard
from tests.helpers.random_checkpoint import random_checkpoint

# the GTX 1080 profile's card figures on the CPU profile, the profile's sensitivity net on all coils
CARD = ["hardware.card_gib=7.93", "hardware.context_gib=0.7", "hardware.workspace_gib=0.25"]
INFER_RESERVED = 2**30  # the stand-in estimate's reserved peak


def stand_in_inference(cfg, shape, levers):
    return InferenceEstimate(INFER_RESERVED // 2, INFER_RESERVED, OpCosts())


@pytest.fixture
def simulated_card(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    monkeypatch.setattr(memory_calibration, "estimate_inference_composed", stand_in_inference)

    def install(**figures) -> FakeCard:
        return FakeCard(**figures).install_as_the_card_of(monkeypatch, reconstruct_cli)

    return install


def run_config(root: Path, output_dir: Path, checkpoint: Path, *overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            "reconstruct",
            overrides=[
                f"data.root={root}",
                f"output_dir={output_dir}",
                "progress=false",
                "model=promptmr_small",
                f"ckpt_path={checkpoint}",
                *CARD,
                *overrides,
            ],
        )


@pytest.fixture
def checkpoint(tmp_path):
    return random_checkpoint(tmp_path / "model.ckpt", "promptmr_small")


def records(output_dir: Path) -> list[dict]:
    return json.loads((output_dir / CALIBRATION_FILE).read_text())["calibrations"]


def largest_leaderboard_file(root: Path) -> str:
    sizes = {}
    for path in sorted((root / "leaderboard").glob("acc*/kspace/*.h5")):
        with h5py.File(path) as file:
            _, coils, _, width = file["kspace"].shape
        sizes[str(path.relative_to(root))] = coils * width  # the readout is cropped to the same height
    return max(sizes, key=lambda name: (sizes[name], [-ord(c) for c in name]))


def test_the_first_slice_is_measured_beside_the_estimate(
    simulated_card, data_snu_root, checkpoint, tmp_path, caplog
):
    card = simulated_card(allocated_gib=0.6, reserved_gib=0.9, outside_gib=0.5, free_before_gib=7.83)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        run = reconstruct(run_config(data_snu_root, out, checkpoint))
    (record,) = records(out)
    assert record["phase"] == "inference" and record["outcome"] == "fits"
    assert record["file"] == largest_leaderboard_file(data_snu_root) and record["first_slice_s"] > 0
    assert record["measured"]["max_reserved_gib"] == 0.9
    assert record["measured"]["context_gib"] == pytest.approx(0.5 - (7.93 - 7.83), abs=1e-3)
    assert record["estimated"]["reserved_gib"] == 1.0 and record["estimated"]["source"].startswith(
        "the estim"
    )
    # 0.1 GiB under the estimate: the whole workspace allowance counts
    assert record["measured"]["need_gib"] == pytest.approx(0.9 + 0.4 + 0.25, abs=2e-3)
    assert "its first slice at" in caplog.text and len(run.files) == 2
    kept = read_cards()[card.name]
    assert kept["context_gib"] == pytest.approx(0.4, abs=1e-3) and kept["workspace"] == {}


@pytest.mark.slow  # two reconstructions
def test_out_of_memory_in_the_first_slice_tries_a_smaller_sensitivity_chunk(
    simulated_card, data_snu_root, checkpoint, tmp_path, monkeypatch, caplog
):
    card = simulated_card()
    slice_of = inference.VolumeInference.slice

    def running_out(self, index):
        if self.net.levers.sens_chunk == 0:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return slice_of(self, index)

    monkeypatch.setattr(inference.VolumeInference, "slice", running_out)
    out = tmp_path / "out"
    with caplog.at_level(logging.INFO):
        run = reconstruct(run_config(data_snu_root, out, checkpoint))
    first, second = records(out)
    assert first["outcome"] == "out of memory" and first["fallback"]["levers"]["sens_chunk"] == 1
    assert second["outcome"] == "fits" and second["levers"]["sens_chunk"] == 1
    assert [levers.sens_chunk for levers in card.built] == [0, 1]
    said = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("calibration: CUDA out of memory in the first slice;")
    direct = reconstruct(
        run_config(
            data_snu_root,
            tmp_path / "direct",
            checkpoint,
            "inference_levers=profile",
            "hardware.levers.sens_chunk=1",
        )
    )
    for ours, theirs in zip(run.files, direct.files, strict=True):
        with h5py.File(ours) as a, h5py.File(theirs) as b:
            np.testing.assert_array_equal(a["reconstruction"][()], b["reconstruction"][()])


def test_a_first_slice_past_the_card_with_the_smallest_chunk_stops_with_exit_3(
    simulated_card, data_snu_root, checkpoint, tmp_path
):
    simulated_card(reserved_gib=9.0)
    out = tmp_path / "out"
    with pytest.raises(Stopped) as stopped:
        reconstruct(run_config(data_snu_root, out, checkpoint))
    assert stopped.value.exit_code == 3 and "with the smallest sensitivity chunk" in str(stopped.value)
    first, second = records(out)
    assert (first["levers"]["sens_chunk"], second["levers"]["sens_chunk"]) == (0, 1)
    assert not list(out.glob("acc*/*.h5"))  # nothing written


def test_a_cpu_run_calibrates_nothing(data_snu_root, checkpoint, tmp_path):
    out = tmp_path / "out"
    reconstruct(run_config(data_snu_root, out, checkpoint))
    assert not (out / CALIBRATION_FILE).exists()
