"""Where reconstructions go, and the challenge's submission folders (the leaderboard k-space they come from:
`data.leaderboard`).

Output: `<output_dir>/acc<N>/<same file name>`, the layout `python -m fastmri_pl.evaluate` reads. On request
the challenge year's own submission folders are written too, under `<output_dir>/reconstructions_leaderboard/`
(`challenge.submission_folders`), the folders that year's `leaderboard_eval.py` reads as `-yp`: 2024 ->
`public` (acc5 in the documented data: whichever of the two folders is acc4, acc5 or acc8) and `private` (the
other); 2023, 2025 and 2026 -> `acc4` and `acc8`. Files keep the k-space file's name (`brain_test{n}.h5`,
`knee_test{n}.h5`: the names the organisers' script opens).
"""

import re
from pathlib import Path

from fastmri_pl.challenge.rules import ChallengeRules
from fastmri_pl.data.leaderboard import LEADERBOARD_DIR
from fastmri_pl.errors import DataError
from fastmri_pl.runs.atomic import check_writable_folder

SUBMISSION_DIR = "reconstructions_leaderboard"
_SCORED_NAME = re.compile(r"(brain|knee)_test\d+\.h5")


def submission_folders(rules: ChallengeRules | None, accelerations: list[str]) -> dict[str, str]:
    """{acceleration folder: submission folder name} for a challenge year (empty when none is asked for).

    2024 follows its `leaderboard_eval.py`: exactly two acceleration folders, the public one named acc4, acc5
    or acc8 (`public_accelerations`), the other private.
    """
    if rules is None:
        return {}
    if rules.public_accelerations:
        public = [a for a in accelerations if a in rules.public_accelerations]
        if len(accelerations) != 2 or len(public) != 1:
            raise DataError(
                LEADERBOARD_DIR,
                f"submission=true with challenge={rules.year} needs two acceleration folders, one of "
                f"{list(rules.public_accelerations)} (public) and another (private); found {accelerations}",
            )
        private = next(a for a in accelerations if a != public[0])
        return {public[0]: "public", private: "private"}
    mapping = rules.submission_folders
    missing = sorted(set(mapping) - set(accelerations))
    if missing:
        raise DataError(
            LEADERBOARD_DIR,
            f"submission=true with challenge={rules.year} needs folders {sorted(mapping)} but {missing} are "
            f"absent (found {accelerations})",
        )
    return dict(mapping)


def submission_warnings(rules: ChallengeRules, names: dict[str, list[str]]) -> list[str]:
    """What the year's unchanged `leaderboard_eval.py` (2023-2025) would refuse in these folders: it opens
    exactly `volumes_per_acceleration` files per folder by constructed names (`brain_test{n}.h5`, 2025 also
    `knee_test{n}.h5`). A warning, not an error: other data (synthetic, a subset) is fine for a trial."""
    if rules.clock != "run":
        return []  # 2026: recon_eval.py writes and scores its own folders
    warnings = []
    for group, files in names.items():
        odd = [name for name in files if not _SCORED_NAME.fullmatch(name)]
        if len(files) != rules.volumes_per_acceleration or odd:
            warnings.append(
                f"{group}: {len(files)} files{f' (e.g. {odd[0]})' if odd else ''}; challenge={rules.year}'s "
                f"leaderboard_eval.py opens exactly {rules.volumes_per_acceleration} named "
                f"{' / '.join(f'{a}_test<n>.h5' for a in rules.anatomies)}"
            )
    return warnings


def check_output_dir(output_dir: str | Path, overwrite: bool, resume: bool = False) -> Path:
    """Refuse a non-empty output folder unless overwrite (earlier reconstructions would be replaced) or resume
    (complete ones are kept); create it, refusing with one line a folder that cannot be written."""
    output_dir = Path(output_dir)
    if overwrite and resume:
        raise DataError(
            "resume", "and overwrite are both true: resume keeps complete files, overwrite redoes them"
        )
    if output_dir.exists() and not output_dir.is_dir():
        raise DataError(output_dir, "exists and is not a folder")
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (overwrite or resume):
        raise DataError(
            output_dir,
            "is not empty; pass resume=true to finish an interrupted run there or overwrite=true to replace "
            "its reconstructions",
        )
    check_writable_folder(output_dir)
    return output_dir
