"""`make install`'s torch choice: per compute capability, overrides, nvidia-smi; runs without torch."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastmri_pl.runtime import torch_install
from fastmri_pl.runtime.torch_install import TorchInstallError, choose, main, query_capability

ROOT = Path(__file__).resolve().parents[2]
CU126 = "https://download.pytorch.org/whl/cu126"


@pytest.mark.parametrize(
    ("cap", "command"),
    [
        ("6.1", f"-m pip install 'torch>=2.13,<2.15' --index-url {CU126}"),
        ("7.0", f"-m pip install 'torch>=2.13,<2.15' --index-url {CU126}"),
        ("7.5", "-m pip install 'torch>=2.13,<2.16'"),
        ("8.9", "-m pip install 'torch>=2.13,<2.16'"),
        ("none", "-m pip install torch==2.13.0"),
    ],
)
def test_dry_run_prints_the_pip_command(cap: str, command: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["--compute-cap", cap, "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == f"{sys.executable} {command}"


def test_overrides_replace_the_choice(capsys: pytest.CaptureFixture) -> None:
    assert main(["--compute-cap", "6.1", "--spec", "torch==2.14.1", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"install torch==2.14.1 --index-url {CU126}")
    index = "https://download.pytorch.org/whl/cpu"
    assert main(["--compute-cap", "none", "--index-url", index, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(f"install torch==2.13.0 --index-url {index}")


@pytest.mark.parametrize("cap", ["3.7", "six", "6"])
def test_no_build_or_bad_capability_is_one_line(cap: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["--compute-cap", cap, "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: compute capability") and "\n" not in err


def fake_nvidia_smi(folder: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    folder.mkdir()
    (folder / "nvidia-smi").write_text(f"#!/bin/sh\n{script}\n")
    (folder / "nvidia-smi").chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def test_lowest_capability_of_all_cards_decides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(tmp_path / "bin", 'printf "8.9\\n6.1\\n"', monkeypatch)
    assert query_capability() == (6, 1)
    assert choose(query_capability()).index_url == CU126


def test_failing_nvidia_smi_names_the_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvidia_smi(
        tmp_path / "bin", 'echo "Field \\"compute_cap\\" is not a valid field" >&2; exit 2', monkeypatch
    )
    with pytest.raises(TorchInstallError, match="compute_cap .*failed .*not a valid field.*TORCH_SPEC"):
        query_capability()


def test_no_nvidia_smi_means_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert query_capability() is None


def test_runs_with_the_standard_library_alone() -> None:
    """`make install` runs the file before torch or any dependency exists; -S hides every site-packages."""
    script = ROOT / "fastmri_pl" / "runtime" / "torch_install.py"
    result = subprocess.run(
        [sys.executable, "-S", str(script), "--compute-cap", "6.1", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].endswith(f"'torch>=2.13,<2.15' --index-url {CU126}")


def test_choices_stay_inside_pyproject_bounds() -> None:
    (floor, ceiling), *_ = re.findall(
        r'^ *"torch(>=[0-9.]+),(<[0-9.]+)",', (ROOT / "pyproject.toml").read_text(), re.M
    )
    assert floor == f">={torch_install.TORCH_FLOOR}" and ceiling == f"<{torch_install.TORCH_CEILING}"
    assert torch_install.CPU_SPEC == f"torch=={torch_install.TORCH_FLOOR}.0"
    floor, cu126, ceiling = (
        tuple(int(part) for part in v.split("."))
        for v in (torch_install.TORCH_FLOOR, torch_install.CU126_CEILING, torch_install.TORCH_CEILING)
    )
    assert floor < cu126 < ceiling
