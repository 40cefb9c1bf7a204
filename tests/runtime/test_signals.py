"""A DataLoader worker leaves the stop signals to the main process, and a batch transfer the main process's
stop cut halfway is not printed as the worker's traceback."""

import signal
import sys
from collections.abc import Iterator

import pytest

from fastmri_pl.runtime.signals import STOP_SIGNALS, leave_stop_signals_to_main


@pytest.fixture
def as_a_worker() -> Iterator[None]:
    """`leave_stop_signals_to_main` changes process-wide state: put it back after the test."""
    handlers = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    hook = sys.excepthook
    leave_stop_signals_to_main(0)
    yield
    sys.excepthook = hook
    for signum, handler in handlers.items():
        signal.signal(signum, handler)


def test_a_worker_ignores_the_stop_signals_and_a_cut_transfer(as_a_worker, capsys) -> None:
    assert all(signal.getsignal(signum) == signal.SIG_IGN for signum in STOP_SIGNALS)
    sys.excepthook(ConnectionResetError, ConnectionResetError(104, "Connection reset by peer"), None)
    assert capsys.readouterr().err == ""
    sys.excepthook(ValueError, ValueError("a real error in the worker"), None)
    assert "ValueError: a real error in the worker" in capsys.readouterr().err
