"""`make gpu-check` without a GPU: its verdicts on fake measurements, its report, and its dry run.

The dry run composes every row as the check will (full-size models at the real shapes); only the estimator is
replaced by a stand-in here (a full-size estimate takes minutes on one CPU core; the real one is tested in
tests/memory/test_row_estimate.py).
"""

import json
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir

from benchmarks import gpu_check, reconstruct_row
from benchmarks.gpu_check import CheckPlan, dry_run, memory_rows, move_previous, weights_sha256
from benchmarks.gpu_check_report import (
    ReportRow,
    determinism_verdict,
    memory_verdict,
    passed,
    report_document,
    report_markdown,
)
from fastmri_pl import CONFIG_DIR
from fastmri_pl.memory.auto import resolve_levers
from fastmri_pl.memory.calibration import estimate_cache_key
from fastmri_pl.memory.data_shapes import data_shapes
from fastmri_pl.memory.report import GIB
from fastmri_pl.memory.row_estimate import RowEstimate
from fastmri_pl.training import build


def test_a_need_up_to_ten_percent_over_the_estimate_passes():
    assert memory_verdict(True, 7.0, 7.6).status == "ok"
    assert memory_verdict(True, 8.36, 7.6).failed is False  # 10 % over: still within
    over = memory_verdict(True, 8.4, 7.6)
    assert (over.status, over.failed) == ("over estimate", True) and "1.11 x" in over.detail


def test_a_row_that_did_not_fit_or_was_not_measured_fails():
    oom = memory_verdict(False, None, 7.6, "does not fit: out of memory while timing the training steps")
    assert (oom.status, oom.failed) == ("does not fit", True) and "training steps" in oom.detail
    assert memory_verdict(None, None, 7.6).failed is True


def test_a_profile_larger_than_the_card_is_skipped_not_failed():
    """rtx4070's 11.99 GiB cannot be emulated on a GTX 1080 (7.93): its out-of-memory row is no verdict."""
    skipped = memory_verdict(False, None, 11.63, "does not fit", device_gib=7.93, profile_gib=11.99)
    assert (skipped.status, skipped.failed) == ("skipped", False)
    # the GTX 1080 itself, reporting a few MiB less than the profile's card_gib, is that card
    assert memory_verdict(True, 7.5, 7.6, device_gib=7.92, profile_gib=7.93).status == "ok"


def test_determinism_needs_two_equal_hashes():
    assert determinism_verdict("ab" * 32, "ab" * 32).status == "identical"
    assert determinism_verdict("ab" * 32, "cd" * 32).failed is True
    missing = determinism_verdict("ab" * 32, None)
    assert missing.failed is True and "run 2" in missing.detail


def test_the_weights_hash_sees_one_changed_element(tmp_path: Path):
    state = {"net.a": torch.arange(6, dtype=torch.float16).reshape(2, 3), "net.b": torch.ones(2)}
    torch.save({"state_dict": state, "epoch": 0}, tmp_path / "one.ckpt")
    torch.save({"state_dict": {k: v.clone() for k, v in state.items()}, "epoch": 1}, tmp_path / "two.ckpt")
    state["net.b"][1] = 1.0001
    torch.save({"state_dict": state}, tmp_path / "three.ckpt")
    one, two, three = (weights_sha256(tmp_path / f"{n}.ckpt") for n in ("one", "two", "three"))
    assert one == two != three and weights_sha256(tmp_path / "absent.ckpt") is None


def fake_estimate(train_gib: float, infer_gib: float) -> RowEstimate:
    return RowEstimate(1, 0, 0, int(train_gib * GIB), int(infer_gib * GIB), (0.5, 1.0), (0.02, 0.04), 1.0)


def bench_row(profile: str, **fields) -> dict:
    row = {
        "profile": profile,
        "fits": True,
        "note": "",
        "card": "emulated",
        "cap_gib": 6.98,
        "device_gib": 79.2,
        "max_allocated_gib": 5.9,
        "max_reserved_gib": 6.6,
        "train_peak_gib": 6.17,
        "outside_gib": 0.52,
        "step_seconds": 0.4,
        "train_card_gib": 7.4,
        "infer_card_gib": 1.9,
    }
    return {**row, **fields}


def test_the_report_joins_measurements_and_estimates_and_fails_on_any_bad_row(tmp_path: Path):
    """Fake measurement files: gtx1080 fits, rtx4070 ran out of memory in training (its inference pass ran);
    one reconstruct row is over its estimate by 20 %, the other's step failed."""
    plan = CheckPlan(out=tmp_path)
    jobs = gpu_check.estimate_jobs(plan)
    figures = {
        jobs[0].key: fake_estimate(7.6, 1.86),
        jobs[1].key: fake_estimate(11.63, 2.5),
        jobs[2].key: fake_estimate(5.0, 1.5),
        jobs[3].key: fake_estimate(4.0, 1.2),
    }
    oom = "does not fit: out of memory while timing the training steps"
    rows = [bench_row("gtx1080"), bench_row("rtx4070", fits=False, note=oom, train_card_gib=None)]
    (tmp_path / "bench.json").write_text(json.dumps({"device": "NVIDIA H100", "rows": rows}))
    (tmp_path / "reconstruct_snu_brain.json").write_text(
        json.dumps({"fits": True, "note": "", "infer_card_gib": 1.8, "ms_per_slice": 41.0, "device_gib": 79})
    )
    done = {"reconstruct_fastmri_knee": {"returncode": 1, "log": "logs/reconstruct_fastmri_knee.log"}}
    report = memory_rows(plan, jobs, figures, done)
    verdicts = {row.name: (row.verdict.status, row.ratio) for row in report}
    assert verdicts == {
        "bench promptmr gtx1080 train": ("ok", round(7.4 / 7.6, 3)),
        "bench promptmr gtx1080 inference": ("ok", round(1.9 / 1.86, 3)),
        "bench promptmr rtx4070 train": ("does not fit", None),
        "bench promptmr rtx4070 inference": ("ok", round(1.9 / 2.5, 3)),
        "reconstruct snu_brain 20x768x396": ("over estimate", 1.2),
        "reconstruct fastmri_knee 15x640x368": ("failed", None),
    }
    assert not passed(report) and passed(report[:2])
    document = report_document(report, [], {"device": "NVIDIA H100", "seconds": 300.0})
    assert document["passed"] is False and document["rows"][0]["estimated_gib"] == 7.6
    markdown = report_markdown(document)
    assert markdown.startswith("# GPU check: FAILED")
    assert "| reconstruct snu_brain 20x768x396 | 1.8 | 1.5 | 1.2 | over estimate |" in markdown
    assert "ms_per_slice 41.0" in markdown


def test_a_passing_report_says_so():
    row = ReportRow("bench promptmr gtx1080 train", 7.4, 7.6, memory_verdict(True, 7.4, 7.6))
    assert report_markdown(report_document([row], [], {})).startswith("# GPU check: PASSED")


def test_the_reconstruct_rows_run_the_network_the_2026_recipe_trains(compose_config):
    """`recipe_model` (what reconstruct is given) composes the experiment's network and adjacent slices."""
    plan = CheckPlan(out=Path("/tmp/unused"))
    trained = compose_config([f"experiment={plan.recipe}"])
    given = compose_config([*plan.recipe_model, f"hardware={plan.recipe_profile}"], config_name="reconstruct")
    assert given.model.net == trained.model.net and given.model.num_adj_slices == trained.model.num_adj_slices
    assert given.hardware == trained.hardware


def test_a_previous_run_is_moved_aside_and_the_caches_stay(tmp_path: Path):
    (tmp_path / "report.json").write_text("{}")
    (tmp_path / "estimates.json").write_text("{}")
    (tmp_path / "data").mkdir()
    moved = move_previous(tmp_path)
    assert moved is not None and (moved / "report.json").is_file()
    assert (tmp_path / "estimates.json").is_file() and (tmp_path / "data").is_dir()
    assert move_previous(tmp_path) is None  # nothing left to move


def test_the_dry_run_prints_every_command_and_the_estimates(monkeypatch, capsys, tmp_path: Path):
    """No CUDA, the real plan; estimates computed once (stand-in), filed, read back by a second dry run."""
    estimated = []

    def stand_in(cfg, shape, levers, method):
        estimated.append((shape.coils, shape.height, shape.width, method))
        return fake_estimate(shape.coils * 0.5, shape.coils * 0.1)

    monkeypatch.setattr(gpu_check, "estimate_row", stand_in)
    assert dry_run(CheckPlan(out=tmp_path, workers=1)) == 0
    printed = capsys.readouterr().out
    # the bench rows at the SNU shape after the readout crop, the reconstruct rows at theirs; composed
    assert estimated == [
        (20, 384, 396, "composed"),
        (20, 384, 396, "composed"),
        (20, 384, 396, "composed"),
        (15, 320, 368, "composed"),
        (6, 96, 88, "composed"),  # the determinism runs' calibration: the synthetic knee's largest sample
    ]
    python = gpu_check.sys.executable
    out = tmp_path
    expected = [
        f"{python} -m fastmri_pl.bench 'bench.models=[promptmr]' 'bench.profiles=[gtx1080,rtx4070]' "
        "'bench.gpu_shape={coils: 20, height: 768, width: 396}' bench.readout_crop=true bench.baseline=false "
        f"bench.flops=false bench.estimate=composed bench.estimates={out}/estimates.json "
        f"bench.output={out}/bench.json",
        f"{python} -m fastmri_pl.train experiment=snu2026_promptmr data=synthetic_knee "
        "trainer.deterministic=true trainer.max_epochs=1 ++trainer.limit_train_batches=24 "
        "++trainer.limit_val_batches=2 validate_best=false logger=csv print_config=false "
        f"callbacks.progress_bar=null hydra.run.dir={out}/determinism/run2",
        f"{python} -m fastmri_pl.data.synthetic --root {out}/data/fastmri_knee --anatomy knee --coils 15 "
        "--height 640 --widths 368 --crop 320 320 --slices 8 --num-train 0 --num-val 0 --num-leaderboard 1 "
        "--leaderboard-accelerations 4",
        f"{python} -m benchmarks.reconstruct_row --output {out}/reconstruct_snu_brain.json -- model=promptmr "
        "model.num_adj_slices=3 model.net.no_use_ca=true hardware=gtx1080 challenge=2026 data=snu "
        f"data.root={out}/data/snu_brain ckpt_path={out}/determinism/run1/checkpoints/last.ckpt "
        f"output_dir={out}/reconstructions/snu_brain progress=false",
    ]
    for command in expected:
        assert command in printed
    assert printed.count("\n$ ") == 0  # nothing was run
    assert "bench gtx1080" in printed and "10.00 GiB" in printed  # the stand-in's 20 coils x 0.5 GiB
    # a second dry run reads the filed estimates: nothing estimated again
    estimated.clear()
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path)]) == 0
    assert estimated == [] and "read from" in capsys.readouterr().out


def test_the_check_itself_refuses_to_run_without_cuda(monkeypatch, capsys, tmp_path: Path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    assert "DRY_RUN=1" in capsys.readouterr().err
    assert not (tmp_path / "report.json").exists()


def test_a_reconstruct_row_that_runs_out_of_memory_is_a_row(monkeypatch, tmp_path: Path):
    """`benchmarks.reconstruct_row` writes `fits: false` and the note instead of crashing (exit 0)."""

    def out_of_memory(cfg, console=None):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    monkeypatch.setattr(reconstruct_row, "reconstruct", out_of_memory)
    output = tmp_path / "row.json"
    overrides = [
        "model=zero_filled",
        "data=synthetic",
        f"data.root={tmp_path}/data",
        f"output_dir={tmp_path}/o",
    ]
    assert reconstruct_row.main(["--output", str(output), "--", *overrides]) == 0
    row = json.loads(output.read_text())
    assert (row["fits"], row["note"], row["card"]) == (
        False,
        "does not fit: out of memory while reconstructing",
        "cpu",
    )
    assert reconstruct_row.main(["--output", str(output), "--", *overrides]) == 2  # never over an earlier row


def test_the_calibration_estimate_is_filed_under_the_key_the_training_runs_look_up(tmp_path: Path):
    """The determinism runs compose the recipe with more overrides than the job; none of them may change
    the key `train`'s calibration files its estimate under (else each run traces it inside its time limit)."""
    plan = CheckPlan(out=tmp_path)
    job = gpu_check.calibration_job(plan)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        run = resolve_levers(
            compose("train", overrides=[*gpu_check.recipe_overrides(plan, 8), f"hydra.run.dir={tmp_path}"])
        )
    shape = data_shapes(run.data).largest_train.batch(int(run.model.num_adj_slices), 1)
    assert estimate_cache_key(run, shape, build.build_levers(run)) == job.key
    assert job.cfg.hardware.context_gib == 0 and job.cfg.hardware.workspace_gib == 0


def calibration_record(**fields):
    record = {
        "phase": "train",
        "fits": True,
        "outcome": "fits",
        "card": {"name": "NVIDIA H100", "total_gib": 79.1, "emulated": True, "limit_gib": 7.93},
        "measured": {
            "need_gib": 2.4,
            "context_gib": 0.52,
            "others_before_gib": 0.0,
            "max_reserved_gib": 1.5,
            "step_s": 0.3,
        },
        "estimated": {"need_gib": 2.3, "context_gib": 0.7, "reserved_gib": 1.4, "step_s": [0.5, 1.2]},
    }
    return {**record, **fields}


def test_the_calibration_rows_set_the_measured_context_beside_the_assumed_one(tmp_path: Path):
    plan = CheckPlan(out=tmp_path)
    run1 = gpu_check.run_dir(plan, 1)
    run1.mkdir(parents=True)
    (run1 / "calibration.json").write_text(json.dumps({"format": 1, "calibrations": [calibration_record()]}))
    brain = tmp_path / "reconstructions" / "snu_brain"
    brain.mkdir(parents=True)
    passed_card = calibration_record(
        fits=False, outcome="passes the card", fallback={"levers": {"sens_chunk": 1}, "why": "w"}
    )
    (brain / "calibration.json").write_text(
        json.dumps({"format": 1, "calibrations": [passed_card, calibration_record()]})
    )
    done = {
        "train_run1": {"returncode": 0},
        "train_run2": {"returncode": 1},  # its own failure is reported elsewhere
        "reconstruct_snu_brain": {"returncode": 0},
        "reconstruct_fastmri_knee": {"returncode": 0},  # ran, but left no calibration
    }
    rows = {row.name: row for row in gpu_check.calibration_rows(plan, done)}
    assert list(rows) == [
        "calibration train_run1",
        "calibration reconstruct_snu_brain",
        "calibration reconstruct_fastmri_knee",
    ]
    train = rows["calibration train_run1"]
    assert (train.verdict.status, train.ratio) == ("ok", round(2.4 / 2.3, 3))
    assert (train.shown["measured_context_gib"], train.shown["assumed_context_gib"]) == (0.52, 0.7)
    brain_row = rows["calibration reconstruct_snu_brain"]  # the profile's own levers did not fit: a failure
    assert brain_row.verdict.status == "does not fit" and brain_row.shown["fell_back_to"] == {"sens_chunk": 1}
    assert rows["calibration reconstruct_fastmri_knee"].verdict.status == "not measured"
