"""Turns a composed Hydra config into the parts `train` fits with: the datamodule, callbacks, loggers and
Trainer (the module itself: `training.build`; `evaluate` takes its loggers from here too)."""

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from fastmri_pl.callbacks.model_summary import ModelTable
from fastmri_pl.loggers.runs import is_wandb, wandb_settings, without_anonymous
from fastmri_pl.runs.checkpoint_io import AtomicCheckpointIO
from fastmri_pl.runtime.quiet import quiet_lightning


def build_datamodule(cfg: DictConfig) -> L.LightningDataModule:
    return instantiate(cfg.data)


def build_callbacks(cfg: DictConfig, loggers: list[Logger]) -> list[L.Callback]:
    """The configured callbacks; without a logger (`logger=none`) the learning-rate monitor has nowhere to
    write, and Lightning refuses it, so it is left out."""
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    return [c for c in callbacks if loggers or not isinstance(c, LearningRateMonitor)]


def build_loggers(cfg: DictConfig, resuming: bool = False) -> list[Logger]:
    """The configured loggers; a W&B logger gets this run folder's run id (the same one when `resuming`).
    A `fast_dev_run` (`debug=fdr`) logs nowhere: Lightning would only hide the loggers after W&B had started
    a run for it."""
    if (cfg.get("trainer") or {}).get("fast_dev_run"):  # evaluate's config has no trainer
        return []
    loggers = []
    for logger_cfg in (cfg.get("logger") or {}).values():
        if logger_cfg is None:
            continue
        if is_wandb(logger_cfg):
            logger_cfg = wandb_settings(logger_cfg, Path(cfg.paths.output_dir), resuming)
            loggers.append(without_anonymous(instantiate(logger_cfg)))
        else:
            loggers.append(instantiate(logger_cfg))
    return loggers


def build_trainer(cfg: DictConfig, callbacks: list[L.Callback], loggers: list[Logger]) -> L.Trainer:
    """The configured Trainer; its checkpoints are written atomically (`AtomicCheckpointIO`), and a profile's
    `hardware.cluster_environment` (SLURM's) is passed to it as a plugin.

    `trainer.enable_model_summary` prints our `ModelTable` (Lightning's without the FLOPs it cannot count)
    unless a summary callback is configured; Lightning is told not to add its own, which also spares the line
    it prints when it finds one. Lightning's start-up notices that are not ours stay off (`quiet_lightning`).
    """
    quiet_lightning()
    wants_summary = bool(cfg.trainer.get("enable_model_summary", True))
    if wants_summary and not any(isinstance(c, ModelSummary) for c in callbacks):
        callbacks = [*callbacks, ModelTable()]
    plugins = [AtomicCheckpointIO()]
    if cfg.hardware.get("cluster_environment"):  # hardware=slurm: SLURM without Lightning's own requeue
        plugins.append(instantiate(cfg.hardware.cluster_environment))
    return instantiate(
        cfg.trainer,
        callbacks=callbacks,
        logger=loggers or False,
        plugins=plugins,
        enable_model_summary=False,
    )
