"""What runs inside the grader's sandbox (:mod:`labkit.course.sandbox`): the learner's cells, and their answers.

``python -m labkit.course.sandboxed`` is the sandbox's process: :func:`main`
reads its setup on stdin, confines itself (:func:`labkit.course.sandbox.confine`)
and runs the program.

:func:`execute` runs a program of cells in one namespace, as a notebook
would: the instructor's setup cells, the learner's definition cells, the
instructor's check cells. The check cells call ``ex.check(...)`` and
``ex.check_against(...)`` as in the notebook, but ``ex`` here is a
:class:`Collector`: it calls the learner's function on every case and sends
what came back (:func:`labkit.course.sandbox.encode`); it decides nothing,
and the grader's answers never enter this process: the grader removes the
reference from each ``check_against`` call, and the expected values from a
``check``'s cases (``ex.check_args`` gets the arguments alone).

The labkit functions the grader compares against are replaced, before the
learner's first cell runs, by wrappers that note when a learner's function
calls them: such an answer is labkit's, not the learner's.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from .sandbox import confine, encode

__all__ = ["Collector", "execute", "main"]

_state = {"exercise": None, "used": set()}


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _outcome(function: Callable, call: Callable | None, args: tuple) -> dict:
    _state["used"] = set()
    _state["exercise"] = True
    try:
        value = call(function, *args) if call is not None else function(*args)
    except NotImplementedError:
        return {"stub": True}
    except BaseException as exc:  # the learner's code may raise anything (SystemExit too): an answer
        names = [f"{c.__module__}.{c.__qualname__}" for c in type(exc).__mro__]
        return {"raised": names, "text": _error(exc), **_used()}
    finally:
        _state["exercise"] = None
    try:
        return {"value": encode(value), **_used()}
    except (ValueError, RecursionError) as exc:
        return {"unreadable": str(exc), **_used()}


def _used() -> dict:
    return {"labkit": sorted(_state["used"])} if _state["used"] else {}


def _args(case: Any) -> tuple[tuple, str | None]:
    label = getattr(case, "label", None)
    args = case.args if label is not None else case
    return (args if isinstance(args, tuple) else (args,)), label


class Collector:
    """Stands in for :class:`labkit.course.exercises.Exercises`: calls the learner's function, judges nothing."""

    def __init__(self, notebook: str = "", total: int = 0, *, emit: Callable[[dict], None] | None = None):
        self.notebook = notebook
        self._emit = emit or _emitter

    def check(self, exercise: str, function: Callable, cases, **_options: Any) -> None:
        outcomes = []
        for args, _expected in cases:  # what is expected stays unused: the grader has its own
            args, _ = _args(args)
            outcomes.append(_outcome(function, None, args))
            if "stub" in outcomes[-1]:
                break
        self._emit({"exercise": exercise, "function": getattr(function, "__name__", ""), "outcomes": outcomes})

    def check_args(self, exercise: str, function: Callable, arguments, **_options: Any) -> None:
        """A ``check`` whose cases the grader reduced to their arguments: no expected value comes this far."""
        self.check(exercise, function, [(args, None) for args in arguments])

    def check_against(self, exercise: str, function: Callable, _reference: Any, cases, *,
                      call: Callable | None = None, **_options: Any) -> None:
        outcomes = []
        for case in cases:
            args, _ = _args(case)
            outcomes.append(_outcome(function, call, args))
            if "stub" in outcomes[-1]:
                break
        self._emit({"exercise": exercise, "function": getattr(function, "__name__", ""), "outcomes": outcomes})

    def __repr__(self) -> str:
        return f"Collector({self.notebook})"


_emitter: Callable[[dict], None] = print


def _tripwires(references: list, namespace: dict) -> None:
    """Replace each labkit reference by a wrapper that notes a call made from inside a learner's function."""
    for module_name, attribute in references:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        original = getattr(module, attribute, None)
        if not callable(original):
            continue

        @functools.wraps(original)
        def wrapper(*args, __original=original, __name=f"{module_name}.{attribute}", **kwargs):
            if _state["exercise"] is not None:
                _state["used"].add(__name)
            return __original(*args, **kwargs)

        for loaded in list(sys.modules.values()):
            if getattr(loaded, "__name__", "").startswith("labkit") and getattr(loaded, attribute, None) is original:
                setattr(loaded, attribute, wrapper)
        for name, value in list(namespace.items()):
            if value is original:
                namespace[name] = wrapper


def execute(program: dict, emit: Callable[[dict], None]) -> None:
    """Run the program's cells in order in one namespace; ``emit`` each exercise's answers and each cell's error."""
    global _emitter
    _emitter = emit
    from . import exercises

    exercises.Exercises = Collector  # the instructor's setup cell makes ``ex`` from this name
    namespace: dict = {"__name__": "__main__"}
    armed = False
    for cell in program.get("cells", []):
        kind, index = cell.get("kind"), cell.get("cell")
        if kind == "definition" and not armed:
            _tripwires(program.get("references", []), namespace)
            armed = True
        try:
            code = compile(cell.get("source", ""), f"<cell {index}>", "exec")
            exec(code, namespace)  # noqa: S102 - this process exists to run it, confined
        except BaseException as exc:  # SystemExit from a cell is its error too, not the sandbox's end
            emit({"cell": index, "kind": kind, "error": _error(exc), "defines": cell.get("defines", [])})


def main() -> int:
    """The sandbox process: read the setup, confine, say ready, run the program, say done."""
    answer = os.fdopen(os.dup(1), "w", encoding="utf-8", buffering=1)
    setup = json.loads(sys.stdin.buffer.read())
    try:
        confine(setup)
    except Exception as exc:  # whatever stopped the sandbox being made, said to the grader, which stops
        answer.write(json.dumps({"sandbox_error": f"{type(exc).__name__}: {exc}"}) + "\n")
        return 1
    answer.write(json.dumps({"ready": True}) + "\n")
    scratch = Path(setup["scratch_dir"])
    work = scratch / "work"
    work.mkdir(mode=0o700)
    os.chdir(work)
    printed = os.open(scratch / "printed.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(printed, 1)
    os.dup2(printed, 2)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    execute(setup["program"], lambda entry: answer.write(json.dumps(entry) + "\n"))
    answer.write(json.dumps({"done": True}) + "\n")
    answer.flush()
    os._exit(0)  # no atexit handler or finaliser of the learner's runs after the answer


if __name__ == "__main__":
    sys.exit(main())
