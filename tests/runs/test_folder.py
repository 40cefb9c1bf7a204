"""One live run per folder: a second is refused in one line, changing nothing; a dead run's lock is free."""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastmri_pl import train as train_module
from fastmri_pl.errors import DataError
from fastmri_pl.runs import folder as run_folder
from fastmri_pl.runs.folder import LOCK_FILE, acquire_lock, release_lock, run_folder_lock
from fastmri_pl.train import train


@pytest.fixture
def foreign_lock(tmp_path: Path) -> Iterator[Path]:
    """The run folder locked as by another live run: held on a descriptor this process then forgets about."""
    folder = tmp_path / "run"
    assert acquire_lock(folder)
    descriptor = run_folder._held.pop(folder.resolve())
    yield folder
    os.close(descriptor)


def test_second_live_run_is_refused_naming_the_holder(foreign_lock: Path, compose_config) -> None:
    with pytest.raises(DataError) as error:
        acquire_lock(foreign_lock)
    assert error.value.path == str(foreign_lock.resolve() / LOCK_FILE)
    assert f"another run (PID {os.getpid()} on " in error.value.problem
    with pytest.raises(DataError, match="another run"):  # train refuses before building anything
        train(compose_config(["model=varnet_small", "logger=none"], output_dir=foreign_lock))
    assert sorted(p.name for p in foreign_lock.iterdir()) == [LOCK_FILE]


def test_lock_of_a_dead_run_is_taken_over_and_released(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / LOCK_FILE).write_text(json.dumps({"pid": 2**22 + 1, "host": "gone"}))  # nobody holds it
    with run_folder_lock(folder):
        assert json.loads((folder / LOCK_FILE).read_text())["pid"] == os.getpid()
        with run_folder_lock(folder):  # the same process again (the CLI's callback, then train): no-op
            pass
        assert not acquire_lock(folder)
    assert acquire_lock(folder)  # released by the outer block only
    release_lock(folder)


def test_command_line_run_into_a_live_runs_folder_is_one_line_and_changes_nothing(
    foreign_lock: Path, data_snu_root: Path, run_main
) -> None:
    """`main` in process, as the command line runs it: the refusal comes before Hydra writes `.hydra/`."""
    (foreign_lock / ".hydra").mkdir()
    (foreign_lock / ".hydra" / "config.yaml").write_text("the live run's config\n")
    before = {p: p.read_bytes() for p in foreign_lock.rglob("*") if p.is_file()}
    arguments = [
        "model=varnet_small",
        "logger=none",
        f"data.root={data_snu_root}",
        f"hydra.run.dir={foreign_lock}",
    ]
    code, stderr = run_main(train_module, *arguments)
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"error: {foreign_lock.resolve() / LOCK_FILE}: another run (PID {os.getpid()} on ")
    assert {p: p.read_bytes() for p in foreign_lock.rglob("*") if p.is_file()} == before


def test_run_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")  # as unusable as a read-only folder, even for root
    with pytest.raises(DataError, match=r"cannot write in the run folder \(Not a directory\)") as error:
        acquire_lock(tmp_path / "file" / "run")
    assert error.value.path == str(tmp_path / "file" / "run")


def test_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    """A run killed with SIGKILL cleans nothing up; the kernel drops its lock, so the next run gets it."""
    folder = tmp_path / "run"
    folder.mkdir()
    holder_code = (
        "import fcntl, os, sys, time; d = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
        " fcntl.flock(d, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(folder / LOCK_FILE)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(DataError, match="another run"):
            acquire_lock(folder)
    finally:
        holder.kill()
        holder.wait()
    assert acquire_lock(folder)
    release_lock(folder)


@pytest.mark.slow
def test_resume_keeps_the_config_of_every_earlier_start(
    tmp_path: Path, data_snu_root: Path, run_main
) -> None:
    """Hydra writes a resume's `.hydra/*.yaml` over the run's own; each earlier start's stays as `<name>.<n>`.

    The resumes here stop at the checkpoint check (`last.ckpt` is not a checkpoint), after Hydra has written:
    even a failed resume loses nothing."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_text("not a checkpoint")
    (run / ".hydra").mkdir()
    original = {name: f"the original run's {name}\n" for name in run_folder.HYDRA_FILES}
    for name, text in original.items():
        (run / ".hydra" / name).write_text(text)
    arguments = ["model=varnet_small", "logger=none", f"data.root={data_snu_root}", f"hydra.run.dir={run}"]
    for epochs in (5, 7):
        code, stderr = run_main(train_module, *arguments, "ckpt_path=last", f"trainer.max_epochs={epochs}")
        assert code == 2
        assert "last.ckpt: cannot be read" in stderr
    for name, text in original.items():
        assert (run / ".hydra" / name.replace(".yaml", ".0.yaml")).read_text() == text
    assert "trainer.max_epochs=5" in (run / ".hydra" / "overrides.1.yaml").read_text()
    assert "trainer.max_epochs=7" in (run / ".hydra" / "overrides.yaml").read_text()
    assert not list((run / ".hydra").glob("*.2.yaml"))


def test_a_requeued_slurm_job_resumes_from_its_folders_last_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """SLURM runs a requeued job's command again, without ckpt_path=last: SLURM_RESTART_COUNT says it was
    requeued, and the folder's last.ckpt (if any) is what it resumes from; a first start stays fresh."""
    last = tmp_path / "checkpoints" / "last.ckpt"
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    assert run_folder.resolve_ckpt_path(None, tmp_path) is None
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    assert run_folder.resolve_ckpt_path(None, tmp_path) is None  # stopped before it kept anything
    last.parent.mkdir()
    last.write_bytes(b"")
    assert run_folder.resolve_ckpt_path(None, tmp_path) == str(last)
    monkeypatch.setenv("SLURM_RESTART_COUNT", "0")
    assert run_folder.resolve_ckpt_path(None, tmp_path) is None
