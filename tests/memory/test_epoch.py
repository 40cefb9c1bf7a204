"""The projected epoch sums every training sample's step at its own shape: the step-time model through the
traced anchors, and its accuracy against a real trace at a shape it interpolates."""

import pytest
from hydra import compose, initialize_config_dir

from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.compose import estimate_composed
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.data_shapes import DataShapes, SampleShape
from fastmri_pl.memory.epoch import Anchor, anchors, fit_step_time, per_sample_epoch
from fastmri_pl.memory.roofline import project_for
from fastmri_pl.models.levers import MemoryLevers
from tests.helpers.stand_in_estimates import stand_in_estimate, stand_in_inference


def sample(name: str, coils: int, height: int, width: int, slices: int) -> SampleShape:
    return SampleShape(name, coils, height, width, slices, (height, min(height, width)))


MIXED = DataShapes(
    train=(
        sample("a.h5", 2, 16, 24, 2),
        sample("b.h5", 4, 16, 14, 3),
        sample("c.h5", 3, 16, 20, 5),
        sample("d.h5", 3, 16, 20, 1),
    ),
    infer=(sample("v.h5", 4, 16, 14, 2),),
    source="train",
)


def linear_step(anchor: Anchor) -> tuple[float, float]:
    """A step time exactly of the model's form: 0.1 s + 2 us per coil pixel + 30 us per image pixel."""
    coils, height, width = anchor.geometry
    seconds = 0.1 + 2e-6 * coils * height * width + 3e-5 * height * width
    return seconds, 2 * seconds


def test_anchors_follow_the_directions_the_data_varies_in():
    planned = MIXED.largest_train  # 3 x 16 x 20 (960 pixels)
    assert [a.geometry for a in anchors(MIXED.train, planned)] == [(3, 16, 20), (2, 16, 20), (3, 16, 14)]
    one_size = [sample("a.h5", 2, 16, 20, 1), sample("b.h5", 5, 16, 20, 1)]
    assert [a.geometry for a in anchors(one_size, one_size[1])] == [(5, 16, 20), (2, 16, 20)]
    assert len(anchors(one_size[:1], one_size[0])) == 1  # one shape: the plan's own step, nothing traced


def test_the_fitted_model_is_exact_for_a_step_of_its_form():
    traced = [(anchor, linear_step(anchor)) for anchor in anchors(MIXED.train, MIXED.largest_train)]
    model = fit_step_time(traced)
    for shape in MIXED.train:
        expected = linear_step(Anchor(shape.coils, shape.height, shape.width, shape.target_size))
        assert model.seconds(shape.geometry) == pytest.approx(expected, rel=1e-9)


def test_the_epoch_sums_each_sample_at_its_own_shape_below_the_largest_times_the_count():
    epoch = per_sample_epoch(MIXED, MIXED.largest_train, linear_step, batch_size=1)
    expected = sum(
        s.slices * linear_step(Anchor(s.coils, s.height, s.width, s.target_size))[0] for s in MIXED.train
    )
    assert epoch.epoch_h[0] == pytest.approx(expected / 3600)
    assert epoch.epoch_h[1] == pytest.approx(2 * expected / 3600)
    planned = MIXED.largest_train
    largest_times_count = (
        MIXED.train_slices
        * linear_step(Anchor(planned.coils, planned.height, planned.width, planned.target_size))[0]
    )
    assert epoch.epoch_h[0] < largest_times_count / 3600
    assert "per-sample shapes from train (11 slices, 3 shapes" in epoch.basis
    assert "3 traced shapes" in epoch.basis


def cpu_cfg(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose("memory", overrides=["model=varnet_small", "hardware=cpu", *overrides])


def test_two_coil_counts_price_exactly_and_below_the_largest_step_times_the_count():
    shapes = DataShapes(
        train=(sample("few.h5", 4, 16, 20, 30), sample("many.h5", 20, 16, 20, 10)),
        infer=(sample("v.h5", 20, 16, 20, 1),),
        source="train",
    )
    cfg = cpu_cfg()
    planned = plan_for_data(
        cfg,
        shapes,
        MemoryLevers(),
        adj_slices=1,
        batch_size=1,
        estimator=stand_in_estimate,
        infer_estimator=stand_in_inference,
    )

    def step(coils: int) -> tuple[float, float]:
        estimate = stand_in_estimate(cfg, BatchShape(coils, 16, 20), MemoryLevers())
        return project_for(cfg, estimate.train_costs, estimate.infer_costs, 1).step_s

    for end in (0, 1):
        expected = (30 * step(4)[end] + 10 * step(20)[end]) / 3600
        assert planned.time.epoch_h[end] == pytest.approx(expected, rel=1e-9)
        assert planned.time.epoch_h[end] < 40 * step(20)[end] / 3600
    assert planned.time.step_s == step(20)  # the step itself is the largest sample's
    assert planned.time.epoch_basis.startswith("per-sample shapes from train (40 slices, 2 shapes")
    assert planned.planned_for()["train"]["file"] == "many.h5"


# measured (benchmarks/epoch_interpolation.py): the line through two traced coil counts was within 0.2 % of
# the trace in between, for varnet_small on the cpu profile (tiny shapes) and promptmr_small on gtx1080 (4,
# 12, 20 coils x 384 x 396), and within 0.2 % along the width; 1 % leaves room for chunk counts that round up
TOLERANCE = 0.01


@pytest.mark.slow
def test_the_interpolated_step_matches_a_real_trace_at_a_coil_count_in_between():
    cfg = cpu_cfg()
    levers = MemoryLevers(**cfg.hardware.levers)

    def traced(coils: int) -> tuple[float, float]:
        estimate = estimate_composed(cfg, BatchShape(coils, 32, 40, target_size=(32, 32)), levers)
        return project_for(cfg, estimate.train_costs, estimate.infer_costs, 1).step_s

    ends = [(Anchor(6, 32, 40, (32, 32)), traced(6)), (Anchor(2, 32, 40, (32, 32)), traced(2))]
    model = fit_step_time(ends)
    middle = traced(4)
    # the coils matter (6 coils' step is 30 % above 2 coils'), far beyond the tolerance
    assert ends[0][1][0] > ends[1][1][0] * 1.25
    for end in (0, 1):
        assert model.seconds((4, 32, 40))[end] == pytest.approx(middle[end], rel=TOLERANCE)
