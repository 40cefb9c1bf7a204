"""README.md's commands run as written, so the README cannot drift from the code.

Every command of every ```bash block after the Quick start runs through bash in a temporary project root
(`FASTMRI_PL_ROOT` and the working folder), with this interpreter's environment active as the README asks
(`source .venv/bin/activate`: `python` is this venv's). Commands that would train for long get the tiny
overrides of SHORTENED appended; the ones in NOT_RUN_HERE are not collected, each with its reason (a test
lists them, so none is hidden behind a skip). A new README command runs by default; a table entry that matches
no command any more fails. Commands run in README order
and share the root (the resume example continues the run before it).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SHORT = "trainer.max_epochs=1 ++trainer.limit_train_batches=2 ++trainer.limit_val_batches=2"

# pattern (re.search on the command) -> why it does not run here
NOT_RUN_HERE = {
    r"^make ": "make works on the checkout and installs into .venv (tests/test_makefile.py, CI's make test)",
    r"^source \.venv/bin/activate": "the harness runs every command with this venv active",
    r"\bpip install\b": "installs packages",
    r"/path/to/": "needs the challenge's or fastMRI's real data",
    r"\bIN\.(ckpt|pt)\b|OUT\.ckpt|=\.\.\.|\s\.\.\.$": "placeholders (IN.ckpt, ...) for the user's files",
    r"fastmri_pl\.train hardware=gtx1080": "trains on a CUDA GPU",
    r"hardware=ddp": "needs several CUDA GPUs",
    r"hardware=slurm": "needs a SLURM cluster",
    r"benchmarks/memory_table\.py": "a benchmark: about 9 minutes on this CPU",
    r"benchmarks/inference_levers\.py": "a benchmark: full-size PromptMR, minutes on this CPU",
    r"benchmarks/coil_compression_ssim\.py": "a benchmark: 16-coil synthetic data, reconstructed four times",
    r"benchmarks/roofline_check\.py": "a benchmark: real training steps of full-width PromptMR, minutes",
    r"benchmarks/time_ab\.py": "a benchmark: interleaved training steps of full-width PromptMR, minutes",
    r"memory\.plan=true": "plans by tracing every lever candidate of the full PromptMR: minutes on this CPU",
    r"fastmri_pl\.memory model=promptmr ": "traces the full PromptMR at the brain shape: 30-60 s of CPU "
    "(tests/test_memory_cli.py runs the same keys on small shapes)",
    r"-sc install=": "changes the shell's completion (tests/test_wheel.py asks the completion query)",
}

# pattern -> (overrides appended, why); the first matching pattern applies
SHORTENED = {
    r"ckpt_path=last": (
        SHORT.replace("max_epochs=1", "max_epochs=2"),
        "one more short epoch from the run above",
    ),
    r"trainer\.max_epochs=50": (SHORT, "50 epochs"),
    r"fastmri_pl\.train -m ": (SHORT, "a sweep of full trainings"),
    r"hparams_search=": (f"hydra.sweeper.n_trials=1 {SHORT}", "20 Optuna trials"),
}


def readme_commands() -> list[str]:
    """Every command of the ```bash blocks after the Quick start, continuation lines joined."""
    text = README.read_text()
    quick_start = text.index("\n## Quick start")
    text = text[text.index("\n## ", quick_start + 1) :]
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def first_match(table: dict[str, object], command: str) -> str | None:
    return next((pattern for pattern in table if re.search(pattern, command)), None)


COMMANDS = readme_commands()
RUN_HERE = [command for command in COMMANDS if first_match(NOT_RUN_HERE, command) is None]


def test_the_readme_has_commands_and_every_table_entry_matches_one() -> None:
    assert len(COMMANDS) >= 10
    stale = [p for p in [*NOT_RUN_HERE, *SHORTENED] if not any(re.search(p, c) for c in COMMANDS)]
    assert not stale, f"table entries that match no README command: {stale}"


def test_every_command_not_run_here_has_its_reason() -> None:
    """The README's commands that need a GPU, a cluster, real data or minutes: each named with its reason."""
    not_run = {c: NOT_RUN_HERE[p] for c in COMMANDS if (p := first_match(NOT_RUN_HERE, c))}
    assert all(reason.strip() for reason in not_run.values())
    assert len(not_run) + len(RUN_HERE) == len(COMMANDS) and len(RUN_HERE) >= 8


@pytest.fixture(scope="module")
def project_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("readme_root")


@pytest.mark.parametrize("command", RUN_HERE, ids=RUN_HERE)
def test_readme_command(command: str, project_root: Path) -> None:
    shortened = first_match(SHORTENED, command)
    run = f"{command} {SHORTENED[shortened][0]}" if shortened else command
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(Path(venv_bin).parent),
        "FASTMRI_PL_ROOT": str(project_root),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    result = subprocess.run(
        ["bash", "-c", run], cwd=project_root, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{run}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
