"""The notebooks run top to bottom on small synthetic data (nbclient, a fresh kernel each) and show what they
claim: k-space with visible structure, sensitivity maps that differ by coil, a model above zero-filled."""

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.slow  # end-to-end runs of the commands

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
TIME_LIMIT_S = 120  # each must finish in well under a minute on a free CPU; margin for shared CI cores


@pytest.fixture(scope="module")
def run_notebook(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], nbformat.NotebookNode]:
    """`run_notebook("01_data")`: the notebook executed once (per test module) in a fresh kernel."""
    done: dict[str, nbformat.NotebookNode] = {}

    def run(stem: str) -> nbformat.NotebookNode:
        if stem not in done:
            folder = tmp_path_factory.mktemp(stem)
            notebook = nbformat.read(next(p for p in NOTEBOOKS if p.stem == stem), as_version=4)
            saved = {
                name: os.environ.get(name)
                for name in ("FASTMRI_PL_NOTEBOOK_DATA", "FASTMRI_PL_NOTEBOOK_CKPT")
            }
            os.environ["FASTMRI_PL_NOTEBOOK_DATA"] = str(folder / "data")
            os.environ.pop("FASTMRI_PL_NOTEBOOK_CKPT", None)
            started = time.perf_counter()
            try:
                client = NotebookClient(
                    notebook,
                    timeout=TIME_LIMIT_S,
                    kernel_name="python3",
                    resources={"metadata": {"path": folder}},
                )
                client.execute()
            finally:
                for name, value in saved.items():
                    if value is None:
                        os.environ.pop(name, None)
                    else:
                        os.environ[name] = value
            assert time.perf_counter() - started < TIME_LIMIT_S
            done[stem] = notebook
        return done[stem]

    return run


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    cells = (cell for cell in notebook.cells if cell.cell_type == "code")
    return "".join(o.get("text", "") for cell in cells for o in cell.outputs if o.output_type == "stream")


def test_the_three_notebooks_exist() -> None:
    assert [p.name for p in NOTEBOOKS] == ["01_data.ipynb", "02_memory.ipynb", "03_results.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_without_error(path: Path, run_notebook) -> None:
    source = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in source.cells if cell.cell_type == "code"), "strip outputs"
    notebook = run_notebook(path.stem)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "every notebook draws a figure"


def test_data_notebook_shows_kspace_structure_and_distinct_coil_maps(run_notebook) -> None:
    text = printed(run_notebook("01_data"))
    decades, grey = re.search(
        r"k-space display: ([\d.]+) decades, median pixel at (\d+)% grey", text
    ).groups()
    assert (
        float(decades) > 3 and 10 < int(grey) < 90
    )  # a log scale: the noise floor is not black, no lone dot
    (correlation,) = re.search(r"\|maps\| inside the head (-?[\d.]+)", text).groups()
    assert float(correlation) < 0.9  # every coil sees its own part of the head, not one identical band


def test_results_notebook_model_beats_zero_filled(run_notebook) -> None:
    text = printed(run_notebook("03_results"))
    model, zero_filled = re.search(r"model ([\d.]+), zero-filled ([\d.]+)", text).groups()
    assert float(model) > float(zero_filled) + 0.02, text[-500:]
