"""Every notebook of the workbook is committed clean and keeps the course's shape.

No outputs or execution counts (diffs show only what a person changed); a
title cell first; exercises last, at least two, each a solution between the
markers followed by a check; ``Exercises`` named for the notebook, so that
its total is the registry's count for it (tests/test_layout.py checks the
registry against the checks).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tools_loader import load_tool

student = load_tool("student")
BEGIN, END, is_clean, strip_solutions = student.BEGIN, student.END, student.is_clean, student.strip_solutions

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
_CHECK = re.compile(r"\bex\.check(?:_against)?\(\s*[\"']([^\"']+)[\"']")
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$", re.M)
_EXERCISES = re.compile(r"\bExercises\(([^)]*)\)")


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


@pytest.fixture(params=NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def notebook(request) -> tuple[Path, dict]:
    path = request.param
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    names = [p.name for p in NOTEBOOKS]
    for expected in ("00-welcome.ipynb", "01-wallets.ipynb", "02-jwt-blocks.ipynb", "03-proof-of-work.ipynb"):
        assert expected in names


def test_name(notebook):
    path, _ = notebook
    assert re.fullmatch(r"\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb", path.name), "name notebooks NN-topic.ipynb"


def test_committed_without_outputs(notebook):
    path, nb = notebook
    assert is_clean(nb), f"run `make clean-notebooks` before committing {path.name}"
    assert "widgets" not in nb.get("metadata", {}), "widget state is an output too: `make clean-notebooks`"


def test_starts_with_a_title_and_a_promise(notebook):
    _, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    lines = source(first).strip().splitlines()
    assert lines[0].startswith("# "), "the first cell is a title"
    assert len(" ".join(lines[1:]).split()) >= 8, "say what the learner will be able to do"


def test_exercises_come_last_with_solutions_and_checks(notebook):
    path, nb = notebook
    cells = nb["cells"]
    headings = [i for i, c in enumerate(cells)
                if c["cell_type"] == "markdown" and re.search(r"^## Exercises", source(c), re.M)]
    assert headings, "the last section is '## Exercises'"
    start = headings[-1]
    assert not any(c["cell_type"] == "markdown" and re.search(r"^## ", source(c), re.M)
                   for c in cells[start + 1:]), "no section after the exercises"
    solutions = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and BEGIN in source(c)]
    assert len(solutions) >= 2, "at least two exercises"
    assert all(i > start for i in solutions), "solutions belong in the exercises section"
    for i, end in zip(solutions, solutions[1:] + [len(cells)]):
        text = source(cells[i])
        assert text.count(BEGIN) == text.count(END)
        assert "NotImplementedError" in strip_solutions(text)
        assert any(c["cell_type"] == "code" and _CHECK.search(source(c)) for c in cells[i + 1:end]), \
            f"cell {i}: a check follows each exercise, before the next one"
    made = [args for c in cells if c["cell_type"] == "code" for args in _EXERCISES.findall(source(c))]
    assert made == [f'"{path.stem}"'], f"make the checker once, as Exercises(\"{path.stem}\"): {made}"


def test_markers_only_in_code_cells(notebook):
    # A marker line in a Markdown cell would be left in the student version (prose may quote it inline).
    _, nb = notebook
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            assert not _MARKER.search(source(cell)), "solution markers belong in code cells"
