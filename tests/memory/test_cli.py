"""`python -m fastmri_pl.memory`: the JSON it writes, and the OOM message built from the planner."""

import json

import pytest
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.cli import run
from fastmri_pl.memory.oom import oom_message

SMALL = ["memory.coils=2", "memory.height=48", "memory.width=32"]


def memory_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("memory", overrides=["model=varnet_small", *SMALL, *overrides])


@pytest.mark.slow
def test_cli_writes_the_required_fields(tmp_path, capsys):
    output = tmp_path / "estimate.json"
    run(
        memory_cfg(
            "hardware=gtx1080",
            "hardware.levers.offload=true",
            "memory.method=composed",
            f"memory.output={output}",
        )
    )
    document = json.loads(output.read_text())
    for key in (
        "params",
        "train_peak_gib",
        "infer_peak_gib",
        "host_gib",
        "phases_gib",
        "levers",
        "precision",
    ):
        assert key in document, key
    assert document["params"] > 100_000 and document["model"] == "VarNet"
    assert 0 < document["infer_peak_gib"] < document["train_peak_gib"]
    assert document["host_gib"] > 0  # offloaded cascade boundaries
    # on the card: reserved by the caching allocator (>= the peak) + workspace + context, of 7.93 GiB
    assert document["train_reserved_gib"] >= document["train_peak_gib"]
    assert document["reserved_gib"] == document["train_reserved_gib"]
    assert (document["workspace_gib"], document["context_gib"], document["card_gib"]) == (0.25, 0.7, 7.93)
    assert document["card_fit_gib"] == pytest.approx(document["reserved_gib"] + 0.95, abs=1e-5)
    assert document["infer_card_fit_gib"] == pytest.approx(document["infer_reserved_gib"] + 0.95, abs=1e-5)
    assert set(document["phases_gib"]) == {"forward", "backward", "optimizer"}
    assert document["shape"] == {
        "batch": 1,
        "adj_slices": 1,
        "coils": 2,
        "height": 48,
        "width": 32,
        "readout_crop": True,
    }
    # one slice's inference at the 2026 knee k-space (15 x 640 x 368), readout-cropped, batch 1
    assert document["ms_per_slice_shape"] == {
        "coils": 15,
        "height": 384,
        "width": 368,
        "adj_slices": 1,
        "batch": 1,
    }
    low, high = document["ms_per_slice"]
    assert 0 < low <= high
    assert document["epoch_basis"] == "5400 slices x one step at the traced shape"
    printed = capsys.readouterr().out
    assert "train backward" in printed and "dominating the training peak" in printed
    assert "= on the card" in printed and "of 7.93 GiB (hardware.card_gib)" in printed


def test_oom_message_names_peak_budget_and_what_to_try():
    message = oom_message(memory_cfg("hardware=rtx4070"), peak_bytes=11 * 2**30)
    assert "11.00 GiB" in message and "12 GiB" in message
    assert "hardware.levers.offload=true" in message
    assert "hardware.levers=auto" in message and "hardware=a100" in message


def test_oom_message_on_the_cpu_profile_suggests_levers_and_mixed_precision():
    message = oom_message(memory_cfg("hardware=cpu"), peak_bytes=3 * 2**30)
    assert "whole GPU" in message
    assert "hardware.levers.checkpoint=level" in message and "16-mixed" in message


def test_bad_levers_value_is_refused():
    with pytest.raises(ValueError, match="mapping or 'auto'"):
        run(memory_cfg("hardware=cpu", "hardware.levers=fast"))


def test_a_negative_card_size_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="hardware.context_gib must be a number of GiB >= 0"):
        run(memory_cfg("hardware=gtx1080", "hardware.context_gib=-1"))


TIME_FIELDS = ("train_tflop", "infer_tflop", "step_s", "epoch_h", "leaderboard_s")
CARD_FIELDS = ("reserved_gib", "workspace_gib", "context_gib", "card_fit_gib", "card_gib")


@pytest.mark.slow
def test_cli_reports_work_and_projected_times_for_the_model_and_every_candidate(tmp_path, capsys):
    output = tmp_path / "plan.json"
    run(
        memory_cfg(
            "hardware=gtx1080", "memory.plan=true", "model.net.num_cascades=2", f"memory.output={output}"
        )
    )
    document = json.loads(output.read_text())
    for entry in (document, document["chosen"], *document["candidates"]):
        for key in (*TIME_FIELDS, *CARD_FIELDS, "infer_card_fit_gib", "ms_per_slice"):
            assert key in entry, key
        assert 0 < entry["ms_per_slice"][0] <= entry["ms_per_slice"][1]
        low, high = entry["step_s"]  # equal where every op takes the per-op overhead (tiny shapes)
        assert 0 < low <= high and entry["train_tflop"] > entry["infer_tflop"] > 0
        assert entry["epoch_h"][0] == pytest.approx(low * 5400 / 3600, rel=0.01)
    assert "8.87 TFLOPS fp32" in document["time_assumption"]
    # per-coil sensitivity calls cost launches: the per-coil candidates' slices are slower than all-coil ones
    by_chunk = {c["levers"]["sens_chunk"]: c["ms_per_slice"][1] for c in document["candidates"]}
    assert by_chunk[1] > by_chunk[0]
    printed = capsys.readouterr().out
    assert "s/step" in printed and "TFLOP per step" in printed and "projected: roofline" in printed


@pytest.mark.slow
def test_shape_data_plans_for_the_files_largest_samples(data_mixed_root, tmp_path):
    output = tmp_path / "estimate.json"
    document = run(
        memory_cfg(
            "hardware=gtx1080",
            "memory.method=composed",
            "memory.shape=data",
            "data=snu",
            f"data.root={data_mixed_root}",
            f"memory.output={output}",
        )
    )
    assert json.loads(output.read_text()) == document
    assert document["planned_for"] == {
        "train": {
            "coils": 3,
            "height": 16,
            "width": 20,
            "adj_slices": 1,
            "file": "train/kspace/brain_acc4_3.h5",
        },
        "infer": {
            "coils": 3,
            "height": 16,
            "width": 20,
            "adj_slices": 1,
            "file": "leaderboard/acc4/kspace/brain_test1.h5",
        },
    }
    assert document["shape"] == {
        "batch": 1,
        "adj_slices": 1,
        "coils": 3,
        "height": 16,
        "width": 20,
        "readout_crop": True,
    }
    assert document["epoch_basis"].startswith(f"per-sample shapes from {data_mixed_root / 'train'} (6 slices")
    low, high = document["step_s"]
    # three shapes, the largest one of them: the epoch is below 6 steps at the largest shape
    assert document["epoch_h"][0] < 6 * low / 3600 and document["epoch_h"][1] < 6 * high / 3600
    assert 0 < document["ms_per_slice"][0] <= document["ms_per_slice"][1]


def test_memory_shape_is_checked_and_data_needs_a_data_config():
    with pytest.raises(ValueError, match="memory.shape must be one of"):
        run(memory_cfg("hardware=cpu", "memory.shape=files"))
    with pytest.raises(ValueError, match="memory.shape=data needs a data config"):
        run(memory_cfg("hardware=cpu", "memory.shape=data"))
