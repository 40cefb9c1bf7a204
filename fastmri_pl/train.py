"""`python -m fastmri_pl.train`: compose the config, build the parts, fit, validate the best checkpoint.

A stop keeps the work: Ctrl-C, SIGTERM or SLURM's requeue signal ends the run with `last.ckpt` written at the
last completed optimizer step (`callbacks.checkpoint.RunCheckpoint.save_now`) and one line saying what was
kept and the command that resumes it, exit 128 + the signal's number (after SLURM's, the job is requeued); a
run of non-finite steps, or a bad data file met mid-epoch, ends the same way with its `error:` line, exit 2;
CUDA running out of memory after the calibration steps (which fall back by themselves) the same way with the
resume command carrying safer levers, exit 3.
"""

import logging
import shlex
import signal
import traceback
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from fastmri_pl.callbacks.checkpoint import Kept, RunCheckpoint
from fastmri_pl.callbacks.nonfinite import NonFiniteStop
from fastmri_pl.errors import EXIT_OUT_OF_MEMORY, DataError, Requeued, Stopped, interrupt_exit_code
from fastmri_pl.fit import factory
from fastmri_pl.fit.calibrate import RunCalibration
from fastmri_pl.loggers.runs import finish_runs, log_run_config
from fastmri_pl.memory.auto import resolve_training_levers
from fastmri_pl.memory.card_cache import with_card_figures
from fastmri_pl.memory.oom import free_card_memory, is_out_of_memory, levers_override, oom_message
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.atomic import check_writable_folder
from fastmri_pl.runs.folder import check_output_folder, resolve_ckpt_path, restarted, run_folder_lock
from fastmri_pl.runs.summary import print_startup, print_summary
from fastmri_pl.runtime.command import command, rerun_command
from fastmri_pl.runtime.config_checks import check_determinism
from fastmri_pl.runtime.conv_speed import to_memory_format
from fastmri_pl.runtime.slurm import requeue_job, requeue_on
from fastmri_pl.sweep.ddp import finish_ddp_job
from fastmri_pl.training import build
from fastmri_pl.training.module import ReconModule
from fastmri_pl.weights import load_net_weights

# top-level keys `train` reads itself (nodes with a `_target_` are checked against their target's signature)
TOP_LEVEL_TYPES = {
    "seed": int,
    "validate_best": bool,
    "ckpt_path": str | None,
    "init_from": str | None,
    "optimized_metric": str,
    "challenge": int | None,
}
# Lightning's ModelCheckpoint warning about a non-empty folder: silenced on a resume, where it is expected
RESUME_FOLDER_WARNING = r"Checkpoint directory .* exists and is not empty"
# maps passed to a class as keyword arguments without a `_target_` (`levers: auto` is a string, not checked)
NODE_TYPES = {"hardware.levers": MemoryLevers}
log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> float | None:
    """Fits the model and returns `optimized_metric` of the best checkpoint (what Hydra sweepers optimise).

    Every check that can refuse the run comes before the config tree, so a refusal is the last line shown (the
    config's types, the profile against this machine and the CUDA build: the door, `runtime.command`)."""
    check_determinism(cfg)
    with requeue_on(cfg.hardware.get("requeue_signal")):  # in a SLURM job: its warning is an interrupt
        ckpt_path = resolve_ckpt_path(cfg.ckpt_path, cfg.paths.output_dir)
        check_output_folder(cfg.paths.output_dir, resuming=ckpt_path is not None)
        # before anything touches CUDA: the card's free memory, the baseline of the context measured later
        calibration = RunCalibration(cfg, auto=isinstance(cfg.hardware.levers, str))
        cfg, card = with_card_figures(cfg)
        print_startup(cfg, card)
        if ckpt_path is not None:
            requeued = " (SLURM requeued this job)" if cfg.ckpt_path is None and restarted() else ""
            log.info(f"resuming from {ckpt_path}{requeued}")
        with run_folder_lock(cfg.paths.output_dir):
            return _fit(cfg, ckpt_path, calibration)


def _fit(cfg: DictConfig, ckpt_path: str | None, calibration: RunCalibration) -> float | None:
    trainers: list[L.Trainer] = []  # the attempt's trainer, for the end of the job
    failed = True
    try:
        # before seeding: whether the plan is made (modules built on fake tensors) or read from its cache, the
        # run starts from the same random state
        cfg = resolve_training_levers(cfg)
        if ckpt_path is not None and cfg.get("init_from"):
            raise DataError("init_from", "and ckpt_path are both set: resume (ckpt_path) or start afresh")
        built = _build(cfg, ckpt_path)
        checkpoints = (cfg.get("callbacks") or {}).get("model_checkpoint")
        if checkpoints and not cfg.trainer.get("fast_dev_run"):  # a blocked or read-only folder: now
            check_writable_folder(checkpoints.dirpath)
        loggers = factory.build_loggers(cfg, resuming=ckpt_path is not None)
        trainer, module, datamodule = _fit_calibrated(cfg, ckpt_path, loggers, calibration, built, trainers)
        metrics = dict(trainer.callback_metrics) if module.has_trainable_parameters else {}
        if cfg.validate_best or not module.has_trainable_parameters:
            best_path = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            results = trainer.validate(
                module, datamodule=datamodule, ckpt_path=best_path or None, verbose=False
            )
            # logged as best/val/... (apart from the curves); reported and returned as val/...
            metrics = {k.removeprefix("best/"): v for k, v in results[0].items()} if results else metrics
        print_summary(cfg, trainer, {k: float(v) for k, v in metrics.items()})
        failed = False
    except SystemExit as lightning_exit:  # Lightning's sys.exit(1) after it handled an interrupt
        if not isinstance(lightning_exit.__context__, KeyboardInterrupt):
            raise
        raise _stopped(cfg, trainers, ckpt_path, lightning_exit.__context__) from None
    except KeyboardInterrupt as interrupt:
        raise _stopped(cfg, trainers, ckpt_path, interrupt) from None
    except DataError as error:  # non-finite steps, or a bad file met mid-epoch: what was kept, how to go on
        kept = _kept(trainers, ckpt_path, "stopped by bad data")
        if not (isinstance(error, NonFiniteStop) or kept.written):
            raise  # refused before any training (or nothing new to keep): the line alone
        raise type(error)(error.path, f"{error.problem}; {_kept_and_resume(cfg, kept)}") from None
    except Exception as error:
        if not is_out_of_memory(error):
            raise
        raise _out_of_memory(cfg, trainers, ckpt_path, calibration, error) from None
    finally:  # failed or not, the next job of a multirun starts its own ranks and its own W&B run
        if trainers:
            finish_ddp_job(trainers[-1], failed)
        finish_runs(failed)
    return float(metrics[cfg.optimized_metric]) if cfg.optimized_metric in metrics else None


def _build(cfg: DictConfig, ckpt_path: str | None) -> tuple[L.LightningDataModule, ReconModule]:
    """Seed, then the data and the network with its weights: what a fit starts from."""
    L.seed_everything(cfg.seed, workers=True)
    datamodule = factory.build_datamodule(cfg)
    module = to_memory_format(build.build_module(cfg), cfg.hardware)  # cuDNN autotuning: trainer.benchmark
    if ckpt_path is not None:  # one line for a garbage file or another model's checkpoint, before any work
        load_net_weights(module.net, Path(ckpt_path))
    elif cfg.get("init_from"):  # weights only: fresh optimiser and scheduler, epoch 0
        load_net_weights(module.net, Path(cfg.init_from))
    return datamodule, module


def _fit_calibrated(
    cfg: DictConfig,
    ckpt_path: str | None,
    loggers: list[Logger],
    calibration: RunCalibration,
    built: tuple[L.LightningDataModule, ReconModule],
    trainers: list[L.Trainer],
) -> tuple[L.Trainer, ReconModule, L.LightningDataModule]:
    """Fit what was `built`; when the first steps on the card do not fit (`fit.calibrate`), everything
    is built again with the levers it falls back to and fitted from the same seed. `trainers` holds the
    attempt's trainer (only it: an earlier one would keep its network on the card); returns the one that
    finished, its module and data."""
    while True:
        datamodule, module = built
        callbacks = factory.build_callbacks(cfg, loggers) + calibration.start(cfg)
        trainer = factory.build_trainer(cfg, callbacks, loggers)
        trainers[:] = [trainer]
        log_run_config(loggers, cfg)
        if not module.has_trainable_parameters:
            return trainer, module, datamodule
        try:
            with warnings.catch_warnings():
                if ckpt_path is not None:  # a resume expects the checkpoints Lightning would warn about
                    warnings.filterwarnings("ignore", message=RESUME_FOLDER_WARNING)
                trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
            return trainer, module, datamodule
        except BaseException as error:
            again = calibration.fallback(error)
            if again is None:
                raise
        del trainer, module, datamodule, built
        trainers.clear()
        _discard_attempt(cfg, resuming=ckpt_path is not None)
        cfg = again
        built = _build(cfg, ckpt_path)


def _discard_attempt(cfg: DictConfig, resuming: bool) -> None:
    """What an attempt that fell back left: its memory on the card and, in a fresh run, the `last.ckpt` a
    mid-epoch save may have written of its first steps (a resume starts again from its own checkpoint)."""
    free_card_memory()
    checkpoints = (cfg.get("callbacks") or {}).get("model_checkpoint")
    if checkpoints and not resuming:
        (Path(checkpoints.dirpath) / "last.ckpt").unlink(missing_ok=True)


def _kept(trainers: list[L.Trainer], resumed_from: str | None, reason: str) -> Kept:
    """What the run leaves to resume from after a stop: `last.ckpt`, written now if training went on since
    it was (`RunCheckpoint.save_now`), else the checkpoint this run resumed from, if any."""
    trainer = trainers[-1] if trainers else None
    callback = trainer.checkpoint_callback if trainer is not None else None
    if isinstance(callback, RunCheckpoint):
        kept = callback.kept or callback.save_now(trainer, reason)
        if kept.path or kept.problem:
            return kept
    elif trainer is not None:
        return Kept(resumed_from or "", None, False, "callbacks.model_checkpoint is null: nothing written")
    return Kept(resumed_from or "", None, False)  # stopped before a step (a resumed run: its checkpoint)


def _kept_and_resume(cfg: DictConfig, kept: Kept, levers: MemoryLevers | None = None) -> str:
    """What was kept and, when there is something to resume from, the command that does it (with `levers`
    in place of the run's, when given): on one line, whole, so a copy of it runs."""
    if not kept.path:
        return str(kept)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    resume = "ckpt_path=last" if Path(kept.path) == last else f"ckpt_path={kept.path}"
    overrides = [resume] if levers is None else [levers_override(levers), resume]
    drop = ("ckpt_path", "init_from", *(() if levers is None else ("hardware.levers",)))
    command = rerun_command("train", drop=drop, add=[f"hydra.run.dir={cfg.paths.output_dir}", *overrides])
    if command is None:  # outside a Hydra run of train: in words
        command = "python -m fastmri_pl.train <the same arguments> " + shlex.join(overrides)
    return f"{kept}; resume with: {command}"


def _stopped(
    cfg: DictConfig, trainers: list[L.Trainer], resumed_from: str | None, interrupt: KeyboardInterrupt
) -> Stopped:
    """The interrupt as the door's `Stopped`: what was kept, how to resume, exit 128 + the signal's number;
    after SLURM's requeue signal, rank zero requeues the job once its work is kept."""
    code = interrupt_exit_code(interrupt)
    name = signal.Signals(code - 128).name
    kept = _kept(trainers, resumed_from, f"stopped by {name}")
    message = f"train stopped by {name}: {_kept_and_resume(cfg, kept)}"
    if isinstance(interrupt, Requeued) and (not trainers or trainers[-1].is_global_zero):
        message += "; " + ("not requeued" if kept.problem else requeue_job())
    return Stopped(message, code)


def _out_of_memory(
    cfg: DictConfig,
    trainers: list[L.Trainer],
    resumed_from: str | None,
    calibration: RunCalibration,
    error: Exception,
) -> Stopped:
    """CUDA out of memory after the calibration steps: the work so far kept (`last.ckpt` at the last completed
    optimizer step, once the failed step's tensors are freed) and the resume command with the levers that
    have more headroom (`RunCalibration.safer`), exit 3."""
    traceback.clear_frames(error.__traceback__)  # the failed step's activations, held by its frames
    free_card_memory()
    kept = _kept(trainers, resumed_from, "stopped by CUDA out of memory")
    safer = calibration.safer()
    if safer is None:
        current = levers_override(build.build_levers(calibration.cfg))
        advice = f"nothing saves more memory than {current}: use a card with more memory or a smaller model"
        message = f"error: CUDA out of memory in train; {advice}; {_kept_and_resume(cfg, kept)}"
        return Stopped(message, EXIT_OUT_OF_MEMORY)
    resume = _kept_and_resume(cfg, kept, safer.levers)
    return Stopped(f"error: CUDA out of memory in train; {resume} ({safer.why})", EXIT_OUT_OF_MEMORY)


def _oom_advice(cfg: DictConfig) -> str:
    return oom_message(cfg, torch.cuda.max_memory_allocated())


@command("train", cuda="profile", top_level=TOP_LEVEL_TYPES, nodes=NODE_TYPES, oom_advice=_oom_advice)
def main(cfg: DictConfig) -> float | None:
    return train(cfg)


if __name__ == "__main__":
    main()
