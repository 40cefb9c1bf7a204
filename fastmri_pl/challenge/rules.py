"""One year's SNU FastMRI Challenge rules: which files, which foreground threshold, which score, which clock.

Facts from the organisers' baseline repository (LISTatSNU/FastMRI_challenge, one branch per year):
2023 brain, leaderboard acc4/acc8, no time limit stated; 2024 brain, acc5 (public) / acc9 (private), whole
reconstruction <= 3000 s; 2025 brain and knee files, threshold 5e-5 (brain) / 2e-5 (knee), <= 3600 s;
2026 knee only, SSIM_full and SSIM_bbox plus the model forward time per slice (5 warm-up slices per volume,
a volume over 60 s of forward time is flagged). A file's anatomy is its name's prefix (`brain_`, `knee_`).
"""

from dataclasses import dataclass
from pathlib import Path

from hydra.utils import instantiate
from omegaconf import OmegaConf

from fastmri_pl import CONFIG_DIR
from fastmri_pl.errors import DataError

# the rules `evaluate` and `reconstruct` follow without challenge= (their configs' default)
DEFAULT_YEAR = 2024
SCORES = ("masked_ssim", "full_bbox")
KNOWN_ANATOMIES = ("brain", "knee")
CLOCKS = ("run", "forward")


@dataclass(frozen=True)
class ChallengeRules:
    """What `reconstruct` and `evaluate` follow for `challenge=<year>`.

    score: `masked_ssim` (2023-2025: mean SSIM of recon*m vs target*m) or `full_bbox` (2026: SSIM map averaged
    over the foreground mask's valid interior, plus SSIM inside each lesion box).
    clock: `run` (the whole run's wall clock against time_limit_s) or `forward` (model forward per slice).
    """

    year: int
    thresholds: dict[str, float]  # file-name prefix (anatomy) -> foreground threshold
    submission_folders: dict[str, str]  # leaderboard acceleration folder -> submission folder
    # 2024: the organisers' rule instead of the mapping: of exactly two acceleration folders, the one named
    # here is `public`, the other `private` (the mapping above is what the documented data gives)
    public_accelerations: tuple[str, ...] | None = None
    score: str = "masked_ssim"
    clock: str = "run"
    time_limit_s: float | None = None
    warmup_slices: int = 0
    volume_flag_s: float | None = None
    # the leaderboard's size, for projecting this run's seconds per slice onto it
    volumes_per_acceleration: int = 58
    slices_per_volume: int = 16
    min_box: int = 7  # boxes narrower or lower than the SSIM window are skipped (2026)

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"challenge.score must be one of {SCORES}, got {self.score!r}")
        if self.clock not in CLOCKS:
            raise ValueError(f"challenge.clock must be one of {CLOCKS}, got {self.clock!r}")
        if not self.thresholds:
            raise ValueError("challenge.thresholds needs at least one anatomy: threshold entry")

    @property
    def anatomies(self) -> list[str]:
        return list(self.thresholds)

    @property
    def scores_boxes(self) -> bool:
        """2026 (`full_bbox`): the slice score is SSIM_full and every lesion box is scored too."""
        return self.score == "full_bbox"

    @property
    def leaderboard_slices(self) -> int:
        return self.volumes_per_acceleration * len(self.submission_folders) * self.slices_per_volume

    def anatomy(self, path: str | Path) -> str:
        """The anatomy a file name starts with (`knee_test3.h5` -> knee).

        A name starting with another year's anatomy is refused; a name with no known prefix takes the year's
        only anatomy, and is refused where the year has several (2025: the threshold would be a guess).
        """
        name = Path(path).name
        prefix = next((a for a in KNOWN_ANATOMIES if name.startswith(f"{a}_")), None)
        if prefix in self.thresholds:
            return prefix
        if prefix is None and len(self.thresholds) == 1:
            return self.anatomies[0]
        expected = " or ".join(f"{a}_" for a in self.thresholds)
        raise DataError(path, f"challenge={self.year} scores files named {expected}*.h5 only")

    def threshold(self, path: str | Path) -> float:
        """The foreground threshold of a target file, by its anatomy."""
        return float(self.thresholds[self.anatomy(path)])


def load_rules(year: int | str) -> ChallengeRules:
    """The preset `conf/challenge_years/<year>.yaml` (the config key `challenge=<year>`).

    A plain key rather than a Hydra config group: Hydra reads `challenge=2026` as an integer, and refuses an
    integer as a group option, so the presets are loaded here by year.
    """
    path = Path(CONFIG_DIR) / "challenge_years" / f"{year}.yaml"
    if not path.is_file():
        presets = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise DataError("challenge", f"no rules for year {year!r} (presets: {', '.join(presets)})")
    rules = instantiate(OmegaConf.load(path))
    if str(rules.year) != str(year):
        raise DataError(path, f"states year {rules.year}, its file name {year}")
    return rules
