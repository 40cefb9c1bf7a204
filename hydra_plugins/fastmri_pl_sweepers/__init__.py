"""Hydra plugins of fastmri_pl (Hydra discovers plugins only under the `hydra_plugins` namespace package).

Hydra imports this package at every start and skips `_`-prefixed modules, so the Optuna sweeper is imported
only when the `sweeps` extra (hydra-optuna-sweeper) is installed: without it nothing warns.
"""

from importlib.util import find_spec

if find_spec("hydra_plugins.hydra_optuna_sweeper") is not None:
    from hydra_plugins.fastmri_pl_sweepers._tolerant_optuna import TolerantOptunaSweeper

    __all__ = ["TolerantOptunaSweeper"]
