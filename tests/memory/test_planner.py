"""The lever planner: feasible, monotone in the budget, clear when nothing fits; composition vs full trace."""

import dataclasses

import pytest
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.card import CardMemory
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.estimate import Estimate, estimate_full
from fastmri_pl.memory.opcost import OpCosts
from fastmri_pl.memory.planner import (
    RELATIVE_RECOMPUTE,
    Candidate,
    NoLeversFit,
    candidate_levers,
    cost,
    partial_checkpoints,
    plan,
)
from fastmri_pl.models.levers import MemoryLevers

GIB = 2**30
SHAPE = BatchShape(coils=2, height=48, width=32, adj_slices=3)


NO_CARD = ["hardware.card_gib=null", "hardware.context_gib=0", "hardware.workspace_gib=0"]


def small_cfg(*overrides: str):
    """The RTX 4070 profile; the synthetic estimates' budgets leave its card terms out unless asked."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("memory", overrides=["model=promptmr_small", "hardware=rtx4070", *NO_CARD, *overrides])


def synthetic_estimate(cfg, shape, levers: MemoryLevers) -> Estimate:
    """Stronger levers, smaller peaks and more work: 10 GiB, minus 2 per recompute step, 1 for per-coil, 3 for
    offload; a step of 1 TFLOP per forward-equivalent plus 1 GB over the host link with offload. A cascade
    left out of the checkpoint (of 2) adds 0.5 GiB and saves 0.1 TFLOP."""
    plain = 2 - levers.checkpoint_cascades if levers.checkpoint_cascades else 0
    recompute = RELATIVE_RECOMPUTE[levers.checkpoint]
    peak = 10.0 - 6 * (recompute - 1) - (levers.sens_chunk == 1) - 3 * levers.offload + 0.5 * plain
    work = OpCosts({("mm", "fp32", int((3 * recompute - 0.1 * plain) * 1e12), 0): 1.0}, levers.offload * 1e9)
    return Estimate(
        levers, "16-mixed", 1, int(peak * GIB), int(GIB), {}, int(levers.offload * 2 * GIB), train_costs=work
    )


@pytest.mark.parametrize("budget", [24, 12, 8, 7.4, 6])
def test_the_chosen_levers_fit_and_nothing_faster_does(budget):
    chosen = plan(small_cfg(), SHAPE, budget, margin_gib=1.0, estimator=synthetic_estimate, exhaustive=True)
    assert chosen.chosen.fits and chosen.chosen.estimate.train_peak + GIB <= budget * GIB
    faster = [c for c in chosen.candidates if c.step_s < chosen.chosen.step_s]
    assert all(not c.fits for c in faster)
    fields = {"levers", "train_peak_gib", "host_gib", "train_tflop", "infer_tflop", "step_s", "epoch_h"}
    assert fields | {"leaderboard_s"} <= set(chosen.as_json()["candidates"][0])


def test_the_planner_ranks_by_projected_step_time_and_leaves_cascades_out_where_memory_allows():
    # 12 GiB: no checkpointing fits (10 + 1). 8.6 GiB: the fastest setting that fits checkpoints per cascade
    # with the per-coil sensitivity net (7 + 1); leaving one cascade out (7.5 + 1) still fits and is faster
    roomy = plan(small_cfg(), SHAPE, 12, margin_gib=1.0, estimator=synthetic_estimate)
    assert roomy.chosen.levers == MemoryLevers("none", 0, SHAPE.coils, False)
    tight = plan(small_cfg(), SHAPE, 8.6, margin_gib=1.0, estimator=synthetic_estimate)
    assert tight.chosen.levers == MemoryLevers("cascade", 1, SHAPE.coils, False, checkpoint_cascades=1)
    assert tight.chosen.time.train_tflop == pytest.approx(3.9)
    assert "s/step" in tight.table() and "TFLOP/step" in tight.table()


def test_a_tighter_budget_never_picks_a_faster_step():
    steps = [
        plan(small_cfg(), SHAPE, budget, margin_gib=1.0, estimator=synthetic_estimate).chosen.step_s
        for budget in (24, 12, 9, 8, 7, 6)
    ]
    assert steps == sorted(steps)
    assert steps[0] < steps[-1]


def test_an_impossible_budget_fails_clearly():
    with pytest.raises(NoLeversFit, match="no lever setting fits 2 GiB: the smallest need on the card is"):
        plan(small_cfg(), SHAPE, 2, margin_gib=1.0, estimator=synthetic_estimate)


def fragmented_estimate(cfg, shape, levers: MemoryLevers) -> Estimate:
    """`synthetic_estimate` whose caching allocator reserves 1.3 x its peak."""
    estimate = synthetic_estimate(cfg, shape, levers)
    return dataclasses.replace(estimate, train_reserved=int(1.3 * estimate.train_peak))


def test_the_card_must_hold_reserved_memory_workspace_and_context():
    """GTX 1080 terms: 7.93 GiB card, 0.7 context, 0.3 workspace. By its peak + 1 GiB the per-cascade
    checkpoint with offload would also fit with one cascade left out (5.5 GiB); reserved (1.3 x) it does not
    (8.15 GiB): the planner keeps every cascade checkpointed (5 GiB peak, 6.5 reserved, 7.5 on the card)."""
    card = ["hardware.card_gib=7.93", "hardware.context_gib=0.7", "hardware.workspace_gib=0.3"]
    chosen = plan(small_cfg(*card), SHAPE, 8, estimator=fragmented_estimate)
    assert chosen.budget == int(7.93 * GIB)  # the card is below the 8 GiB budget
    assert chosen.chosen.levers == MemoryLevers("cascade", 0, SHAPE.coils, True)
    assert chosen.chosen.need == int(1.3 * 5 * GIB) + int(0.3 * GIB) + int(0.7 * GIB)
    entry = chosen.as_json()["chosen"]
    assert entry["reserved_gib"] == pytest.approx(6.5) and entry["card_fit_gib"] == pytest.approx(7.5)
    assert entry["card_gib"] == 7.93 and entry["context_gib"] == 0.7 and entry["workspace_gib"] == 0.3
    assert "card GiB" in chosen.table() and "reserved" in chosen.table()
    by_peak_only = plan(small_cfg(), SHAPE, 7.93, margin_gib=1.0, estimator=synthetic_estimate)
    assert by_peak_only.chosen.levers == MemoryLevers("cascade", 0, SHAPE.coils, True, checkpoint_cascades=1)


def test_candidates_are_ordered_by_cost_and_cover_every_lever():
    settings = candidate_levers(coils=16)
    assert settings == sorted(settings, key=cost)
    assert settings[0] == MemoryLevers("none", 0, 16, False)
    assert {s.checkpoint for s in settings} == {"none", "cascade", "level"}
    assert {s.offload for s in settings} == {False, True} and {s.sens_chunk for s in settings} == {0, 1}
    # the whole-net sensitivity checkpoint only reproduces the reference; it never saves memory
    assert {s.sens_checkpoint for s in settings} == {"chunk"}


def varnet_cfg(cascades: int):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            "memory", overrides=["model=varnet_small", "hardware=cpu", f"model.net.num_cascades={cascades}"]
        )


LEVER_SHAPE = BatchShape(coils=8, height=64, width=64)
OFFLOAD = MemoryLevers("cascade", 1, 0, True)
PER_COIL_LOOP = MemoryLevers("cascade", 1, 0, False, sens_checkpoint="whole")


@pytest.fixture(scope="module")
def lever_estimates() -> dict[str, Estimate]:
    """Full estimates of a 2-cascade small VarNet with levers added one at a time."""
    settings = {
        "plain": MemoryLevers("none", 0, 0, False),
        "cascade": MemoryLevers("cascade", 0, 0, False),
        "per_coil": MemoryLevers("cascade", 1, 0, False),
        "per_coil_loop": PER_COIL_LOOP,
        "offload": OFFLOAD,
    }
    cfg = varnet_cfg(2)
    return {name: estimate_full(cfg, LEVER_SHAPE, levers) for name, levers in settings.items()}


@pytest.mark.slow
def test_composition_matches_the_full_trace_on_a_small_model():
    """6 cascades: the composition extrapolates from traces of 3 and 4."""
    cfg = varnet_cfg(6)
    composed, full = estimate_composed(cfg, LEVER_SHAPE, OFFLOAD), estimate_full(cfg, LEVER_SHAPE, OFFLOAD)
    assert composed.method == "composed" and composed.params == full.params
    assert composed.train_peak == pytest.approx(full.train_peak, rel=0.01)
    assert composed.infer_peak == pytest.approx(full.infer_peak, rel=0.01)
    # the allocator's segments (2 MiB small, 20 MiB large) make reserved a step function: within one step
    assert full.train_reserved >= full.train_peak and composed.train_reserved >= composed.train_peak
    assert abs(composed.train_reserved - full.train_reserved) <= 2 * 2**20
    for phase, nbytes in full.phases.items():
        assert composed.phases[phase] == pytest.approx(nbytes, rel=0.01), phase
    # VarNet also offloads its sensitivity chunks' inputs; the composition traces one: a bit less host
    assert composed.host_peak == pytest.approx(full.host_peak, rel=0.1)


@pytest.mark.slow
def test_each_lever_lowers_the_estimate_where_it_should(lever_estimates):
    plain, cascade, per_coil, offload = (
        lever_estimates[k] for k in ("plain", "cascade", "per_coil", "offload")
    )
    assert cascade.train_peak < plain.train_peak
    assert per_coil.train_peak < cascade.train_peak
    assert offload.train_peak < per_coil.train_peak
    assert offload.host_peak > per_coil.host_peak == 0


def test_a_per_coil_loop_in_one_checkpoint_saves_little(lever_estimates):
    """The reference's loop: the recompute of one sensitivity checkpoint holds every coil's activations."""
    cascade, per_coil, loop = (lever_estimates[k] for k in ("cascade", "per_coil", "per_coil_loop"))
    saved_per_chunk = cascade.train_peak - per_coil.train_peak
    assert saved_per_chunk > 0
    assert abs(cascade.train_peak - loop.train_peak) < saved_per_chunk / 4


@pytest.mark.slow
def test_composition_traces_every_sensitivity_chunk_of_a_whole_checkpoint(lever_estimates):
    composed = estimate_composed(varnet_cfg(2), LEVER_SHAPE, PER_COIL_LOOP)
    assert composed.train_peak == lever_estimates["per_coil_loop"].train_peak
    assert composed.infer_peak == pytest.approx(lever_estimates["per_coil_loop"].infer_peak, rel=0.01)


@pytest.mark.parametrize("room_gib", [0.2, 2.0, 3.6, 5.0, 40.0])
def test_partial_checkpointing_finds_the_most_cascades_left_out_that_fit(room_gib):
    """12 cascades; leaving n out adds 0.3 GiB for the first and 0.65 for each further one."""

    def peak(levers: MemoryLevers) -> float:
        out = 12 - (levers.checkpoint_cascades or 12)
        return 3.0 + (0.3 + 0.65 * (out - 1) if out else 0.0)

    def candidate(levers: MemoryLevers) -> Candidate:
        estimate = Estimate(levers, "16-mixed", 1, int(peak(levers) * GIB), 0, {}, 0)
        return Candidate(estimate, GIB, int((4.0 + room_gib) * GIB), None, CardMemory(None, 0, 0))

    base = candidate(MemoryLevers("cascade", 1, 16, False))
    tried = partial_checkpoints(base, 12, candidate)
    fitting = [12 - c.levers.checkpoint_cascades for c in tried if c.fits]
    expected = max(
        (
            n
            for n in range(1, 12)
            if peak(MemoryLevers("cascade", checkpoint_cascades=12 - n)) <= 3 + room_gib
        ),
        default=None,
    )
    assert (max(fitting) if fitting else None) == expected
    assert len(tried) <= 6
