"""Our E2E-VarNet's state_dict keys -> the `fastmri` package's (facebookresearch/fastMRI, `fastmri/models`).

Same layers, other names: a U-Net's conv blocks are `layers` Sequentials with dropout after each LeakyReLU
(our conv index 3 is their 4), the bottleneck is `conv`, the up-sampling transposed convolutions are
`up_transpose_conv`, and the last up block holds the 1x1 output convolution (`up_conv.<last>.1`). The
data-consistency weight has a leading singleton axis there. Each U-Net sees one complex image: (re, im) in
both, nothing to permute.
"""

import re

from fastmri_pl.models.unet import ComplexNormUnet, Unet
from fastmri_pl.models.varnet import VarNet
from fastmri_pl.weights.keymap import KeyMap, Source, cascade_key_map

# fastMRI's NormUnet pads every input to a multiple of 16 whatever its depth; ours pads to 2**pools
REFERENCE_PAD_MULTIPLE = 16
_CONV_INDEX = {"0": "0", "3": "4"}
_BLOCK = re.compile(r"(down|up)\.(\d+)\.(\d)\.(.+)")


def _unet_key(body: str, pools: int) -> str | None:
    """A U-Net-internal key in fastMRI's names, None if no rule knows it."""
    block = _BLOCK.fullmatch(body)
    if block and block[3] in _CONV_INDEX:
        kind, index, layer, rest = block.groups()
        conv = f"layers.{_CONV_INDEX[layer]}.{rest}"
        if kind == "down":
            return f"down_sample_layers.{index}.{conv}"
        last = int(index) == pools - 1
        return f"up_conv.{index}.{'0.' if last else ''}{conv}"
    bottleneck = re.fullmatch(r"bottleneck\.(\d)\.(.+)", body)
    if bottleneck and bottleneck[1] in _CONV_INDEX:
        return f"conv.layers.{_CONV_INDEX[bottleneck[1]]}.{bottleneck[2]}"
    up = re.fullmatch(r"up_samplers\.(\d+)\.0\.(.+)", body)
    if up:
        return f"up_transpose_conv.{up[1]}.layers.0.{up[2]}"
    head = re.fullmatch(r"head\.(.+)", body)
    if head:
        return f"up_conv.{pools - 1}.1.{head[1]}"
    return None


def check_padding(net: VarNet) -> None:
    """Equal outputs need fastMRI's padding: only 4-pool U-Nets pad to its multiple of 16."""
    for module in net.modules():
        if isinstance(module, ComplexNormUnet) and module.multiple != REFERENCE_PAD_MULTIPLE:
            raise ValueError(
                f"model.net.pools / sens_pools give a {module.unet.num_pools}-pool U-Net padded to multiples "
                f"of {module.multiple}; fastMRI's VarNet pads to {REFERENCE_PAD_MULTIPLE}, so only pools=4 "
                "and sens_pools=4 reproduce it"
            )


def varnet_key_map(net: VarNet) -> KeyMap:
    """Every key of `net.state_dict()` the fastMRI layout holds, with its source key (no transform)."""
    check_padding(net)
    pools = {f"{name}.": m.num_pools for name, m in net.named_modules() if isinstance(m, Unet)}

    def unet_source(prefix: str, body: str) -> Source | None:
        reference = _unet_key(body, pools[prefix])
        return None if reference is None else Source(reference)

    return cascade_key_map(net.state_dict(), "sens_net.norm_unet.unet.", "regulariser.unet.", unet_source)
