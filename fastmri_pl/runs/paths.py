"""Where data and run folders live: the project root, found without Hydra's runtime config.

`paths.root_dir` cannot use `hydra:runtime.cwd`: a multirun resolves its sweep folder before any Hydra config
is set. The root is `FASTMRI_PL_ROOT` when set; else the source checkout this package runs from (an editable
install: `data/` and `outputs/` stay in the project whatever the current folder); else, for an installed
wheel, which has no project folder, the current folder.
"""

import os
from pathlib import Path

from omegaconf import OmegaConf

ROOT_VARIABLE = "FASTMRI_PL_ROOT"
RESOLVER = "project_root"


def project_root() -> str:
    """`FASTMRI_PL_ROOT`, else the checkout holding this package (it has a pyproject.toml), else the cwd."""
    if os.environ.get(ROOT_VARIABLE):
        return str(Path(os.environ[ROOT_VARIABLE]).resolve())
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "pyproject.toml").is_file():
        return str(checkout)
    return os.getcwd()


def user_cache_root() -> Path:
    """`$XDG_CACHE_HOME/fastmri_pl`, `~/.cache/fastmri_pl` when the variable is unset: what this user's
    runs keep for later ones (lever plans, the cards' measured figures)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastmri_pl"


def register_resolvers() -> None:
    """`${project_root:}` for the configs; registered once, when the package is imported."""
    if not OmegaConf.has_resolver(RESOLVER):
        OmegaConf.register_new_resolver(RESOLVER, project_root)
