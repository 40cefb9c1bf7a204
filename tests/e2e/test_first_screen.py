"""The first screen of `make train` shows ours: no third-party notices a user can do nothing about."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a real `python -m fastmri_pl.train` (a one-epoch run, W&B offline)

# W&B's deprecation of a setting Lightning passes, Lightning's advert, torch's deprecation inside Lightning's
# loops, and the summary's FLOPs that Lightning counts only with an `example_input_array` (0 without)
NOISE = (
    "anonymous setting has no effect",
    "litlogger",
    "isinstance(treespec, LeafSpec)",
    "FLOPs",
)


def test_quickstart_like_run_prints_none_of_the_noise(data_snu_root: Path, tmp_path: Path) -> None:
    """As `make train` runs it (W&B logger offline, rich progress bar and model summary), on the tiny data."""
    command = [
        sys.executable,
        "-m",
        "fastmri_pl.train",
        "experiment=quickstart",
        "model.net.num_cascades=1",
        f"data.root={data_snu_root}",
        "data.synthetic=null",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=2",
        "validate_best=false",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Trainable params" in output and "wandb" in output  # the summary and W&B did run
    assert [line for line in output.splitlines() if any(noise in line for noise in NOISE)] == []
