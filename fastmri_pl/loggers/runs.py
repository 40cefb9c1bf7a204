"""Experiment-logger runs: one W&B run per job, the same run again on resume, the run config as Hydra composed
it, and every run finished when its job ends, failed or not.

Lightning's `WandbLogger` attaches to a W&B run still alive in the process, so without `finish_runs` the next
job of a multirun would log into the previous job's run (and its folder).
"""

import secrets
import string
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only, rank_zero_warn
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.runs.atomic import write_atomically

RUN_ID_FILE = Path("wandb") / "run_id"
RUN_ID_ALPHABET = string.ascii_lowercase + string.digits


def is_wandb(logger_cfg: DictConfig) -> bool:
    return str(logger_cfg.get("_target_", "")).endswith("WandbLogger")


def wandb_run_id(output_dir: Path, resuming: bool) -> str | None:
    """The W&B run id of this run folder: the stored one when resuming, else a new one, stored for a resume.

    Only rank zero owns the run (and the file); other ranks get None.
    """
    if rank_zero_only.rank != 0:
        return None
    path = output_dir / RUN_ID_FILE
    if resuming and path.is_file():
        return path.read_text().strip()
    run_id = "".join(secrets.choice(RUN_ID_ALPHABET) for _ in range(8))  # W&B's own id format
    write_atomically(path, (run_id + "\n").encode())
    return run_id


def wandb_settings(logger_cfg: DictConfig, output_dir: Path, resuming: bool) -> DictConfig:
    """The W&B logger's config with this run folder's run id and artifacts only when online.

    Checkpoints go to W&B as artifacts only when online and asked for: offline they would pile up copies of
    every checkpoint beside the run's own files. An explicit `logger.wandb.id` is kept as given.
    """
    changes: dict[str, Any] = {}
    if logger_cfg.get("log_model") and logger_cfg.get("mode", "online") != "online":
        rank_zero_warn(f"logger.wandb.log_model ignored: W&B runs {logger_cfg.mode}; WANDB_MODE=online")
        changes["log_model"] = False
    if logger_cfg.get("id") is None:
        changes["id"] = wandb_run_id(output_dir, resuming)
    return OmegaConf.merge(logger_cfg, changes)


def without_anonymous(logger: Logger) -> Logger:
    """The W&B logger without the `anonymous=None` Lightning's `WandbLogger` always hands `wandb.init`: W&B
    removed anonymous mode (wandb/wandb#10909; 0.31 here) and warns on every start that the setting has no
    effect. Left out, W&B takes its own default, which is what None meant; offline mode is untouched."""
    init = getattr(logger, "_wandb_init", None)  # Lightning's keyword arguments for `wandb.init`
    if isinstance(init, dict) and "anonymous" in init and init["anonymous"] is None:
        del init["anonymous"]
    return logger


def run_config(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config plus Hydra's group choices and command-line overrides, so runs can be filtered by
    `choices.model`, `choices.hardware`, ... and show how they were started."""
    config: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        choices = OmegaConf.to_container(hydra_cfg.runtime.choices)
        config["choices"] = {k: v for k, v in choices.items() if not k.startswith("hydra/")}
        config["overrides"] = list(hydra_cfg.overrides.task)
    return config


def log_run_config(loggers: list[Logger], cfg: DictConfig) -> None:
    for logger in loggers:
        logger.log_hyperparams(run_config(cfg))


def finish_runs(failed: bool) -> None:
    """End the W&B run of this process (exit code 1 when the job failed), so the next job starts its own."""
    wandb = sys.modules.get("wandb")  # never imported: no run to finish
    if wandb is not None and wandb.run is not None:
        wandb.finish(exit_code=1 if failed else 0)
