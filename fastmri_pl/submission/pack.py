"""`python -m fastmri_pl.submission.pack RUN_DIR_OR_CKPT CHECKPOINTS_DIR`: a re-trained checkpoint's weights
into the submission's model file, the last step of the exported train.sh.

The model file `CHECKPOINTS_DIR/best_model.pt` written by `submit` gives the network's config; the weights of
the training run's best checkpoint (`RUN_DIR/checkpoints/epoch*.ckpt`, the one the 2026 recipe keeps by its
leaderboard score) must fit it exactly and have been trained on the same k-space settings. The submitted file
is kept once as `best_model_submitted.pt`, so the organisers' re-training never loses what was handed in.
"""

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

from fastmri_pl.errors import DataError, exit_on_data_error
from fastmri_pl.reconstruction.inference import check_data_settings
from fastmri_pl.reconstruction.writer import copy_atomically
from fastmri_pl.submission.model_file import MODEL_FILE, read_model_file, save_model_file
from fastmri_pl.training import build
from fastmri_pl.weights import load_net_weights

SUBMITTED_COPY = "best_model_submitted.pt"


def best_checkpoint(run_or_checkpoint: Path) -> Path:
    """A checkpoint file as given, or a training run's one best checkpoint (not `last*.ckpt`)."""
    if run_or_checkpoint.is_file():
        return run_or_checkpoint
    folder = run_or_checkpoint / "checkpoints"
    if not folder.is_dir():
        raise DataError(run_or_checkpoint, "is neither a checkpoint file nor a training run folder")
    best = sorted(p for p in folder.glob("*.ckpt") if not p.name.startswith("last"))
    if len(best) != 1:
        found = ", ".join(p.name for p in best) or "none"
        raise DataError(folder, f"holds {len(best)} best checkpoints ({found}); pass the one to ship instead")
    return best[0]


def pack(run_or_checkpoint: Path, checkpoints_dir: Path) -> Path:
    """The best checkpoint's weights into `checkpoints_dir/best_model.pt`; returns the checkpoint used."""
    checkpoint_path = best_checkpoint(run_or_checkpoint)
    model_file = checkpoints_dir / MODEL_FILE
    saved = read_model_file(model_file)
    cfg = OmegaConf.create(saved["config"])
    net = build.build_net(cfg)
    checkpoint = load_net_weights(net, checkpoint_path)
    check_data_settings(checkpoint, checkpoint_path, cfg.data)
    if not (checkpoints_dir / SUBMITTED_COPY).exists():
        copy_atomically(model_file, checkpoints_dir / SUBMITTED_COPY)
    save_model_file(model_file, net, saved["config"], origin=str(checkpoint_path))
    return checkpoint_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fastmri_pl.submission.pack", description=__doc__)
    parser.add_argument("run", type=Path, help="the training run folder (or one checkpoint file)")
    parser.add_argument("checkpoints", type=Path, help="result/<net_name>/checkpoints of the submission")
    args = parser.parse_args(argv)
    with exit_on_data_error():
        used = pack(args.run, args.checkpoints)
    print(f"{args.checkpoints / MODEL_FILE}: weights of {used}", file=sys.stdout)


if __name__ == "__main__":
    main()
