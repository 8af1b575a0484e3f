"""Every notebook runs top to bottom on the shipped sample data.

Runs are tracked in a throw-away MLflow store; trained pipelines land in the git-ignored outputs/ folder,
as when a user runs the notebook.
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
