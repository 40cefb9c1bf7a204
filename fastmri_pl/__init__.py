"""fastmri_pl: multi-coil MRI reconstruction (PromptMR, E2E-VarNet) with Lightning + Hydra on 8 GB GPUs."""

from pathlib import Path

from fastmri_pl.paths import register_resolvers

__version__ = "0.1.0"

# The Hydra config folder, absolute: a relative `config_path` only resolves when the entry point runs as
# `python -m ...` (as `__main__`), not when its `main` is imported and called.
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")

register_resolvers()  # before any config is composed: `paths.root_dir` is `${project_root:}`
