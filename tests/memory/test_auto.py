"""`hardware.levers=auto` plans for the data that is there, once: a restart, a resume or a fresh run with the
same key reads the plan back; the start line says what was planned for which shape."""

import json

import pytest

from fastmri_pl.memory import auto as memory_auto
from fastmri_pl.memory.data_plan import plan_for_data
from fastmri_pl.memory.data_shapes import SampleShape
from fastmri_pl.memory.plan_cache import FORMAT, PLAN_FILE, user_cache_dir
from fastmri_pl.memory.planner import plan_inference
from fastmri_pl.models.levers import MemoryLevers
from tests.helpers.stand_in_estimates import stand_in_estimate, stand_in_inference


@pytest.fixture
def planner_calls(monkeypatch, tmp_path):
    """Plans made (stand-in estimators: a real plan traces every candidate); a user cache of this test."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    calls = []

    def counted(*args, **kwargs):
        calls.append(args)
        stand_ins = {"estimator": stand_in_estimate, "infer_estimator": stand_in_inference}
        return plan_for_data(*args, **kwargs, **stand_ins)

    monkeypatch.setattr(memory_auto, "plan_for_data", counted)
    return calls


@pytest.fixture
def auto_config(compose_config, data_mixed_root):
    def compose_run(run_dir, *overrides):
        return compose_config(
            [
                "model=varnet_small",
                f"data.root={data_mixed_root}",
                "data.synthetic=null",
                "hardware=gtx1080",
                "hardware.levers=auto",
                *overrides,
            ],
            output_dir=run_dir,
        )

    return compose_run


def test_a_resume_and_a_fresh_run_with_the_same_key_do_not_plan_again(
    auto_config, planner_calls, tmp_path, capsys
):
    first_run = tmp_path / "run1"
    resolved = memory_auto.resolve_training_levers(auto_config(first_run))
    assert len(planner_calls) == 1
    record = json.loads((first_run / PLAN_FILE).read_text())
    assert record["planned_for"]["train"] == {
        "coils": 3,
        "height": 16,
        "width": 20,
        "adj_slices": 1,
        "file": "train/kspace/brain_acc4_3.h5",
    }
    assert record["planned_for"]["infer"]["file"] == "leaderboard/acc4/kspace/brain_test1.h5"
    assert MemoryLevers(**resolved.hardware.levers) == MemoryLevers(**record["levers"])
    assert (user_cache_dir() / f"{record['key']}.json").is_file()
    assert "planned in" in capsys.readouterr().out

    again = memory_auto.resolve_training_levers(auto_config(first_run))  # a resume: the run folder's plan
    assert len(planner_calls) == 1 and again.hardware.levers == resolved.hardware.levers
    assert f"plan from {first_run / PLAN_FILE}" in capsys.readouterr().out

    fresh_run = tmp_path / "run2"
    memory_auto.resolve_training_levers(auto_config(fresh_run))  # a restart elsewhere: the user cache's plan
    assert len(planner_calls) == 1
    assert json.loads((fresh_run / PLAN_FILE).read_text())["key"] == record["key"]
    assert "plan from " + str(user_cache_dir()) in capsys.readouterr().out


def test_another_model_or_an_unreadable_record_plans_again(auto_config, planner_calls, tmp_path):
    run = tmp_path / "run"
    memory_auto.resolve_training_levers(auto_config(run))
    memory_auto.resolve_training_levers(auto_config(run, "model.net.num_cascades=2"))
    assert len(planner_calls) == 2
    for cached in user_cache_dir().iterdir():
        cached.write_text("{ truncated")
    (run / PLAN_FILE).write_text("{ truncated")
    memory_auto.resolve_training_levers(auto_config(run))
    assert len(planner_calls) == 3
    assert json.loads((run / PLAN_FILE).read_text())["format"] == FORMAT


def test_the_start_line_says_what_was_planned_for_which_shape(auto_config, planner_calls, tmp_path, capsys):
    memory_auto.resolve_training_levers(auto_config(tmp_path / "run"))
    record = json.loads((tmp_path / "run" / PLAN_FILE).read_text())
    line = capsys.readouterr().out.strip().splitlines()[-1]
    need, budget = record["need_gib"], record["budget_gib"]
    assert budget == 7.93  # min(card_gib, memory_gb)
    low, high = record["times"]["epoch_h"]
    planned, origin = line.split("; planned in ")
    assert planned == (
        "levers: auto -> no checkpointing, sens net on all coils; planned for 3 coils x 16 x 20 x 1 slices "
        f"(train/kspace/brain_acc4_3.h5): {need:.2f} of 7.93 GiB, {budget - need:.2f} GiB headroom "
        f"(projected); epoch {low:.3g}-{high:.3g} h (each sample's step at its own shape)"
    )
    assert origin.endswith(f" s, saved to {tmp_path / 'run' / PLAN_FILE}")
    assert record["times"]["epoch_basis"].startswith("per-sample shapes from ")


@pytest.fixture
def inference_plans(monkeypatch, tmp_path) -> list:
    """The shapes inference is planned for, one per plan made (each with the stand-in estimate), in a user
    cache of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user_cache"))
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[1])
        return plan_inference(*args, **kwargs, estimator=stand_in_inference)

    monkeypatch.setattr(memory_auto, "plan_inference", counted)
    return calls


def test_reconstruct_plans_inference_for_the_largest_leaderboard_volume(
    compose_config, inference_plans, capsys
):
    calls = inference_plans
    cfg = compose_config(
        ["model=promptmr_small", "hardware=gtx1080", "hardware.levers=auto", "output_dir=x"],
        config_name="reconstruct",
    )
    samples = (
        SampleShape("acc4/a.h5", 4, 16, 20, 3, (16, 16)),
        SampleShape("acc8/b.h5", 6, 16, 18, 3, (16, 16)),
    )
    resolved = memory_auto.resolve_inference_levers(cfg, samples)
    assert [(s.coils, s.width, s.adj_slices, s.batch_size) for s in calls] == [(6, 18, 3, 1)]
    levers = MemoryLevers(**resolved.hardware.levers)
    assert levers.checkpoint == "none" and levers.sens_chunk == 0  # stand-in: every chunking equally fast
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith(  # the stand-in's 1 MiB + the profile's context 0.7 and workspace 0.25 GiB
        "levers: auto -> sens net on all coils; planned for 6 coils x 16 x 18 x 3 slices (acc8/b.h5): "
        "inference 0.95 of 7.93 GiB, 6.98 GiB headroom (projected); "
    )
    memory_auto.resolve_inference_levers(cfg, samples)
    assert len(calls) == 1  # the user cache answered


def test_inference_plans_its_own_chunking_whatever_the_profiles_training_levers(
    compose_config, inference_plans
):
    """The shipped gtx1080 levers (per-coil sensitivity net, checkpointing) are training's: reconstruct plans
    the inference's chunking (all coils at once where it fits), `inference_levers=profile` keeps them, and a
    profile without a budget (CPU) runs all coils at once without planning."""
    calls = inference_plans
    samples = (SampleShape("acc4/a.h5", 4, 16, 20, 3, (16, 16)),)

    def resolved(*overrides: str) -> MemoryLevers:
        cfg = compose_config(["model=promptmr_small", "output_dir=x", *overrides], config_name="reconstruct")
        return MemoryLevers(**memory_auto.resolve_reconstruct_levers(cfg, samples).hardware.levers)

    shipped = resolved("hardware=gtx1080", "inference_levers=profile")
    assert shipped.sens_chunk == 1 and calls == []
    planned = resolved("hardware=gtx1080")
    assert planned.sens_chunk == 0 and planned.checkpoint == "none" and len(calls) == 1
    assert resolved("hardware=cpu") == MemoryLevers() and len(calls) == 1
