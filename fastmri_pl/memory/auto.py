"""`hardware.levers=auto`: the planner's choice for the profile's budget and the data's shape."""

from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf

from fastmri_pl.memory.batch import BatchShape
from fastmri_pl.memory.estimate import with_levers
from fastmri_pl.memory.planner import plan
from fastmri_pl.models.levers import MemoryLevers

# the SNU FastMRI Challenge brain k-space, the largest shape the profiles are made for
DEFAULT_AUTO_SHAPE = {"coils": 16, "height": 768, "width": 396}


def resolve_levers(cfg: DictConfig) -> DictConfig:
    """`cfg` with `hardware.levers=auto` replaced by the planner's choice (logged); any other `cfg` as it is.

    The entry points call this before the factory builds anything: the planner builds its candidates through
    the factory, so the factory cannot ask the planner itself without an import circle.
    """
    if not isinstance(cfg.hardware.levers, str):
        return cfg
    levers = auto_levers(cfg)
    rank_zero_info(f"hardware.levers=auto chose {levers}")
    return with_levers(cfg, levers)


def auto_levers(cfg: DictConfig, margin_gib: float = 0.0) -> MemoryLevers:
    """Levers for `hardware.memory_gb` at `hardware.levers_auto_shape` (or the SNU brain shape), its height
    cropped to the target's when the run's `data.readout_crop` is on."""
    if cfg.hardware.levers != "auto":
        raise ValueError(f"hardware.levers must be a mapping or 'auto', got {cfg.hardware.levers!r}")
    if cfg.hardware.get("memory_gb") is None:
        raise ValueError("hardware.levers=auto needs hardware.memory_gb (the budget to plan for)")
    sizes = {**DEFAULT_AUTO_SHAPE, **(cfg.hardware.get("levers_auto_shape") or {})}
    shape = BatchShape(
        adj_slices=int(cfg.model.get("num_adj_slices", 1)),
        batch_size=int(cfg.hardware.get("batch_size") or 1),
        **{key: int(value) for key, value in sizes.items()},
    )
    if OmegaConf.select(cfg, "data.readout_crop", default=False):
        shape = shape.readout_cropped()
    return plan(cfg, shape, float(cfg.hardware.memory_gb), margin_gib).chosen.levers
