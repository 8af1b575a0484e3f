"""Every notebook runs top to bottom on the shipped sample data, and is stored executed for the docs site.

Runs are tracked in a throw-away MLflow store; trained pipelines land in the git-ignored outputs/ folder,
as when a user runs the notebook. The notebook files on disk are only read: their stored outputs are what the
docs site (mkdocs-jupyter, `execute: false`) publishes.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import REPO

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
# Each notebook sets its epochs where it loads its pipeline (`"training.epochs=8"` or `{"training.epochs": 12}`);
# here every one trains 2, enough for each cell to have a trained model to show, in a fraction of the time.
EPOCHS = re.compile(r"""(["']training\.epochs["']?\s*[=:]\s*)(\d+)""")
TEST_EPOCHS = 2
# Absolute paths of the machine that executed a notebook have no place in its published outputs.
MACHINE_PATHS = ("/work/", "/tmp/", "/root/", "/home/", "/Users/")


def with_test_epochs(notebook) -> None:
    """Rewrite the notebook's one epochs setting to `TEST_EPOCHS`; a notebook without one fails the test."""
    found = 0
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source, count = EPOCHS.subn(lambda m: f"{m.group(1)}{TEST_EPOCHS}", cell.source)
            found += count
    assert found == 1, f"{found} training.epochs settings in the notebook (expected one to shorten)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    notebook = nbformat.read(path, as_version=4)
    with_test_epochs(notebook)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    errors = [
        o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"
    ]
    assert not errors


def output_text(output) -> str:
    """What a reader sees of a stored output, as text: streams, tracebacks and every non-image format."""
    parts = [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
    parts += [
        value if isinstance(value, str) else repr(value)
        for kind, value in output.get("data", {}).items()
        if not kind.startswith("image/")
    ]
    return "\n".join(parts)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebooks_are_stored_executed_with_a_plot(path: Path):
    """The docs site shows each notebook as stored: executed top to bottom, without errors, with a plot, and
    without the paths of the machine that executed it. (Re-execute one from the notebooks folder with
    `jupyter nbconvert --to notebook --execute --inplace NAME.ipynb`.)"""
    notebook = nbformat.read(path, as_version=4)
    cells = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    assert [i for i, cell in cells if cell.execution_count is None] == [], "code cells not executed"
    counts = [cell.execution_count for _, cell in cells]
    assert counts == list(range(1, len(cells) + 1)), f"not one run from the top (execution counts {counts})"
    assert any(cell.outputs for _, cell in cells), "no outputs stored"
    outputs = [(i, output) for i, cell in cells for output in cell.outputs]
    assert [(i, o.get("ename"), o.get("evalue")) for i, o in outputs if o.output_type == "error"] == []
    assert any("image/png" in o.get("data", {}) for _, o in outputs), "no plot (image/png output) stored"
    leaks = [(i, p) for i, o in outputs for p in MACHINE_PATHS if p in output_text(o)]
    assert leaks == [], "absolute paths in stored outputs (cell index, path)"
