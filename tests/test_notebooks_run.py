"""Every notebook of the workbook runs top to bottom without an error (what nbval checked, from the shared run).

Each notebook is executed once per session (tests/notebook_runs.py) and every
check that needs its outputs reads that run: this file, the display scan of
test_clean_page.py and the student build's checks of test_student.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from notebook_runs import error_outputs

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", [p.stem for p in NOTEBOOKS])
def test_every_cell_runs_without_an_error(executed_notebook, name):
    nb = executed_notebook(name)
    errors = error_outputs(nb)
    assert not errors, "\n\n".join(f"{name} cell {i}: {ename}: {evalue}\n{tail}" for i, ename, evalue, tail in errors)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code and all(cell.get("execution_count") for cell in code if cell.source.strip()), "a cell did not run"


def test_the_workbook_is_every_numbered_notebook():
    """nbval ran every notebook in notebooks/: so does this file, and there are only numbered ones."""
    assert NOTEBOOKS and sorted(NOTEBOOKS[0].parent.glob("*.ipynb")) == NOTEBOOKS
