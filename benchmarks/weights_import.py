"""Print docs/weights.md's weight-import table: our PromptMR vs a re-creation of the reference, same k-space.

    .venv/bin/python benchmarks/weights_import.py

The re-creation (`tests/helpers/reference_layouts.py`) has the reference's module names and stacked complex
channels. Its weights are loaded into ours twice: key by key under the mapped names (no channel permutation)
and through the importer's key map (`fastmri_pl.weights`); each row gives the relative L2 of our output to the
reference's.
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout: its tests/ is a package
from fastmri_pl.models.promptmr import PromptMR  # noqa: E402
from fastmri_pl.weights.keymap import apply_key_map  # noqa: E402
from fastmri_pl.weights.promptmr_map import promptmr_key_map  # noqa: E402
from tests.helpers.reference_layouts import RefPromptMR, kspace_batch, perturbed, relative_error  # noqa: E402

PAPER = {
    "n_feat0": 48,
    "feature_dim": (72, 96, 120),
    "prompt_dim": (24, 48, 72),
    "sens_n_feat0": 24,
    "sens_feature_dim": (36, 48, 60),
    "sens_prompt_dim": (12, 24, 36),
    "len_prompt": (5, 5, 5),
    "prompt_size": (64, 32, 16),
    "n_enc_cab": (2, 3, 3),
    "n_dec_cab": (2, 2, 3),
    "n_skip_cab": (1, 1, 1),
    "n_bottleneck_cab": 3,
    "no_use_ca": False,
}
SMALL = {
    **PAPER,
    "n_feat0": 8,
    "feature_dim": (12, 16, 20),
    "prompt_dim": (4, 8, 12),
    "sens_n_feat0": 4,
    "sens_feature_dim": (6, 8, 10),
    "sens_prompt_dim": (2, 4, 6),
    "len_prompt": (3, 3, 3),
    "prompt_size": (16, 8, 4),
    "n_enc_cab": (1, 1, 1),
    "n_dec_cab": (1, 1, 1),
    "n_bottleneck_cab": 1,
}
# (label, cascades, adjacent slices, sizes, perturb the reference's initial weights)
CASES = (
    ("promptmr_small sizes, perturbed weights", 2, 3, SMALL, True),
    ("paper configuration, initial weights", 12, 5, PAPER, False),
)


def compare(cascades: int, adj_slices: int, sizes: dict, perturb: bool) -> tuple[int, float, float]:
    """(parameters, relative L2 loaded key by key, relative L2 imported)."""
    torch.manual_seed(0)
    reference = RefPromptMR(cascades, adj_slices, **sizes)
    reference = perturbed(reference, seed=1) if perturb else reference.eval()
    net = PromptMR(num_cascades=cascades, num_adj_slices=adj_slices, **sizes).eval()
    batch = kspace_batch(adj_slices, coils=2, height=32, width=24)
    key_map, ours, theirs = promptmr_key_map(net), net.state_dict(), reference.state_dict()
    with torch.no_grad():
        expected = reference(*batch)
        net.load_state_dict(
            {key: theirs[source.key].reshape(ours[key].shape) for key, source in key_map.items()}
        )
        plain = relative_error(net(*batch), expected)
        net.load_state_dict(apply_key_map(ours, key_map, theirs, "reference"))
        imported = relative_error(net(*batch), expected)
    return sum(p.numel() for p in net.parameters()), plain, imported


def main() -> None:
    print("| PromptMR | parameters | loaded key by key (no permutation) | imported |")
    print("|---|---|---|---|")
    for label, cascades, adj_slices, sizes, perturb in CASES:
        count, plain, imported = compare(cascades, adj_slices, sizes, perturb)
        print(f"| {label} | {count:,} | {plain:.3f} relative L2 | {imported:.1e} |")


if __name__ == "__main__":
    main()
