"""Every name a hint mentions exists where the learner reads it, and every check cell stands on its own.

A hint that names `meets_difficulty` in a notebook that never imports it
sends the learner to a NameError. So: each name a hint puts in backticks or
calls, and each public labkit function or class it names in words, is bound
by its notebook's code (defined, imported or assigned) or is a Python builtin.

A check cell that uses a name only the exercise cell above binds breaks when
the learner rewrites that cell: the check must import what it uses itself.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from labkit.course.registry import EXERCISES
from notebook_names import bound, code_cells, is_exercise, notebook_names, notebook_path, used

LABKIT = Path(__file__).resolve().parent.parent / "labkit"
_BACKTICKS = re.compile(r"`([^`]+)`")
_CALL = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(?:\.\w+)*\(")
_HEAD = re.compile(r"^([A-Za-z_]\w*)(?:\.\w+)*$")
_WORD = re.compile(r"(?<![\w.'\"])([A-Za-z_]\w*)(?![\w'\"])")


@functools.lru_cache(maxsize=None)
def labkit_public_names() -> set[str]:
    """Public top-level functions and classes of labkit's modules whose names read as code (a_b or CamelCase)."""
    found = set()
    for path in LABKIT.rglob("*.py"):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_"):
                if "_" in node.name or node.name[0].isupper():
                    found.add(node.name)
    return found


def mentioned(hint: str, public: set[str]) -> set[str]:
    """The names a hint asks the learner to use: in backticks, as calls, or labkit's own names in words."""
    names = set()
    for quoted in _BACKTICKS.findall(hint):
        names |= set(_CALL.findall(quoted))
        head = _HEAD.match(quoted.strip())
        if head:
            names.add(head.group(1))
    names |= set(_CALL.findall(_BACKTICKS.sub("", hint)))
    names |= {word for word in _WORD.findall(hint) if word in public}
    return names


def test_the_scan_finds_what_the_old_mine_nonce_hint_named():
    old = "return the nonce as soon as that hex starts with difficulty zeros (meets_difficulty says so)."
    assert "meets_difficulty" in mentioned(old, labkit_public_names())
    assert mentioned("`fastmine.mine(template, s, d)` then `Block.create(token, w)`", set()) == {"fastmine", "Block"}


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.hints], ids=lambda e: e.name)
def test_every_name_a_hint_mentions_is_bound_by_its_notebook(exercise):
    public = labkit_public_names()
    available = notebook_names(notebook_path(exercise.notebook))
    missing = {(tier, name) for tier, hint in enumerate(exercise.hints, 1)
               for name in mentioned(hint, public) if name not in available}
    assert not missing, (f"{exercise.name}'s hints name what {exercise.notebook} neither defines nor imports: "
                         f"{sorted(missing)}")


NOTEBOOKS = sorted({e.notebook for e in EXERCISES})


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_check_cells_use_nothing_only_an_exercise_cell_binds(stem):
    cells = code_cells(notebook_path(stem))
    lesson: set[str] = set()  # bound by cells that are not exercises: a learner's rewrite keeps them
    exercise_only: set[str] = set()
    problems = []
    for cell in cells:
        if is_exercise(cell):
            exercise_only |= bound(cell) - lesson
            continue
        if re.search(r"\bex\.check(_against)?\(", cell):
            checked = set(re.findall(r"\bex\.check(?:_against)?\(\s*[\"'][^\"']+[\"']\s*,\s*(\w+)", cell))
            borrowed = (used(cell) - bound(cell) - checked) & (exercise_only - lesson)
            if borrowed:
                problems.append((cell.splitlines()[0], sorted(borrowed)))
        lesson |= bound(cell)
        exercise_only -= lesson
    assert not problems, f"check cells that lean on an exercise cell's names (import them in the check): {problems}"
