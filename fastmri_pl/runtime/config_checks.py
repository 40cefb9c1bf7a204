"""Config values checked before anything is built, each wrong one a `DataError` naming the key.

Without this, `trainer.max_epochs=abc` ends in a bare `AssertionError` deep inside Lightning and a GPU profile
on a machine without CUDA in `No supported gpu backend found!`. Every node with a `_target_` is checked
against the signature of the class or function it instantiates: unknown keys and scalar values of the wrong
type (by the parameter's annotation; containers and types it cannot judge are left to the target).
"""

import inspect
import os
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import PurePath
from typing import Any

import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_object
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from fastmri_pl.errors import DataError

UNRESOLVED = object()  # a value whose interpolation does not resolve (see `check_config_types`)
HYDRA_KEYS = frozenset({"_target_", "_partial_", "_convert_", "_recursive_", "_args_"})
GPU_ACCELERATORS = ("gpu", "cuda")


def check_config_types(
    cfg: DictConfig,
    top_level: dict[str, Any] | None = None,
    nodes: dict[str, Callable[..., Any]] | None = None,
) -> None:
    """Every `_target_` node's keys against its target's signature, the top-level keys' annotations, and
    the `nodes` (dotted key -> the class its mapping is passed to, as `hardware.levers`) that are maps.

    A value whose interpolation does not resolve in this command's config (evaluate composes `data` without
    a `model`, so `data.num_adj_slices` has nothing to point at) is left unjudged: the command never reads it.
    """
    plain = _resolved(cfg)
    for key, expected in (top_level or {}).items():
        value = plain.get(key)  # type: ignore[union-attr]
        if not _accepts(expected, value):
            raise DataError(key, f"is {value!r} ({type(value).__name__}), expected {_describe(expected)}")
    for key, node in _target_nodes(plain, ""):
        _check_node(key, node)
    for key, target in (nodes or {}).items():
        node = OmegaConf.select(cfg, key)
        if isinstance(node, DictConfig):
            _check_against(key, _resolved(node), target, target.__name__)


def check_hardware(cfg: DictConfig) -> None:
    """A GPU profile needs CUDA: say to use `hardware=cpu`, not Lightning's `No supported gpu backend`."""
    if str(cfg.hardware.accelerator) in GPU_ACCELERATORS and not torch.cuda.is_available():
        choice = HydraConfig.get().runtime.choices.get("hardware") if HydraConfig.initialized() else None
        raise DataError(
            f"hardware={choice}" if choice else "hardware.accelerator",
            f"asks for a GPU (accelerator={cfg.hardware.accelerator}) but CUDA is not available on this "
            "machine; use hardware=cpu",
        )


def check_determinism(cfg: DictConfig) -> None:
    """`trainer.deterministic=true` needs `trainer.benchmark=false`: with cuDNN's autotuner on, every run
    times the convolution algorithms anew and may pick other (deterministic) ones, so the same seed would not
    give the same weights (PyTorch's reproducibility notes). Lightning only warns; GPU profiles set it."""
    trainer = cfg.get("trainer") or {}
    if trainer.get("deterministic") is True and trainer.get("benchmark"):
        raise DataError(
            "trainer.benchmark",
            "is true with trainer.deterministic=true: cuDNN would time its algorithms anew in every run and "
            "may pick others, so a re-run would not reproduce the weights; add trainer.benchmark=false",
        )


def _resolved(node: Any) -> Any:
    """The config as plain containers, each value resolved; `UNRESOLVED` where its interpolation fails. A
    mandatory value left unset (`???`) is one line naming its key."""
    if isinstance(node, DictConfig):
        return {key: _resolved(_value(node, key)) for key in node}
    if isinstance(node, ListConfig):
        return [_resolved(_value(node, index)) for index in range(len(node))]
    return node


def _value(node: DictConfig | ListConfig, key: Any) -> Any:
    try:
        return node[key]
    except InterpolationResolutionError:
        return UNRESOLVED
    except MissingMandatoryValue:
        path = node._get_full_key(key)
        raise DataError(path, f"must be set: add {path}=... to the command") from None


def _target_nodes(node: Any, prefix: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "_target_" in node:
            yield prefix, node
        for key, child in node.items():
            yield from _target_nodes(child, f"{prefix}.{key}" if prefix else str(key))


def _check_node(prefix: str, node: dict[str, Any]) -> None:
    try:
        target = get_object(str(node["_target_"]))
    except Exception as error:  # ImportError, AttributeError, ...: one message whatever the cause
        raise DataError(f"{prefix}._target_", f"cannot import {node['_target_']!r}: {error}") from error
    _check_against(prefix, node, target, str(node["_target_"]))


def _check_against(prefix: str, node: dict[str, Any], target: Callable[..., Any], name: str) -> None:
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check against
        return
    try:
        hints = typing.get_type_hints(target.__init__ if inspect.isclass(target) else target)
    except Exception:  # annotations that do not resolve (forward references): check names only
        hints = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for key, value in node.items():
        if key in HYDRA_KEYS or isinstance(value, dict | list):
            continue
        if key not in parameters:
            if takes_any:
                continue
            raise DataError(f"{prefix}.{key}", f"is not a parameter of {name}")
        if value is None and parameters[key].default is None:
            continue
        expected = hints.get(key, inspect.Parameter.empty)
        if not _accepts(expected, value):
            raise DataError(
                f"{prefix}.{key}", f"is {value!r} ({type(value).__name__}), expected {_describe(expected)}"
            )


def _accepts(annotation: Any, value: Any) -> bool:
    """Whether a scalar config value fits an annotation; True where the annotation cannot be judged."""
    if annotation is inspect.Parameter.empty or annotation is Any or value is UNRESOLVED:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_accepts(arm, value) for arm in args)
    if origin is typing.Literal:
        return any(value == arm and type(value) is type(arm) for arm in args)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is not None:  # list[...], dict[...], Callable[...]: never a scalar
        return False
    if isinstance(annotation, type):
        path_like = issubclass(annotation, PurePath | os.PathLike) and isinstance(value, str)
        return path_like or isinstance(value, annotation)
    return True


def _describe(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(arm) for arm in args)
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))
