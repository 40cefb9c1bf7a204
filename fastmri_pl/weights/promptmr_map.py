"""Our PromptMR's state_dict keys -> the reference implementation's (hellopipu/PromptMR models/promptmr.py).

Module names differ (`encoders.0.blocks` is `enc_level1.encoder`, decoder index 0 is the reference's level 3,
`attention.gate.1` is `CA.conv_du.0`, ...), the prompts and data-consistency weights carry a leading singleton
axis there, and the U-Nets see complex channels stacked rather than interleaved (`channels`; the sensitivity
net's single complex image is (re, im) in both). Shared PReLUs appear under every path in both state_dicts, so
they map path by path.
"""

import re

from fastmri_pl.models.prompt_unet import PromptUnet
from fastmri_pl.models.promptmr import PromptMR
from fastmri_pl.weights.channels import stacked_to_interleaved
from fastmri_pl.weights.keymap import (
    KeyMap,
    Source,
    Transform,
    cascade_key_map,
    drop_leading_axis,
    unchanged,
)

REFERENCE_LEVELS = 3

# (our PromptUnet key prefix, the reference's); `{enc}` = encoder index + 1, `{dec}` = 3 - decoder index
_UNET_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), template)
    for pattern, template in (
        (r"encoders\.(\d+)\.blocks\.", "enc_level{enc}.encoder."),
        (r"encoders\.(\d+)\.down\.", "enc_level{enc}.down."),
        (r"decoders\.(\d+)\.prompt\.components$", "prompt_level{dec}.prompt_param"),
        (r"decoders\.(\d+)\.prompt\.mixing\.", "prompt_level{dec}.linear_layer."),
        (r"decoders\.(\d+)\.prompt\.conv\.", "prompt_level{dec}.dec_conv3x3."),
        (r"decoders\.(\d+)\.skip\.", "skip_attn{dec}.skip_attn."),
        (r"decoders\.(\d+)\.refine\.", "dec_level{dec}.ca."),
        (r"decoders\.(\d+)\.", "dec_level{dec}."),
        (r"()(?=feat_extract\.|bottleneck\.|conv_last\.)", ""),
    )
)
_ATTENTION = ((".attention.gate.1.", ".CA.conv_du.0."), (".attention.gate.3.", ".CA.conv_du.2."))


def _unet_key(body: str) -> str | None:
    """A PromptUnet-internal key in the reference's names, None if no rule knows it."""
    for pattern, template in _UNET_RULES:
        match = pattern.match(body)
        if match:
            index = int(match[1] or 0)
            key = template.format(enc=index + 1, dec=REFERENCE_LEVELS - index) + body[match.end() :]
            for ours, theirs in _ATTENTION:
                key = key.replace(ours, theirs)
            return key
    return None


def _transform(body: str) -> Transform:
    """A U-Net's first convolution takes, and its last gives, complex channels; prompts lose an axis."""
    if body == "feat_extract.weight":
        return lambda value: stacked_to_interleaved(value, dim=1)
    if body.startswith("conv_last."):
        return lambda value: stacked_to_interleaved(value, dim=0)
    if body.endswith("prompt.components"):
        return drop_leading_axis
    return unchanged


def check_levels(net: PromptMR) -> None:
    """The reference's PromptUnet has exactly three levels; other depths have no reference layout."""
    for module in net.modules():
        if isinstance(module, PromptUnet) and len(module.encoders) != REFERENCE_LEVELS:
            raise ValueError(
                f"model.net.feature_dim / sens_feature_dim give {len(module.encoders)} U-Net levels; the "
                f"reference PromptMR has {REFERENCE_LEVELS}"
            )


def promptmr_key_map(net: PromptMR) -> KeyMap:
    """Every key of `net.state_dict()` the reference layout holds, with its source key and transform."""
    check_levels(net)
    return cascade_key_map(net.state_dict(), "sens_net.unet.unet.", "refiner.unet.", _unet_source)


def _unet_source(prefix: str, body: str) -> Source | None:
    reference = _unet_key(body)
    return None if reference is None else Source(reference, _transform(body))
