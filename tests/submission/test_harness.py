"""Which challenge year a clone of the organisers' repository is for, and the refusal of another year's."""

from pathlib import Path

import pytest

from fastmri_pl.errors import DataError
from fastmri_pl.submission.harness import check_harness, harness_year
from tests.helpers.stand_in_harness import write_stand_in_harness


@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026])
def test_each_years_branch_is_told_apart(tmp_path: Path, year: int) -> None:
    folder = write_stand_in_harness(tmp_path / "clone", year)
    assert harness_year(folder) == year
    assert check_harness(folder, year) == folder.resolve()


@pytest.mark.parametrize(
    ("year", "asked", "message"),
    [
        (
            2024,
            2026,
            r"lacks recon_eval.py, utils/common/metrics.py: not the 2026 phase-2 branch .*the 2024 harness",
        ),
        (2026, 2025, "is the organisers' 2026 branch, not 2025's"),
        (2023, 2024, "is the organisers' 2023 branch, not 2024's"),
    ],
)
def test_another_years_branch_is_refused(tmp_path: Path, year: int, asked: int, message: str) -> None:
    folder = write_stand_in_harness(tmp_path / "clone", year)
    with pytest.raises(DataError, match=message) as error:
        check_harness(folder, asked)
    assert error.value.path == str(folder.resolve())


@pytest.mark.parametrize("missing", ["recon_eval.py", "utils/common/metrics.py"])
def test_a_2026_clone_without_the_fixed_files_is_refused(tmp_path: Path, missing: str) -> None:
    folder = write_stand_in_harness(tmp_path / "clone", 2026)
    (folder / missing).unlink()
    with pytest.raises(DataError, match=f"lacks {missing}: not the 2026 phase-2 branch"):
        check_harness(folder, 2026)


def test_a_folder_that_is_no_clone_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        check_harness(tmp_path / "absent", 2026)
    with pytest.raises(DataError, match="lacks leaderboard_eval.py: not the organisers' 2024 branch"):
        check_harness(tmp_path, 2024)
