"""Where the leaderboard k-space lives below a data root: `<root>/leaderboard/acc<N>/kspace/*.h5` for every
acceleration folder present (2023/2025: acc4, acc8; 2024: acc5, acc9). What `reconstruct` reads and the
memory planner sizes; where the reconstructions go is `reconstruction.folders`."""

from pathlib import Path

from fastmri_pl.data.volumes import acceleration_subfolders
from fastmri_pl.errors import DataError

LEADERBOARD_DIR = "leaderboard"


def acceleration_folders(root: str | Path) -> list[Path]:
    """`<root>/leaderboard/acc<N>` folders, by acceleration; each must hold k-space files."""
    leaderboard = Path(root) / LEADERBOARD_DIR
    if not leaderboard.is_dir():
        raise DataError(leaderboard, "no such folder (check data.root: it holds train/, val/, leaderboard/)")
    folders = acceleration_subfolders(leaderboard)
    if not folders:
        raise DataError(leaderboard, "holds no acc<N> folders (expected acc4/acc8 or acc5/acc9)")
    for folder in folders:
        kspace_dir = folder / "kspace"
        if not kspace_dir.is_dir() or not any(kspace_dir.glob("*.h5")):
            raise DataError(kspace_dir, "holds no k-space .h5 files to reconstruct")
    return folders
