"""What a submission tells the organisers: its README section (install, re-train or reconstruct, score) and
train.sh, from the templates in `templates/`.

The organisers' layout: `<root>/FastMRI_challenge` (the team's repository, the current folder for every
command), `<root>/Data/{train,val,leaderboard}`, `<root>/result/<net_name>/`. Our SNU layout reads
`<data.root>/{train,val}/{kspace,image}` and `<data.root>/leaderboard/acc<N>`, so `data.root=../Data`.
"""

import shlex
from importlib.resources import files
from string import Template

from fastmri_pl.runtime.torch_install import choose

GTX_1080_CAPABILITY = (6, 1)  # the organisers' card (VESSL), compute capability 6.1
DATA_ROOT = "../Data"
PACK_MODULE = "fastmri_pl.submission.pack"
# the submission folders each year's leaderboard_eval.py reads under result/<net>/reconstructions_leaderboard
LEADERBOARD_FOLDERS = {2023: "acc4, acc8", 2024: "public, private", 2025: "acc4, acc8"}
PYTHON = {2023: "3.10 or newer", 2024: "3.10 or newer", 2025: "3.12", 2026: "3.12"}


def result_dir(net_name: str) -> str:
    """`<root>/result/<net_name>` as seen from the repository folder."""
    return f"../result/{net_name}"


def _template(name: str) -> Template:
    return Template((files("fastmri_pl.submission") / "templates" / name).read_text())


def train_script(net_name: str, overrides: list[str]) -> str:
    """train.sh: re-train with the run's overrides in the organisers' layout, then write the best checkpoint's
    weights where `load_model` reads them (`fastmri_pl.submission.pack`)."""
    run_dir = f"{result_dir(net_name)}/train"
    train = ["python", "-m", "fastmri_pl.train", *overrides, f"data.root={DATA_ROOT}", "logger=csv"]
    pack = ["python", "-m", PACK_MODULE, run_dir, f"{result_dir(net_name)}/checkpoints"]
    lines = [
        "#!/bin/sh",
        "# Re-train this submission with fastmri_pl (seed and algorithms fixed), then write the best",
        "# checkpoint's weights to ../result/<net>/checkpoints/best_model.pt (what load_model reads).",
        "set -e",
        shlex.join([*train, f"hydra.run.dir={run_dir}"]),
        shlex.join(pack),
    ]
    return "\n".join(lines) + "\n"


def _install(year: int) -> str:
    return _template("install.md").substitute(
        python=PYTHON[year], torch=choose(GTX_1080_CAPABILITY).command()
    )


def readme_2026(net_name: str, model: str, overrides: list[str]) -> str:
    """The README section a 2026 submission starts with (the organisers' README follows it, unchanged)."""
    return _template("readme_2026.md").substitute(
        net_name=net_name, model=model, overrides=" ".join(overrides), install=_install(2026)
    )


def readme_older(year: int, net_name: str, model: str, reconstruct_command: list[str]) -> str:
    """The README section of a 2023-2025 submission: the reconstructions are shipped and the unchanged
    leaderboard_eval.py scores them; `reconstruct_command` reproduces them."""
    return _template("readme_older.md").substitute(
        net_name=net_name,
        year=year,
        model=model,
        folders=LEADERBOARD_FOLDERS[year],
        install=_install(year),
        reconstruct=shlex.join(reconstruct_command),
    )
