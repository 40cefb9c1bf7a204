"""This project as a wheel, and the requirements file that installs it with the organisers' needs.

A submission carries the wheel (`wheels/fastmri_pl-<version>-py3-none-any.whl`) so that a fresh venv needs
nothing but the package registries for the dependencies: `pip install -r requirements.txt` from the
repository folder installs the organisers' list and the wheel (pip reads a requirements file's relative paths
from the current folder). The wheel is built from this source checkout, offline: no build isolation, no index.
"""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import fastmri_pl
from fastmri_pl.errors import DataError

WHEELS_DIR = "wheels"
# what the wheel is built from (pyproject.toml lists the packages; conf/ installs as fastmri_pl.conf)
SOURCE_FILES = ("pyproject.toml", "README.md")
SOURCE_PACKAGES = ("fastmri_pl", "conf", "hydra_plugins")


def source_checkout() -> Path:
    """The checkout this package runs from; an installed wheel has none to build from."""
    root = Path(fastmri_pl.__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file():
        raise DataError(
            root,
            "fastmri_pl is installed without its source checkout: run submit from one (pip install -e .)",
        )
    return root


def build_wheel(destination: Path, checkout: Path | None = None) -> Path:
    """Build the project's wheel into `destination` (created) from a clean copy of the checkout's sources."""
    checkout = checkout or source_checkout()
    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastmri_pl_wheel_") as work:
        source = Path(work) / "source"  # building in place would leave build/ and *.egg-info in the checkout
        source.mkdir()
        for name in SOURCE_FILES:
            shutil.copy(checkout / name, source / name)
        for package in SOURCE_PACKAGES:
            shutil.copytree(
                checkout / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
            )
        command = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
        ]
        result = subprocess.run(
            [*command, "-w", str(destination), str(source)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"building the fastmri_pl wheel failed:\n{result.stderr[-3000:]}")
    (wheel,) = destination.glob(f"fastmri_pl-{fastmri_pl.__version__}-*.whl")
    return wheel


def requirements_text(harness_requirements: Path, wheel: Path) -> str:
    """The harness's own requirement lines (torch first, as the organisers list it), then this project's wheel
    by its path relative to the repository folder."""
    lines = harness_requirements.read_text().splitlines() if harness_requirements.is_file() else ["torch"]
    kept = [line.rstrip() for line in lines if line.strip()]
    return "\n".join([*kept, f"{WHEELS_DIR}/{wheel.name}"]) + "\n"
