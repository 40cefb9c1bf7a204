"""What a run prints: the start-up line and the summary when training ends (folders, scores)."""

from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import CSVLogger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table


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
    for name, location in where:  # whole paths, never cut to the terminal's width
        console.print(f"[bold]{name}:[/bold] {location}", soft_wrap=True, highlight=False)
    scores = Table(title="validation (mean over volumes)")
    for column in ("metric", "model", "zero-filled"):
        scores.add_column(column)
    for key in sorted(k for k in metrics if k.startswith("val/") and k != "val/loss" and "volumes" not in k):
        zero_filled = metrics.get(key.replace("val/", "val_zf/", 1))
        scores.add_row(key[4:], f"{metrics[key]:.4f}", "" if zero_filled is None else f"{zero_filled:.4f}")
    console.print(scores)


def startup_line(cfg: DictConfig) -> str:
    """One line saying what this run is: model, data, profile, precision, memory levers, output folder."""
    choices = HydraConfig.get().runtime.choices if HydraConfig.initialized() else {}
    levers = cfg.hardware.levers
    levers_text = levers if isinstance(levers, str) else " ".join(f"{k}={v}" for k, v in levers.items())
    data = f"{choices.get('data', '?')} ({cfg.data.get('layout', '?')}, {cfg.data.get('root', '?')})"
    devices = f"{cfg.hardware.accelerator} x{cfg.hardware.devices}"
    return (
        f"model={choices.get('model', cfg.model.net.get('_target_', '?'))} data={data} "
        f"profile={choices.get('hardware', '?')} [{devices}] precision={cfg.hardware.precision} "
        f"levers=[{levers_text}] output={cfg.paths.output_dir}"
    )


@rank_zero_only
def print_startup(cfg: DictConfig) -> None:
    """Printed before anything is built, so a wrong profile or folder shows before minutes of work."""
    Console().print(startup_line(cfg), markup=False, highlight=False, soft_wrap=True)
