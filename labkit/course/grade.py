"""Instructor grading: each student's exercises, judged by the grader, from answers their code gives in a sandbox.

``python -m labkit grade SUBMISSIONS_DIR --out grades.csv``. SUBMISSIONS_DIR
holds one folder per student with their notebooks, named as in the student
build (``NN-topic.ipynb``). The grader writes three things: ``grades.csv``
(one row per student and exercise: status and detail, naming the cell that
failed), ``gradebook.csv`` beside it (one row per student: points per
exercise, total, maximum; points from :mod:`labkit.course.registry`)
and ``feedback/`` (one short text file per student: each exercise, its
status, its first failing case).

The process that decides a grade never runs a learner's code:

1. **The grader's own answers.** For each notebook it reads the instructor's
   copy and runs, in its own process, only the cells the exercises need: the
   check cells, the solution cells and, found by the names they use, the
   setup statements they depend on (:func:`labkit.course.answerkey.plan`); a demonstration that carries
   no grade (05's swarm, 09's live room) is never run. Its ``ex`` records every
   case and computes the expected answer: the value given for ``check``, the
   reference's answer for ``check_against`` (:func:`~labkit.course.answerkey.record`).
2. **The learner's answers.** The same setup cells, the learner's definition
   cells (the cells that define the exercise's function, found in the
   learner's notebook by the function's name) and the instructor's check
   cells run in a sandbox (:mod:`labkit.course.sandbox`): a process of its
   own, in new namespaces, seeing neither the submissions nor the grader's
   files, with a time-out and memory limit. It sends back what the learner's
   function returned for each case, as plain data.
3. **The verdict** (:func:`~labkit.course.answerkey.judge`) compares the two, here. Whatever a
   submission did to its check cells (edited, deleted, a checker patched, a
   results line forged) changes nothing: those cells are never run. A
   function that calls the labkit reference it is compared against is
   reported as using labkit's answer.

A learner's definition cell runs where the instructor's solution cell was;
a helper their function needs belongs in that cell (a cell of their own that
defines no exercise's function is not run).

A notebook is read with a size limit, never through a symbolic link, and
only if it is a regular file; a FIFO, a folder, a link or malformed JSON in
a student's folder is an ``error`` row for that student, and the class's
grading goes on.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import GradingError
from .answerkey import Cell, Expected, Plan, check_names, defined_functions, judge, names_reference, plan, program, record

__all__ = ["NOTEBOOK_GLOB", "STATUSES", "COLUMNS", "MAX_NOTEBOOK", "points", "Grade", "Course",
           "exercise_names", "submissions", "read_notebook", "answer_key", "grade_notebook", "grade",
           "granted_cpus", "grades_csv", "gradebook_csv", "feedback_text", "write_grades", "write_gradebook",
           "instructor_notebooks"]

NOTEBOOK_GLOB = "[0-9][0-9]-*.ipynb"  # the student build's file names
_NOTEBOOK_NAME = re.compile(r"[0-9][0-9]-.*\.ipynb")
STATUSES = ("passed", "failed", "not attempted", "error")
COLUMNS = ("student", "notebook", "exercise", "status", "detail")
MAX_NOTEBOOK = 20 << 20  # bytes: a notebook with its outputs and images; more is refused unread



def points(exercise: str) -> int:
    """What an exercise is worth: its row in :mod:`labkit.course.registry`, or one point for one it lacks."""
    from .registry import exercise as row

    found = row(exercise)
    return found.points if found is not None else 1


@dataclass(frozen=True)
class Grade:
    """One row of the grades: a student's result on one exercise."""

    student: str
    notebook: str  # the file name, e.g. "01-wallets.ipynb"
    exercise: str
    status: str  # one of STATUSES
    detail: str = ""  # the failing case, the error and its cell, or why nothing was graded


# --- reading a notebook --------------------------------------------------------------------------


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
        found.update(dict.fromkeys(check_names(cell.source)))
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


# --- one notebook, everyone ------------------------------------------------------------------------------


@dataclass
class Course:
    """The instructor's side of one notebook, worked out once per grading run."""

    plan: Plan
    expected: dict


def answer_key(original: Path) -> Course:
    the_plan = plan(read_notebook(original))
    return Course(the_plan, record(the_plan.steps))


def grade_notebook(path: str | os.PathLike, course: Course | None, *, student: str = "",
                   timeout: float = 120) -> list[Grade]:
    """Grade one student's notebook against the instructor's (``course``); one Grade per exercise."""
    from . import sandbox

    path = Path(path)
    names = list(course.plan.exercises) if course else []

    def every(status: str, detail: str) -> list[Grade]:
        return [Grade(student, path.name, name, status, detail) for name in names or [""]]

    if course is None:
        return every("error", "there is no instructor's notebook of this name to grade it against")
    try:
        learner = read_notebook(path)
    except GradingError as exc:
        return every("error", f"the notebook cannot be graded: it {exc.reason}")
    references = [r for e in course.expected.values() for r in e.references]
    cells = program(course.plan.steps, course.plan.solutions, learner, references)
    reply = sandbox.run(cells, timeout=timeout)
    return [Grade(student, path.name, name, *_verdict(course.expected.get(name), learner, reply)) for name in names]


def _verdict(expected: Expected | None, learner: list[Cell], reply) -> tuple[str, str]:
    """(status, detail) of one exercise: the definition cell's error, why no answer came, or the judged answers."""
    if expected is None:
        return "error", "the instructor's check for it never ran"
    function = expected.function
    defined = [c for c in learner if function in defined_functions(c.source)]
    if not defined:
        return "error", f"the notebook has no cell that defines {function}()"
    failed = [e for e in reply.lines if "error" in e and isinstance(e.get("cell"), int)]
    broken = [e for e in failed if e.get("kind") == "definition" and function in e.get("defines", [])]
    if broken:
        return "error", f"its definition cell (cell {broken[-1]['cell']}) raised {str(broken[-1]['error'])[:300]}"
    answer = next((e for e in reply.lines if e.get("exercise") == expected.exercise), None)
    if answer is None:
        if reply.stopped:
            return "error", f"the sandbox {reply.stopped} before this exercise was answered"
        check = [e for e in failed if e.get("kind") in ("check", "setup")]
        return "error", f"the check could not call it: {check[-1]['error']}" if check else "no answer came back"
    used = names_reference(defined, function, expected.references)
    if used:
        return "failed", f"the answer is labkit's: the definition uses {used}"
    outcomes = answer.get("outcomes")
    return judge(expected, outcomes if isinstance(outcomes, list) else [])


def granted_cpus() -> int:
    """The CPUs this process may use: ``fastmine.available_cores`` (its affinity, capped by its cgroup's quota)."""
    from ..fastmine import available_cores  # the one place that reads cpu.max (v2) and the cfs quota (v1)

    return available_cores()


def grade(folder: str | os.PathLike, *, timeout: float = 120, reference: str | os.PathLike | None = None,
          jobs: int | None = None,
          progress: Callable[[str, str, list[Grade], float], None] | None = None) -> list[Grade]:
    """Grade every student's notebooks in ``folder``, ``jobs`` at a time; one Grade per student and exercise.

    ``reference`` is the folder of the instructor's notebooks (default: this
    checkout's notebooks/). ``progress(student, notebook, rows, seconds)``
    is called after each notebook, from the thread that graded it.
    """
    from .sandbox import ready

    found = submissions(folder)
    ready()  # a machine that cannot sandbox says so once, instead of an error row for every exercise
    reference = Path(reference) if reference is not None else instructor_notebooks()
    courses: dict[str, Course | None] = {}
    for name in sorted({p.name for paths in found.values() for p in paths}):
        original = reference / name if reference is not None else None
        courses[name] = answer_key(original) if original is not None and original.is_file() else None
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
    """One row per student: the points of each exercise, the total and the maximum (:func:`points`)."""
    rows = list(rows)
    columns = list(dict.fromkeys([*exercises, *(r.exercise for r in rows if r.exercise)]))
    maximum = sum(points(name) for name in columns)
    earned: dict[str, dict[str, int]] = {}
    for row in rows:
        scored = earned.setdefault(row.student, {})
        if row.exercise:
            scored[row.exercise] = points(row.exercise) if row.status == "passed" else 0
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "maximum"])
    for student, scored in earned.items():
        writer.writerow([_cell(student), *(scored.get(name, 0) for name in columns), sum(scored.values()), maximum])
    return text.getvalue()


def feedback_text(student: str, rows: Iterable[Grade]) -> str:
    """A student's short feedback: each exercise, its status and, where it did not pass, why."""
    lines = [f"Feedback for {student}", ""]
    for row in rows:
        if row.student != student:
            continue
        worth = points(row.exercise)
        where = f"{row.notebook} {row.exercise}".strip()
        lines.append(f"{where}: {row.status} ({worth if row.status == 'passed' else 0}/{worth})")
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
