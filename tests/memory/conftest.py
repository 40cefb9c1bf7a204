"""A tiny SNU folder whose volumes mix coil counts and widths, for planning from the files' headers."""

from pathlib import Path

import pytest

from fastmri_pl.data.synthetic import generate, synthetic_config

# coils and widths cycle over the volumes in order; coils x cropped height x width:
# train 2x16x24 (768), 4x16x14 (896), 3x16x20 (960); val 2x16x24, 4x16x14; leaderboard 3x16x20, 2x16x24
# so the largest training sample has neither the most coils nor the widest k-space
DATA_MIXED = {
    "num_train": 3,
    "num_val": 2,
    "num_leaderboard": 1,
    "slices": 2,
    "coils": (2, 4, 3),
    "height": 32,
    "widths": (24, 14, 20),
    "crop": (16, 12),
}


@pytest.fixture(scope="session")
def data_mixed_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only; copy it before changing anything."""
    root = tmp_path_factory.mktemp("data_mixed")
    generate(root, synthetic_config(layout="snu", **DATA_MIXED), progress=False)
    return root
