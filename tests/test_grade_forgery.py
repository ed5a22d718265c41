"""A grader that cannot be forged, and an inbox that cannot stop it (issues 18 finding 6 and 21).

Each case is a student's notebook 00 (the fastest) changed one hostile way; the
grader must give the forged exercise no points, report bad files for that
student only, and keep grading the class.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from labkit.course import answerkey, grade
from labkit.course.exercises import STRICT_ENV, Exercises, Status
from tools_loader import load_tool

nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "00-welcome.ipynb"
STUB = load_tool("student").STUB


@pytest.fixture(scope="module")
def blank(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("student")
    load_tool("student").make_student(ROOT / "notebooks", build)
    return build / NOTEBOOK


def _with(blank: Path, folder: Path, change) -> Path:
    nb = nbformat.read(blank, as_version=4)
    change(nb)
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / NOTEBOOK)
    return folder / NOTEBOOK


def _cell(nb, text: str):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and text in c.source]
    return cell


def _answer(definition: str, body: str):
    def change(nb):
        cell = _cell(nb, definition)
        cell.source = cell.source.replace(STUB, body)
    return change


def _checks(replacement: str):
    def change(nb):
        for cell in nb.cells:
            if cell.cell_type == "code" and "ex.check" in cell.source:
                cell.source = replacement.format(names=answerkey.check_names(cell.source))
    return change


MARKER = "labkit-forgery-daemon-7f3a"
FORGERIES = {  # name: (how the submission is changed, the exercise forged)
    "edited check cells": (_checks("for name in {names}:\n    ex.check(name, lambda *a: None, [])"), "hash_chain"),
    "deleted checks": (_checks("pass"), "sha256_hex"),
    "a forged log line": (_answer("def sha256_hex(", 'import os, json\n    print(json.dumps({"exercise": "sha256_hex", '
                                  '"outcomes": [{"value": "x"}]}))\n    return ""'), "sha256_hex"),
    "a monkey-patched checker": (_answer("def sha256_hex(", "return ''\nfrom labkit.course import exercises\n"
                                         "exercises.Exercises.check = lambda *a, **k: None\n"
                                         "ex.check = lambda *a, **k: None"), "sha256_hex"),
    "a checker patched to copy the expected answers": (_answer("def sha256_hex(", "return ''\n"
                                                              "def echo(self, name, f, cases, **k):\n"
                                                              "    self._emit({'exercise': name, 'function': f.__name__,"
                                                              " 'outcomes': [{'value': e} for _, e in cases]})\n"
                                                              "type(ex).check = echo\n"
                                                              "type(ex).check_args = lambda self, n, f, a, **k: echo("
                                                              "self, n, f, [(x, x) for x in a])"), "sha256_hex"),
    "labkit's reference imported": (_answer("def hash_chain(", "from labkit.course.cases import hash_chain_reference"
                                            "\n    return hash_chain_reference(lines)"), "hash_chain"),
    "labkit's reference by another name": (_answer("def hash_chain(", "import importlib\n    m = importlib.import_module("
                                                   "'labkit.course.' + 'cases')\n    return getattr(m, 'hash_chain_'"
                                                   " + 'reference')(lines)"), "hash_chain"),
    "reading the solutions": (_answer("def sha256_hex(", f"import pathlib\n    return pathlib.Path({str(ROOT)!r}, "
                                      "'notebooks', '00-welcome.ipynb').read_text()[:64]"), "sha256_hex"),
    "a daemon left behind": (_answer("def sha256_hex(", "import os, subprocess, sys\n    subprocess.Popen([sys.executable, "
                                     f"'-c', 'import time; time.sleep(300)  # {MARKER}'], start_new_session=True)\n"
                                     "    return ''"), "sha256_hex"),
    "a forged word from the sandbox": (_answer("def sha256_hex(", "return ''\nimport json, os\n"
                                               "for fd in range(3, 10):\n    try:\n"
                                               "        os.write(fd, b'\\n' + json.dumps({'sandbox_error': 'x'}).encode()"
                                               " + b'\\n')\n    except OSError:\n        pass"), "sha256_hex"),
    "looking around": (_answer("def sha256_hex(", "import glob, os\n    tops = [t for t in os.listdir('/') if t not in ('proc', 'sys', 'dev', 'usr', "
                               "'lib', 'lib64', 'etc')]\n    notebooks = [p for t in tops for p in glob.glob("
                               "f'/{t}/**/*.ipynb', recursive=True)]\n"
                               "    procs = [p for p in os.listdir('/proc') if p.isdigit()]\n"
                               "    return f'nb={len(notebooks)} procs={len(procs)} uid={os.getuid()} "
                               "env={\",\".join(sorted(os.environ))}'"), "sha256_hex"),
}


@pytest.fixture(scope="module")
def forged(blank, tmp_path_factory):
    subs = tmp_path_factory.mktemp("subs")
    for n, (change, _) in enumerate(FORGERIES.values()):
        _with(blank, subs / f"s{n}", change)
    out = tmp_path_factory.mktemp("out") / "grades.csv"
    from labkit.__main__ import main

    assert main(["grade", str(subs), "--out", str(out), "--jobs", "2", "--timeout", "60"]) == 0
    with out.open(newline="", encoding="utf-8") as f:
        return out, list(csv.DictReader(f))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("case", list(FORGERIES))
def test_each_forgery_scores_nothing(forged, case):
    out, rows = forged
    student = f"s{list(FORGERIES).index(case)}"
    exercise = FORGERIES[case][1]
    (row,) = [r for r in rows if r["student"] == student and r["exercise"] == exercise]
    assert row["status"] != "passed", row
    book = {r["student"]: r for r in csv.DictReader((out.parent / "gradebook.csv").open(encoding="utf-8"))}
    assert book[student][exercise] == "0"


@pytest.mark.timeout(300)
def test_the_answer_that_is_labkits_says_so_and_no_process_outlives_the_grading(forged):
    out, rows = forged
    details = {(r["student"], r["exercise"]): r["detail"] for r in rows}
    for case in ("labkit's reference imported", "labkit's reference by another name"):
        student = f"s{list(FORGERIES).index(case)}"
        assert "the answer is labkit's" in details[student, "hash_chain"]
        feedback = (out.parent / "feedback" / f"{student}.txt").read_text(encoding="utf-8")
        assert "00-welcome.ipynb hash_chain: failed (0/2)\n    " in feedback and "the answer is labkit's" in feedback
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            alive.append(Path(f"/proc/{pid}/cmdline").read_bytes())
        except OSError:
            continue
    assert not [c for c in alive if MARKER.encode() in c]


@pytest.mark.timeout(300)
def test_the_sandbox_sees_no_notebook_no_other_process_and_nothing_of_the_graders_environment(forged):
    _, rows = forged
    student = f"s{list(FORGERIES).index('looking around')}"
    (detail,) = [r["detail"] for r in rows if r["student"] == student and r["exercise"] == "sha256_hex"]
    seen = detail.split("got '")[1]
    assert seen.startswith("nb=0 procs=") and int(seen.split("procs=")[1].split()[0]) <= 3, seen
    assert "LABKIT" not in seen and "PYTEST" not in seen
    assert f"uid={65534 if os.geteuid() == 0 else 0}" in seen


def test_no_demonstration_runs_while_grading_only_what_the_checks_need():
    for name, demo in {"05-torrent-sharing.ipynb": ("LocalSwarm(", "swarm_experiment("),
                       "09-the-classroom-network.ipynb": ("Classroom.create(", "room.start(")}.items():
        steps = answerkey.plan(grade.read_notebook(ROOT / "notebooks" / name)).steps
        assert steps and not [c.index for _, c in steps if any(d in c.source for d in demo)], name


# --- the inbox: hostile files named like a notebook --------------------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


HOSTILE = {  # name: (how the file is made, words the error detail must hold)
    "a FIFO": (_fifo, "FIFO"),
    "a folder": (lambda p: p.mkdir(), "folder"),
    "a dangling symlink": (lambda p: p.symlink_to(p.parent / "nowhere.ipynb"), "symbolic link"),
    "a symlink to /dev/zero": (lambda p: p.symlink_to("/dev/zero"), "symbolic link"),
    "a symlink to /etc/shadow": (lambda p: p.symlink_to("/etc/shadow"), "symbolic link"),
    "a cell whose source is a number": (lambda p: p.write_text('{"cells": [{"cell_type": "code", "source": 5}], '
                                                               '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}'),
                                        "malformed notebook: cell 0's source is int"),
    "not JSON": (lambda p: p.write_text("{not json"), "not JSON"),
    "too large": (lambda p: p.write_bytes(b" " * (grade.MAX_NOTEBOOK + 1)), "the limit is"),
}


@pytest.mark.timeout(300)
def test_hostile_files_are_reported_for_their_student_and_the_class_is_still_graded(blank, tmp_path):
    subs = tmp_path / "subs"
    for n, (make, _) in enumerate(HOSTILE.values()):
        (subs / f"h{n}").mkdir(parents=True)
        make(subs / f"h{n}" / NOTEBOOK)
    _with(blank, subs / "zed", _answer("def sha256_hex(", 'return hashlib.sha256(text.encode("utf-8")).hexdigest()'))
    (subs / "linked").symlink_to(subs / "zed")  # a student's folder that is a link: reported, never followed
    rows = grade.grade(subs, jobs=2, timeout=60)
    text = grade.grades_csv(rows)
    assert [(r.status, "symbolic link" in r.detail) for r in rows if r.student == "linked"] == [("error", True)]
    assert "root:" not in text and "\x00" not in text
    for n, (name, (_, words)) in enumerate(HOSTILE.items()):
        mine = [r for r in rows if r.student == f"h{n}"]
        assert mine and all(r.status == "error" and words in r.detail for r in mine), (name, mine)
    zed = {r.exercise: r.status for r in rows if r.student == "zed"}
    assert zed["sha256_hex"] == "passed" and zed["hash_chain"] == "not attempted"


@pytest.mark.timeout(120)
def test_endless_printing_is_cut_off_memory_is_limited_and_a_name_error_is_reported_against_its_cell(blank, tmp_path):
    _with(blank, tmp_path / "subs" / "pat", lambda nb: (
        _answer("def sha256_hex(", "return 1\nwhile True:\n    print('x' * 100000)")(nb),
        _answer("def canonical_json(", "return 1\nnot_defined_anywhere")(nb),
        _answer("def hash_chain(", "return []\nhog = bytearray(8 << 30)")(nb)))
    rows = {r.exercise: r for r in grade.grade(tmp_path / "subs", jobs=1, timeout=60)}
    assert rows["sha256_hex"].status == "error" and "File too large" in rows["sha256_hex"].detail
    assert rows["hash_chain"].status == "error" and "MemoryError" in rows["hash_chain"].detail
    assert rows["canonical_json"].status == "error"
    assert "definition cell (cell 20) raised NameError" in rows["canonical_json"].detail


def test_a_none_answer_to_a_compared_check_is_failed_not_a_type_error(monkeypatch):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    result = Exercises("03", total=1).check("chance within", lambda a, d: None, [((256, 2), 0.6328)],
                                            compare=lambda got, expected: abs(got - expected) < 1e-4)
    assert result.status is Status.FAILED
    expected = answerkey.Expected("chance within", "check", "chance_within", ["chance_within(256, 2)"],
                              [("value", 0.6328)], compare=lambda got, expected: abs(got - expected) < 1e-4)
    assert answerkey.judge(expected, [{"value": None}])[0] == "failed"
    assert answerkey.judge(expected, [{"value": 0.63281}]) == ("passed", "1 case")


def test_the_cpus_granted_are_at_least_one_and_at_most_the_affinity():
    assert 1 <= grade.granted_cpus() <= len(os.sched_getaffinity(0))


def test_the_gradebook_has_one_row_per_student_with_points_total_and_maximum():
    rows = [grade.Grade("ana", "00-welcome.ipynb", "sha256_hex", "passed"),
            grade.Grade("ana", "00-welcome.ipynb", "hash_chain", "failed", "for hash_chain(['a']): expected 1"),
            grade.Grade("ben", "00-welcome.ipynb", "sha256_hex", "not attempted")]
    book = list(csv.DictReader(grade.gradebook_csv(rows).splitlines()))
    assert book == [{"student": "ana", "sha256_hex": "1", "hash_chain": "0", "total": "1", "maximum": "3"},
                    {"student": "ben", "sha256_hex": "0", "hash_chain": "0", "total": "0", "maximum": "3"}]
    feedback = grade.feedback_text("ana", rows)
    assert "hash_chain: failed (0/2)" in feedback and "expected 1" in feedback


def test_a_machine_that_cannot_sandbox_is_told_once_and_nothing_is_graded(blank, tmp_path, monkeypatch, capsys):
    from labkit.__main__ import main
    from labkit.errors import SandboxUnavailable
    from labkit.course import sandbox

    _with(blank, tmp_path / "subs" / "ana", lambda nb: None)
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    with pytest.raises(SandboxUnavailable, match="needs util-linux's unshare"):
        grade.grade(tmp_path / "subs")
    assert main(["grade", str(tmp_path / "subs"), "--out", str(tmp_path / "grades.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the grader's sandbox: ") and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "grades.csv").exists()
