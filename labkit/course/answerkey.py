"""The grader's answer key: which of the instructor's cells the exercises need, their cases and answers, the verdict.

:func:`plan` picks, from the instructor's notebook, the check cells, the
solution cells and the setup statements they need (found by the names they
use), so a demonstration that carries no grade is never run. :func:`record`
runs those cells in the grader's own process with an ``ex`` that records each
case and computes the expected answer: the value a ``check`` gives, the
reference's answer for a ``check_against``. :func:`program` is what the
sandbox runs for one learner: the same setup, the learner's definition cells
where the solutions were, and the instructor's check cells without their
references. :func:`judge` compares the learner's answers with the key.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import io
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import GradingError

__all__ = ["Cell", "Plan", "Expected", "python_source", "parse", "check_names", "defined_functions", "plan", "record",
           "program", "names_reference", "judge"]

_CHECKS = ("check", "check_against")
_CHECK_TEXT = re.compile(r"\.check(?:_against)?\(\s*(['\"])(.+?)\1")
_SOLUTION = "### BEGIN SOLUTION"


def _without_magic(line: str) -> str:
    """``%time ex.check(...)`` -> ``ex.check(...)``; a cell magic or a shell line -> nothing."""
    text = line.lstrip()
    if text.startswith(("%%", "!")):
        return ""
    if text.startswith("%"):
        return text.partition(" ")[2]
    return line


def python_source(source: str) -> str:
    return "\n".join(_without_magic(line) for line in source.splitlines())


_PARSING = threading.Lock()


def parse(source: str) -> ast.Module:
    """A cell's Python (its IPython magics left out) as a syntax tree; raises SyntaxError.

    One thread at a time: on CPython 3.11 the AST constructor's recursion
    counter is shared by every thread, and two parses at once can fail with
    ``SystemError: AST constructor recursion depth mismatch`` (CPython
    gh-106905). The grader reads notebooks on several threads.
    """
    text = python_source(source)
    with _PARSING:
        return ast.parse(text)


def check_names(source: str) -> list[str]:
    """The exercise names of the check calls in one cell's source, in order."""
    try:
        tree = parse(source)
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


# --- which cells the exercises need ------------------------------------------------------------------


def _bound(tree: ast.AST) -> set[str]:
    """Names a statement binds in the notebook's namespace (not a function's locals, not a comprehension's)."""
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue  # what is bound inside is the function's own
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        stack.extend(ast.iter_child_nodes(node))
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


def defined_functions(source: str) -> set[str]:
    """The functions a cell defines at its top level; read as text when the cell does not parse."""
    try:
        tree = parse(source)
    except SyntaxError:
        return set(re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", source, re.MULTILINE))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}


@dataclass(frozen=True)
class Plan:
    """What the grader runs of an instructor's notebook, in order: (role, cell) with role setup/solution/check.

    A setup "cell" holds only the statements of the instructor's cell that the
    exercises need: a statement binding a name they use (the last one before
    the use), and the later statements that may change it in place (a method
    call on it, an item or attribute set, a bare call that uses it); a
    demonstration binding nothing they need is left out.
    """

    steps: tuple  # ((role, Cell), ...)
    exercises: tuple  # the exercise names, in check order
    solutions: dict  # a solution cell's index -> the functions it defines


def _root(node: ast.AST) -> str | None:
    """``a`` of ``a``, ``a.b``, ``a[1]["c"]``: the name whose value an item or attribute chain starts from."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _changed(node: ast.AST) -> set[str]:
    """Names a statement may change in place: ``x.method(...)``, ``x[k][j] = ...``, ``x.a = ...``, ``x[k] += ...``."""
    roots = []
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            roots.append(_root(n.func.value))
        targets = n.targets if isinstance(n, ast.Assign) else [n.target] if isinstance(n, ast.AugAssign) else []
        roots += [_root(t.value) for t in targets if isinstance(t, (ast.Subscript, ast.Attribute))]
    return {name for name in roots if name}


def plan(cells: list[Cell]) -> Plan:
    """The check cells, the solution cells, and the setup statements they need (by the names they use)."""
    role, statements = {}, []  # statements: (cell index, position, node) of the setup cells
    for cell in cells:
        try:
            tree = parse(cell.source)
        except SyntaxError as exc:
            raise GradingError(f"cell {cell.index}", f"the instructor's cell does not parse: {exc}") from None
        if _SOLUTION in cell.source:
            role[cell.index] = ("solution", tree)
        elif check_names(cell.source):
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
    exercises = tuple(dict.fromkeys(name for r, cell in steps if r == "check" for name in check_names(cell.source)))
    solutions = {cell.index: defined_functions(cell.source) for r, cell in steps if r == "solution"}
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
                        exec(compile(python_source(cell.source), f"<instructor cell {cell.index}>", "exec"), namespace)
                    except Exception as exc:
                        raise GradingError(f"the instructor's cell {cell.index}",
                                           f"raised {type(exc).__name__}: {exc}") from None
        finally:
            exercises.Exercises, tempfile.tempdir = original, tmp
            os.chdir(here)
    return found


# --- what runs in the sandbox -------------------------------------------------------------------------


def _arguments_only(cases: ast.expr) -> ast.expr | None:
    """``[(args, expected), ...]`` or ``[(args, expected) for ...]`` -> the same without ``expected``; else None."""
    def first(pair: ast.expr) -> ast.expr | None:
        return pair.elts[0] if isinstance(pair, ast.Tuple) and len(pair.elts) == 2 else None

    if isinstance(cases, ast.List) and all(first(e) is not None for e in cases.elts):
        return ast.List([first(e) for e in cases.elts], ast.Load())
    if isinstance(cases, ast.ListComp) and first(cases.elt) is not None:
        return ast.ListComp(first(cases.elt), cases.generators)
    return None


class _AnswersOut(ast.NodeTransformer):
    """Check calls as the sandbox runs them: no answer in them for a patched checker to copy.

    ``ex.check_against(name, f, reference, cases)`` -> ``ex.check_against(name, f, None, cases)``;
    ``ex.check(name, f, [(args, expected), ...])`` -> ``ex.check_args(name, f, [args, ...])``, so the
    expected values are never even computed there.
    """

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if not _is_check(node):
            return node
        node.keywords = [k for k in node.keywords if k.arg not in ("compare", "hints", "hint", "keep")]
        if node.func.attr == "check_against" and len(node.args) >= 3:
            node.args[2] = ast.Constant(None)
        elif node.func.attr == "check" and len(node.args) >= 3:
            arguments = _arguments_only(node.args[2])
            if arguments is not None:
                node.func.attr = "check_args"
                node.args[2] = arguments
        return node


def _without_reference(source: str) -> str:
    return ast.unparse(ast.fix_missing_locations(_AnswersOut().visit(parse(source))))


def _imports(source: str) -> str:
    """The import statements of an instructor's solution cell (what the learner's cell may rely on)."""
    tree = parse(source)
    return "\n".join(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def program(steps: tuple, solutions: dict, learner: list[Cell], references: list) -> dict:
    """The instructor's setup and check cells with the learner's definition cells where the solutions were."""
    cells = []
    for role, cell in steps:
        if role == "setup":
            cells.append({"kind": "setup", "cell": cell.index, "source": python_source(cell.source)})
        elif role == "check":
            cells.append({"kind": "check", "cell": cell.index, "source": _without_reference(cell.source)})
        else:
            cells.append({"kind": "setup", "cell": cell.index, "source": _imports(cell.source)})
            for own in learner:
                defines = sorted(defined_functions(own.source) & solutions[cell.index])
                if defines:
                    cells.append({"kind": "definition", "cell": own.index, "source": python_source(own.source),
                                  "defines": defines})
    return {"cells": cells, "references": references}


# --- the verdict --------------------------------------------------------------------------------------------


def names_reference(cells: list[Cell], function: str, references: list) -> str:
    """The labkit reference a learner's definition names in its source (''), read, never run."""
    names = {name for _, name in references}
    for cell in cells:
        if function not in defined_functions(cell.source):
            continue
        try:
            tree = parse(cell.source)
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
        except Exception:  # the instructor's compare choking on a learner's value (None, a string): not the same
            same = False
        if not same:
            return "failed", f"for {call}: expected {_short(want)}, got {_short(decode(value))}"
    if len(answers) < len(expected.calls):
        return "error", f"only {len(answers)} of {len(expected.calls)} cases answered"
    count = len(expected.calls)
    return "passed", f"{count} case{'s' if count != 1 else ''}"
