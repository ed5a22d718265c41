"""No solution line in the student build: not in any cell, not in the metadata, not in a hint.

For every solution block of the instructor's notebooks (the lines between
``### BEGIN SOLUTION`` and ``### END SOLUTION``), each line that carries
code (stripped, its trailing comment dropped, at least ``MIN_CODE``
characters, and not a line every program has such as ``return None``) must
appear nowhere in the student version of the same notebook: as a line of
another cell (a demo a few cells up that spells the answer), of the check
cell, or of the metadata. Nor may it appear in any tier of the notebook's hints
(labkit.course.hints), which the learner opens one by one.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from labkit.course import registry
from tools_loader import load_tool

student = load_tool("student")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
MIN_CODE = 12  # characters: shorter lines (`i += 1`, `return x`) say nothing about the answer
TRIVIAL = {"return None", "return True", "return False", "return result", "raise", "continue", "break", "pass"}
_MARKER = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")
_COMMENT = re.compile(r"\s+#(?!\")[^\"']*$")  # a trailing comment with no quote in it


def source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def code_of(line: str) -> str:
    return _COMMENT.sub("", line.strip()).strip()


def solution_lines(nb: dict) -> list[str]:
    """The lines of code between the markers, stripped, that would give an answer away."""
    found = []
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        inside = False
        for line in source(cell).split("\n"):
            if _MARKER.match(line):
                inside = not inside
            elif inside:
                code = code_of(line)
                if len(code) >= MIN_CODE and code not in TRIVIAL and not code.startswith("#"):
                    found.append(code)
    return found


def strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def everything(nb: dict) -> set[str]:
    """Every line a learner can read in a notebook: of its sources, outputs, cell and notebook metadata."""
    text = "\n".join([*strings(nb["cells"]), *strings(nb.get("metadata", {}))])
    return {code_of(line) for line in text.split("\n")}


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("student")
    student.make_student(ROOT / "notebooks", target)
    return target


def test_the_checker_finds_a_leak():
    nb = {"cells": [
        {"cell_type": "code", "source": "def f(x):\n    ### BEGIN SOLUTION\n    total = x * 2  # twice\n"
                                        "    return None\n    ### END SOLUTION\n", "metadata": {}},
        {"cell_type": "code", "source": "ex.check('f', f, [(1, 2)])", "metadata": {"note": "total = x * 2"}}]}
    assert solution_lines(nb) == ["total = x * 2"]
    built = json.loads(json.dumps(nb))
    built["cells"][0]["source"] = student.strip_solutions(source(nb["cells"][0]))
    assert "total = x * 2" in everything(built) and "total = x * 2" not in source(built["cells"][0])
    assert "total = x * 2" not in everything({"cells": [{"source": "subtotal = x * 2", "metadata": {}}]})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_solution_line_in_the_student_notebook(student_dir, path):
    lines = solution_lines(json.loads(path.read_text(encoding="utf-8")))
    built = everything(json.loads((student_dir / path.name).read_text(encoding="utf-8")))
    leaks = [line for line in lines if line in built]
    assert leaks == [], f"{path.name}: the student version shows these solution lines: {leaks}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_hint_tier_is_a_solution_line(path):
    lines = solution_lines(json.loads(path.read_text(encoding="utf-8")))
    tiers = [tier for exercise in registry.in_notebook(path.stem) for tier in exercise.hints]
    leaks = [(line, tier) for line in lines for tier in tiers if line in tier]
    assert leaks == [], f"{path.name}: a hint spells a solution line: {leaks}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_hints_come_in_tiers_for_every_checked_exercise(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    checked = {m for c in nb["cells"] if c["cell_type"] == "code"
               for m in re.findall(r"\bex\.check(?:_against)?\(\s*[\"']([^\"']+)[\"']", source(c))}
    known = {exercise.name: exercise.hints for exercise in registry.in_notebook(path.stem)}
    assert checked and checked <= set(known), f"{path.name}: no hints for {sorted(checked - set(known))}"
    assert all(len(known[name]) == 3 for name in checked)
    assert not any(re.search(r"\bhints?=", source(c)) for c in nb["cells"]), "hints live in labkit.course.hints"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] <= "08"], ids=lambda p: p.name)
def test_written_out_cases_are_folded_in_the_student_build(student_dir, path):
    """A check() cell spells its expected values, so its source starts folded (JupyterLab shows '...')."""
    nb = json.loads((student_dir / path.name).read_text(encoding="utf-8"))
    literal = [c for c in nb["cells"] if c["cell_type"] == "code" and re.search(r"\bex\.check\(", source(c))]
    assert literal, "each notebook has exercises checked on written-out cases"
    unfolded = [source(c)[:60] for c in literal if not c["metadata"].get("jupyter", {}).get("source_hidden")]
    assert unfolded == []
