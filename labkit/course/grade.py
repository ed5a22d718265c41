"""Instructor grading: run every student's notebooks and say, per exercise, passed, failed, not attempted or error.

``python -m labkit grade SUBMISSIONS_DIR --out grades.csv``. SUBMISSIONS_DIR
holds one folder per student with their notebooks, named as in the student
build (``NN-topic.ipynb``). Each notebook is copied into a fresh temporary
folder (its kernel's working folder and, through TMPDIR, where its own
temporary folders go; all removed afterwards) and executed there by nbclient
in a kernel of its own, cell errors
allowed (a learner's cell may raise) and with a time-out for the whole
notebook (a learner's loop may never end). A student's notebooks run in
course order and share one folder for the functions their passing exercises
save (:mod:`labkit.course.saved`), so the capstone assembles that student's
own code, as it would on their laptop.

Results are read, not scraped: the grader names a file in the kernel's
environment (``LABKIT_GRADE_LOG``) and every ``Exercises`` check appends one
JSON line to it. The exercises a notebook should report are found in its
source (the ``ex.check("name", ...)`` and ``ex.check_against("name", ...)``
calls) and in the instructor's notebook of the same name, so a check cell the
learner deleted, or one that never ran because the notebook timed out or its
kernel died, is an ``error`` row with the reason, never a missing row.

Strict mode (``LABKIT_EXERCISES_STRICT``) is switched off in the students'
kernels: a wrong answer is a ``failed`` row, not an exception.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..errors import GradingError

__all__ = ["NOTEBOOK_GLOB", "STATUSES", "COLUMNS", "Grade", "exercise_names", "submissions", "grade_notebook",
           "grade", "grades_csv", "write_grades", "instructor_notebooks"]

NOTEBOOK_GLOB = "[0-9][0-9]-*.ipynb"  # the student build's file names
STATUSES = ("passed", "failed", "not attempted", "error")
COLUMNS = ("student", "notebook", "exercise", "status", "detail")
_CHECKS = ("check", "check_against")
_CHECK_TEXT = re.compile(r"\.check(?:_against)?\(\s*(['\"])(.+?)\1")


@dataclass(frozen=True)
class Grade:
    """One row of the grades: a student's result on one exercise."""

    student: str
    notebook: str  # the file name, e.g. "01-wallets.ipynb"
    exercise: str
    status: str  # one of STATUSES
    detail: str = ""  # the failing case, the error, or why the check never reported


# --- which exercises a notebook has --------------------------------------------


def _without_magic(line: str) -> str:
    """``%time ex.check(...)`` -> ``ex.check(...)``; a cell magic or a shell line -> nothing."""
    text = line.lstrip()
    if text.startswith(("%%", "!")):
        return ""
    if text.startswith("%"):
        return text.partition(" ")[2]
    return line


def _names_in(source: str) -> list[str]:
    """The exercise names of the check calls in one cell's source, in order."""
    code = "\n".join(_without_magic(line) for line in source.splitlines())
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a learner's half-typed cell: read the calls as text instead
        return [match.group(2) for match in _CHECK_TEXT.finditer(source)]
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _CHECKS
             and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]
    return [call.args[0].value for call in sorted(calls, key=lambda c: (c.lineno, c.col_offset))]


def _check_cells(nb) -> dict[str, int]:
    """Each exercise name and the index of the first cell that checks it."""
    found: dict[str, int] = {}
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for name in _names_in(cell.source):
                found.setdefault(name, index)
    return found


def exercise_names(path: str | os.PathLike) -> list[str]:
    """The exercises a notebook checks, in the order its cells check them."""
    import nbformat

    return list(_check_cells(nbformat.read(os.fspath(path), as_version=4)))


def instructor_notebooks() -> Path | None:
    """The instructor's notebooks/ beside labkit in a checkout, or None (labkit installed from a wheel)."""
    folder = Path(__file__).resolve().parents[2] / "notebooks"
    return folder if folder.is_dir() else None


# --- the submissions ---------------------------------------------------------------


def submissions(folder: str | os.PathLike) -> dict[str, list[Path]]:
    """Each student's folder name and their notebooks, in course order; refuses a folder with none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GradingError(str(folder), "no such folder of submissions" if not folder.exists()
                           else "is not a folder (give the folder holding one folder per student)")
    found = {student.name: sorted(student.glob(NOTEBOOK_GLOB))
             for student in sorted(folder.iterdir()) if student.is_dir() and not student.name.startswith(".")}
    if not found:
        raise GradingError(str(folder), "holds no student folders (one folder per student, with their notebooks)")
    if not any(found.values()):
        raise GradingError(str(folder), f"no notebooks named like {NOTEBOOK_GLOB} in any of its "
                           f"{len(found)} student folder(s)")
    return found


# --- running one notebook ------------------------------------------------------------------


def _reported(log: Path) -> dict[str, dict]:
    """The last result each exercise reported (a learner may run a check twice)."""
    results: dict[str, dict] = {}
    if log.is_file():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kernel killed while writing
                continue
            if isinstance(entry, dict) and entry.get("status") in STATUSES and isinstance(entry.get("exercise"), str):
                results[entry["exercise"]] = entry
    return results


def _cell_error(cell) -> str:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename', 'error')}: {output.get('evalue', '')}"
    return ""


def _unreported_reason(nb, name: str, cells: dict[str, int], stopped: str) -> str:
    if name not in cells:
        return "the notebook has no check for this exercise (was its check cell deleted?)"
    if stopped:
        return stopped
    raised = _cell_error(nb.cells[cells[name]])
    return f"its check cell raised {raised}" if raised else "its check cell ran but never reported a result"


def grade_notebook(path: str | os.PathLike, *, student: str = "", timeout: float = 300,
                   expected: Iterable[str] = (), mine_dir: str | os.PathLike | None = None) -> list[Grade]:
    """Run one notebook in a fresh temporary folder and grade each of its exercises.

    ``expected`` adds exercise names the notebook should check (the
    instructor's), ``timeout`` is in seconds for the whole notebook, and
    ``mine_dir`` is where passing functions are saved (default: inside the
    temporary folder, gone afterwards).
    """
    import nbclient
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    from ..lessons.data import WORK_ENV
    from . import saved
    from .exercises import GRADE_LOG_ENV, STRICT_ENV

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as scratch:
        workspace = Path(scratch) / "notebooks"
        workspace.mkdir()
        copy = workspace / path.name
        shutil.copyfile(path, copy)
        log = Path(scratch) / "results.jsonl"
        try:
            nb = nbformat.read(os.fspath(copy), as_version=4)
        except Exception as exc:  # any unreadable file: every expected exercise is an error, with the reason
            reason = f"the notebook cannot be read: {type(exc).__name__}: {exc}"
            return [Grade(student, path.name, name, "error", reason) for name in dict.fromkeys(expected)]
        cells = _check_cells(nb)
        env = {k: v for k, v in os.environ.items() if k != STRICT_ENV}
        env[GRADE_LOG_ENV] = str(log)
        env[saved.MINE_ENV] = str(mine_dir or Path(scratch) / "mine")
        env[WORK_ENV] = str(Path(scratch) / "work")  # files a notebook makes stay in its scratch folder
        temporary = Path(scratch) / "tmp"  # the notebook's temporary folders, removed with the rest
        temporary.mkdir()
        env["TMPDIR"] = str(temporary)
        deadline = time.monotonic() + timeout
        client = nbclient.NotebookClient(
            nb, kernel_name="python3", allow_errors=True, shutdown_kernel="immediate",
            timeout_func=lambda cell: max(1, int(deadline - time.monotonic()) + 1),
            resources={"metadata": {"path": str(workspace)}})
        stopped = ""
        try:
            # The kernel's own stderr (ipykernel's start-up warnings) is not the learner's: what the
            # learner's code writes to stderr reaches the notebook's outputs, not this.
            client.execute(env=env, stderr=subprocess.DEVNULL)
        except CellTimeoutError:
            stopped = f"the notebook timed out after {timeout:g} s before this check ran"
        except DeadKernelError:
            stopped = "the notebook's kernel died before this check ran"
        except RuntimeError as exc:  # nbclient's other failures: the kernel did not start or answer
            stopped = f"the notebook stopped before this check ran: {exc}"
        reported = _reported(log)
    names = list(dict.fromkeys([*cells, *expected, *reported]))
    rows = []
    for name in names:
        entry = reported.get(name)
        if entry is not None:
            rows.append(Grade(student, path.name, name, entry["status"], str(entry.get("detail", ""))))
        else:
            rows.append(Grade(student, path.name, name, "error", _unreported_reason(nb, name, cells, stopped)))
    return rows


# --- everyone ------------------------------------------------------------------------------------


def grade(folder: str | os.PathLike, *, timeout: float = 300, reference: str | os.PathLike | None = None,
          progress: Callable[[str, str, list[Grade], float], None] | None = None) -> list[Grade]:
    """Grade every student's notebooks in ``folder``; one Grade per student and exercise.

    ``reference`` is a folder of the instructor's notebooks whose check calls
    say which exercises each notebook must report (default: none, only the
    student's own notebook says). ``progress(student, notebook, rows,
    seconds)`` is called after each notebook.
    """
    found = submissions(folder)
    rows: list[Grade] = []
    for student, notebooks in found.items():
        with tempfile.TemporaryDirectory(prefix=f"labkit-mine-{student[:20]}-") as mine_dir:
            for path in notebooks:
                original = Path(reference) / path.name if reference is not None else None
                expected = exercise_names(original) if original is not None and original.is_file() else []
                started = time.monotonic()
                graded = grade_notebook(path, student=student, timeout=timeout, expected=expected,
                                        mine_dir=mine_dir)
                rows += graded
                if progress is not None:
                    progress(student, path.name, graded, time.monotonic() - started)
    return rows


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


def write_grades(rows: Iterable[Grade], out: str | os.PathLike) -> Path:
    """Write the grades CSV to ``out`` in one step (a reader never sees half of it)."""
    from ..files import atomic_write

    return atomic_write(out, grades_csv(rows).encode("utf-8"))
