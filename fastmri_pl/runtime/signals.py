"""Signals around training's critical sections: an optimizer step and an interrupt's checkpoint write.

Python runs a signal's handler between two bytecodes of the main thread, so Ctrl-C (KeyboardInterrupt) or
SIGTERM (`errors.Terminated`, raised by the door) can land inside `optimizer.step()`, with part of the
weights or of the optimizer state updated, and a checkpoint of that state would resume to another run.
`DeferredSignals` holds such signals while a step runs and hands each to its handler right after it;
`signals_ignored` drops them while the interrupt's own checkpoint is written (a second Ctrl-C, or the
cluster's SIGTERM after its time-limit signal, must not cut that write). Handlers exist in the main thread
only; elsewhere both do nothing.
"""

import atexit
import functools
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import Any

# the signals a run may turn into an interrupt: Ctrl-C, SIGTERM, a cluster's requeue signal
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class DeferredSignals:
    """`open()`: the stop signals that have a Python handler are recorded instead of handled; `close()` puts
    the handlers back and calls each recorded signal's handler once (which raises, ending the run at a
    consistent point); `close(replay=False)` forgets them (the run is ending already)."""

    def __init__(self) -> None:
        self._handlers: dict[int, Any] = {}
        self._received: list[int] = []

    @property
    def is_open(self) -> bool:
        return bool(self._handlers)

    def open(self) -> None:
        if self._handlers or not _main_thread():
            return
        for signum in STOP_SIGNALS:
            handler = signal.getsignal(signum)
            if callable(handler):
                self._handlers[signum] = handler
                signal.signal(signum, self._record)

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self._received.append(signum)

    def close(self, replay: bool = True) -> None:
        handlers, self._handlers = self._handlers, {}
        received, self._received = self._received, []
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        if replay:
            for signum in dict.fromkeys(received):
                handlers[signum](signum, None)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """The stop signals are ignored for the length of the block, then their handlers put back."""
    if not _main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, signal.SIG_IGN) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def leave_stop_signals_to_main(worker_id: int) -> None:
    """A DataLoader worker's `worker_init_fn`: the stop signals are ignored in the worker. A cluster signals
    every process of a job; a worker killed by SIGTERM or SIGUSR1 made torch raise "DataLoader worker ...
    is killed by signal" in the main process, which could land before its own interrupt or inside the
    interrupt's checkpoint write. The main process stops its workers itself when it ends.

    A stop can also cut the main process's fetch of a batch halfway (it receives each tensor's file
    descriptor from the worker over a socket): the worker's `multiprocessing.resource_sharer` thread then
    printed a `ConnectionResetError` traceback after the run's last line. Connection errors go unprinted in
    the worker; anything else still reaches the original hook. The main process must then end its workers
    with SIGKILL when it exits (`end_workers_at_exit`)."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    sys.excepthook = functools.partial(_quiet_connection_errors, sys.excepthook)


def _quiet_connection_errors(
    original: Callable[..., Any], kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if not issubclass(kind, ConnectionError):
        original(kind, error, trace)


@functools.cache
def end_workers_at_exit() -> None:
    """Registers (once, in the process that starts the loaders) an exit hook that kills the daemonic children
    still alive: DataLoader workers that ignore SIGTERM (`leave_stop_signals_to_main`). When the main process
    ends on an error while a loader iterator is still referenced (a worker's DataError), torch leaves its
    workers to multiprocessing's own exit hook, which sends them SIGTERM and then waits for them forever.
    atexit runs its hooks last-registered first, so this one runs before multiprocessing's."""
    atexit.register(_kill_daemonic_children)


def _kill_daemonic_children() -> None:
    for child in multiprocessing.active_children():
        if child.daemon:
            child.kill()
            child.join(timeout=5)
