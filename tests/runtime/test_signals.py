"""A DataLoader worker leaves the stop signals to the main process, and a batch transfer the main process's
stop cut halfway is not printed as the worker's traceback."""

import signal
import subprocess
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


CHILD_IGNORING_SIGTERM = """
import multiprocessing, signal, time
from fastmri_pl.runtime.signals import end_workers_at_exit

def worker(ready):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ready.set()
    while True:
        time.sleep(0.1)

if __name__ == "__main__":
    ready = multiprocessing.Event()
    child = multiprocessing.Process(target=worker, args=(ready,), daemon=True)
    child.start()
    ready.wait(30)
    end_workers_at_exit()
    raise SystemExit("ended with a worker alive")
"""


def test_the_main_process_exits_past_a_worker_that_ignores_sigterm(tmp_path) -> None:
    """multiprocessing's exit hook sends daemonic children SIGTERM and joins them: a loader worker ignoring
    it hung the run's exit after an error line (found as a 300 s CI timeout). The hook kills them first."""
    script = tmp_path / "main.py"
    script.write_text(CHILD_IGNORING_SIGTERM)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.strip() == "ended with a worker alive"
