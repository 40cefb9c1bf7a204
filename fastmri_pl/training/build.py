"""A configured network and LightningModule with the profile's memory levers: what training fits, what the
memory estimator traces and what reconstruction loads weights into, built one way for all of them."""

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from fastmri_pl.errors import DataError
from fastmri_pl.models.levers import MemoryLevers
from fastmri_pl.training.module import ReconModule


def build_levers(cfg: DictConfig) -> MemoryLevers:
    """The profile's memory levers (`hardware.levers`, a mapping).

    `auto` never reaches here: the planner builds modules through `build_module`, so the entry points replace
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
