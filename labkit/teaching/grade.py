"""Instructor grading: each student's exercises, judged by the grader, from answers their code gives in a sandbox.

``python -m labkit grade SUBMISSIONS_DIR --out grades.csv``. SUBMISSIONS_DIR
holds one folder per student with their notebooks, named as in the student
build (``NN-topic.ipynb``). The grader writes three things: ``grades.csv``
(one row per student and exercise: status and detail, naming the cell that
failed), ``gradebook.csv`` beside it (one row per student: points per
exercise, total, maximum; points from :data:`POINTS`) and ``feedback/`` (one
short text file per student: each exercise, its status, its first failing
case).

The process that decides a grade never runs a learner's code:

1. **The grader's own answers.** For each notebook it reads the instructor's
   copy and runs, in its own process, only the cells the exercises need: the
   check cells, the solution cells and, found by the names they use, the
   setup cells they depend on (:func:`plan`); a demonstration that carries no
   grade (05's swarm, 09's live room) is never run. Its ``ex`` records every
   case and computes the expected answer: the value given for ``check``, the
   reference's answer for ``check_against`` (:func:`record`).
2. **The learner's answers.** The same setup cells, the learner's definition
   cells (the cells that define the exercise's function, found in the
   learner's notebook by the function's name) and the instructor's check
   cells run in a sandbox (:mod:`labkit.teaching.sandbox`): a process of its
   own, in new namespaces, seeing neither the submissions nor the grader's
   files, with a time-out and memory limit. It sends back what the learner's
   function returned for each case, as plain data.
3. **The verdict** (:func:`judge`) compares the two, here. Whatever a
   submission did to its check cells (edited, deleted, a checker patched, a
   results line forged) changes nothing: those cells are never run. A
   function that calls the labkit reference it is compared against is
   reported as using labkit's answer.

A notebook is read with a size limit, never through a symbolic link, and
only if it is a regular file; a FIFO, a folder, a link or malformed JSON in
a student's folder is an ``error`` row for that student, and the class's
grading goes on.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import csv
import io
import json
import math
import os
import re
import stat
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import GradingError

__all__ = ["NOTEBOOK_GLOB", "STATUSES", "COLUMNS", "POINTS", "MAX_NOTEBOOK", "Grade", "Plan", "Expected",
           "exercise_names", "submissions", "read_notebook", "plan", "record", "judge", "grade_notebook", "grade",
           "granted_cpus", "grades_csv", "gradebook_csv", "feedback_text", "write_grades", "write_gradebook",
           "instructor_notebooks"]

NOTEBOOK_GLOB = "[0-9][0-9]-*.ipynb"  # the student build's file names
_NOTEBOOK_NAME = re.compile(r"[0-9][0-9]-.*\.ipynb")
STATUSES = ("passed", "failed", "not attempted", "error")
COLUMNS = ("student", "notebook", "exercise", "status", "detail")
MAX_NOTEBOOK = 20 << 20  # bytes: a notebook with its outputs and images; more is refused unread
_CHECKS = ("check", "check_against")
_CHECK_TEXT = re.compile(r"\.check(?:_against)?\(\s*(['\"])(.+?)\1")
_SOLUTION = "### BEGIN SOLUTION"

# Points per exercise. The one table of them until the exercise registry (labkit.course.registry) holds them;
# an exercise not listed is worth one point.
POINTS: dict[str, int] = {
    "sha256_hex": 1, "canonical_json": 1, "hash_chain": 2,
    "modular_inverse": 2, "textbook verify": 1, "break a tiny key": 2, "address": 1,
    "base64url": 1, "HS256": 1, "make a block": 2, "verify_hs256": 2,
    "leading zeros": 1, "chance within": 1, "difficulty for": 1, "mine_nonce": 2,
    "is_valid_chain": 2, "broken_links": 2, "rewrite_attempts": 1, "check_block": 3,
    "bencode": 2, "piece_ok": 1, "one_server_seconds": 1,
    "student_contract": 1, "transfer_nft": 3, "failing_action": 2,
    "verify_and_run": 2, "dissenters": 1, "fork_choice": 3,
    "attacker_success": 2, "heaviest_branch": 1,
    "fork_rate": 2, "propagation_seconds": 3,
    "merkle_root": 2, "root_from_proof": 2, "select_transactions": 2, "spend": 2,
    "first_broken": 1, "disagreements": 1,
}


@dataclass(frozen=True)
class Grade:
    """One row of the grades: a student's result on one exercise."""

    student: str
    notebook: str  # the file name, e.g. "01-wallets.ipynb"
    exercise: str
    status: str  # one of STATUSES
    detail: str = ""  # the failing case, the error and its cell, or why nothing was graded


# --- reading a notebook --------------------------------------------------------------------------


def _without_magic(line: str) -> str:
    """``%time ex.check(...)`` -> ``ex.check(...)``; a cell magic or a shell line -> nothing."""
    text = line.lstrip()
    if text.startswith(("%%", "!")):
        return ""
    if text.startswith("%"):
        return text.partition(" ")[2]
    return line


def _python(source: str) -> str:
    return "\n".join(_without_magic(line) for line in source.splitlines())


def _names_in(source: str) -> list[str]:
    """The exercise names of the check calls in one cell's source, in order."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:  # a learner's half-typed cell: read the calls as text instead
        return [match.group(2) for match in _CHECK_TEXT.finditer(source)]
    calls = [node for node in ast.walk(tree) if _is_check(node)]
    return [call.args[0].value for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset))]


def _is_check(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CHECKS
            and bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))


@dataclass(frozen=True)
class Cell:
    """A code cell as the grader reads it: its index in the notebook and its source."""

    index: int
    source: str


def read_notebook(path: str | os.PathLike) -> list[Cell]:
    """The code cells of a notebook file; GradingError says why a path is not one.

    Never follows a symbolic link, never opens a FIFO or device for more than
    a look, reads at most :data:`MAX_NOTEBOOK` bytes, and checks the JSON's
    shape (a cell whose source is a number is a malformed notebook).
    """
    from ..files import FileRefused, read_regular

    path = Path(path)
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise GradingError(str(path), f"cannot be read: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode):
        raise GradingError(str(path), "is a symbolic link; a submission's notebook must be a file of its own "
                                      "(links are never followed)")
    try:
        data = read_regular(path, limit=MAX_NOTEBOOK)
    except FileRefused as exc:
        raise GradingError(str(path), exc.reason) from None
    try:
        nb = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise GradingError(str(path), f"is not a notebook (not JSON: {exc})"[:300]) from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise GradingError(str(path), "is a malformed notebook: it has no list of cells")
    found = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise GradingError(str(path), f"is a malformed notebook: cell {index} is not a cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(part, str) for part in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise GradingError(str(path), f"is a malformed notebook: cell {index}'s source is "
                                          f"{type(source).__name__}, not text")
        if cell["cell_type"] == "code":
            found.append(Cell(index, source))
    return found


def exercise_names(path: str | os.PathLike) -> list[str]:
    """The exercises a notebook checks, in the order its cells check them."""
    found: dict[str, None] = {}
    for cell in read_notebook(path):
        found.update(dict.fromkeys(_names_in(cell.source)))
    return list(found)


def instructor_notebooks() -> Path | None:
    """The instructor's notebooks/ beside labkit in a checkout, or None (labkit installed from a wheel)."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return folder if folder.is_dir() else None


# --- the submissions ---------------------------------------------------------------------------


def submissions(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Each student's folder name and the paths named like notebooks in it, in course order.

    A path named like a notebook is listed whatever it is (a FIFO, a folder, a
    link): grading reports it for that student. A student's folder that is a
    symbolic link is listed with no notebooks, and reported too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(str(folder), "no such folder of submissions" if not folder.exists()
                           else "is not a folder (give the folder holding one folder per student)")
    found = {}
    for student in sorted(folder.iterdir()):
        if student.name.startswith(".") or not student.is_dir():
            continue
        found[student.name] = [] if student.is_symlink() else sorted(
            p for p in student.iterdir() if _NOTEBOOK_NAME.fullmatch(p.name))
    if not found:
        raise GradingError(str(folder), "holds no student folders (one folder per student, with their notebooks)")
    if not any(found.values()):
        raise GradingError(str(folder), f"no notebooks named like {NOTEBOOK_GLOB} in any of its "
                           f"{len(found)} student folder(s)")
    return found


# --- which cells the exercises need ------------------------------------------------------------------


def _bound(tree: ast.AST) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs, loop targets)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
    return names


def _loads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _used(tree: ast.AST) -> set[str]:
    """Global names a statement reads (``x += 1`` reads x; a function's own parameters and locals are not)."""
    functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))]
    inside = {id(n) for f in functions for n in ast.walk(f)}
    names = {n.id for n in ast.walk(tree) if id(n) not in inside and isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Load)}
    names |= {n.target.id for n in ast.walk(tree) if isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name)}
    for function in functions:
        local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        local |= {n.id for n in ast.walk(function) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        names |= _loads(function) - local
    return names


def _defined_functions(source: str) -> set[str]:
    """The functions a cell defines at its top level; read as text when the cell does not parse."""
    try:
        tree = ast.parse(_python(source))
    except SyntaxError:
        return set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, re.MULTILINE))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@dataclass(frozen=True)
class Plan:
    """What the grader runs of an instructor's notebook, in order: (role, cell) with role setup/solution/check.

    A setup "cell" holds only the statements of the instructor's cell that the
    exercises need: a statement binding a name they use (the last one before
    the use), and the later statements that may change it in place (a
    method call on it, an item or attribute set); a demonstration binding nothing they need is left out.
    """

    steps: tuple  # ((role, Cell), ...)
    exercises: tuple  # the exercise names, in check order
    solutions: dict  # a solution cell's index -> the functions it defines


def _changed(node: ast.AST) -> set[str]:
    """Names a statement may change in place: ``x.method(...)``, ``x[k] = ...``, ``x.a = ...``, ``x += ...``."""
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name):
            names.add(n.func.value.id)
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AugAssign) else []
        for target in targets:
            if isinstance(target, (ast.Subscript, ast.Attribute)) and isinstance(target.value, ast.Name):
                names.add(target.value.id)
    return names


def plan(cells: list[Cell]) -> Plan:
    """The check cells, the solution cells, and the setup statements they need (by the names they use)."""
    role, statements = {}, []  # statements: (cell index, position, node) of the setup cells
    for cell in cells:
        try:
            tree = ast.parse(_python(cell.source))
        except SyntaxError as exc:
            raise GradingError(f"cell {cell.index}", f"the instructor's cell does not parse: {exc}") from None
        if _SOLUTION in cell.source:
            role[cell.index] = ("solution", tree)
        elif _names_in(cell.source):
            role[cell.index] = ("check", tree)
        else:
            statements += [(cell.index, n, node) for n, node in enumerate(tree.body)]
    needed: set[tuple[int, int]] = set()
    wanted = [((index, -1), _used(tree)) for index, (_, tree) in role.items()]
    while wanted:
        (at, position), names = wanted.pop()
        before = [s for s in statements if (s[0], s[1]) < (at, position)]
        for name in names:
            binders = [s for s in before if name in _bound(s[2])]
            if not binders:
                continue
            first = (binders[-1][0], binders[-1][1])
            imported = isinstance(binders[-1][2], (ast.Import, ast.ImportFrom))  # a module's calls change nothing
            changers = [] if imported else [s for s in before if (s[0], s[1]) > first and not isinstance(
                s[2], ast.Assert) and (
                name in _changed(s[2]) or (isinstance(s[2], ast.Expr) and isinstance(s[2].value, ast.Call)
                                           and name in _used(s[2])))]
            for cell_index, n, node in [binders[-1], *changers]:
                if (cell_index, n) not in needed:
                    needed.add((cell_index, n))
                    wanted.append(((cell_index, n), _used(node)))
    steps = []
    for cell in cells:
        if cell.index in role:
            steps.append((role[cell.index][0], cell))
            continue
        kept = [node for index, n, node in statements if index == cell.index and (index, n) in needed]
        if kept:
            steps.append(("setup", Cell(cell.index, ast.unparse(ast.Module(body=kept, type_ignores=[])))))
    steps = tuple(steps)
    exercises = tuple(dict.fromkeys(name for r, cell in steps if r == "check" for name in _names_in(cell.source)))
    solutions = {cell.index: _defined_functions(cell.source) for r, cell in steps if r == "solution"}
    return Plan(steps, exercises, solutions)


# --- the grader's own answers -----------------------------------------------------------------------


@dataclass
class Expected:
    """One exercise as the grader knows it: each case shown in words and its expected outcome."""

    exercise: str
    kind: str  # "check" or "check_against"
    function: str  # the name the check passes, e.g. "sha256_hex"
    calls: list = field(default_factory=list)  # how each case is shown, e.g. "sha256_hex('abc')"
    outcomes: list = field(default_factory=list)  # ("value", v) or ("raises", exception class)
    compare: Callable | None = None
    references: list = field(default_factory=list)  # [module, name] of the labkit functions compared against


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call_text(name: str, case: Any) -> str:
    label = getattr(case, "label", None)
    if label is not None:
        return f"{name}: {label}"
    args = case if isinstance(case, tuple) else (case,)
    return f"{name}({', '.join(_short(a, 60) for a in args)})"


def _references(reference: Callable) -> list:
    """The labkit functions a reference is: itself, or those a notebook's small wrapper calls."""
    import dis
    import types

    def labkit_name(value: Any) -> list | None:
        module = getattr(value, "__module__", "") or ""
        name = getattr(value, "__name__", "")
        return [module, name] if module.startswith("labkit") and callable(value) and name else None

    own = labkit_name(reference)
    if own is not None:
        return [own]
    code = getattr(reference, "__code__", None)
    scope = getattr(reference, "__globals__", {})
    if not isinstance(code, types.CodeType):
        return []
    found, previous = [], None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "LOAD_GLOBAL":
            previous = scope.get(instruction.argval)
            named = labkit_name(previous)
            if named:
                found.append(named)
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and previous is not None:
            named = labkit_name(getattr(previous, instruction.argval, None))
            if named:
                found.append(named)
            previous = None
    return found


class _Recorder:
    """The grader's ``ex`` while it runs the instructor's cells: records cases and computes the answers."""

    def __init__(self, notebook: str = "", total: int = 0, *, into: dict | None = None):
        self.into = into if into is not None else {}

    def check(self, exercise, function, cases, *, compare=None, **_options) -> None:
        name = getattr(function, "__name__", "function")
        entry = Expected(exercise, "check", name, compare=compare)
        for args, expected in cases:
            entry.calls.append(_call_text(name, args))
            entry.outcomes.append(("value", expected))
        self.into[exercise] = entry

    def check_against(self, exercise, function, reference, cases, *, compare=None, call=None, **_options) -> None:
        name = getattr(function, "__name__", "function")
        entry = Expected(exercise, "check_against", name, compare=compare, references=_references(reference))
        for case in cases:
            label = getattr(case, "label", None)
            args = case.args if label is not None else case
            args = args if isinstance(args, tuple) else (args,)
            entry.calls.append(_call_text(name, case if label is not None else args))
            try:
                value = call(reference, *copy.deepcopy(args)) if call else reference(*copy.deepcopy(args))
                entry.outcomes.append(("value", value))
            except Exception as exc:  # the reference refusing a case is the answer expected
                entry.outcomes.append(("raises", type(exc)))
        self.into[exercise] = entry


_recording = threading.Lock()


def record(steps: tuple) -> dict[str, Expected]:
    """Run the instructor's planned cells in this process and return each exercise's cases and answers."""
    from . import exercises

    found: dict[str, Expected] = {}
    namespace: dict = {"__name__": "__main__"}
    with _recording, tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        original, here, tmp = exercises.Exercises, os.getcwd(), tempfile.tempdir
        exercises.Exercises = lambda *a, **k: _Recorder(*a, **k, into=found)
        tempfile.tempdir = scratch
        os.chdir(scratch)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                for role, cell in steps:
                    try:
                        exec(compile(_python(cell.source), f"<instructor cell {cell.index}>", "exec"), namespace)
                    except Exception as exc:
                        raise GradingError(f"the instructor's cell {cell.index}",
                                           f"raised {type(exc).__name__}: {exc}") from None
        finally:
            exercises.Exercises, tempfile.tempdir = original, tmp
            os.chdir(here)
    return found


# --- what runs in the sandbox -------------------------------------------------------------------------


class _NoReference(ast.NodeTransformer):
    """``ex.check_against(name, f, reference, cases, ...)`` -> ``ex.check_against(name, f, None, cases, ...)``."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if _is_check(node) and node.func.attr == "check_against" and len(node.args) >= 3:
            node.args[2] = ast.Constant(None)
        if _is_check(node):
            node.keywords = [k for k in node.keywords if k.arg not in ("compare", "hints", "hint", "keep")]
        return node


def _without_reference(source: str) -> str:
    return ast.unparse(_NoReference().visit(ast.parse(_python(source))))


def _imports(source: str) -> str:
    """The import statements of an instructor's solution cell (what the learner's cell may rely on)."""
    tree = ast.parse(_python(source))
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def _program(steps: tuple, solutions: dict, learner: list[Cell], references: list) -> dict:
    """The instructor's setup and check cells with the learner's definition cells where the solutions were."""
    cells = []
    for role, cell in steps:
        if role == "setup":
            cells.append({"kind": "setup", "cell": cell.index, "source": _python(cell.source)})
        elif role == "check":
            cells.append({"kind": "check", "cell": cell.index, "source": _without_reference(cell.source)})
        else:
            cells.append({"kind": "setup", "cell": cell.index, "source": _imports(cell.source)})
            for own in learner:
                defines = sorted(_defined_functions(own.source) & solutions[cell.index])
                if defines:
                    cells.append({"kind": "definition", "cell": own.index, "source": _python(own.source),
                                  "defines": defines})
    return {"cells": cells, "references": references}


# --- the verdict --------------------------------------------------------------------------------------------


def _names_reference(cells: list[Cell], function: str, references: list) -> str:
    """The labkit reference a learner's definition names in its source (''), read, never run."""
    names = {name for _, name in references}
    for cell in cells:
        if function not in _defined_functions(cell.source):
            continue
        try:
            tree = ast.parse(_python(cell.source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in names:
                return node.attr
            if isinstance(node, ast.Name) and node.id in names and node.id != function:
                return node.id
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("labkit"):
                hit = [a.name for a in node.names if a.name in names]
                if hit:
                    return hit[0]
    return ""


def judge(expected: Expected, answers: list) -> tuple[str, str]:
    """(status, detail) of the learner's answers against the grader's: the first case that disagrees."""
    from .sandbox import decode, encode

    for call, (kind, want), got in zip(expected.calls, expected.outcomes, answers):
        if not isinstance(got, dict):
            return "error", f"for {call}: no readable answer"
        if got.get("labkit"):
            return "failed", f"for {call}: the answer is labkit's ({', '.join(map(str, got['labkit']))} was called)"
        if got.get("stub"):
            return "not attempted", ""
        if "unreadable" in got:
            return "error", f"for {call}: {str(got['unreadable'])[:200]}"
        raised = got.get("raised")
        if raised is not None:
            names = [str(n) for n in raised] if isinstance(raised, list) else []
            text = str(got.get("text", ""))[:300]
            if kind == "raises":
                if f"{want.__module__}.{want.__qualname__}" in names:
                    continue
                return "failed", f"for {call}: expected raises {want.__name__}, got {text}"
            return "error", f"{call} raised {text}"
        value = got.get("value")
        if kind == "raises":
            return "failed", f"for {call}: expected raises {want.__name__}, got {_short(decode(value))}"
        try:
            if expected.compare is not None:
                same = bool(expected.compare(decode(value), want))
            else:
                same = json.loads(json.dumps(encode(want))) == value
        except Exception as exc:  # a compare given an answer of the wrong type: the answer is wrong
            same = False
            if not isinstance(exc, (TypeError, ValueError, AttributeError, KeyError, IndexError)):
                raise
        if not same:
            return "failed", f"for {call}: expected {_short(want)}, got {_short(decode(value))}"
    if len(answers) < len(expected.calls):
        return "error", f"only {len(answers)} of {len(expected.calls)} cases answered"
    count = len(expected.calls)
    return "passed", f"{count} case{'s' if count != 1 else ''}"


# --- one notebook, everyone ------------------------------------------------------------------------------


@dataclass
class _Course:
    """The instructor's side of one notebook, worked out once per grading run."""

    plan: Plan
    expected: dict


def _course(original: Path) -> _Course:
    the_plan = plan(read_notebook(original))
    return _Course(the_plan, record(the_plan.steps))


def grade_notebook(path: str | os.PathLike, course: _Course | None, *, student: str = "", timeout: float = 120,
                   names: Iterable[str] = ()) -> list[Grade]:
    """Grade one student's notebook against the instructor's (``course``); one Grade per exercise."""
    from . import sandbox

    path = Path(path)
    names = list(dict.fromkeys([*(course.plan.exercises if course else ()), *names]))

    def every(status: str, detail: str) -> list[Grade]:
        return [Grade(student, path.name, name, status, detail) for name in names or [""]]

    if course is None:
        return every("error", "there is no instructor's notebook of this name to grade it against")
    try:
        learner = read_notebook(path)
    except GradingError as exc:
        return every("error", f"the notebook cannot be graded: it {exc.reason}")
    references = [r for e in course.expected.values() for r in e.references]
    program = _program(course.plan.steps, course.plan.solutions, learner, references)
    reply = sandbox.run(program, timeout=timeout)
    answers = {e["exercise"]: e for e in reply.lines if isinstance(e.get("exercise"), str)}
    failed_cells = [e for e in reply.lines if "error" in e and isinstance(e.get("cell"), int)]
    rows = []
    for name in names:
        expected = course.expected.get(name)
        if expected is None:
            rows.append(Grade(student, path.name, name, "error", "the instructor's check for it never ran"))
            continue
        defined = [c for c in learner if expected.function in _defined_functions(c.source)]
        broken = [e for e in failed_cells if e.get("kind") == "definition" and expected.function in e.get("defines", [])]
        answer = answers.get(name)
        if not defined:
            status, detail = "error", f"the notebook has no cell that defines {expected.function}()"
        elif broken:
            status, detail = "error", (f"its definition cell (cell {broken[-1]['cell']}) raised "
                                       f"{str(broken[-1]['error'])[:300]}")
        elif answer is None:
            check = [e for e in failed_cells if e.get("kind") in ("check", "setup")]
            status, detail = "error", (reply.stopped and f"the sandbox {reply.stopped} before this exercise "
                                       f"was answered" or (f"the check could not call it: {check[-1]['error']}"
                                                          if check else "no answer came back"))
        else:
            used = _names_reference(defined, expected.function, expected.references)
            outcomes = answer.get("outcomes") if isinstance(answer.get("outcomes"), list) else []
            if used:
                status, detail = "failed", f"the answer is labkit's: the definition uses {used}"
            else:
                status, detail = judge(expected, outcomes)
        rows.append(Grade(student, path.name, name, status, detail))
    return rows


def granted_cpus() -> int:
    """The CPUs this process may use: its affinity, and its cgroup's cpu.max quota when there is one."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    for quota_file in ("/sys/fs/cgroup/cpu.max",):
        try:
            quota, period = Path(quota_file).read_text().split()[:2]
        except (OSError, ValueError):
            continue
        if quota != "max" and int(period) > 0:
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    return max(1, count)


def grade(folder: str | os.PathLike, *, timeout: float = 120, reference: str | os.PathLike | None = None,
          jobs: int | None = None,
          progress: Callable[[str, str, list[Grade], float], None] | None = None) -> list[Grade]:
    """Grade every student's notebooks in ``folder``, ``jobs`` at a time; one Grade per student and exercise.

    ``reference`` is the folder of the instructor's notebooks (default: this
    checkout's notebooks/). ``progress(student, notebook, rows, seconds)``
    is called after each notebook, from the thread that graded it.
    """
    found = submissions(folder)
    reference = Path(reference) if reference is not None else instructor_notebooks()
    courses: dict[str, _Course | None] = {}
    for name in sorted({p.name for paths in found.values() for p in paths}):
        original = reference / name if reference is not None else None
        courses[name] = _course(original) if original is not None and original.is_file() else None
    work = [(student, path) for student, paths in found.items() for path in paths]

    def one(item: tuple[str, Path]) -> list[Grade]:
        student, path = item
        started = time.monotonic()
        rows = grade_notebook(path, courses[path.name], student=student, timeout=timeout)
        if progress is not None:
            progress(student, path.name, rows, time.monotonic() - started)
        return rows

    rows: list[Grade] = []
    for student, paths in found.items():
        if not paths:
            rows.append(Grade(student, "", "", "error", "the student's folder is a symbolic link, or holds no "
                                                         f"notebooks named like {NOTEBOOK_GLOB}"))
    with ThreadPoolExecutor(max_workers=jobs or granted_cpus()) as pool:
        for graded in pool.map(one, work):
            rows += graded
    order = {student: i for i, student in enumerate(found)}
    return sorted(rows, key=lambda r: (order[r.student], r.notebook))


# --- writing it down -------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """A field a spreadsheet shows as text: one that starts like a formula gets a leading apostrophe.

    Exercise names and details come from the students' notebooks (OWASP, "CSV injection").
    """
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_csv(rows: Iterable[Grade]) -> str:
    """The grades as CSV text, one row per student and exercise, with a header."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(v) for v in (row.student, row.notebook, row.exercise, row.status, row.detail)])
    return text.getvalue()


def gradebook_csv(rows: Iterable[Grade], exercises: Iterable[str] = ()) -> str:
    """One row per student: the points of each exercise, the total and the maximum (:data:`POINTS`)."""
    rows = list(rows)
    columns = list(dict.fromkeys([*exercises, *(r.exercise for r in rows if r.exercise)]))
    maximum = sum(POINTS.get(name, 1) for name in columns)
    earned: dict[str, dict[str, int]] = {}
    for row in rows:
        points = earned.setdefault(row.student, {})
        if row.exercise:
            points[row.exercise] = POINTS.get(row.exercise, 1) if row.status == "passed" else 0
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "maximum"])
    for student, points in earned.items():
        writer.writerow([_cell(student), *(points.get(name, 0) for name in columns), sum(points.values()), maximum])
    return text.getvalue()


def feedback_text(student: str, rows: Iterable[Grade]) -> str:
    """A student's short feedback: each exercise, its status and, where it did not pass, why."""
    lines = [f"Feedback for {student}", ""]
    for row in rows:
        if row.student != student:
            continue
        points = POINTS.get(row.exercise, 1)
        earned = points if row.status == "passed" else 0
        where = f"{row.notebook} {row.exercise}".strip()
        lines.append(f"{where}: {row.status} ({earned}/{points})")
        if row.status != "passed" and row.detail:
            lines.append(f"    {row.detail}")
    return "\n".join(lines) + "\n"


def write_grades(rows: Iterable[Grade], out: str | os.PathLike) -> Path:
    """Write the grades CSV to ``out`` in one step (a reader never sees half of it)."""
    from ..files import atomic_write

    return atomic_write(out, grades_csv(rows).encode("utf-8"))


def write_gradebook(rows: list[Grade], out: str | os.PathLike, feedback: str | os.PathLike,
                    exercises: Iterable[str] = ()) -> list[Path]:
    """Write the gradebook CSV to ``out`` and one feedback file per student into ``feedback``, each atomically."""
    from ..files import atomic_write

    written = [atomic_write(out, gradebook_csv(rows, exercises).encode("utf-8"))]
    folder = Path(feedback)
    folder.mkdir(exist_ok=True)
    for student in dict.fromkeys(r.student for r in rows):
        name = re.sub(r"[^A-Za-z0-9._-]", "_", student).lstrip(".") or "_"
        written.append(atomic_write(folder / f"{name}.txt", feedback_text(student, rows).encode("utf-8")))
    return written
