"""The Makefile: `make help` lists every target, each declared target has a recipe, `clean` keeps outputs/."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.slow,  # end-to-end runs of the commands
    pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed"),
]


def make(*args: str) -> str:
    """make's output; the tests pass -n (print the commands, run none)."""
    result = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def phony_targets() -> list[str]:
    (line,) = re.findall(r"^\.PHONY:(.*)$", (ROOT / "Makefile").read_text(), flags=re.M)
    return line.split()


def test_help_lists_every_target_with_its_comment() -> None:
    listed = dict(re.findall(r"^  make (\S+) +(\S.*)$", make("help"), flags=re.M))
    assert sorted(listed) == sorted(phony_targets())


@pytest.mark.parametrize("target", phony_targets())
def test_every_declared_target_has_a_recipe(target: str, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    (venv / ".installed").touch()  # newer than pyproject.toml: the install step is up to date
    commands = make("-n", target, f"VENV={venv}")
    if target != "install":  # up to date: nothing to do
        assert commands.strip(), f"make {target} does nothing"


def test_clean_keeps_outputs_and_clean_outputs_removes_them() -> None:
    clean = make("-n", "clean")
    assert "rm -rf" in clean and not re.search(r"\boutputs\b", clean)
    assert re.search(r"rm -rf outputs\b", make("-n", "clean-outputs"))
