"""The instructor's grader: every student's notebooks run, one row per student and exercise.

Built on the real student build (tools/student.py): ana hands in 00 untouched,
ben fills some exercises in right, cara some wrong, one raising, and deletes a
check cell. The grader runs them through the command line and the CSV must say
passed / failed / not attempted / error for each, with the reason. A small
made-up notebook shows a definition that never ends.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from labkit.errors import GradingError
from labkit.course import grade
from tools_loader import load_tool
from waiting import scaled

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
STUB = load_tool("student").STUB
PICKED = ("00-welcome.ipynb", "01-wallets.ipynb")  # the two fastest notebooks


def _cell_with(nb, text: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
    return cell


def _edit(path: Path, change) -> None:
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def _solve(nb, definition: str) -> None:
    """Put the instructor's solution of the cell defining ``definition`` into the student's cell."""
    instructor = nbformat.read(NOTEBOOKS / nb.metadata["labkit_name"], as_version=4)
    _cell_with(nb, definition).source = _cell_with(instructor, definition).source


def _answer(nb, definition: str, body: str) -> None:
    cell = _cell_with(nb, definition)
    assert STUB in cell.source
    cell.source = cell.source.replace(STUB, body)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory) -> Path:
    student_build = tmp_path_factory.mktemp("student")
    load_tool("student").make_student(NOTEBOOKS, student_build)
    folder = tmp_path_factory.mktemp("submissions")
    for student, names in {"ana": PICKED[:1], "ben": PICKED, "cara": PICKED}.items():
        (folder / student).mkdir()
        for name in names:
            nb = nbformat.read(student_build / name, as_version=4)
            nb.metadata["labkit_name"] = name
            nbformat.write(nb, folder / student / name)
    ben, cara = folder / "ben", folder / "cara"
    _edit(ben / PICKED[0], lambda nb: (_solve(nb, "def sha256_hex("), _solve(nb, "def hash_chain(")))
    _edit(ben / PICKED[1], lambda nb: _solve(nb, "def modular_inverse("))
    _edit(cara / PICKED[0], lambda nb: (_answer(nb, "def sha256_hex(", "return text.upper()"),
                                        _answer(nb, "def canonical_json(", "return {}[value]  # a dict is no key: TypeError")))

    def drop_address_check(nb):
        nb.cells.remove(_cell_with(nb, 'ex.check("address"'))

    _edit(cara / PICKED[1], drop_address_check)
    (folder / "notes.txt").write_text("not a student")  # files beside the student folders are ignored
    return folder


@pytest.fixture(scope="module")
def rows(submitted, tmp_path_factory) -> list[dict]:
    from labkit.__main__ import main

    out = tmp_path_factory.mktemp("out") / "grades.csv"
    assert main(["grade", str(submitted), "--out", str(out), "--timeout", f"{scaled(200):g}"]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _statuses(rows, student: str, notebook: str) -> dict[str, str]:
    return {r["exercise"]: r["status"] for r in rows if r["student"] == student and r["notebook"] == notebook}


def _expected(notebook: str, **statuses: str) -> dict[str, str]:
    """Every exercise of the instructor's notebook: not attempted, except those named."""
    names = grade.exercise_names(NOTEBOOKS / notebook)
    assert set(statuses) <= set(names), f"{notebook} no longer has {set(statuses) - set(names)}"
    return {name: statuses.get(name, "not attempted") for name in names}


@pytest.mark.timeout(240)
def test_one_row_per_student_and_exercise_with_its_status(rows):
    assert list(rows[0]) == list(grade.COLUMNS)
    assert {r["student"] for r in rows} == {"ana", "ben", "cara"}
    assert _statuses(rows, "ana", PICKED[0]) == _expected(PICKED[0])
    assert not [r for r in rows if r["student"] == "ana" and r["notebook"] != PICKED[0]]
    assert _statuses(rows, "ben", PICKED[0]) == _expected(PICKED[0], sha256_hex="passed", hash_chain="passed")
    assert _statuses(rows, "ben", PICKED[1]) == _expected(PICKED[1], modular_inverse="passed")
    assert _statuses(rows, "cara", PICKED[0]) == _expected(PICKED[0], sha256_hex="failed", canonical_json="error")
    assert _statuses(rows, "cara", PICKED[1]) == _expected(PICKED[1])  # a deleted check changes nothing
    assert len(rows) == len({(r["student"], r["notebook"], r["exercise"]) for r in rows})


@pytest.mark.timeout(240)
def test_the_detail_says_which_case_failed_what_raised_and_what_never_ran(rows):
    detail = {(r["student"], r["exercise"]): r["detail"] for r in rows}
    assert "expected 'ba7816bf" in detail["cara", "sha256_hex"] and "got 'ABC'" in detail["cara", "sha256_hex"]
    assert "raised TypeError" in detail["cara", "canonical_json"]
    assert detail["cara", "address"] == ""
    assert detail["ben", "hash_chain"].endswith("cases") and detail["ana", "hash_chain"] == ""


# --- the time-out, on a small notebook ----------------------------------------------------------------


def _notebook(path: Path, *sources: str) -> Path:
    head = 'from labkit.course.exercises import Exercises\nex = Exercises("t", total=2)'
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in (head, *sources)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.timeout(120)
def test_a_definition_that_never_ends_is_stopped_and_the_exercises_it_held_up_are_errors(tmp_path):
    (tmp_path / "ref").mkdir()
    (tmp_path / "subs" / "dan").mkdir(parents=True)
    _notebook(tmp_path / "ref" / "00-loop.ipynb",
              "def quick(x):\n    ### BEGIN SOLUTION\n    return abs(x)\n    ### END SOLUTION",
              'ex.check("quick", quick, [(-1, 1)])',
              "def slow(x):\n    ### BEGIN SOLUTION\n    return abs(x)\n    ### END SOLUTION",
              'ex.check("slow", slow, [(-1, 1)])')
    _notebook(tmp_path / "subs" / "dan" / "00-loop.ipynb", "def quick(x):\n    return abs(x)",
              'ex.check("quick", quick, [(-1, 1)])', "def slow(x):\n    while True:\n        pass",
              'ex.check("slow", slow, [(-1, 1)])')
    limit = scaled(8)
    graded = grade.grade(tmp_path / "subs", reference=tmp_path / "ref", timeout=limit, jobs=1)
    assert [(g.exercise, g.status) for g in graded] == [("quick", "passed"), ("slow", "error")]
    assert f"timed out after {limit:g} s" in graded[1].detail


def test_a_field_that_starts_like_a_formula_is_written_as_text():
    text = grade.grades_csv([grade.Grade("ana", "00-x.ipynb", "=HYPERLINK(1)", "failed", "-1 expected")])
    assert text.splitlines()[1] == "ana,00-x.ipynb,'=HYPERLINK(1),failed,'-1 expected"


def test_exercise_names_come_from_the_check_calls_even_in_a_cell_that_does_not_parse(tmp_path):
    path = _notebook(tmp_path / "00-names.ipynb", 'ex.check_against("b", f, g, cases)\nex.check("a", f, [])',
                     "%time ex.check('c', f, [])", 'ex.check("d", f, [(1, 2)]\ndef broken(:')
    assert grade.exercise_names(path) == ["b", "a", "c", "d"]
    assert len(grade.exercise_names(NOTEBOOKS / PICKED[0])) >= 2


# --- refusals ---------------------------------------------------------------------------------------


def test_submissions_refuses_a_missing_folder_one_without_students_or_without_notebooks(tmp_path):
    with pytest.raises(GradingError, match="no such folder"):
        grade.submissions(tmp_path / "missing")
    with pytest.raises(GradingError, match="holds no student folders"):
        grade.submissions(tmp_path)
    (tmp_path / "ana").mkdir()
    (tmp_path / "ana" / "notes.ipynb").write_text("{}")
    with pytest.raises(GradingError, match=r"no notebooks named like \[0-9\]\[0-9\]-\*\.ipynb in any of its 1"):
        grade.submissions(tmp_path)


@pytest.mark.parametrize("case", ["missing folder", "no notebooks", "out is a folder", "out's folder missing",
                                  "bad timeout", "bad jobs"])
def test_the_command_refuses_bad_input_with_one_error_line_and_writes_nothing(tmp_path, capsys, case):
    from labkit.__main__ import main

    (tmp_path / "subs" / "ana").mkdir(parents=True)
    subs, out = tmp_path / "subs", tmp_path / "grades.csv"
    argv = {"missing folder": [str(tmp_path / "nope")],
            "no notebooks": [str(subs)],
            "out is a folder": [str(subs), "--out", str(tmp_path)],
            "out's folder missing": [str(subs), "--out", str(tmp_path / "no" / "grades.csv")],
            "bad timeout": [str(subs), "--timeout", "nan"],
            "bad jobs": [str(subs), "--jobs", "0"]}[case]
    argv = argv if "--out" in argv else [*argv, "--out", str(out)]
    assert main(["grade", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    reason = {"missing folder": "no such folder", "no notebooks": "no notebooks named like",
              "out is a folder": "is a folder", "out's folder missing": "no such file or folder",
              "bad timeout": "time-out", "bad jobs": "--jobs must be a whole number"}[case]
    assert reason in err
    assert not out.exists()


@pytest.mark.timeout(600)
def test_the_instructors_own_solutions_pass_every_exercise_of_every_notebook(tmp_path):
    """The answer key's setup slices rebuild each check's cases faithfully, in the sandbox as in the grader."""
    (tmp_path / "subs" / "teacher").mkdir(parents=True)
    for path in sorted(NOTEBOOKS.glob(grade.NOTEBOOK_GLOB)):
        (tmp_path / "subs" / "teacher" / path.name).write_bytes(path.read_bytes())
    rows = grade.grade(tmp_path / "subs", timeout=scaled(120), jobs=2)
    assert {r.notebook for r in rows} == {p.name for p in NOTEBOOKS.glob(grade.NOTEBOOK_GLOB)}
    assert [r for r in rows if r.status != "passed"] == []
    book = list(csv.DictReader(grade.gradebook_csv(rows).splitlines()))
    assert book[0]["total"] == book[0]["maximum"] == str(sum(grade.points(r.exercise) for r in rows))


def test_cells_are_parsed_safely_on_the_graders_threads():
    """CPython 3.11's AST constructor counts its recursion in a counter every thread shares (gh-106905):
    two parses at once, with a thread switch inside one (here forced by a finaliser that runs during a
    collection), fail with "SystemError: AST constructor recursion depth mismatch". The grader reads
    notebooks on several threads, and CI lost a whole forgery module's setup to it. With ``ast.parse``
    in place of ``answerkey.parse`` this fails on 3.11 in nearly every run."""
    import gc
    import sys
    import threading
    import time
    from labkit.course import answerkey

    source = (ROOT / "labkit" / "course" / "answerkey.py").read_text(encoding="utf-8")
    errors = []

    class SwitchesThreads:
        def __del__(self):
            time.sleep(0)  # gives up the GIL in the middle of whatever triggered the collection

    def parse_often():
        for _ in range(40):
            cycle = SwitchesThreads()
            cycle.itself = cycle
            del cycle
            try:
                answerkey.parse(source)
            except SystemError as exc:
                errors.append(exc)

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(10, 1, 1)
    try:
        threads = [threading.Thread(target=parse_often) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert errors == []
