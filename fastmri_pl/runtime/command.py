"""The one door every command goes through: `@command("train", ...)` over a command's `main(cfg)`.

What each entry point did by hand, or not at all, happens here once. Before the work: the config's types
(every `_target_` node against its target's signature, the command's own top-level keys and maps) and, for a
command that may use CUDA, the profile's accelerator against this machine and the installed torch build
against the card. After it, one line says how the command ended, on the console and in the run's log file,
and the exit code follows: completed (0), bad input (`error:` line, 2), CUDA out of memory (3, with the
command's advice), a stop that kept its work (`Stopped`, its own code), an interrupt (Ctrl-C 130, SIGTERM
143). A failure finishes the W&B run as failed. In a multirun every error is left to Hydra, which fails that
job only and goes on with the sweep's others; an interrupt, or a stop after one, ends the sweep.
"""

import functools
import logging
import shlex
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Literal, TypeVar

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from fastmri_pl import CONFIG_DIR
from fastmri_pl.errors import (
    EXIT_BAD_INPUT,
    EXIT_OUT_OF_MEMORY,
    DataError,
    Stopped,
    Terminated,
    interrupt_exit_code,
)
from fastmri_pl.loggers.runs import finish_runs
from fastmri_pl.runtime.config_checks import check_config_types, check_hardware
from fastmri_pl.runtime.gpu_check import check_cuda_build

log = logging.getLogger("fastmri_pl")
Result = TypeVar("Result")
OomAdvice = Callable[[DictConfig], str]
CudaUse = Literal["profile", "available"] | None


def command(
    config_name: str,
    *,
    cuda: CudaUse = None,
    top_level: dict[str, Any] | None = None,
    nodes: dict[str, Callable[..., Any]] | None = None,
    oom_advice: OomAdvice | None = None,
) -> Callable[[Callable[[DictConfig], Result]], Callable[[], Result | None]]:
    """Turns `work(cfg)` into the command's `main()`: Hydra composes `conf/<config_name>.yaml` with the
    command line, then `run_command` checks, runs and ends it.

    cuda: how the command may use CUDA: "profile" (as `hardware.accelerator` says: a GPU profile needs CUDA
        here) or "available" (whenever a GPU is present, as `bench`); either checks the torch build first.
    top_level / nodes: the command's own keys to type-check (see `config_checks.check_config_types`).
    oom_advice: what to say about a CUDA out-of-memory error instead of a generic line.
    """

    def decorate(work: Callable[[DictConfig], Result]) -> Callable[[], Result | None]:
        @functools.wraps(work)  # Hydra names the job (and its log file) after the module of `work`
        def main(cfg: DictConfig) -> Result | None:
            return run_command(config_name, work, cfg, cuda, top_level, nodes, oom_advice)

        return hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)(main)

    return decorate


def run_command(
    name: str,
    work: Callable[[DictConfig], Result],
    cfg: DictConfig,
    cuda: CudaUse = None,
    top_level: dict[str, Any] | None = None,
    nodes: dict[str, Callable[..., Any]] | None = None,
    oom_advice: OomAdvice | None = None,
) -> Result | None:
    """Checks, runs `work(cfg)` and ends the command as the module docstring says."""
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    started = time.monotonic()
    failed = True
    try:
        with _sigterm_as_interrupt():
            check_config_types(cfg, top_level, nodes)
            if cuda == "profile":
                check_hardware(cfg)
                check_cuda_build(cfg.hardware.accelerator)
            elif cuda == "available":
                check_cuda_build("cuda")
            result = work(cfg)
        failed = False
        log.info(f"{name} completed in {_duration(time.monotonic() - started)}")
        return result
    except SystemExit as error:
        if isinstance(error.code, str):  # `raise SystemExit("message")`: the line once, in the log too
            log.error(error.code)
            raise SystemExit(1) from None
        raise
    except BaseException as error:
        code = _log_end(name, error, cfg, oom_advice)
        if multirun and not _stopped_by_signal(error):
            raise
        raise SystemExit(code) from None
    finally:
        if failed:
            finish_runs(failed=True)


def _log_end(name: str, error: BaseException, cfg: DictConfig, oom_advice: OomAdvice | None) -> int:
    """One line (or the OOM advice) for how the command ended, on the console and in the log; the exit code.
    An unexpected exception keeps its traceback (a bug to report): only its one-line summary is logged."""
    if isinstance(error, DataError):
        log.error(f"error: {error}")
        return EXIT_BAD_INPUT
    if isinstance(error, torch.cuda.OutOfMemoryError):
        log.error(oom_advice(cfg) if oom_advice else _oom_line(name))
        return EXIT_OUT_OF_MEMORY
    if isinstance(error, Stopped):
        log.warning(str(error))
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        code = interrupt_exit_code(error)
        log.warning(f"{name} stopped by {signal.Signals(code - 128).name}")
        return code
    log.error(f"{name} failed: {type(error).__name__}: {error}")
    raise error


def rerun_command(name: str, drop: Collection[str] = (), add: Sequence[str] = ()) -> str | None:
    """`python -m fastmri_pl.<name>` with this run's own command-line overrides (less those setting a key in
    `drop`) and `add`, shell-quoted on one line for a message that says how to go on; None outside a Hydra
    run of that command (then the caller says it in words)."""
    if not HydraConfig.initialized() or HydraConfig.get().job.config_name != name:
        return None
    kept = [o for o in HydraConfig.get().overrides.task if o.lstrip("+~").split("=", 1)[0] not in drop]
    return shlex.join(["python", "-m", f"fastmri_pl.{name}", *kept, *add])


def _stopped_by_signal(error: BaseException) -> bool:
    """A stop that kept its work after a signal ends a multirun too, as the interrupt itself would: Hydra
    takes an `Exception` for one failed job and goes on with the next (and submitit would record the job as
    finished, although it was requeued)."""
    return isinstance(error, Stopped) and error.exit_code > 128


def _oom_line(name: str) -> str:
    peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0.0
    return (
        f"error: CUDA out of memory in {name} (peak {peak:.2f} GiB allocated); see the estimate with "
        "python -m fastmri_pl.memory and choose stronger hardware.levers or a smaller hardware.memory_gb"
    )


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises `Terminated` (a KeyboardInterrupt) while the command runs, so a cluster's stop ends it
    as Ctrl-C does: its work kept, exit 143. Signal handlers exist only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
