"""Each exercise asks for more than a line the notebook already printed.

02's base64url and HS256 exercises were, call for call, the line section 4
printed a few cells earlier (``base64.urlsafe_b64encode(mac).rstrip(b"=").decode()``,
``hmac.new(...).digest()``). Each solution statement is read as its chain of
calls (``urlsafe_b64encode → rstrip → decode``); an exercise whose every
statement's chain already appears, in order, in a lesson cell above it asks
the learner to copy, not to build.
"""

from __future__ import annotations

import ast
import re

import pytest

from labkit.course.registry import EXERCISES
from notebook_names import code_cells, is_exercise, notebook_path

_SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)


def chain(node: ast.AST) -> tuple[str, ...]:
    """The calls along one expression's spine, innermost first: a.b(x).c().d() -> ('b', 'c', 'd')."""
    names: list[str] = []
    while isinstance(node, ast.Call):
        func = node.func
        names.append(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "?"))
        node = func.value if isinstance(func, ast.Attribute) else None
    return tuple(reversed(names))


def statement_chains(source: str) -> list[tuple[str, ...]]:
    """Each statement's call chain (of a return, an assignment or an expression), where it has two calls or more."""
    chains = []
    for statement in ast.parse(source).body:
        value = getattr(statement, "value", None)
        found = chain(value) if value is not None else ()
        if len(found) >= 2:
            chains.append(found)
    return chains


def solution_source(cell: str) -> str:
    body = _SOLUTION.search(cell).group(1)
    lines = body.splitlines()
    indent = min(len(l) - len(l.lstrip()) for l in lines if l.strip())
    return "\n".join(l[indent:] for l in lines)


def lesson_chains(cells: list[str]) -> set[tuple[str, ...]]:
    found = set()
    for cell in cells:
        try:
            tree = ast.parse(cell)
        except SyntaxError:
            continue
        found |= {chain(node) for node in ast.walk(tree) if isinstance(node, ast.expr)}
    return found


def copied(cells: list[str]) -> list[str]:
    """The exercises (by their cell's first line) whose every multi-call statement a lesson cell above already ran."""
    found, lessons = [], []
    for cell in cells:
        if not is_exercise(cell):
            lessons.append(cell)
            continue
        chains = statement_chains(solution_source(cell))
        seen = lesson_chains(lessons)
        if chains and all(c in seen for c in chains):
            found.append(cell.strip().splitlines()[0])
    return found


def test_the_scan_finds_02s_old_copies():
    lesson = ('mac = hmac.new(network.secret, signing_input, hashlib.sha256).digest()\n'
              'base64.urlsafe_b64encode(mac).rstrip(b"=").decode()')
    b64 = ('def b64url_encode(data):\n    ### BEGIN SOLUTION\n'
           '    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")\n    ### END SOLUTION')
    hs = ('def hs256(secret, text):\n    ### BEGIN SOLUTION\n'
          '    mac = hmac.new(secret, text.encode("ascii"), hashlib.sha256).digest()\n'
          '    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")\n    ### END SOLUTION')
    assert copied([lesson, b64, hs]) == ["def b64url_encode(data):", "def hs256(secret, text):"]
    assert copied([b64]) == []


@pytest.mark.parametrize("stem", sorted({e.notebook for e in EXERCISES}))
def test_no_exercise_repeats_what_a_lesson_cell_ran(stem):
    assert not copied(code_cells(notebook_path(stem)))


_CHECK_CALL = re.compile(r"\bex\.check(?:_against)?\(\s*[\"']([^\"']+)[\"']\s*,\s*(\w+)")


@pytest.mark.parametrize("stem", sorted({e.notebook for e in EXERCISES}))
def test_every_exercise_is_named_as_its_function(stem):
    """One style of exercise name: the function's own ("mine_nonce"), never words ("leading zeros")."""
    checks = [m.groups() for cell in code_cells(notebook_path(stem)) for m in _CHECK_CALL.finditer(cell)]
    assert checks and all(name == function and name.isidentifier() for name, function in checks), checks
