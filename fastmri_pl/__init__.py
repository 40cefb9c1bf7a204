"""fastmri_pl: multi-coil MRI reconstruction (PromptMR, E2E-VarNet) with Lightning + Hydra on 8 GB GPUs."""

from importlib.resources import files

from fastmri_pl.runs.logs import install_console_handler
from fastmri_pl.runs.paths import register_resolvers

__version__ = "0.1.0"

# The Hydra config folder, absolute: a relative `config_path` only resolves when the entry point runs as
# `python -m ...` (as `__main__`), not when its `main` is imported and called. The package `fastmri_pl.conf`
# is the checkout's top-level `conf/` (editable install) or the wheel's copy of it.
CONFIG_DIR = str(files("fastmri_pl.conf"))

register_resolvers()  # before any config is composed: `paths.root_dir` is `${project_root:}`
install_console_handler()  # the project's messages reach the console before Hydra sets up logging
