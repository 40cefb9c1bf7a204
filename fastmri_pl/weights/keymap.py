"""A key map from our state_dict to a reference one, and applying it so that every key is accounted for.

A map says, for each of our keys, which reference key holds its value and how to bring that value into our
layout. Applying it refuses (one `DataError` line naming the keys) anything it cannot account for: our keys
the reference lacks, reference keys nothing uses, and values whose shape differs from ours after the
transform (most often a `model=` whose sizes differ from the checkpoint's).
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from fastmri_pl.errors import DataError

Transform = Callable[[torch.Tensor], torch.Tensor]
_LISTED = 6


def unchanged(value: torch.Tensor) -> torch.Tensor:
    return value


def drop_leading_axis(value: torch.Tensor) -> torch.Tensor:
    """The references keep a leading singleton axis on some parameters (PromptMR's prompts, the
    data-consistency weight of both networks); ours have none."""
    return value[0] if value.dim() > 0 and value.shape[0] == 1 else value


@dataclass(frozen=True)
class Source:
    """Where one of our values comes from: a reference key and the transform into our layout."""

    key: str
    transform: Transform = unchanged


KeyMap = dict[str, Source]


def cascade_key_map(
    keys: Iterable[str],
    sens_unet: str,
    cascade_unet: str,
    unet_source: Callable[[str, str], Source | None],
) -> KeyMap:
    """The key map of a cascaded network, laid out alike in both references: our sensitivity U-Net (keys under
    `sens_unet`) is `sens_net.norm_unet.unet.*` there, cascade i's U-Net (`cascades.<i>.<cascade_unet>`)
    `cascades.<i>.model.unet.*`, and its data-consistency weight `cascades.<i>.dc_weight` (a leading singleton
    axis). `unet_source(prefix, body)` maps a key inside one of our U-Nets (`prefix` the U-Net's path, `body`
    the rest) to the reference U-Net's, None where no rule knows it (the key is then reported unmapped)."""
    pattern = re.compile(
        rf"(?:(?P<sens>{re.escape(sens_unet)})|cascades\.(?P<cascade>\d+)\.{re.escape(cascade_unet)})(?P<body>.+)"
        r"|cascades\.(?P<dc>\d+)\.data_consistency\.weight"
    )
    key_map: KeyMap = {}
    for key in keys:
        match = pattern.fullmatch(key)
        if match is None:
            continue
        if match["dc"] is not None:
            key_map[key] = Source(f"cascades.{match['dc']}.dc_weight", drop_leading_axis)
            continue
        source = unet_source(key[: -len(match["body"])], match["body"])
        if source is not None:
            head = "sens_net.norm_unet.unet." if match["sens"] else f"cascades.{match['cascade']}.model.unet."
            key_map[key] = Source(head + source.key, source.transform)
    return key_map


def _listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return f"{shown}, ... ({len(keys)} in all)" if len(keys) > _LISTED else shown


def apply_key_map(
    ours: Mapping[str, torch.Tensor],
    key_map: KeyMap,
    reference: Mapping[str, torch.Tensor],
    where: str | Path,
) -> dict[str, torch.Tensor]:
    """Our state_dict filled from `reference` through `key_map`; a `DataError` at `where` for any leftover."""
    unmapped = [key for key in ours if key not in key_map]
    missing = [source.key for source in key_map.values() if source.key not in reference]
    used = {source.key for source in key_map.values()}
    unused = [key for key in reference if key not in used]
    converted: dict[str, torch.Tensor] = {}
    mismatched = []
    for key, source in key_map.items():
        if source.key not in reference:
            continue
        value = source.transform(reference[source.key])
        if value.shape != ours[key].shape:
            mismatched.append(f"{source.key} {tuple(value.shape)} vs {key} {tuple(ours[key].shape)}")
            continue
        converted[key] = value.to(ours[key].dtype).clone()
    problems = [
        f"{label} {len(keys)}: {_listed(sorted(dict.fromkeys(keys)))}"
        for label, keys in (
            ("ours without a reference key", unmapped),
            ("missing from the checkpoint", missing),
            ("unused checkpoint keys", unused),
            ("shape differs (does model= match the checkpoint's sizes?)", mismatched),
        )
        if keys
    ]
    if problems:
        raise DataError(where, "cannot map onto the configured model: " + "; ".join(problems))
    return converted
