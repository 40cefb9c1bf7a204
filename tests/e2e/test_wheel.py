"""A wheel installed into a fresh venv (not editable) composes its packaged configs, trains from any folder.

Offline and fast: the wheel is built without build isolation (`submission.wheel.build_wheel`, what a challenge
submission ships), the venv has no pip of its own (this pip installs into it) and finds the dependencies
through a .pth pointing at this interpreter's site-packages.
"""

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from fastmri_pl.submission.wheel import build_wheel

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = [
    "fastmri-train",
    "fastmri-reconstruct",
    "fastmri-evaluate",
    "fastmri-memory",
    "fastmri-bench",
    "fastmri-weights",
    "fastmri-submit",
]


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{command}: {result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project installed from its wheel; returns the venv folder."""
    work = tmp_path_factory.mktemp("wheel")
    wheel = build_wheel(work / "dist", ROOT)  # what `submit` ships: the same build
    pip = [sys.executable, "-m", "pip"]
    venv = work / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], work)
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work)
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)], work)
    return venv


@pytest.fixture
def elsewhere(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder outside the checkout, and an environment in which only the installed wheel is importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "FASTMRI_PL_ROOT")}
    return tmp_path, env


def test_console_scripts_and_packaged_configs(
    wheel_venv: Path, elsewhere: tuple[Path, dict[str, str]]
) -> None:
    folder, env = elsewhere
    assert all((wheel_venv / "bin" / script).is_file() for script in SCRIPTS)
    where = run(
        [str(wheel_venv / "bin" / "python"), "-c", "import fastmri_pl; print(fastmri_pl.CONFIG_DIR)"],
        folder,
        env,
    )
    config_dir = Path(where.stdout.strip())
    assert config_dir.is_relative_to(wheel_venv) and (config_dir / "hardware" / "gtx1080.yaml").is_file()
    assert (config_dir.parents[1] / "hydra_plugins" / "fastmri_pl_sweepers" / "_tolerant_optuna.py").is_file()
    job = run([str(wheel_venv / "bin" / "fastmri-train"), "--cfg", "job", "hardware=gtx1080"], folder, env)
    assert OmegaConf.create(job.stdout).trainer.precision == "16-mixed"


def test_fast_dev_run_from_another_folder(
    wheel_venv: Path, elsewhere: tuple[Path, dict[str, str]], data_snu_root: Path
) -> None:
    folder, env = elsewhere
    command = [
        str(wheel_venv / "bin" / "fastmri-train"),
        "model=varnet_small",
        "debug=fdr",
        "logger=csv",
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        "callbacks.progress_bar=null",
    ]
    run(command, folder, env)
    (hydra_yaml,) = folder.glob("outputs/train/runs/*/.hydra/hydra.yaml")
    sources = OmegaConf.load(hydra_yaml).hydra.runtime.config_sources
    main_source = next(s for s in sources if s.provider == "main")
    assert Path(main_source.path).is_relative_to(wheel_venv)


def test_bash_completion_for_the_scripts(wheel_venv: Path, elsewhere: tuple[Path, dict[str, str]]) -> None:
    """What the function `eval "$(fastmri-train -sc install=bash)"` installs asks for a half-typed line."""
    folder, env = elsewhere
    line = "fastmri-train hardware="
    completion = {**env, "COMP_LINE": line, "COMP_POINT": str(len(line))}
    query = run([str(wheel_venv / "bin" / "fastmri-train"), "-sc", "query=bash"], folder, completion)
    assert "hardware=gtx1080" in query.stdout.split()


def test_pyproject_lists_every_package() -> None:
    """The package list is written out (conf/ installs as fastmri_pl.conf): a new package folder missing from
    it would be absent from the wheel."""
    block = re.search(r"^packages = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    listed = set(re.findall(r'"([\w.]+)"', block.group(1)))
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("fastmri_pl", "hydra_plugins")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found | {"fastmri_pl.conf", "hydra_plugins"} == listed
