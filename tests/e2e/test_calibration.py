"""`train`'s calibration on a simulated card: the first optimizer steps measured beside the estimate, the
fallback to more headroom when they pass the card or run out of memory, and nothing at all on the CPU.

The run trains on the CPU; the card is `tests.helpers.fake_cuda.FakeCard` (torch.cuda's memory API faked),
the estimate a stand-in (`tests.helpers.stand_in_estimates`: a real one traces the network for seconds).
"""

import csv
import json
import logging

import pytest
import torch

from fastmri_pl.fit import calibrate
from fastmri_pl.memory import calibration as memory_calibration
from fastmri_pl.memory.calibration import CALIBRATION_FILE
from fastmri_pl.memory.card_cache import read_cards
from fastmri_pl.memory.oom import levers_override
from fastmri_pl.memory.row_estimate import RowEstimate
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.train import train
from fastmri_pl.training.module import ReconModule
from tests.conftest import DATA_TINY
from tests.helpers.fake_cuda import FakeCard
from tests.helpers.stand_in_estimates import stand_in_estimate

pytestmark = pytest.mark.slow  # each test trains one to three tiny runs (2-6 s each here)

# the GTX 1080 profile's card figures on the CPU profile (a real GPU profile would ask Lightning for CUDA)
CARD = [
    "hardware.memory_gb=8",
    "hardware.card_gib=7.93",
    "hardware.context_gib=0.7",
    "hardware.workspace_gib=0.25",
]


def stand_in_row(cfg, shape, levers, method):
    return RowEstimate.of(cfg, shape, stand_in_estimate(cfg, shape, levers), 0.0)


@pytest.fixture
def simulated_card(monkeypatch, tmp_path):
    """`simulated_card(**figures)`: a FakeCard installed as the card `train` runs on (its own user cache)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    monkeypatch.setattr(memory_calibration, "estimate_row", stand_in_row)

    def install(**figures) -> FakeCard:
        return FakeCard(**figures).install_as_the_card_of(monkeypatch, calibrate)

    return install


def run_config(compose_config, train_tiny_overrides, run_dir, *overrides):
    return compose_config(
        [*train_tiny_overrides, "model=varnet_small", *CARD, "validate_best=false", *overrides],
        output_dir=run_dir,
    )


def records(run_dir):
    return json.loads((run_dir / CALIBRATION_FILE).read_text())["calibrations"]


def test_the_first_steps_are_measured_beside_the_estimate(
    simulated_card, compose_config, train_tiny_overrides, tmp_path, caplog
):
    card = simulated_card(allocated_gib=0.8, reserved_gib=1.0, outside_gib=0.55, free_before_gib=7.80)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        train(run_config(compose_config, train_tiny_overrides, run_dir))
    (record,) = records(run_dir)
    measured, estimated = record["measured"], record["estimated"]
    assert record["outcome"] == "fits" and record["fits"] is True and record["steps"] == 3
    assert record["card"] == {"name": card.name, "total_gib": 7.93, "emulated": False, "limit_gib": 7.93}
    assert (measured["max_allocated_gib"], measured["max_reserved_gib"]) == (0.8, 1.0)
    # the context: what the process held outside the allocator less what others held before CUDA started
    assert measured["others_before_gib"] == pytest.approx(7.93 - 7.80, abs=1e-3)
    assert measured["context_gib"] == pytest.approx(0.55 - (7.93 - 7.80), abs=1e-3)
    # the stand-in estimate at the largest batch the steps saw: 1 MiB per coil pixel
    shape = record["shape"]
    pixels = shape["coils"] * shape["height"] * shape["width"] * shape["adj_slices"] * shape["batch_size"]
    assert estimated["reserved_gib"] == pytest.approx(pixels / 1024, abs=1e-3)
    assert (estimated["context_gib"], estimated["workspace_gib"]) == (0.7, 0.25)
    assert estimated["source"] == "the estimator, at this shape"
    allowance = max(0.0, 0.25 - max(0.0, 1.0 - estimated["reserved_gib"]))
    assert measured["workspace_allowance_gib"] == pytest.approx(allowance, abs=1e-3)
    assert measured["need_gib"] == pytest.approx(1.0 + measured["context_gib"] + allowance, abs=2e-3)
    assert record["need_ratio"] == pytest.approx(measured["need_gib"] / estimated["need_gib"], abs=2e-3)
    assert measured["step_s"] > 0  # steps 2 and 3 timed, the first left out
    assert f"calibration on {card.name}: {measured['need_gib']:.2f} GiB measured" in caplog.text
    # the loggers
    with open(run_dir / "csv" / "metrics.csv") as file:
        rows = [row for row in csv.DictReader(file) if row.get("calibration/need_gib")]
    assert len(rows) == 1 and float(rows[0]["calibration/need_gib"]) == pytest.approx(measured["need_gib"])
    # the card's figures, kept for later plans
    kept = read_cards()[card.name]
    assert kept["context_gib"] == pytest.approx(measured["context_gib"], abs=1e-3)
    (workspace,) = kept["workspace"].values()
    assert workspace["workspace_gib"] == pytest.approx(max(0.0, 1.0 - estimated["reserved_gib"]), abs=1e-3)


def test_a_cpu_run_calibrates_nothing_and_says_nothing(
    compose_config, train_tiny_overrides, tmp_path, capsys
):
    run_dir = tmp_path / "run"
    train(run_config(compose_config, train_tiny_overrides, run_dir, "print_config=false"))
    assert not (run_dir / CALIBRATION_FILE).exists()
    captured = capsys.readouterr()
    assert "calibration" not in (captured.out + captured.err).lower()


def weights(run_dir):
    state = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return state["state_dict"]


def assert_same_weights(first, second):
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), name


def test_a_need_past_the_card_starts_again_with_the_next_stronger_levers(
    simulated_card, compose_config, train_tiny_overrides, tmp_path, caplog
):
    """No checkpointing passes the simulated card (9 GiB reserved); the next stronger setting fits. The run
    starts again from scratch and is the run a user starting with those levers gets."""
    card = simulated_card(reserved_gib=lambda levers: 9.0 if levers.checkpoint == "none" else 1.0)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        assert train(run_config(compose_config, train_tiny_overrides, run_dir)) is not None  # it finished
    first, second = records(run_dir)
    stronger = MemoryLevers("cascade", 0, 3, False)  # the tiny data's largest sample has 3 coils
    assert first["outcome"] == "passes the card" and first["fits"] is False
    assert first["measured"]["need_gib"] > 7.93
    assert first["fallback"] == {"levers": stronger.__dict__, "why": "the next stronger setting"}
    assert second["outcome"] == "fits" and MemoryLevers(**second["levers"]) == stronger
    assert [levers.checkpoint for levers in card.built] == ["none", "cascade"]
    said = [r.getMessage() for r in caplog.records if "starting again" in r.getMessage()]
    assert said == [
        f"calibration: the first 3 optimizer steps need {first['measured']['need_gib']:.2f} GiB on "
        f"{card.name}, more than its 7.93 GiB; starting again from scratch (same seed, same data order) with "
        f"{levers_override(stronger)} (the next stronger setting)"
    ]
    direct = tmp_path / "direct"
    train(run_config(compose_config, train_tiny_overrides, direct, levers_override(stronger)))
    assert_same_weights(weights(run_dir), weights(direct))


def test_out_of_memory_in_the_first_steps_starts_again_with_more_headroom(
    simulated_card, compose_config, train_tiny_overrides, tmp_path, monkeypatch, caplog
):
    card = simulated_card()
    compute_loss = ReconModule.compute_loss
    steps = []

    def running_out(module, batch):
        steps.append(module.net.levers.checkpoint)
        if module.net.levers.checkpoint == "none" and len(steps) == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return compute_loss(module, batch)

    monkeypatch.setattr(ReconModule, "compute_loss", running_out)
    run_dir = tmp_path / "run"
    with caplog.at_level(logging.INFO):
        train(run_config(compose_config, train_tiny_overrides, run_dir))
    first, second = records(run_dir)
    assert first["outcome"] == "out of memory" and first["fallback"]["levers"]["checkpoint"] == "cascade"
    assert second["outcome"] == "fits"
    assert [levers.checkpoint for levers in card.built] == ["none", "cascade"]
    assert steps[:2] == ["none", "none"] and set(steps[2:]) == {"cascade"}
    said = [r.getMessage() for r in caplog.records if "starting again" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith(
        "calibration: CUDA out of memory in the first 3 optimizer steps;"
    )
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()  # the run went on to the end


def test_out_of_memory_with_the_strongest_levers_stops_with_exit_3(
    simulated_card, compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    simulated_card(reserved_gib=9.0)
    strongest = MemoryLevers("level", 1, 3, True)
    with pytest.raises(Exception) as stopped:
        train(run_config(compose_config, train_tiny_overrides, tmp_path / "run", levers_override(strongest)))
    assert type(stopped.value).__name__ == "Stopped" and stopped.value.exit_code == 3
    assert "nothing saves more memory" in str(stopped.value)


def test_fewer_steps_than_asked_are_judged_before_validation(
    simulated_card, compose_config, train_tiny_overrides, tmp_path
):
    simulated_card()
    run_dir = tmp_path / "run"
    train(run_config(compose_config, train_tiny_overrides, run_dir, "hardware.calibration.steps=50"))
    (record,) = records(run_dir)
    assert record["outcome"] == "fits"
    assert record["steps"] == DATA_TINY["num_train"] * DATA_TINY["slices"]  # the epoch's optimizer steps


def test_out_of_memory_after_the_first_steps_keeps_the_work_and_resumes_with_safer_levers(
    simulated_card, compose_config, train_tiny_overrides, tmp_path, monkeypatch
):
    """An out-of-memory error at step 5 (after the 3 calibration steps): `last.ckpt` written at step 4, exit
    3, the line's resume command carries the next stronger levers; resumed with them, the run ends on the
    weights of a run that never ran out (checkpointing recomputes exactly)."""
    simulated_card()
    compute_loss = ReconModule.compute_loss
    calls = []

    def running_out_at_step_5(module, batch):
        calls.append(module.net.levers.checkpoint)
        if len(calls) == 5:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return compute_loss(module, batch)

    monkeypatch.setattr(ReconModule, "compute_loss", running_out_at_step_5)
    run_dir = tmp_path / "run"
    with pytest.raises(Exception) as stopped:
        train(run_config(compose_config, train_tiny_overrides, run_dir))
    assert type(stopped.value).__name__ == "Stopped" and stopped.value.exit_code == 3
    last = run_dir / "checkpoints" / "last.ckpt"
    stronger = MemoryLevers("cascade", 0, 3, False)  # the next stronger setting after the default
    batches = DATA_TINY["num_train"] * DATA_TINY["slices"]
    line = str(stopped.value)
    assert line.startswith(
        f"error: CUDA out of memory in train; kept {last} at epoch 0, batch 4 of {batches} "
        "(optimizer step 4); resume with: python -m fastmri_pl.train "
    )
    assert line.endswith(
        f"hydra.run.dir={run_dir} '{levers_override(stronger)}' ckpt_path=last (the next stronger setting)"
    )
    assert line.count("hardware.levers=") == 1
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4
    monkeypatch.setattr(ReconModule, "compute_loss", compute_loss)
    train(
        run_config(compose_config, train_tiny_overrides, run_dir, levers_override(stronger), "ckpt_path=last")
    )
    straight = tmp_path / "straight"
    train(run_config(compose_config, train_tiny_overrides, straight))
    assert_same_weights(weights(run_dir), weights(straight))
