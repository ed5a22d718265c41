"""Auto-checked exercises: a stub the learner fills in, a one-line check, instant feedback.

In a notebook::

    ex = Exercises("01-wallets")  # its exercises are counted in labkit.course.registry

    def modular_inverse(e, phi):
        ### BEGIN SOLUTION
        return pow(e, -1, phi)
        ### END SOLUTION

    ex.check_against("modular_inverse", modular_inverse, lambda e, phi: pow(e, -1, phi),
                     cases.modular_inverse())

``check(exercise, function, cases)`` calls the learner's function on each
``(args, expected)`` case; ``check_against(exercise, function, reference,
cases)`` calls it and labkit's reference on each generated case (many,
from deterministic seeds). Both answer at once with the first case that
failed, what was expected and what came back, each claim or field that
differs (decoded, for blocks and tokens) and the fact the case turns on (a
tie, a total: :mod:`labkit.course.feedback`), and how many of the
notebook's exercises are done. A function that calls the labkit function it
is compared with (``check_against``'s reference, ``check``'s ``answer``) is
reported as using labkit's answer, never passed. Hints come in tiers (a nudge, the method, a
near-solution), each shown only when the learner opens it; they live in
:mod:`labkit.course.hints` (or ``hints=[...]``; ``hint="..."`` is a
one-tier list), not in the check cell beside the stub. A stub that still
raises NotImplementedError is "not attempted yet", never an error, so a
student notebook runs top to bottom. Later notebooks import labkit's
reference implementation, never the learner's cell, so one wrong answer
does not break the rest of the course. A function that passes
``check_against`` is saved (:mod:`labkit.course.saved`) for the capstone.

When ``LABKIT_EXERCISES_STRICT=1`` (the test command sets it), a wrong answer
raises ExerciseFailed, so the instructor's solutions are tested too.
When it is ``graded`` (``tools/nbgrader_config.py`` sets it for nbgrader's
autograde), every check that did not pass raises ExerciseFailed, "not
attempted" included, with its report as the message: nbgrader gives a check
cell its points whenever the cell does not raise, so without this a blank
notebook would score full marks. It is a mode the grader switches on, not the
default, because in JupyterLab a learner's unfinished exercise must stay a
yellow "not attempted" box, not a red traceback that stops "Run All"; and
one variable answers the one question "when does a check raise".

The grader (``python -m labkit grade``) does not read these checks' results:
it calls the learner's functions in a sandbox and judges their answers
itself (:mod:`labkit.course.grade`), so a check cell a learner edits
changes nothing there.
"""

from __future__ import annotations

import enum
import html
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from ..errors import ConfigError, ExerciseFailed, SavedCodeError
from ..lessons.display import tint
from .feedback import brief, differences, fact, uses_answer

__all__ = ["Exercises", "CheckResult", "Status", "STRICT_ENV", "GRADED"]

STRICT_ENV = "LABKIT_EXERCISES_STRICT"
GRADED = "graded"  # STRICT_ENV's value under grading: anything but a pass raises



class Status(enum.Enum):
    """What a check found (its value is the word the report and the grades use)."""

    PASSED = "passed"
    FAILED = "failed"  # a case gave the wrong answer
    ERROR = "error"  # the learner's code raised where labkit's answer did not
    NOT_ATTEMPTED = "not attempted"  # the stub still raises NotImplementedError

    @property
    def icon(self) -> str:
        return {"passed": "✅", "failed": "❌", "error": "💥", "not attempted": "✏️"}[self.value]

    @property
    def tint(self) -> str:
        """A tint of the theme's colours (labkit.lessons.display.tint): readable in light and dark themes."""
        return {"passed": "success", "failed": "error", "error": "error", "not attempted": "warn"}[self.value]

    @property
    def wrong(self) -> bool:
        """Failed or error: the answer is wrong (the hints show, strict mode raises)."""
        return self in (Status.FAILED, Status.ERROR)


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class CheckResult:
    exercise: str
    status: Status
    call: str = ""  # the case that failed, e.g. "modular_inverse(3, 40)"
    expected: Any = None
    got: Any = None
    hints: tuple[str, ...] = ()  # a nudge, the method, a near-solution: each revealed on request
    done: int = 0  # exercises of this notebook passed so far
    total: int = 0
    cases: int = 0  # cases tried (all of them when it passed)
    saved: str = ""  # where the passing function was saved for the capstone, or why it was not
    differs: tuple[str, ...] = ()  # each field or claim that differs, decoded, and the fact that matters
    case: str = ""  # which case failed, e.g. "case 2 of 6" (checks on written answers)
    borrowed: str = ""  # the name through which the function calls labkit's answer, e.g. "mine_block"

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def detail(self) -> str:
        """One line: the case that failed and how, or how many cases passed."""
        if self.borrowed:
            return f"uses labkit's answer: it calls {self.borrowed}"
        if self.status is Status.FAILED:
            differs = "".join(f"; {d}" for d in self.differs)
            return f"for {self.call}: expected {_short(self.expected)}, got {_short(self.got)}{differs}"
        if self.status is Status.ERROR:
            return f"{self.call} raised {self.got}"
        if self.status is Status.PASSED:
            return f"{self.cases} case{'s' if self.cases != 1 else ''}"
        return ""

    def _head(self) -> list[str]:
        lines = [f"{self.status.icon} {self.exercise}: {self.status.value}"]
        if self.status is Status.PASSED and self.cases > 1:
            lines[0] += f" ({self.cases} cases)"
        if self.borrowed:
            lines[0] = f"{self.status.icon} {self.exercise}: uses labkit's answer"
            lines += [f"   it calls {self.borrowed}, labkit's own answer that the check compares with:",
                      "   write the steps yourself (the hints show how)"]
        elif self.status is Status.FAILED:
            where = f"{self.case}, {self.call}" if self.case else self.call
            lines += [f"   for {where}", f"   expected {_short(self.expected)}", f"   got      {_short(self.got)}"]
            lines += [f"   differs: {d}" for d in self.differs]
        elif self.status is Status.ERROR:
            lines += [f"   {self.case + ', ' if self.case else ''}{self.call} raised {self.got}"]
        elif self.status is Status.NOT_ATTEMPTED and self.call:
            lines += [f"   it calls {self.call}, which still raises NotImplementedError: complete that exercise first"]
        elif self.status is Status.NOT_ATTEMPTED:
            lines += ["   replace `raise NotImplementedError` with your code, then run this cell again"]
        return lines

    def _tail(self) -> list[str]:
        lines = [f"   saved: {self.saved}"] if self.saved else []
        return lines + [f"   progress: {self.done} of {self.total} exercises done"]

    def _lines(self) -> list[str]:
        """The plain-text report; hints appear only when something is wrong (a terminal cannot fold them)."""
        hints = self.hints if self.status.wrong else ()
        return [*self._head(), *(f"   hint {i} of {len(hints)}: {h}" for i, h in enumerate(hints, 1)),
                *self._tail()]

    def __repr__(self) -> str:
        return "\n".join(self._lines())

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict | None:
        """Under grading, a passed check's plain text is its points: the score nbgrader reads from it.

        nbgrader takes a test cell's text/plain result for the points it earned, and warns (in a
        later release may refuse) when that text is not a number. The verdict stays in the HTML that
        its feedback shows. None (Jupyter shows ``__repr__`` and ``_repr_html_``) outside grading, or
        for an exercise the registry does not list.
        """
        if not self.passed or os.environ.get(STRICT_ENV) != GRADED:
            return None
        from .registry import exercise

        row = exercise(self.exercise)
        return None if row is None else {"text/plain": str(row.points)}

    def _repr_html_(self) -> str:
        def block(lines: list[str]) -> str:
            return "<br>".join(html.escape(line).replace("  ", "&nbsp;&nbsp;") for line in lines)

        hints = "" if self.passed else "".join(
            f'<details class="labkit-hint" data-tier="{i}"><summary>Hint {i} of {len(self.hints)}</summary>'
            f"{html.escape(h)}</details>" for i, h in enumerate(self.hints, 1))
        return (f'<div class="labkit-check" data-status="{self.status.value}" style="{tint(self.status.tint)};'
                f'padding:6px 10px;border-radius:4px;font-family:monospace">{block(self._head())}'
                f"{hints}{block(self._tail())}</div>")


_RAISED = "raises"


def _outcome(function: Callable, call: Callable, args: tuple) -> tuple[str, Any]:
    """("value", result) or ("raises", the exception's class): what a call did."""
    try:
        return "value", call(function, *args)
    except NotImplementedError:
        raise
    except Exception as exc:  # the learner's code may raise anything; it is compared, not crashed on
        return _RAISED, exc


def _stub_below(function: Callable, error: NotImplementedError) -> str:
    """The other function whose stub raised, when ``function`` itself is written ('' if it is the stub)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    raiser = tb.tb_frame.f_code.co_name if tb is not None else ""
    return "" if raiser in ("", getattr(function, "__name__", "")) else f"{raiser}()"


def _raises(status: Status) -> bool:
    """Strict mode: "1" raises on a wrong answer, GRADED on anything but a pass, "0" or unset on nothing."""
    mode = os.environ.get(STRICT_ENV, "")
    if mode not in ("", "0", "1", GRADED):  # a typo must not quietly give a blank notebook full marks
        raise ConfigError(f"{STRICT_ENV}={mode!r}: set it to '1' (wrong answers raise), {GRADED!r} (anything "
                          "but a pass raises) or '0'")
    return (mode == "1" and status.wrong) or (mode == GRADED and status is not Status.PASSED)


def _call_text(name: str, args: tuple, limit: int = 60) -> str:
    return f"{name}({', '.join(brief(a, limit) for a in args)})"


def _plain_call(function: Callable, *args: Any) -> Any:
    return function(*args)


class Exercises:
    """The exercises of one notebook, and how many are done."""

    def __init__(self, notebook: str, total: int | None = None):
        """``total``: how many exercises the notebook has; by default, how many the registry lists for it."""
        from .registry import in_notebook

        self.notebook = notebook
        self.total = len(in_notebook(notebook)) if total is None else total
        self.passed: set[str] = set()

    def _hints(self, exercise: str, hint: str, hints: Iterable[str] | None) -> tuple[str, ...]:
        if hints is not None:
            return tuple(hints)
        if hint:
            return (hint,)
        from .hints import tiers

        return tiers(exercise)

    def check(
        self,
        exercise: str,
        function: Callable,
        cases: Iterable[tuple[Any, Any]],
        *,
        hint: str = "",
        hints: Iterable[str] | None = None,
        compare: Callable[[Any, Any], bool] | None = None,
        answer: Callable | None = None,
    ) -> CheckResult:
        """Call ``function(*args)`` for each ``(args, expected)`` case and report the first mismatch.

        ``args`` may be a tuple of arguments or a single argument.
        ``compare(got, expected)`` replaces == where equality is not the point.
        ``hints`` are the tiers shown on request (default: labkit.course.hints for this exercise);
        ``hint="..."`` is a single tier. ``answer`` is the labkit function the expected values
        come from: a function that calls it is reported as using labkit's answer, never passed.
        """
        same = compare or (lambda got, expected: got == expected)
        name = getattr(function, "__name__", "function")
        tiers = self._hints(exercise, hint, hints)
        borrowed = self._borrowed(exercise, function, answer, tiers)
        if borrowed is not None:
            return self._finish(exercise, borrowed, 0, tiers)
        result = None
        count = 0
        cases = list(cases)
        for args, expected in cases:
            args = args if isinstance(args, tuple) else (args,)
            count += 1
            shown_call, number = _call_text(name, args), f"case {count} of {len(cases)}"
            try:
                got = function(*args)
            except NotImplementedError as stub:
                result = self._result(exercise, Status.NOT_ATTEMPTED, call=_stub_below(function, stub), hints=tiers)
                break
            except Exception as exc:  # the learner's code may raise anything; report it, don't crash
                result = self._result(exercise, Status.ERROR, call=shown_call, case=number,
                                      got=f"{type(exc).__name__}: {exc}", hints=tiers)
                break
            try:
                agrees = same(got, expected)
            except (TypeError, ValueError, AttributeError):  # e.g. abs(None - 0.63): the answer is wrong, not the check
                agrees = False
            if not agrees:
                result = self._result(exercise, Status.FAILED, call=shown_call, case=number, expected=expected,
                                      got=got, hints=tiers, differs=_differs(exercise, args, expected, got))
                break
        return self._finish(exercise, result, count, tiers)

    def check_against(
        self,
        exercise: str,
        function: Callable,
        reference: Callable,
        cases: Iterable[Any],
        *,
        hints: Iterable[str] | None = None,
        compare: Callable[[Any, Any], bool] | None = None,
        call: Callable[..., Any] | None = None,
        keep: bool = True,
    ) -> CheckResult:
        """Call ``function`` and labkit's ``reference`` on every case and report the first disagreement.

        Each case is a tuple of arguments (or a single argument), or has
        ``args`` and a ``label`` that says it in words (labkit.course.cases.Case),
        shown instead of the arguments' long reprs. Where the
        reference raises, the learner's function must raise the same class
        of exception. ``call(f, *args)`` replaces ``f(*args)``, e.g. to run
        an operation on a copy of a state and return the state after it.
        When every case agrees and ``keep`` is true, the function is saved
        as ``exercise`` (:func:`labkit.course.saved.keep`).
        """
        same = compare or (lambda got, expected: got == expected)
        run = call or _plain_call
        name = getattr(function, "__name__", "function")
        tiers = self._hints(exercise, "", hints)
        borrowed = self._borrowed(exercise, function, reference, tiers)
        if borrowed is not None:
            return self._finish(exercise, borrowed, 0, tiers)
        result = None
        count = 0
        for case in cases:
            label = getattr(case, "label", None)
            args = case.args if label is not None else case
            args = args if isinstance(args, tuple) else (args,)
            shown_call = f"{name}: {label}" if label is not None else _call_text(name, args, 300)
            count += 1
            expected_kind, expected = _outcome(reference, run, args)
            try:
                got_kind, got = _outcome(function, run, args)
            except NotImplementedError as stub:
                result = self._result(exercise, Status.NOT_ATTEMPTED, call=_stub_below(function, stub), hints=tiers)
                break
            if expected_kind == _RAISED:
                if not (got_kind == _RAISED and isinstance(got, type(expected))):
                    shown = f"{type(got).__name__}: {got}" if got_kind == _RAISED else got
                    result = self._result(exercise, Status.FAILED, call=shown_call,
                                          expected=_Raises(expected), got=shown, hints=tiers)
                    break
            elif got_kind == _RAISED:
                result = self._result(exercise, Status.ERROR, call=shown_call,
                                      got=f"{type(got).__name__}: {got}", hints=tiers)
                break
            elif not same(got, expected):
                result = self._result(exercise, Status.FAILED, call=shown_call, expected=expected, got=got,
                                      hints=tiers, differs=_differs(exercise, args, expected, got))
                break
        saved = ""
        if result is None and keep:
            from .saved import keep as save

            try:
                saved = str(save(exercise, function))
            except SavedCodeError as exc:
                saved = f"not saved ({exc.reason})"
        return self._finish(exercise, result, count, tiers, saved)

    def _borrowed(self, exercise: str, function: Callable, answer: Callable | None,
                  tiers: tuple[str, ...]) -> CheckResult | None:
        """A failed result when ``function`` calls labkit's ``answer`` (the work is not the learner's), else None."""
        through = uses_answer(function, [answer]) if answer is not None else ""
        return self._result(exercise, Status.FAILED, borrowed=through, hints=tiers) if through else None

    def _finish(self, exercise: str, result: CheckResult | None, count: int, tiers: tuple[str, ...],
                saved: str = "") -> CheckResult:
        if result is None:
            self.passed.add(exercise)
            result = self._result(exercise, Status.PASSED, cases=count, hints=tiers, saved=saved)
        else:
            self.passed.discard(exercise)
        if _raises(result.status):
            raise ExerciseFailed("\n".join(result._lines()))
        return result

    def _result(self, exercise: str, status: Status, **fields: Any) -> CheckResult:
        done = len(self.passed | ({exercise} if status is Status.PASSED else set()))
        return CheckResult(exercise, status, done=done, total=self.total, **fields)

    @property
    def progress(self) -> str:
        return f"{len(self.passed)} of {self.total} exercises done in {self.notebook}"

    def __repr__(self) -> str:
        return f"Exercises({self.progress})"


def _differs(exercise: str, args: tuple, expected: Any, got: Any) -> tuple[str, ...]:
    """Each field or claim that differs (decoded), then the fact the case turns on (labkit.course.feedback)."""
    found = differences(expected, got)
    turning = fact(exercise, args, expected, got)
    return (*found, *([turning] if turning else []))


class _Raises:
    """What a failed case expected when the reference raised: shown as 'raises ContractError: ...'."""

    def __init__(self, error: Exception):
        self.error = error

    def __repr__(self) -> str:
        return f"raises {type(self.error).__name__}: {self.error}"
