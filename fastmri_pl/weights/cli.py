"""`python -m fastmri_pl.weights model=promptmr weights.source=promptmr_reference weights.input=IN
weights.output=OUT.ckpt`: a reference checkpoint -> a checkpoint of the configured model.

The configured network (`model=`, sizes included) decides which keys must be found: every one of its weights
comes from exactly one reference tensor through the source's key map, or nothing is written. The result loads
with `reconstruct ckpt_path=OUT.ckpt` and starts training with `train init_from=OUT.ckpt`.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig
from torch import nn

from fastmri_pl.errors import DataError
from fastmri_pl.models.promptmr import PromptMR
from fastmri_pl.models.varnet import VarNet
from fastmri_pl.runtime.command import command
from fastmri_pl.training import build
from fastmri_pl.weights.checkpoint import save_net_weights
from fastmri_pl.weights.keymap import KeyMap, apply_key_map
from fastmri_pl.weights.promptmr_map import promptmr_key_map
from fastmri_pl.weights.source import read_reference
from fastmri_pl.weights.varnet_map import varnet_key_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Importer:
    """What `weights.source=<name>` maps: onto which network, with which key map, from the keys under which
    prefix (the attribute names the reference Lightning modules give the network, then a generic one)."""

    network: type[nn.Module]
    key_map: Callable[..., KeyMap]
    prefixes: tuple[str, ...]


IMPORTERS = {
    "promptmr_reference": Importer(PromptMR, promptmr_key_map, ("promptmr.", "model.")),
    "fastmri_varnet": Importer(VarNet, varnet_key_map, ("varnet.", "model.")),
}


def import_weights(cfg: DictConfig) -> Path:
    """Map `weights.input` onto the configured network and write `weights.output`; returns its path."""
    source, output = str(cfg.weights.source), Path(cfg.weights.output)
    if source not in IMPORTERS:
        raise DataError("weights.source", f"must be one of {tuple(IMPORTERS)}, got {source!r}")
    if output.exists() and not cfg.weights.overwrite:  # before any work
        raise DataError(output, "already exists; pass weights.overwrite=true to replace it")
    importer = IMPORTERS[source]
    net = build.build_net(cfg)
    if not isinstance(net, importer.network):
        raise DataError(
            "model", f"weights.source={source} needs a {importer.network.__name__}, got {type(net).__name__}"
        )
    try:
        key_map = importer.key_map(net)
    except ValueError as error:
        raise DataError("model", str(error)) from error
    reference = read_reference(Path(cfg.weights.input), importer.prefixes)
    state = apply_key_map(net.state_dict(), key_map, reference.tensors, cfg.weights.input)
    net.load_state_dict(state, strict=True)
    origin = {"source": source, "input": str(cfg.weights.input), "network": type(net).__name__}
    save_net_weights(output, state, origin)
    where = f" (prefix {reference.prefix!r})" if reference.prefix else ""
    if reference.ignored:
        where += f"; ignored {len(reference.ignored)} keys outside it: {', '.join(reference.ignored)}"
    log.info(f"{len(state)} tensors of {type(net).__name__} from {cfg.weights.input}{where} -> {output}")
    return output


@command("weights")
def main(cfg: DictConfig) -> None:
    import_weights(cfg)
