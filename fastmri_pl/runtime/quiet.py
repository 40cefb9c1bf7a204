"""Third-party notices a run has nothing to do about, kept off its first screen, each matched by its text.

Lightning's Trainer advertises its LitLogger service on every start (an info record of its rank-zero logger),
and its loops build `torch.utils._pytree.LeafSpec()`, which torch deprecates with a FutureWarning attributed
to Lightning's `_pytree` module. Anything else those libraries say still shows.
"""

import logging
import warnings

LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
LITLOGGER_TIP = "try installing [litlogger]"
LEAFSPEC_DEPRECATION = r"`isinstance\(treespec, LeafSpec\)` is deprecated"
LIGHTNING_PYTREE_MODULE = r"lightning\.pytorch\.utilities\._pytree"


class _LitLoggerTip(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return LITLOGGER_TIP not in record.getMessage()


def quiet_lightning() -> None:
    """Drop Lightning's LitLogger tip and torch's LeafSpec deprecation inside Lightning; call before a Trainer
    is built. Calling it again adds nothing."""
    logger = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(f, _LitLoggerTip) for f in logger.filters):
        logger.addFilter(_LitLoggerTip())
    warnings.filterwarnings(
        "ignore", message=LEAFSPEC_DEPRECATION, category=FutureWarning, module=LIGHTNING_PYTREE_MODULE
    )
