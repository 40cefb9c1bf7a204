"""Turns a composed Hydra config into the objects a run needs (train, reconstruct, memory, bench)."""

from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl.callbacks.model_summary import ModelTable
from fastmri_pl.errors import DataError
from fastmri_pl.loggers.runs import is_wandb, wandb_settings, without_anonymous
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.runs.checkpoint_io import AtomicCheckpointIO
from fastmri_pl.runtime.quiet import quiet_lightning
from fastmri_pl.training.module import ReconModule


def build_levers(cfg: DictConfig) -> MemoryLevers:
    """The profile's memory levers (`hardware.levers`, a mapping).

    `auto` never reaches here: the planner builds modules through this factory, so the entry points replace
    it with the planner's choice first (`memory.auto.resolve_levers`).
    """
    if isinstance(cfg.hardware.levers, str):
        raise DataError(
            "hardware.levers",
            f"{cfg.hardware.levers!r} is not a mapping of levers ('auto' is planned by the entry point, "
            "fastmri_pl.memory.auto.resolve_levers, before anything is built)",
        )
    try:
        return MemoryLevers(**OmegaConf.to_container(cfg.hardware.levers, resolve=True))
    except (TypeError, ValueError) as error:  # an unknown lever or a value out of range: one line
        raise DataError("hardware.levers", str(error)) from error


def build_net(cfg: DictConfig) -> nn.Module:
    return instantiate(cfg.model.net, levers=build_levers(cfg))


def build_module(cfg: DictConfig) -> ReconModule:
    return ReconModule(
        net=build_net(cfg),
        optimizer=instantiate(cfg.model.optimizer) if cfg.model.get("optimizer") else None,
        scheduler=instantiate(cfg.model.scheduler) if cfg.model.get("scheduler") else None,
        loss=cfg.model.loss,
        challenge=cfg.get("challenge"),
    )


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
