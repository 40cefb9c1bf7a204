"""`python -m fastmri_pl.submit challenge=2026 model=M ckpt_path=CKPT harness=CLONE output_dir=OUT net_name=N`

Writes the submission folder the organisers run: their repository (the user's clone, `harness`) with this
project's model in it, and the model file (`fastmri_pl.submission.export`). 2023-2025 also reconstruct the
leaderboard (`data.root=ROOT`) into the folders that year's `leaderboard_eval.py` reads. Bad input (a harness
of another year, a checkpoint of another model, an existing OUT without overwrite=true, a net name with a
path separator) stops the command with one line on stderr, exit code 2.
"""

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from fastmri_pl.runtime.command import command
from fastmri_pl.submission.export import export_submission


@command("submit")
def main(cfg: DictConfig) -> None:
    hydra_cfg = HydraConfig.get()
    export_submission(cfg, str(hydra_cfg.runtime.choices["model"]), list(hydra_cfg.overrides.task))


if __name__ == "__main__":
    main()
