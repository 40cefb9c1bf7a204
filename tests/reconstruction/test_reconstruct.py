"""`python -m fastmri_pl.reconstruct`: output layout, submission folders, refusals and crash safety."""

import dataclasses
import errno
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig
from rich.console import Console

from fastmri_pl import CONFIG_DIR
from fastmri_pl import reconstruct as reconstruct_cli
from fastmri_pl.challenge.rules import load_rules
from fastmri_pl.data.readers import index_volumes
from fastmri_pl.errors import DataError, Stopped
from fastmri_pl.evaluate import add_timings, evaluate
from fastmri_pl.reconstruct import reconstruct, reconstruct_and_score
from fastmri_pl.reconstruction import inference
from fastmri_pl.reconstruction.folders import SUBMISSION_DIR, submission_warnings
from fastmri_pl.runs import atomic
from fastmri_pl.runs.atomic import WriteError
from tests.helpers.permissions import read_only

CONF = Path(CONFIG_DIR)


def reconstruct_cfg(root: Path, output_dir: Path, *overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "reconstruct",
            overrides=[f"data.root={root}", f"output_dir={output_dir}", "progress=false", *overrides],
        )


@pytest.fixture
def snu_copy(data_snu_root: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(data_snu_root, root)
    return root


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.name.endswith(".tmp")]


def test_zero_filled_writes_every_leaderboard_volume_as_the_challenge_expects(
    data_snu_root: Path, tmp_path: Path
) -> None:
    run = reconstruct(reconstruct_cfg(data_snu_root, tmp_path / "out"))
    kspace_files = sorted((data_snu_root / "leaderboard").glob("acc*/kspace/*.h5"))
    assert [p.relative_to(tmp_path / "out").as_posix() for p in run.files] == [
        f"{p.parent.parent.name}/{p.name}" for p in kspace_files
    ]
    for path, kspace_path in zip(run.files, kspace_files, strict=True):
        image_path = kspace_path.parent.parent / "image" / kspace_path.name
        with h5py.File(path, "r") as f, h5py.File(image_path, "r") as image, h5py.File(kspace_path) as k:
            assert list(f.keys()) == ["reconstruction"]
            assert f["reconstruction"].dtype == np.float32
            assert f["reconstruction"].shape == image["image_label"].shape
            # the synthetic image_input is exactly the zero-filled image of the masked k-space
            np.testing.assert_allclose(
                f["reconstruction"][()], image["image_input"][()], rtol=1e-4, atol=1e-9
            )
            assert k["kspace"].shape[0] == f["reconstruction"].shape[0]
    assert run.timings.slices == sum(v.slices for v in run.timings.volumes) > 0
    assert all(v.seconds > 0 for v in run.timings.volumes)
    assert leftovers(tmp_path / "out") == []


def test_crop_falls_back_to_the_configured_size_without_image_files(snu_copy: Path, tmp_path: Path) -> None:
    for image_dir in (snu_copy / "leaderboard").glob("acc*/image"):
        shutil.rmtree(image_dir)
    run = reconstruct(reconstruct_cfg(snu_copy, tmp_path / "out", "crop=[12,10]"))
    with h5py.File(run.files[0], "r") as f:
        assert f["reconstruction"].shape[1:] == (12, 10)
    volumes = index_volumes("snu", snu_copy / "leaderboard" / "acc4", require_image=False)
    assert volumes[0].target_path is None and volumes[0].max_value is None


def test_submission_2024_maps_acc5_to_public_and_acc9_to_private(snu_copy: Path, tmp_path: Path) -> None:
    leaderboard = snu_copy / "leaderboard"
    (leaderboard / "acc4").rename(leaderboard / "acc5")
    (leaderboard / "acc8").rename(leaderboard / "acc9")
    out = tmp_path / "out"
    run = reconstruct(reconstruct_cfg(snu_copy, out, "challenge=2024", "submission=true"))
    names = sorted(p.relative_to(out).as_posix() for p in run.submission_files)
    assert names == [
        "reconstructions_leaderboard/private/brain_test1.h5",
        "reconstructions_leaderboard/public/brain_test1.h5",
    ]
    public = out / "reconstructions_leaderboard/public/brain_test1.h5"
    assert public.read_bytes() == (out / "acc5/brain_test1.h5").read_bytes()


def test_submission_year_needs_its_acceleration_folders(snu_copy: Path, tmp_path: Path) -> None:
    leaderboard = snu_copy / "leaderboard"
    (leaderboard / "acc4").rename(leaderboard / "acc6")
    message = r"submission=true with challenge=2023 needs folders \['acc4', 'acc8'\]"
    with pytest.raises(DataError, match=message):
        reconstruct(reconstruct_cfg(snu_copy, tmp_path / "out", "challenge=2023", "submission=true"))
    message = r"challenge=2024 needs two acceleration folders, one of \['acc4', 'acc5', 'acc8'\] \(public\)"
    (leaderboard / "acc8").rename(leaderboard / "acc9")
    with pytest.raises(DataError, match=message):
        reconstruct(reconstruct_cfg(snu_copy, tmp_path / "out", "challenge=2024", "submission=true"))


def test_submission_2024_takes_public_as_its_leaderboard_eval_does(snu_copy: Path, tmp_path: Path) -> None:
    """Their 2024 script: of exactly two folders, the one named acc4, acc5 or acc8 is public, the other
    private (here acc4 and acc9)."""
    (snu_copy / "leaderboard/acc8").rename(snu_copy / "leaderboard/acc9")
    out = tmp_path / "out"
    run = reconstruct(reconstruct_cfg(snu_copy, out, "challenge=2024", "submission=true"))
    public, private = out / SUBMISSION_DIR / "public", out / SUBMISSION_DIR / "private"
    assert sorted(run.submission_files) == [private / "brain_test1.h5", public / "brain_test1.h5"]
    assert (public / "brain_test1.h5").read_bytes() == (out / "acc4/brain_test1.h5").read_bytes()
    assert (private / "brain_test1.h5").read_bytes() == (out / "acc9/brain_test1.h5").read_bytes()


def test_non_empty_output_folder_is_refused_unless_overwrite(data_snu_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("earlier run")
    with pytest.raises(DataError, match="not empty; pass resume=true .* or overwrite=true") as error:
        reconstruct(reconstruct_cfg(data_snu_root, out))
    assert str(out) in str(error.value)
    assert not (out / "acc4").exists()
    run = reconstruct(reconstruct_cfg(data_snu_root, out, "overwrite=true"))
    assert all(p.is_file() for p in run.files)


def test_crash_mid_volume_leaves_no_half_written_file(
    data_snu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_load_net = inference.load_net
    calls = {"slices": 0}

    def failing_net(cfg: DictConfig, device: torch.device) -> torch.nn.Module:
        net = real_load_net(cfg, device)
        forward = net.forward

        def forward_until_second_volume(*args: torch.Tensor) -> torch.Tensor:
            calls["slices"] += 1
            if calls["slices"] == 5:  # the second slice of the second volume (3 slices each)
                raise RuntimeError("simulated crash")
            return forward(*args)

        net.forward = forward_until_second_volume
        return net

    monkeypatch.setattr("fastmri_pl.reconstruct.load_net", failing_net)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="simulated crash"):
        reconstruct(reconstruct_cfg(data_snu_root, out))
    assert leftovers(out) == []
    assert [p.relative_to(out).as_posix() for p in out.rglob("*.h5")] == ["acc4/brain_test1.h5"]
    with h5py.File(out / "acc4/brain_test1.h5", "r") as f:
        assert np.isfinite(f["reconstruction"][()]).all() and f["reconstruction"][()].max() > 0


def test_full_disk_on_overwrite_keeps_the_earlier_reconstructions(
    data_snu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HDF5 failing on a full disk crashed the interpreter when its objects were collected (a segfault with
    overwrite=true); the file is now built in memory and its bytes written by `atomic.write_atomically`."""
    out = tmp_path / "out"
    first = reconstruct(reconstruct_cfg(data_snu_root, out))
    before = {path: path.read_bytes() for path in first.files}
    real_open = open

    class FullDisk:
        def __init__(self, name, mode):
            self.file = real_open(name, mode)  # noqa: SIM115 (closed in __exit__)

        def __enter__(self):
            return self

        def __exit__(self, *args):
            self.file.close()

        def write(self, data):
            self.file.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "open", FullDisk, raising=False)
    with pytest.raises(WriteError, match="No space left on device") as error:
        reconstruct(reconstruct_cfg(data_snu_root, out, "overwrite=true"))
    assert error.value.path == str(first.files[0])
    assert {path: path.read_bytes() for path in first.files} == before
    assert leftovers(out) == []


def test_missing_mask_names_the_file(snu_copy: Path, tmp_path: Path) -> None:
    bad = snu_copy / "leaderboard/acc8/kspace/brain_test1.h5"
    with h5py.File(bad, "a") as f:
        del f["mask"]
    with pytest.raises(DataError, match="missing dataset 'mask'") as error:
        reconstruct(reconstruct_cfg(snu_copy, tmp_path / "out"))
    assert error.value.path == str(bad)
    assert not (tmp_path / "out").exists()  # validated before anything is written


def test_empty_leaderboard_folder_names_the_folder(snu_copy: Path, tmp_path: Path) -> None:
    kspace_dir = snu_copy / "leaderboard/acc4/kspace"
    for path in kspace_dir.glob("*.h5"):
        path.unlink()
    with pytest.raises(DataError, match="holds no k-space .h5 files") as error:
        reconstruct(reconstruct_cfg(snu_copy, tmp_path / "out"))
    assert error.value.path == str(kspace_dir)


@pytest.mark.slow
def test_no_acceleration_folders_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "data/leaderboard/public").mkdir(parents=True)
    result = subprocess.run(
        [sys.executable, "-m", "fastmri_pl.reconstruct", f"data.root={tmp_path / 'data'}"]
        + [f"output_dir={tmp_path / 'out'}", f"hydra.run.dir={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {tmp_path / 'data/leaderboard'}: holds no acc<N> folders (expected acc4/acc8 or acc5/acc9)"
    ]


def test_trained_model_needs_a_matching_checkpoint(data_snu_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="pass ckpt_path"):
        reconstruct(reconstruct_cfg(data_snu_root, tmp_path / "out", "model=varnet_small"))
    ckpt = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"net.unrelated.weight": torch.zeros(1)}}, ckpt)
    with pytest.raises(DataError, match="does not match the configured model") as error:
        reconstruct(
            reconstruct_cfg(data_snu_root, tmp_path / "out", "model=varnet_small", f"ckpt_path={ckpt}")
        )
    assert error.value.path == str(ckpt)


@pytest.mark.slow
def test_2026_reconstructs_and_scores_in_one_pass_timing_the_forward_only(
    data_knee_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """recon_eval's clock: per volume 5 untimed warm-up slices, then each slice timed alone. Warm-up
    forwards sleep 100 ms and timed ones 10 ms, so the mean lands in [10, 100) only if warm-up is left out."""
    real_load_net = inference.load_net
    calls = {"count": 0}
    slices, warmup = 6, 5

    def sleepy_net(cfg: DictConfig, device: torch.device) -> torch.nn.Module:
        net = real_load_net(cfg, device)
        forward = net.forward

        def timed_forward(*args: torch.Tensor) -> torch.Tensor:
            time.sleep(0.1 if calls["count"] % (slices + warmup) < warmup else 0.01)
            calls["count"] += 1
            return forward(*args)

        net.forward = timed_forward
        return net

    monkeypatch.setattr("fastmri_pl.reconstruct.load_net", sleepy_net)
    out = tmp_path / "out"
    overrides = ("challenge=2026", "evaluate=true", "submission=true", "num_worst=0")
    run = reconstruct_and_score(reconstruct_cfg(data_knee_root, out, *overrides))
    assert calls["count"] == 2 * (slices + warmup)  # acc4 and acc8, one volume each
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["aggregation"] == "slices"
    for group in ("acc4", "acc8", "total"):
        row = metrics[group]
        assert {"ssim_full", "ssim_bbox", "boxes", "ms_per_slice", "slow_volumes"} <= set(row)
        assert 10.0 <= row["ms_per_slice"] < 100.0 and row["slow_volumes"] == 0
        assert row["ssim_full"] == row["ssim"] and 0.0 < row["ssim_full"] < 1.0
    assert metrics["total"]["ms_per_slice"] == pytest.approx(run.timings.ms_per_slice())
    assert metrics["total"]["boxes"] == metrics["acc4"]["boxes"] + metrics["acc8"]["boxes"] > 0
    assert sorted(p.relative_to(out).as_posix() for p in run.submission_files) == [
        "reconstructions_leaderboard/acc4/knee_test1.h5",
        "reconstructions_leaderboard/acc8/knee_test1.h5",
    ]
    # the same reconstructions scored on their own give the same SSIMs, without the timing
    alone = evaluate(data_knee_root, out, layout="snu", num_worst=0, rules=run.rules, progress=False)
    assert alone["total"]["ssim_bbox"] == metrics["total"]["ssim_bbox"]
    assert "ms_per_slice" not in alone["total"]


def test_a_volume_over_the_flag_is_counted(data_knee_root: Path, tmp_path: Path) -> None:
    run = reconstruct(reconstruct_cfg(data_knee_root, tmp_path / "out", "challenge=2026"))
    strict = dataclasses.replace(run.rules, volume_flag_s=0.0)
    assert run.timings.slow_volumes(run.rules) == []
    assert [v.name for v in run.timings.slow_volumes(strict, "acc8")] == ["knee_test1.h5"]
    summary = {"acc4": {}, "acc8": {}, "total": {}}
    add_timings(summary, run.timings, strict)
    assert [row["slow_volumes"] for row in summary.values()] == [1, 1, 2]


def test_nan_reconstruction_stops_naming_file_and_slice(
    data_snu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A diverged (NaN) model must not fill a submission with NaN: the first NaN slice stops the run."""
    real_load_net = inference.load_net

    def diverged_net(cfg: DictConfig, device: torch.device) -> torch.nn.Module:
        net = real_load_net(cfg, device)
        forward = net.forward
        net.forward = lambda *args: forward(*args) * float("nan")
        return net

    monkeypatch.setattr("fastmri_pl.reconstruct.load_net", diverged_net)
    out = tmp_path / "out"
    with pytest.raises(DataError) as error:
        reconstruct(reconstruct_cfg(data_snu_root, out))
    first = sorted((data_snu_root / "leaderboard").glob("acc*/kspace/*.h5"))[0]
    assert (
        str(error.value)
        == f"{first}: the model's reconstruction of slice 0 holds NaN or Inf (a diverged checkpoint?)"
    )
    assert list(out.rglob("*.h5")) == [] and leftovers(out) == []


def test_submission_warns_where_the_years_leaderboard_eval_would_fail() -> None:
    """2023-2025: their script opens exactly 58 files per folder by constructed names (brain_test{n}.h5)."""
    full = [f"brain_test{n}.h5" for n in range(1, 59)]
    assert submission_warnings(load_rules(2023), {"acc4": full, "acc8": full}) == []
    (warning,) = submission_warnings(
        load_rules(2024), {"public": full, "private": full[:-1] + ["brain_test_58.h5"]}
    )
    assert warning.startswith(
        "private: 58 files (e.g. brain_test_58.h5); challenge=2024's leaderboard_eval.py"
    )
    (warning,) = submission_warnings(
        load_rules(2025), {"acc4": full[:29] + [f"knee_test{n}.h5" for n in range(1, 30)], "acc8": full[:3]}
    )
    assert warning == (
        "acc8: 3 files; challenge=2025's leaderboard_eval.py opens exactly 58 named "
        "brain_test<n>.h5 / knee_test<n>.h5"
    )
    assert submission_warnings(load_rules(2026), {"acc4": full[:1]}) == []


def test_output_folder_in_a_read_only_parent_is_one_line(
    data_snu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_main
) -> None:
    """mkdir's PermissionError becomes the one line that names the folder (chattr +i binds root too)."""
    parent = tmp_path / "parent"
    parent.mkdir()
    out = parent / "out"
    monkeypatch.chdir(tmp_path)
    arguments = [f"data.root={data_snu_root}", f"output_dir={out}", f"hydra.run.dir={tmp_path / 'run'}"]
    with read_only(parent, monkeypatch) as how:
        code, stderr = run_main(reconstruct_cli, *arguments, "progress=false")
    assert code == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith(f"error: {out}: cannot be written (") and not out.exists(), how


def test_score_command_is_one_whole_line_in_80_columns(data_snu_root: Path, tmp_path: Path, capsys) -> None:
    """Rich wraps long lines at the terminal's width; the command, logged, survives a copy and paste."""
    screen = io.StringIO()
    out = tmp_path / "a_long_folder_name_that_pushes_the_command_well_past_eighty_columns" / "out"
    reconstruct(reconstruct_cfg(data_snu_root, out), console=Console(file=screen, width=80))
    command = (
        f"python -m fastmri_pl.evaluate challenge=2024 data=snu data.root={data_snu_root} recon_dir={out}"
    )
    assert len(command) > 80
    assert command in capsys.readouterr().out.splitlines()


def _interrupting_net(at_call: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network raises KeyboardInterrupt (what Ctrl-C raises) at its `at_call`-th forward."""
    real_load_net = inference.load_net
    calls = {"count": 0}

    def load(cfg: DictConfig, device: torch.device) -> torch.nn.Module:
        net = real_load_net(cfg, device)
        forward = net.forward

        def interrupted_forward(*args: torch.Tensor) -> torch.Tensor:
            calls["count"] += 1
            if calls["count"] == at_call:
                raise KeyboardInterrupt
            return forward(*args)

        net.forward = interrupted_forward
        return net

    monkeypatch.setattr("fastmri_pl.reconstruct.load_net", load)


def test_interrupt_says_what_is_complete_and_resume_finishes_bit_for_bit(
    data_snu_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HydraConfig.instance(), "cfg", None)  # an earlier in-process command's
    reference = reconstruct(
        reconstruct_cfg(data_snu_root, tmp_path / "reference", "challenge=2025", "submission=true")
    )
    out = tmp_path / "out"
    _interrupting_net(at_call=5, monkeypatch=monkeypatch)  # slice 2 of the second volume (3 slices each)
    with pytest.raises(Stopped) as stopped:  # the door prints its message and exits with its code
        reconstruct(reconstruct_cfg(data_snu_root, out, "challenge=2025", "submission=true"))
    assert stopped.value.exit_code == 130
    message = str(stopped.value)
    assert message.startswith(f"reconstruct interrupted: 1 of 2 volumes complete in {out} ")
    assert message.splitlines()[-1] == "python -m fastmri_pl.reconstruct <the same arguments> resume=true"
    first, second = reference.files
    assert (out / first.relative_to(tmp_path / "reference")).read_bytes() == first.read_bytes()
    assert not (out / second.relative_to(tmp_path / "reference")).exists() and leftovers(out) == []
    monkeypatch.undo()
    with pytest.raises(DataError, match="not empty; pass resume=true"):
        reconstruct(reconstruct_cfg(data_snu_root, out, "challenge=2025", "submission=true"))
    resumed = reconstruct(
        reconstruct_cfg(data_snu_root, out, "challenge=2025", "submission=true", "resume=true")
    )
    assert [v.name for v in resumed.timings.volumes] == [second.name] and resumed.timings.skipped_volumes == 1
    assert same_files(tmp_path / "reference", out)


def same_files(expected: Path, actual: Path) -> bool:
    """Every file under both folders, byte for byte (HDF5 files written here carry no time stamps)."""
    names = sorted(p.relative_to(expected) for p in expected.rglob("*") if p.is_file())
    assert names == sorted(p.relative_to(actual) for p in actual.rglob("*") if p.is_file())
    return all((expected / name).read_bytes() == (actual / name).read_bytes() for name in names)


def test_resume_redoes_every_file_less_than_complete(
    data_knee_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A file is kept only if readable, of the expected shape and finite; a killed write's temporary goes."""
    reference = tmp_path / "reference"
    reconstruct(reconstruct_cfg(data_knee_root, reference))
    out = tmp_path / "out"
    for damage in ("truncated", "wrong shape", "nan", "kept"):
        shutil.copytree(reference, out, dirs_exist_ok=True)
        acc4, acc8 = out / "acc4" / "knee_test1.h5", out / "acc8" / "knee_test1.h5"
        if damage == "truncated":
            acc4.write_bytes(acc4.read_bytes()[:-64])
        elif damage == "wrong shape":
            with h5py.File(acc4, "r+") as f:
                data = f["reconstruction"][()]
                del f["reconstruction"]
                f["reconstruction"] = data[:-1]
        elif damage == "nan":
            with h5py.File(acc4, "r+") as f:
                f["reconstruction"][2, 3, 3] = np.nan
        temporary = out / "acc8" / ".knee_test1.h5.12345.tmp"
        temporary.write_bytes(b"half a file")
        kept_inode = acc8.stat().st_ino
        capsys.readouterr()
        run = reconstruct(reconstruct_cfg(data_knee_root, out, "resume=true"))
        redone = [v.name for v in run.timings.volumes]
        assert redone == ([] if damage == "kept" else ["knee_test1.h5"]), damage
        assert acc8.stat().st_ino == kept_inode and not temporary.exists()
        assert same_files(reference, out), damage
        said = capsys.readouterr().out
        assert "resume: 1 of 2 volumes complete" in said or damage == "kept", said
        assert "1 temporary file(s) of an interrupted write removed" in said


def test_resume_and_overwrite_together_are_refused(data_snu_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="resume: and overwrite are both true"):
        reconstruct(reconstruct_cfg(data_snu_root, tmp_path / "out", "resume=true", "overwrite=true"))


def test_resumed_timings_cover_only_the_volumes_reconstructed_now(
    data_knee_root: Path, tmp_path: Path
) -> None:
    """evaluate=true after a resume: a group whose volumes were all kept has no timing (null), not 0 ms."""
    out = tmp_path / "out"
    reconstruct(reconstruct_cfg(data_knee_root, out, "challenge=2026"))
    (out / "acc8" / "knee_test1.h5").unlink()
    overrides = ("challenge=2026", "resume=true", "evaluate=true", "num_worst=0")
    run = reconstruct_and_score(reconstruct_cfg(data_knee_root, out, *overrides))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["acc4"]["ms_per_slice"] is None and metrics["acc8"]["ms_per_slice"] > 0
    assert metrics["total"]["ms_per_slice"] == pytest.approx(run.timings.ms_per_slice("acc8"))


# `python -m fastmri_pl.reconstruct`, each slice held back 0.3 s so that a signal sent after the first
# volume's line lands while the second volume is being reconstructed
SLOWED_RECONSTRUCT = """
import time
import fastmri_pl.reconstruct as command
real = command.reconstruct_volume
def slowed(*args, **kwargs):
    for item in real(*args, **kwargs):
        time.sleep(0.3)
        yield item
command.reconstruct_volume = slowed
command.main()
"""


@pytest.mark.slow
def test_real_sigint_keeps_the_finished_volume_and_the_printed_resume_command_completes_it(
    data_snu_root: Path, tmp_path: Path
) -> None:
    reference = tmp_path / "reference"
    reconstruct(reconstruct_cfg(data_snu_root, reference))
    out = tmp_path / "out"
    arguments = [f"data.root={data_snu_root}", f"output_dir={out}", "progress=false"]
    process = subprocess.Popen(
        [sys.executable, "-c", SLOWED_RECONSTRUCT, *arguments, f"hydra.run.dir={tmp_path / 'run'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("acc4/brain_test1.h5: 3 slices in"):
            break
    process.send_signal(signal.SIGINT)
    rest, stderr = process.communicate(timeout=120)
    output = "".join(seen) + rest + stderr
    assert process.returncode == 130, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert f"reconstruct interrupted: 1 of 2 volumes complete in {out} " in output
    (command,) = [line for line in output.splitlines() if line.startswith("python -m fastmri_pl.reconstruct")]
    assert command == f"python -m fastmri_pl.reconstruct {' '.join(arguments)} resume=true"
    assert (out / "acc4/brain_test1.h5").read_bytes() == (reference / "acc4/brain_test1.h5").read_bytes()
    assert not (out / "acc8/brain_test1.h5").exists() and leftovers(out) == []
    resumed = subprocess.run(
        [sys.executable, *shlex.split(command)[1:], f"hydra.run.dir={tmp_path / 'resumed'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resume: 1 of 2 volumes complete" in resumed.stdout
    assert same_files(reference, out)


def test_resume_of_a_finished_run_reconstructs_nothing(data_snu_root: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    reconstruct(reconstruct_cfg(data_snu_root, out))
    capsys.readouterr()
    run = reconstruct(reconstruct_cfg(data_snu_root, out, "resume=true"))
    said = capsys.readouterr().out
    assert run.timings.volumes == [] and len(run.files) == 2
    assert (
        "nothing to time: the 2 volume(s) were complete before this run" in said and "projection" not in said
    )
