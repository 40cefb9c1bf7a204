"""A row's estimate, its key, and the file of estimates computed once and read back (bench, GPU check)."""

from dataclasses import replace
from pathlib import Path

import pytest

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.row_estimate import (
    RowEstimate,
    estimate_key,
    estimate_row,
    estimates_json,
    read_estimates,
)
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training import build

SHAPE = BatchShape(coils=2, height=32, width=32)


@pytest.fixture
def tiny_gtx1080(compose_config):
    return compose_config(["model=varnet_small", "hardware=gtx1080"], config_name="bench")


@pytest.mark.slow  # a real (composed) trace: seconds
def test_the_estimate_adds_the_card_and_projects_times(tiny_gtx1080):
    levers = build.build_levers(tiny_gtx1080)
    estimate = estimate_row(tiny_gtx1080, SHAPE, levers, "composed")
    # gtx1080 models 0.25 GiB of workspace and 0.7 GiB of context beside the tensors' reserved peak
    assert estimate.train_card >= estimate.train_peak + 0.95 * GIB - 1
    assert estimate.infer_card >= estimate.infer_peak + 0.95 * GIB - 1
    assert 0 < estimate.step_s[0] <= estimate.step_s[1] and 0 < estimate.slice_s[0] <= estimate.slice_s[1]
    assert estimate.params > 0 and estimate.seconds > 0
    with pytest.raises(ValueError, match="must be one of"):
        estimate_row(tiny_gtx1080, SHAPE, levers, "guessed")


def test_the_key_changes_with_whatever_the_figures_depend_on(tiny_gtx1080, compose_config):
    levers = build.build_levers(tiny_gtx1080)
    key = estimate_key(tiny_gtx1080, SHAPE, levers, "composed")
    assert key == estimate_key(tiny_gtx1080, SHAPE, levers, "composed")
    rtx4070 = compose_config(["model=varnet_small", "hardware=rtx4070"], config_name="bench")
    others = {
        estimate_key(tiny_gtx1080, replace(SHAPE, coils=3), levers, "composed"),
        estimate_key(tiny_gtx1080, SHAPE, MemoryLevers(), "composed"),
        estimate_key(tiny_gtx1080, SHAPE, levers, "full"),
        estimate_key(rtx4070, SHAPE, levers, "composed"),
    }
    assert key not in others and len(others) == 4


def test_estimates_written_are_read_back_and_an_absent_file_holds_none(tmp_path: Path):
    estimate = RowEstimate(10, 2 * GIB, GIB, 3 * GIB, 2 * GIB, (0.5, 1.0), (0.01, 0.02), 61.5)
    path = tmp_path / "estimates.json"
    path.write_text(estimates_json({"abc": ("PromptMR gtx1080 at 20 x 384 x 396", estimate)}))
    assert read_estimates(path) == {"abc": estimate}
    assert read_estimates(tmp_path / "absent.json") == {} and read_estimates(None) == {}
