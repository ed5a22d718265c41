"""Auto-checked exercises: a stub the learner fills in, a one-line check, instant feedback.

In a notebook::

    ex = Exercises("01-wallets", total=3)

    def modular_inverse(e, phi):
        ### BEGIN SOLUTION
        return pow(e, -1, phi)
        ### END SOLUTION

    ex.check("modular inverse", modular_inverse, [((3, 40), 27), ((7, 60), 43)],
             hint="pow(e, -1, phi) or the extended Euclidean algorithm")

The check calls the learner's function on each case and answers at once with
what was expected and what came back, a hint, and how many of the notebook's
exercises are done. A stub that still raises NotImplementedError is "not
attempted yet", never an error, so a student notebook runs top to bottom.
Later notebooks import labkit's reference implementation, never the
learner's cell, so one wrong answer does not break the rest of the course.

When ``LABKIT_EXERCISES_STRICT=1`` (the test command sets it), a wrong answer
raises ExerciseFailed, so the instructor's solutions are tested too.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import LabkitError

__all__ = ["Exercises", "CheckResult", "ExerciseFailed", "STRICT_ENV"]

STRICT_ENV = "LABKIT_EXERCISES_STRICT"

_ICONS = {"passed": "✅", "failed": "❌", "error": "💥", "not attempted": "✏️"}
_COLORS = {"passed": "#e6f4ea", "failed": "#fce8e6", "error": "#fce8e6", "not attempted": "#fef7e0"}


class ExerciseFailed(LabkitError, AssertionError):
    """A checked answer is wrong (raised only in strict mode)."""


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    status: str  # "passed", "failed", "error" or "not attempted"
    call: str = ""  # the case that failed, e.g. "modular_inverse(3, 40)"
    expected: Any = None
    got: Any = None
    hint: str = ""
    done: int = 0  # exercises of this notebook passed so far
    total: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def _lines(self) -> list[str]:
        lines = [f"{_ICONS[self.status]} {self.exercise}: {self.status}"]
        if self.status == "failed":
            lines += [f"   for {self.call}", f"   expected {_short(self.expected)}", f"   got      {_short(self.got)}"]
        elif self.status == "error":
            lines += [f"   {self.call} raised {self.got}"]
        elif self.status == "not attempted":
            lines += ["   replace `raise NotImplementedError` with your code, then run this cell again"]
        if self.hint and self.status != "passed":
            lines.append(f"   hint: {self.hint}")
        lines.append(f"   progress: {self.done} of {self.total} exercises done")
        return lines

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_html_(self) -> str:
        body = "<br>".join(html.escape(line).replace("  ", "&nbsp;&nbsp;") for line in self._lines())
        return (f'<div class="labkit-check" data-status="{self.status}" style="background:{_COLORS[self.status]};'
                f'padding:6px 10px;border-radius:4px;font-family:monospace">{body}</div>')


class Exercises:
    """The exercises of one notebook, and how many are done."""

    def __init__(self, notebook: str, total: int):
        self.notebook = notebook
        self.total = total
        self.passed: set[str] = set()

    def check(
        self,
        exercise: str,
        function: Callable,
        cases: Iterable[tuple[Any, Any]],
        *,
        hint: str = "",
        compare: Callable[[Any, Any], bool] | None = None,
    ) -> CheckResult:
        """Call ``function(*args)`` for each ``(args, expected)`` case and report the first mismatch.

        ``args`` may be a tuple of arguments or a single argument.
        ``compare(got, expected)`` replaces == where equality is not the point.
        """
        same = compare or (lambda got, expected: got == expected)
        name = getattr(function, "__name__", "function")
        result = None
        for args, expected in cases:
            args = args if isinstance(args, tuple) else (args,)
            call = f"{name}({', '.join(_short(a, 60) for a in args)})"
            try:
                got = function(*args)
            except NotImplementedError:
                result = self._result(exercise, "not attempted", hint=hint)
                break
            except Exception as exc:  # the learner's code may raise anything; report it, don't crash
                result = self._result(exercise, "error", call=call, got=f"{type(exc).__name__}: {exc}", hint=hint)
                break
            if not same(got, expected):
                result = self._result(exercise, "failed", call=call, expected=expected, got=got, hint=hint)
                break
        if result is None:
            self.passed.add(exercise)
            result = self._result(exercise, "passed")
        else:
            self.passed.discard(exercise)
        if result.status in ("failed", "error") and os.environ.get(STRICT_ENV) == "1":
            raise ExerciseFailed("\n".join(result._lines()))
        return result

    def _result(self, exercise: str, status: str, **fields: Any) -> CheckResult:
        done = len(self.passed | ({exercise} if status == "passed" else set()))
        return CheckResult(exercise, status, done=done, total=self.total, **fields)

    @property
    def progress(self) -> str:
        return f"{len(self.passed)} of {self.total} exercises done in {self.notebook}"

    def __repr__(self) -> str:
        return f"Exercises({self.progress})"
