"""The commands of README.md and the docs/ pages run as written, so the docs cannot drift from the code.

Every command of every ```bash block, page by page (the README first, then `docs/*.md` by name), runs
through bash in a temporary project root of its page (`FASTMRI_PL_ROOT` and the working folder), with this
interpreter's environment active as the README asks (`source .venv/bin/activate`: `python` is this venv's);
a page's commands run in page order and share its root (a resume continues the run before it). A script of
this checkout (`python benchmarks/x.py`, `fastmri_pl/runtime/torch_install.py`) runs from the checkout.
Commands that would train for long get the tiny overrides of SHORTENED appended; the ones in NOT_RUN_HERE
are not collected, each with its reason (a test lists them, so none is hidden behind a skip); a command a
page repeats from an earlier page runs once; the ones in FAILS_ON_PURPOSE are documented errors and must end
with their exit code and an `error:` line. A new command runs by default; a table entry that matches no
command any more fails.
"""

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHORT = "trainer.max_epochs=1 ++trainer.limit_train_batches=2 ++trainer.limit_val_batches=2"

# pattern (re.search on the command) -> why it does not run here
NOT_RUN_HERE = {
    r"^make ": "make installs into the checkout's .venv (tests/e2e/test_makefile.py, CI's make test)",
    r"^source \.venv/bin/activate": "the harness runs every command with this venv active",
    r"/path/to/": "needs the challenge's or fastMRI's real data",
    r"\bIN\.(ckpt|pt)\b|OUT\.ckpt|=\.\.\.|\s\.\.\.$": "placeholders (IN.ckpt, ...) for the user's files",
    r"hardware=ddp": "needs several CUDA GPUs",
    r"hardware=slurm": "needs a SLURM cluster",
    r"benchmarks/memory_table\.py": "a benchmark: about 13 minutes on this CPU",
    r"benchmarks/inference_levers\.py": "a benchmark: full-size PromptMR, minutes on this CPU",
    r"benchmarks/coil_compression_ssim\.py": "a benchmark: 16-coil synthetic data, reconstructed four times",
    r"benchmarks/roofline_check\.py": "a benchmark: real training steps of full-width PromptMR, minutes",
    r"benchmarks/time_ab\.py": "a benchmark: interleaved training steps of full-width PromptMR, minutes",
    r"benchmarks/synthetic_results\.py": "6 epochs of the quick start (the README's commands run it short)",
    r"benchmarks/weights_import\.py": "a benchmark: runs the full-size PromptMR and its re-creation",
    r"benchmarks/time_table\.py": "renders the JSON of the full-size traces before it (minutes each)",
    r"memory\.plan=true": "plans by tracing every lever candidate of the full PromptMR: minutes on this CPU",
    r"fastmri_pl\.memory ": "fake-tensor traces, 20 s of CPU (a small model) to minutes (full size): "
    "tests/memory/test_cli.py runs the same keys on small shapes",
    r"fastmri_pl\.bench ": "tests/e2e/test_bench.py runs the bench with a smaller shape",
    r"-sc install=": "changes the shell's completion (tests/e2e/test_wheel.py asks the completion query)",
}

# pattern -> (overrides appended, why); the first matching pattern applies
SHORTENED = {
    r"ckpt_path=last": (
        SHORT.replace("max_epochs=1", "max_epochs=2"),
        "one more short epoch from the run above",
    ),
    r"trainer\.max_epochs=50": (SHORT, "50 epochs"),
    r"experiment=quickstart": (SHORT, "the quick start's 6 epochs"),
    r"fastmri_pl\.train -m ": (SHORT, "a sweep of full trainings"),
    r"hparams_search=": (f"hydra.sweeper.n_trials=1 {SHORT}", "20 Optuna trials"),
}

# pattern -> (exit code, why): commands the docs show failing, with the one `error:` line they must print
FAILS_ON_PURPOSE = {
    r"trainer\.max_epochs=abc": (2, "the config type check's error line"),
}

# pages none of whose commands runs here -> why
PAGES_NOT_RUN = {
    "docs/development.md": "make targets (tests/e2e/test_makefile.py, CI)",
    "docs/gpu-check.md": "a CUDA card; the dry run's full-size estimates take minutes (tests/benchmarks/)",
    "docs/memory.md": "traces of the estimator (tests/memory/ check them on small shapes)",
    "docs/time.md": "full-size traces and benchmarks, minutes each (tests/memory/ check the method)",
    "docs/weights.md": "the user's published checkpoints (tests/weights/test_weights.py imports copies)",
}

# scripts of this checkout, named by a path relative to it, run from it
CHECKOUT_SCRIPT = re.compile(r"(?<=\s)((?:benchmarks|fastmri_pl)/\S+\.py)")


@dataclass(frozen=True)
class Command:
    page: str  # the page's path relative to the checkout
    text: str

    @property
    def id(self) -> str:
        return f"{self.page}: {self.text}"


def page_commands(page: Path) -> list[str]:
    """Every command of the page's ```bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"^```bash\n(.*?)^```", page.read_text(), flags=re.S | re.M):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                commands.append(re.sub(r"\s+", " ", command))
    return commands


def collect() -> tuple[list[Command], list[Command]]:
    """(every command, page order), (the repeats of a command an earlier page holds, which do not run)."""
    commands, repeats, seen = [], [], set()
    for page in PAGES:
        for text in page_commands(page):
            command = Command(str(page.relative_to(ROOT)), text)
            (repeats if text in seen else commands).append(command)
            seen.add(text)
    return commands, repeats


def first_match(table: dict[str, object], command: str) -> str | None:
    return next((pattern for pattern in table if re.search(pattern, command)), None)


COMMANDS, REPEATS = collect()
RUN_HERE = [c for c in COMMANDS if first_match(NOT_RUN_HERE, c.text) is None]


def test_the_pages_have_commands_and_every_table_entry_matches_one() -> None:
    assert len(COMMANDS) >= 10
    texts = [c.text for c in COMMANDS]
    tables = [*NOT_RUN_HERE, *SHORTENED, *FAILS_ON_PURPOSE]
    stale = [p for p in tables if not any(re.search(p, t) for t in texts)]
    assert not stale, f"table entries that match no command of the README or docs/: {stale}"


def test_every_command_not_run_here_has_its_reason() -> None:
    """The commands that need a GPU, a cluster, real data or minutes: each named with its reason."""
    not_run = {c.id: NOT_RUN_HERE[p] for c in COMMANDS if (p := first_match(NOT_RUN_HERE, c.text))}
    assert all(reason.strip() for reason in not_run.values())
    assert len(not_run) + len(RUN_HERE) == len(COMMANDS) and len(RUN_HERE) >= 8


def test_every_page_with_commands_runs_some_of_them_or_says_why_not() -> None:
    """A page whose every command is skipped would be a page nobody checks, unless PAGES_NOT_RUN says why."""
    pages = {c.page for c in COMMANDS}
    ran = {c.page for c in RUN_HERE}
    assert sorted(pages - ran) == sorted(PAGES_NOT_RUN)


@pytest.fixture(scope="module")
def page_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One project root per page, made when the page's first command runs."""

    class Roots(dict):
        def __missing__(self, page: str) -> Path:
            self[page] = tmp_path_factory.mktemp(Path(page).stem)
            return self[page]

    return Roots()


@pytest.mark.parametrize("command", RUN_HERE, ids=[c.id for c in RUN_HERE])
def test_command(command: Command, page_roots: dict[str, Path]) -> None:
    shortened = first_match(SHORTENED, command.text)
    run = f"{command.text} {SHORTENED[shortened][0]}" if shortened else command.text
    run = CHECKOUT_SCRIPT.sub(lambda m: str(ROOT / m.group(1)), run)
    root = page_roots[command.page]
    venv_bin = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(Path(venv_bin).parent),
        "FASTMRI_PL_ROOT": str(root),
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
    }
    result = subprocess.run(
        ["bash", "-c", run], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )
    failing = first_match(FAILS_ON_PURPOSE, command.text)
    report = f"{run}\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    if failing is None:
        assert result.returncode == 0, report
    else:
        assert result.returncode == FAILS_ON_PURPOSE[failing][0], report
        assert re.search(r"^error: ", result.stderr, flags=re.M), report
