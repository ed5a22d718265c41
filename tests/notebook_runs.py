"""Each notebook executed once per test session, as the instructor wrote it and as the student build.

A notebook's student version (``make student``) is the instructor's with each
solution replaced by a stub; every cell before the first solution is the same
in both. So one kernel per notebook runs, in order:

1. the shared lesson, the cells before the first solution;
2. the student's exercises, from that cell on, stubs and all;
3. the instructor's exercises, the same cells with their solutions.

Up to the end of step 2 the kernel is exactly the student's from a fresh start
(the student build run of ``tests/test_student.py``); step 3 redefines every
name step 2 defined (a stub defines nothing a solution does not) and a stub's
failed check keeps no learner code, so the instructor's exercises run as after
the lesson. The cells and outputs are then split into the two executed
notebooks that every check reads: the nbval-style "no cell fails"
(test_notebooks_run.py), the display scan (test_clean_page.py) and the
student build's checks (test_student.py). Before, each of those executed the
notebooks again.

Each notebook runs in its own fresh folder (a copy of the notebook alone, so
nothing is written into the checkout and no run sees another's ``work/``), in
a kernel started with the suite's environment (strict exercise checks, no
``LABKIT_MINE_DIR``: learner code is kept in ``work/mine`` of that folder) and
a fresh, empty ``TMPDIR``. The kernel is shut down as Jupyter does; what it
left in its ``TMPDIR`` and the processes still naming that folder (a room's
nodes) are kept with the run, for tests/test_no_secrets_left.py. The executed
notebooks are written beside it, for a post-mortem.

Under ``pytest -n`` (pytest-xdist) each worker process has its own
``NotebookRuns``, but they share one folder: the first worker to ask for a
notebook runs it, holding a lock on it, and any other worker that asks waits
for that lock and reads the executed notebooks it wrote. So each notebook still
runs once per session; the tests of one notebook are sent to one worker
(tests/areas.py ``group_of``) so that none waits.
"""

from __future__ import annotations

import copy
import fcntl
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from processes import running
from tools_loader import load_tool
from waiting import scaled

__all__ = ["CELL_TIMEOUT", "NotebookRuns", "Run", "error_outputs", "first_solution", "processes_mentioning"]

LEFT_BEHIND = "left-behind.json"  # in a run's folder: what its kernel left (Run.left_behind, processes_left)
CELL_TIMEOUT = 300  # seconds per cell before scaling by LABKIT_TIMEOUT_FACTOR; a hang fails instead of waiting
BEGIN = load_tool("student").BEGIN  # where a solution starts: make student replaces it with a stub


@dataclass(frozen=True)
class Run:
    """One notebook executed both ways: the executed nbformat notebooks, each with all its cells."""

    name: str
    instructor: nbformat.NotebookNode
    student: nbformat.NotebookNode
    folder: Path  # where the kernel ran and the executed notebooks are kept
    left_behind: tuple[str, ...]  # what the kernel left in its TMPDIR after its shutdown
    processes_left: tuple[str, ...]  # the command lines still naming that TMPDIR then (a room's nodes)


def first_solution(nb) -> int:
    """The index of the first cell holding a solution (len(cells) if none): where the two versions part."""
    return next((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and BEGIN in cell.source),
                len(nb.cells))


def error_outputs(nb, cells: range | None = None) -> list[tuple[int, str, str, str]]:
    """(cell index, exception name, message, last traceback lines) of each error output, in ``cells`` if given."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or (cells is not None and index not in cells):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append((index, out.get("ename", ""), out.get("evalue", ""),
                              "\n".join(out.get("traceback", [])[-6:])))
    return found


class NotebookRuns:
    """Runs each notebook at most once, when first asked for, and keeps what it ran.

    ``folder`` may be shared by several pytest-xdist workers: a notebook another worker ran is read from there.
    """

    def __init__(self, notebooks: Path, student: Path, folder: Path):
        self.notebooks, self.student, self.folder = notebooks, student, folder
        self._runs: dict[str, Run] = {}

    def __call__(self, name: str) -> Run:
        """The run of notebook ``name`` (``"03-proof-of-work"``, with or without ``.ipynb``)."""
        name = name.removesuffix(".ipynb")
        if name not in self._runs:
            self._runs[name] = self._shared(name)
        return self._runs[name]

    def _shared(self, name: str) -> Run:
        """The run another worker finished, else this worker's; a worker running it holds the notebook's lock."""
        folder = self.folder / name
        instructor, student = folder / f"{name}.executed.ipynb", folder / f"{name}.student.executed.ipynb"
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the worker dies
            if (folder / "complete").exists():
                left = json.loads((folder / LEFT_BEHIND).read_text(encoding="utf-8"))
                return Run(name, nbformat.read(instructor, as_version=4), nbformat.read(student, as_version=4),
                           folder, tuple(left["files"]), tuple(left["processes"]))
            shutil.rmtree(folder, ignore_errors=True)  # what a run that failed half-way left
            run = self._execute(name)
            (folder / "complete").touch()
            return run

    def _execute(self, name: str) -> Run:
        from nbclient import NotebookClient

        instructor = nbformat.read(self.notebooks / f"{name}.ipynb", as_version=4)
        student = nbformat.read(self.student / f"{name}.ipynb", as_version=4)
        if len(student.cells) != len(instructor.cells):
            raise AssertionError(f"{name}: the student build has {len(student.cells)} cells, "
                                 f"the notebook {len(instructor.cells)}")
        split = first_solution(instructor)
        if [c.source for c in student.cells[:split]] != [c.source for c in instructor.cells[:split]]:
            raise AssertionError(f"{name}: the student build differs from the notebook before its first solution")
        tail = len(instructor.cells) - split

        combined = copy.deepcopy(instructor)
        combined.cells = (copy.deepcopy(instructor.cells[:split]) + copy.deepcopy(student.cells[split:])
                          + copy.deepcopy(instructor.cells[split:]))
        folder = self.folder / name
        folder.mkdir(parents=True)
        nbformat.write(instructor, folder / f"{name}.ipynb")  # the notebook alone in a fresh folder
        tmp = Path(tempfile.mkdtemp(prefix="nbrun-"))
        env = {**{k: v for k, v in os.environ.items() if k != "LABKIT_MINE_DIR"}, "TMPDIR": str(tmp)}
        client = NotebookClient(combined, timeout=scaled(CELL_TIMEOUT), kernel_name="python3", allow_errors=True,
                                store_widget_state=True, record_timing=True,
                                resources={"metadata": {"path": str(folder)}})
        try:
            client.execute(env=env)  # runs every cell, then shuts the kernel down as Jupyter does
            files, processes = sorted(p.name for p in tmp.iterdir()), processes_mentioning(str(tmp))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        (folder / LEFT_BEHIND).write_text(json.dumps({"files": files, "processes": processes}), encoding="utf-8")

        lesson, student_tail, instructor_tail = (combined.cells[:split], combined.cells[split:split + tail],
                                                 combined.cells[split + tail:])
        ran_instructor, ran_student = copy.deepcopy(combined), copy.deepcopy(combined)
        ran_student.cells = lesson + student_tail
        ran_instructor.cells = lesson + instructor_tail
        _drop_widgets(ran_student, _widgets_shown(instructor_tail, combined) - _widgets_shown(lesson + student_tail, combined))
        _drop_widgets(ran_instructor, _widgets_shown(student_tail, combined) - _widgets_shown(lesson + instructor_tail, combined))
        nbformat.write(ran_instructor, folder / f"{name}.executed.ipynb")
        nbformat.write(ran_student, folder / f"{name}.student.executed.ipynb")
        return Run(name, ran_instructor, ran_student, folder, tuple(files), tuple(processes))


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention ``text`` (a node started in a room's folder does)."""
    return [p.command for p in running() if text in p.command]


# --- the widgets each version showed: a widget shown only by the other version's cells is not its own -------

_VIEW = "application/vnd.jupyter.widget-view+json"


def _widget_state(nb) -> dict:
    return nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


def _widgets_shown(cells, nb) -> set[str]:
    """The widget models the outputs of ``cells`` show, with every model they hold (children, layouts)."""
    state = _widget_state(nb)
    todo = [out["data"][_VIEW]["model_id"] for cell in cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if _VIEW in out.get("data", {})]
    seen: set[str] = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        todo += _references(state.get(model, {}).get("state", {}))
    return seen


def _references(value) -> list[str]:
    if isinstance(value, str):
        return [value.removeprefix("IPY_MODEL_")] if value.startswith("IPY_MODEL_") else []
    if isinstance(value, dict):
        return [ref for item in value.values() for ref in _references(item)]
    if isinstance(value, list):
        return [ref for item in value for ref in _references(item)]
    return []


def _drop_widgets(nb, models: set[str]) -> None:
    state = _widget_state(nb)
    for model in models:
        state.pop(model, None)
