"""Where the project's messages go: through `logging`, so the run folder's log file keeps every line the
console showed (Hydra's job logging adds the file), and plain on the console.

The console handler looks the streams up at each message instead of holding the ones it was built with: a
rich live display (reconstruct's progress bar) and pytest's capture swap `sys.stdout` after logging is set up.
"""

import logging
import sys

LOGGER = "fastmri_pl"


class ConsoleHandler(logging.Handler):
    """Plain lines: information on stdout, warnings and errors on stderr (the streams current at the time)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if record.levelno >= logging.WARNING else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # a closed stream must not end the command: logging's own rule for handlers
            self.handleError(record)


def install_console_handler() -> None:
    """Messages before (or without) Hydra's logging config still reach the console; Hydra's `job_logging`
    (conf/hydra/job_logging/) replaces this handler with the console + the run's log file."""
    logger = logging.getLogger(LOGGER)
    if not logger.handlers:
        logger.addHandler(ConsoleHandler())
        logger.setLevel(logging.INFO)
        logger.propagate = False
