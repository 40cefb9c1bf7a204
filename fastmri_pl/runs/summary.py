"""What a run prints: the config tree, start-up line and CPU warning, and the summary when training ends
(folders, scores)."""

import logging
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from rich.tree import Tree

log = logging.getLogger("fastmri_pl")
TREE_ORDER = ("data", "model", "hardware", "trainer", "logger", "callbacks", "paths")
FULL_SIZE_MODELS = {"promptmr": "81.5 M", "varnet": "29.9 M"}  # README's counts of the published sizes


def _logger_locations(trainer: L.Trainer) -> list[tuple[str, str]]:
    rows = []
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            rows.append(("W&B run", str(Path(logger.experiment.dir).parent)))
        elif isinstance(logger, CSVLogger):
            rows.append(("CSV metrics", str(Path(logger.log_dir) / "metrics.csv")))
    return rows


def print_summary(cfg: DictConfig, trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """Where the checkpoint, logs and W&B run are, and validation SSIM of the model next to zero-filled."""
    console = Console()
    where = [("output folder", str(cfg.paths.output_dir))]
    callback = trainer.checkpoint_callback
    if callback is not None:
        paths = {"best checkpoint": callback.best_model_path, "last checkpoint": callback.last_model_path}
        # a failed or skipped save leaves nothing to name
        where.extend((name, path) for name, path in paths.items() if path and Path(path).is_file())
    where.extend(_logger_locations(trainer))
    for name, location in where:  # whole paths, never cut to the terminal's width; in the run's log too
        log.info(f"{name}: {location}")
    scores = Table(title="validation (mean over volumes)")
    for column in ("metric", "model", "zero-filled"):
        scores.add_column(column)
    for key in sorted(k for k in metrics if k.startswith("val/") and k != "val/loss" and "volumes" not in k):
        zero_filled = metrics.get(key.replace("val/", "val_zf/", 1))
        scores.add_row(key[4:], f"{metrics[key]:.4f}", "" if zero_filled is None else f"{zero_filled:.4f}")
    console.print(scores)


def startup_line(cfg: DictConfig, card: str | None = None) -> str:
    """One line saying what this run is: model, data, profile, precision, memory levers, output folder; on a
    GPU profile the card's context and workspace the plans use, measured or assumed (`card`,
    `memory.card_cache.with_card_figures`)."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    levers = cfg.hardware.levers
    levers_text = levers if isinstance(levers, str) else " ".join(f"{k}={v}" for k, v in levers.items())
    data = f"{choices.get('data', '?')} ({cfg.data.get('layout', '?')}, {cfg.data.get('root', '?')})"
    devices = f"{cfg.hardware.accelerator} x{cfg.hardware.devices}"
    return (
        f"model={choices.get('model', cfg.model.net.get('_target_', '?'))} data={data} "
        f"profile={choices.get('hardware', '?')} [{devices}] precision={cfg.hardware.precision} "
        f"levers=[{levers_text}] output={cfg.paths.output_dir}" + (f" card=[{card}]" if card else "")
    )


def config_tree(cfg: DictConfig) -> Tree:
    """The composed config as a tree, one branch per top-level group (data, model, hardware first)."""
    tree = Tree("config", guide_style="dim")
    first = [key for key in TREE_ORDER if key in cfg]
    for key in first + [key for key in cfg if key not in first]:
        value = cfg[key]
        text = _yaml(value) if isinstance(value, DictConfig) else str(value)
        tree.add(f"[bold]{key}[/bold]").add(Syntax(text.rstrip(), "yaml", theme="ansi_dark"))
    return tree


def _yaml(node: DictConfig) -> str:
    """Resolved YAML; as written where a value cannot resolve (the config checks then name the key)."""
    try:
        return OmegaConf.to_yaml(node, resolve=True)
    except OmegaConfBaseException:
        return OmegaConf.to_yaml(node)


def cpu_warning(cfg: DictConfig) -> str | None:
    """One line when a full-size model is about to train on the CPU: the bare command's default (PromptMR,
    `hardware=cpu`) would take days, which a new user should hear before the first epoch, not after."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    model = choices.get("model")
    if cfg.hardware.accelerator != "cpu" or model not in FULL_SIZE_MODELS:
        return None
    gpu = " (a GPU is present: add hardware=gtx1080, rtx4070 or a100)" if torch.cuda.is_available() else ""
    return (
        f"warning: {cfg.trainer.max_epochs} epochs of full-size {model} ({FULL_SIZE_MODELS[model]} "
        f"parameters) on the CPU, which is very slow{gpu}; for a first run use experiment=quickstart"
    )


@rank_zero_only
def print_startup(cfg: DictConfig, card: str | None = None) -> None:
    """Printed before anything is built, so a wrong profile or folder shows before minutes of work: on CPU a
    size warning, the one-line run description, then the config tree (`print_config=false` leaves it out).
    The tree runs to ~200 lines: what a user must see comes above it, on the first screen."""
    warning = cpu_warning(cfg)
    if warning:
        log.warning(warning)
    log.info(startup_line(cfg, card))
    if cfg.get("print_config", True):
        Console().print(config_tree(cfg))
