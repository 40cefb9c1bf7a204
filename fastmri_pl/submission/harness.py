"""The user's clone of the organisers' repository (LISTatSNU/FastMRI_challenge, one branch per year): which
challenge year it is, and which of its files a submission rewrites.

2026 phase 2 holds `recon_eval.py` and `utils/common/metrics.py`, which the organisers re-run unchanged, and
imports the team's `utils/learning/test_part.py`. 2023-2025 hold `leaderboard_eval.py` (and no
`recon_eval.py`), which scores `result/<net>/reconstructions_leaderboard/`; their evaluation scripts differ in
what they score: 2025's loops over `knee_test` files, 2024's over `public`/`private` folders, 2023's over
neither. Nothing of theirs is kept in this project; the user's clone supplies it.
"""

from pathlib import Path

from fastmri_pl.errors import DataError

HARNESS_2026 = ("recon_eval.py", "utils/common/metrics.py")
LEADERBOARD_EVAL = "leaderboard_eval.py"
TEST_PART = "utils/learning/test_part.py"
# 2023-2025 leaderboard_eval.py: a text found only in that year's (checked in order)
YEAR_MARKERS = ((2025, "knee_test"), (2024, "private"))
YEAR_WITHOUT_MARKER = 2023
# a virtual environment or byte code in the user's clone is not part of the submission
NOT_COPIED = ("__pycache__", "venv", ".venv", "env")


def harness_year(folder: Path) -> int | None:
    """The challenge year a harness folder is for, None when it is none of the organisers' branches."""
    if (folder / "recon_eval.py").is_file():
        return 2026
    script = folder / LEADERBOARD_EVAL
    if not script.is_file():
        return None
    text = script.read_text(errors="replace")
    return next((year for year, marker in YEAR_MARKERS if marker in text), YEAR_WITHOUT_MARKER)


def check_harness(folder: str | Path, year: int) -> Path:
    """The harness folder for challenge `year`; one DataError naming it and what is wrong otherwise."""
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DataError(folder, "harness: no such folder (clone the organisers' FastMRI_challenge branch)")
    found = harness_year(folder)
    if year == 2026:
        missing = [name for name in HARNESS_2026 if not (folder / name).is_file()]
        if missing:
            seen = f" (it looks like the {found} harness)" if found not in (None, 2026) else ""
            raise DataError(
                folder,
                f"harness lacks {', '.join(missing)}: not the 2026 phase-2 branch "
                f"(2026_baby_varnet_phase2){seen}",
            )
        return folder
    if found is None:
        raise DataError(folder, f"harness lacks {LEADERBOARD_EVAL}: not the organisers' {year} branch")
    if found != year:
        raise DataError(folder, f"harness is the organisers' {found} branch, not {year}'s (challenge={year})")
    return folder
