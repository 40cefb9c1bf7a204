"""The notebooks run top to bottom on small synthetic data (nbclient, a fresh kernel each)."""

import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 120  # each must finish in well under a minute on a free CPU; margin for shared CI cores


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_data.ipynb", "02_memory.ipynb", "03_results.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_error(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTMRI_PL_NOTEBOOK_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("FASTMRI_PL_NOTEBOOK_CKPT", raising=False)
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
        "strip outputs"
    )
    started = time.perf_counter()
    NotebookClient(
        notebook, timeout=TIME_LIMIT_S, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    assert time.perf_counter() - started < TIME_LIMIT_S
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "every notebook draws a figure"
