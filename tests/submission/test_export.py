"""`python -m fastmri_pl.submit`: the organisers' repository copied byte for byte but for the team's files,
the model file beside it, one-line refusals of bad input, and no half-written submission."""

import filecmp
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from fastmri_pl import CONFIG_DIR, submit
from fastmri_pl.errors import DataError
from fastmri_pl.submission import export
from fastmri_pl.submission.export import export_submission
from fastmri_pl.submission.model_file import MODEL_FILE, read_model_file
from tests.helpers.random_checkpoint import random_checkpoint
from tests.helpers.stand_in_harness import REQUIREMENTS, write_stand_in_harness

TEAM_FILES_2026 = {"utils/learning/test_part.py", "train.sh", "README.md", "requirements.txt"}


def submit_cfg(harness: Path, out: Path, *overrides: str, ckpt: Path | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(
            "submit",
            overrides=[
                f"harness={harness}",
                f"output_dir={out}",
                "net_name=team_a",
                "model=promptmr_small",
                "hardware=cpu",
                f"ckpt_path={ckpt}",
                "crop=[64,64]",
                *overrides,
            ],
        )


@pytest.fixture(scope="module")
def promptmr_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_checkpoint(tmp_path_factory.mktemp("ckpt") / "random.ckpt", "promptmr_small")


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("existing output", "{out}: exists; pass overwrite=true to replace it with the new submission"),
        ("net name with a path", "net_name: 'team/a' must be a plain folder name (no path separator)"),
        ("2024 harness", "{harness}: harness lacks recon_eval.py, utils/common/metrics.py: not the 2026"),
        ("checkpoint of another model", "{ckpt}: does not match the configured model"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    case: str, message: str, tmp_path: Path, promptmr_ckpt: Path, run_main
) -> None:
    harness = write_stand_in_harness(tmp_path / "clone", 2024 if case == "2024 harness" else 2026)
    out, ckpt = tmp_path / "submission", promptmr_ckpt
    arguments = [f"harness={harness}", f"output_dir={out}", "net_name=team_a", "model=promptmr_small"]
    if case == "existing output":
        out.mkdir()
    if case == "net name with a path":
        arguments[2] = "net_name=team/a"
    if case == "checkpoint of another model":
        ckpt = random_checkpoint(tmp_path / "varnet.ckpt", "varnet_small")
    code, stderr = run_main(submit, *arguments, f"ckpt_path={ckpt}", f"hydra.run.dir={tmp_path / 'run'}")
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith("error: " + message.format(out=out, harness=harness, ckpt=ckpt))
    before = {"clone", "run"} | {
        "existing output": {"submission"},
        "checkpoint of another model": {"varnet.ckpt"},
    }.get(case, set())
    assert {p.name for p in tmp_path.iterdir()} == before  # no submission, no partial folder


@pytest.mark.slow
def test_2026_submission_changes_only_the_teams_files(tmp_path: Path, promptmr_ckpt: Path) -> None:
    harness = write_stand_in_harness(tmp_path / "clone", 2026)
    out = tmp_path / "submission"
    submission = export_submission(submit_cfg(harness, out, ckpt=promptmr_ckpt), "promptmr_small", [])
    repository = out / "FastMRI_challenge"
    theirs = {p.relative_to(harness).as_posix() for p in harness.rglob("*") if p.is_file()}
    ours = {p.relative_to(repository).as_posix() for p in repository.rglob("*") if p.is_file()}
    (wheel,) = (repository / "wheels").glob("fastmri_pl-*.whl")
    assert ours == theirs | {f"wheels/{wheel.name}"}
    for name in theirs - TEAM_FILES_2026:
        assert filecmp.cmp(harness / name, repository / name, shallow=False), name
    shipped = repository / "utils/learning/test_part.py"
    assert shipped.read_bytes() == Path(export.__file__).with_name("test_part.py").read_bytes()
    assert (repository / "requirements.txt").read_text() == REQUIREMENTS + f"\nwheels/{wheel.name}\n"
    readme = (repository / "README.md").read_text()
    assert readme.endswith((harness / "README.md").read_text())  # theirs kept below ours
    assert "python recon_eval.py -n team_a -p ../Data/leaderboard" in readme
    train_sh = (repository / "train.sh").read_text()
    assert "experiment=snu2026_promptmr model=promptmr_small data.root=../Data" in train_sh
    assert "fastmri_pl.submission.pack ../result/team_a/train ../result/team_a/checkpoints" in train_sh
    assert submission.model_file == out / "result/team_a/checkpoints" / MODEL_FILE
    saved = read_model_file(submission.model_file)
    assert saved["config"]["crop"] == [64, 64] and saved["config"]["data"]["readout_crop"] is True
    assert saved["config"]["hardware"]["levers"]["sens_chunk"] == 0  # inference: all coils at once (CPU)
    assert saved["config"]["model"]["net"]["_target_"] == "fastmri_pl.models.promptmr.PromptMR"
    assert saved["trained_from"] == str(promptmr_ckpt)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_overwrite_replaces_only_with_a_complete_submission(
    tmp_path: Path, promptmr_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = write_stand_in_harness(tmp_path / "clone", 2026)
    out = tmp_path / "submission"
    out.mkdir()
    (out / "earlier.txt").write_text("an earlier submission")

    def failing_wheel(destination: Path) -> Path:
        raise RuntimeError("simulated failure while building the wheel")

    monkeypatch.setattr(export, "build_wheel", failing_wheel)
    with pytest.raises(RuntimeError, match="simulated failure"):
        export_submission(
            submit_cfg(harness, out, "overwrite=true", ckpt=promptmr_ckpt), "promptmr_small", []
        )
    assert [p.name for p in out.iterdir()] == ["earlier.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone", "submission"]  # no partial folder left
    monkeypatch.undo()
    export_submission(submit_cfg(harness, out, "overwrite=true", ckpt=promptmr_ckpt), "promptmr_small", [])
    assert sorted(p.name for p in out.iterdir()) == ["FastMRI_challenge", "result"]


def test_train_sh_repeats_the_training_runs_own_overrides(tmp_path: Path) -> None:
    """The checkpoint's run folder says how it was trained; its machine's paths and logger are left out."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / ".hydra" / "overrides.yaml").write_text(
        "- experiment=snu2026_promptmr\n- model=promptmr_small\n- data.root=/home/me/snu\n"
        "- hardware=rtx4070\n- logger=wandb\n- trainer.max_epochs=40\n- hydra.run.dir=/x\n"
        "- model.net.num_cascades=4\n"
    )
    cfg = submit_cfg(tmp_path, tmp_path / "out", ckpt=run / "checkpoints" / "epoch010.ckpt")
    assert export.train_overrides(cfg, "promptmr_small", []) == [
        "experiment=snu2026_promptmr",
        "model=promptmr_small",
        "trainer.max_epochs=40",
        "model.net.num_cascades=4",
    ]
    imported = submit_cfg(tmp_path, tmp_path / "out", ckpt=tmp_path / "imported.ckpt")
    assert export.train_overrides(imported, "promptmr", ["model=promptmr", "model.net.num_cascades=6"]) == [
        "experiment=snu2026_promptmr",
        "model=promptmr",
        "model.net.num_cascades=6",
    ]


def test_a_model_setting_other_than_the_training_runs_is_refused(tmp_path: Path, promptmr_ckpt: Path) -> None:
    """`learnable_prompt` turns buffers into parameters of the same names and shapes: the weights load, yet
    the network differs from the one trained. The run folder's config says what was trained."""
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    ckpt = run / "checkpoints" / "epoch001.ckpt"
    ckpt.write_bytes(promptmr_ckpt.read_bytes())
    trained = submit_cfg(tmp_path, tmp_path / "out", "model.net.learnable_prompt=true", ckpt=ckpt)
    OmegaConf.save(trained, run / ".hydra" / "config.yaml")
    harness = write_stand_in_harness(tmp_path / "clone", 2026)
    with pytest.raises(
        DataError, match="was trained with model.net.learnable_prompt=True, not False"
    ) as error:
        export_submission(submit_cfg(harness, tmp_path / "out", ckpt=ckpt), "promptmr_small", [])
    assert error.value.path == str(ckpt)
    assert not (tmp_path / "out").exists()
