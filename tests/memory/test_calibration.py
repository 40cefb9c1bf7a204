"""Calibration's arithmetic, its estimate, the levers it falls back to, and the card cache the planner then
uses: on a simulated card (torch.cuda's API faked, `tests.helpers.fake_cuda`)."""

import json
from dataclasses import asdict

import pytest

from fastmri_pl.memory import auto as memory_auto
from fastmri_pl.memory import calibration as memory_calibration
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.calibration import Calibration, Expected, Measured, expected_for, next_levers
from fastmri_pl.memory.card_cache import (
    CardMeasurement,
    cards_file,
    model_key,
    present_card,
    read_cards,
    remember_card,
    with_card_figures,
)
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.plan_cache import PLAN_FILE, LeversPlan
from fastmri_pl.memory.row_estimate import RowEstimate
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runtime.nvml import free_before_cuda, nvml_uuid
from tests.helpers.fake_cuda import GIB, FakeCard
from tests.helpers.stand_in_estimates import stand_in_estimate, stand_in_inference

SHAPE = BatchShape(coils=3, height=16, width=20)
LEVERS = MemoryLevers("cascade", 1, 3, False)


@pytest.fixture(autouse=True)
def own_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))


def calibration(reserved_gib, context_gib=0.4, others_gib=0.1, expected_reserved_gib=5.0, emulated=False):
    measured = Measured(
        card="card",
        total=int(7.93 * GIB),
        max_allocated=int(reserved_gib * 0.9 * GIB),
        max_reserved=int(reserved_gib * GIB),
        outside=int((context_gib + others_gib) * GIB),
        others=int(others_gib * GIB),
        step_s=0.5,
    )
    expected = Expected(int(expected_reserved_gib * GIB), int(0.25 * GIB), int(0.7 * GIB), (0.4, 0.9), "plan")
    return Calibration(measured, expected, SHAPE, LEVERS, 3, int(7.93 * GIB), emulated, "2026-12-06")


def test_the_measured_need_counts_the_workspace_allowance_the_reserved_peak_has_not_shown():
    below = calibration(reserved_gib=4.0)  # 1 GiB under the estimate: the whole 0.25 GiB allowance counts
    assert below.need / GIB == pytest.approx(4.0 + 0.4 + 0.25)
    above = calibration(reserved_gib=5.1)  # 0.1 GiB of the allowance already inside the reserved peak
    assert above.need / GIB == pytest.approx(5.1 + 0.4 + 0.15)
    far_above = calibration(reserved_gib=6.0)
    assert far_above.need / GIB == pytest.approx(6.0 + 0.4)
    assert far_above.fits and not calibration(reserved_gib=7.6).fits  # 7.6 + 0.4 > 7.93


def test_an_emulated_card_counts_the_profiles_modelled_context():
    emulated = calibration(reserved_gib=4.0, emulated=True)
    assert emulated.context == int(0.7 * GIB)
    assert emulated.measured.context == pytest.approx(0.4 * GIB, abs=1)


def test_the_record_and_metrics_hold_measured_beside_estimated():
    record = calibration(reserved_gib=5.1).as_json()
    assert record["measured"]["need_gib"] == pytest.approx(5.65, abs=1e-3)
    assert record["estimated"]["need_gib"] == pytest.approx(5.95, abs=1e-3)
    assert record["need_ratio"] == pytest.approx(5.65 / 5.95, abs=1e-3)
    metrics = calibration(reserved_gib=5.1).metrics()
    assert metrics["calibration/need_gib"] == record["measured"]["need_gib"]
    assert metrics["calibration/projected_step_s"] == pytest.approx(0.65)
    assert metrics["calibration/fits"] == 1.0


def plan_with(candidates, budget_gib=7.93, chosen=0):
    return LeversPlan(
        key="k",
        kind="train",
        levers=candidates[chosen][0],
        planned_for={},
        need_gib=candidates[chosen][1],
        reserved_gib=0.0,
        budget_gib=budget_gib,
        cascades=12,
        times={},
        reason="",
        candidates=[{"levers": lv, "need_gib": need, "time": [t, t]} for lv, need, t in candidates],
    )


FASTEST = asdict(MemoryLevers("none", 0, 20, False))
PARTIAL = asdict(MemoryLevers("cascade", 1, 20, False, checkpoint_cascades=7))
CASCADE = asdict(MemoryLevers("cascade", 1, 20, False))
LEVEL = asdict(MemoryLevers("level", 1, 20, True))
PLAN = plan_with([(PARTIAL, 7.6, 1.0), (FASTEST, 30.0, 0.5), (CASCADE, 7.0, 1.1), (LEVEL, 4.0, 2.0)])


def test_a_plan_falls_back_to_its_fastest_candidate_that_fits_with_the_excess_measured():
    current = MemoryLevers(**PARTIAL)
    assert next_levers(current, PLAN, 0.5, 20).levers == MemoryLevers(**CASCADE)  # 7.0 + 0.5 fits 7.93
    assert next_levers(current, PLAN, 1.0, 20).levers == MemoryLevers(**LEVEL)  # 7.0 + 1.0 does not
    assert next_levers(current, PLAN, None, 20).levers == MemoryLevers(**CASCADE)  # out of memory: one step
    assert next_levers(current, PLAN, 9.0, 20).levers == MemoryLevers(**LEVEL)  # none fits: the least need
    assert next_levers(MemoryLevers(**LEVEL), PLAN, None, 20) is None


def test_fixed_levers_fall_back_to_the_next_stronger_setting():
    gtx1080 = MemoryLevers("cascade", 1, 20, False, checkpoint_cascades=7)
    assert next_levers(gtx1080, None, 0.3, 20).levers == MemoryLevers("cascade", 1, 20, False)
    assert next_levers(MemoryLevers("level", 1, 20, True), None, None, 20) is None


def test_the_estimate_is_the_plans_at_its_own_shape_and_levers_else_the_estimators_once(
    compose_config, monkeypatch, tmp_path
):
    cfg = compose_config(["model=varnet_small", "hardware=gtx1080"], output_dir=tmp_path)
    plan = plan_with([(asdict(LEVERS), 2.0, 1.0)])
    record = {**plan.as_json(), "reserved_gib": 1.05, "times": {"step_s": [0.2, 0.3]}}
    record["planned_for"] = {
        "train": {"coils": 3, "height": 16, "width": 20, "adj_slices": 1, "file": "a.h5"}
    }
    (tmp_path / PLAN_FILE).write_text(json.dumps(record))
    from_plan = expected_for(cfg, SHAPE, LEVERS, tmp_path)
    assert (from_plan.reserved, from_plan.step_s) == (int(1.05 * GIB), (0.2, 0.3))
    assert (from_plan.context, from_plan.workspace) == (int(0.7 * GIB), int(0.25 * GIB))
    traced = []

    def stand_in_row(cfg, shape, levers, method):
        traced.append(shape)
        return RowEstimate.of(cfg, shape, stand_in_estimate(cfg, shape, levers), 0.0)

    monkeypatch.setattr(memory_calibration, "estimate_row", stand_in_row)
    wider = BatchShape(coils=3, height=16, width=24)  # not the plan's shape: the estimator's, kept
    for _ in range(2):
        estimated = expected_for(cfg, wider, LEVERS, tmp_path)
        assert (
            estimated.reserved == 3 * 16 * 24 * 2**20 and estimated.source == "the estimator, at this shape"
        )
    assert traced == [wider]


GTX1080 = ["model=varnet_small", "hardware=gtx1080"]


def test_the_card_present_is_the_profiles_own_or_an_emulating_bigger_one(compose_config, monkeypatch):
    cfg = compose_config(GTX1080)
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    assert present_card(cfg.hardware) is None
    FakeCard(total_gib=7.93).install(monkeypatch)
    assert present_card(cfg.hardware).emulated is False
    FakeCard(name="NVIDIA H100", total_gib=79.2).install(monkeypatch)
    assert present_card(cfg.hardware).emulated is True
    assert present_card(compose_config(["hardware=cpu"]).hardware) is None


def measurement(cfg, context_gib=0.41, workspace_gib=0.05, name="NVIDIA GeForce GTX 1080"):
    return CardMeasurement(
        name, 7.93, context_gib, 0.02, "2026-12-06", model_key(cfg), "VarNet", workspace_gib
    )


def test_a_card_measured_before_gives_its_figures_and_the_start_line_says_so(compose_config, monkeypatch):
    cfg = compose_config(GTX1080)
    assert with_card_figures(compose_config(["hardware=cpu"])) == (compose_config(["hardware=cpu"]), None)
    card = FakeCard().install(monkeypatch)
    same, words = with_card_figures(cfg)
    assert same is cfg and words == "context 0.70 GiB, workspace 0.25 GiB assumed"
    assert remember_card(measurement(cfg)) is None
    measured, words = with_card_figures(cfg)
    assert (measured.hardware.context_gib, measured.hardware.workspace_gib) == (0.41, 0.05)
    assert words == (
        f"context 0.41 GiB measured on {card.name} on 2026-12-06, workspace 0.05 GiB measured on 2026-12-06"
    )
    other_model = compose_config(["model=promptmr_small", "hardware=gtx1080"])
    other, words = with_card_figures(other_model)
    assert (other.hardware.context_gib, other.hardware.workspace_gib) == (0.41, 0.25)
    assert words.endswith("workspace 0.25 GiB assumed (not measured for this model)")
    FakeCard(name=card.name, total_gib=79.2).install(monkeypatch)  # a bigger card of that name emulating
    emulated, words = with_card_figures(cfg)
    assert emulated.hardware.context_gib == 0.7 and "emulating the profile's card" in words


def test_the_cache_keeps_every_card_and_model_and_survives_a_broken_file(compose_config):
    cfg = compose_config(GTX1080)
    remember_card(measurement(cfg))
    remember_card(measurement(cfg, context_gib=0.5, name="NVIDIA GeForce RTX 4070"))
    remember_card(
        measurement(compose_config(["model=promptmr_small", "hardware=gtx1080"]), workspace_gib=0.2)
    )
    cards = read_cards()
    assert set(cards) == {"NVIDIA GeForce GTX 1080", "NVIDIA GeForce RTX 4070"}
    assert len(cards["NVIDIA GeForce GTX 1080"]["workspace"]) == 2
    cards_file().write_text("{ truncated")
    assert read_cards() == {}
    remember_card(measurement(cfg))
    assert list(read_cards()) == ["NVIDIA GeForce GTX 1080"]


def test_the_planner_uses_the_cards_measured_figures(compose_config, data_mixed_root, monkeypatch, tmp_path):
    """The same plan made with the profile's assumptions and with the card's measured context and workspace:
    its need on the card changes by the difference, and so does the plan's key."""
    stand_ins = {"estimator": stand_in_estimate, "infer_estimator": stand_in_inference}
    monkeypatch.setattr(memory_auto, "plan_for_data", lambda *a, **k: plan_for_data(*a, **k, **stand_ins))
    overrides = [*GTX1080, f"data.root={data_mixed_root}", "data.synthetic=null", "hardware.levers=auto"]
    FakeCard().install(monkeypatch)
    assumed_cfg, _ = with_card_figures(compose_config(overrides, output_dir=tmp_path / "a"))
    memory_auto.resolve_training_levers(assumed_cfg)
    assumed = json.loads((tmp_path / "a" / PLAN_FILE).read_text())
    remember_card(measurement(assumed_cfg, context_gib=0.41, workspace_gib=0.05))
    measured_cfg, _ = with_card_figures(compose_config(overrides, output_dir=tmp_path / "m"))
    memory_auto.resolve_training_levers(measured_cfg)
    measured = json.loads((tmp_path / "m" / PLAN_FILE).read_text())
    assert measured["key"] != assumed["key"]
    assert measured["need_gib"] == pytest.approx(assumed["need_gib"] - (0.7 - 0.41) - (0.25 - 0.05), abs=1e-5)
    assert measured["reserved_gib"] == assumed["reserved_gib"]


def test_nvml_reads_nothing_where_there_is_no_driver(monkeypatch):
    FakeCard().install(monkeypatch)
    assert free_before_cuda(0) is None  # this machine has no libnvidia-ml
    assert nvml_uuid("0123-abcd") == b"GPU-0123-abcd" and nvml_uuid("MIG-9") == b"MIG-9"
