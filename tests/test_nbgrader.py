"""nbgrader grades the committed notebooks: its metadata written from the registry, its whole workflow run.

The notebooks' nbgrader metadata is generated (tools/nbgrader_meta.py, run by
``make clean-notebooks``): a committed notebook whose cells differ from what
the tool writes fails here. The workflow runs nbgrader as an instructor does,
as subprocesses, on a course made of three short notebooks with exercises
(00, 02, 04; the demo-heavy 05 and 09 are left out: 05's swarm experiment
takes 27 s of nbgrader's 30 s cell limit) and the project's
tools/nbgrader_config.py: ``generate_assignment``, then ``autograde`` of four
submissions, ``generate_feedback`` and ``export``:

- full: the instructor's solutions pasted into the release: every point;
- blank: the release as handed out: 0 (labkit's checks raise under grading);
- wrong: full but for one wrong exercise: every point but that exercise's;
- tampered: the release with one exercise solved and every check cell edited
  to ``ex.check(name, lambda *a: None, [])``: nbgrader restores the locked
  check cells, so only the solved exercise scores.

Expected scores come from the exercise registry, never written here.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from labkit.course.exercises import GRADED, STRICT_ENV
from labkit.course.registry import in_notebook
from tools_loader import load_tool

meta = load_tool("nbgrader_meta")
student = load_tool("student")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
COURSE = ("00-welcome", "02-jwt-blocks", "04-the-chain")  # short notebooks, 11 exercises, 17 points
WRONG = ("broken_links", "def broken_links(blocks, secret):\n    return []\n")  # no other check uses it
SOLVED_WHEN_TAMPERED = "sha256_hex"
CELL_LIMIT = 30  # seconds: nbgrader's default Execute.timeout, which the shipped config keeps


def _source(cell: dict) -> str:
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else text


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


# --- the metadata: generated, committed as generated -------------------------------------------------


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebooks_carry_the_metadata_the_tool_writes(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert meta.stale_cells(nb, path.stem) == [], f"run `make clean-notebooks` to rewrite {path.name}'s metadata"
    graded = {_nbgrader(c)["grade_id"]: _nbgrader(c)["points"] for c in nb["cells"] if _nbgrader(c).get("grade")}
    assert graded == {e.name: e.points for e in in_notebook(path.stem)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_nbgrader_accepts_every_notebook_and_clears_it_as_make_student_does(path, tmp_path, monkeypatch):
    # In process, for all twelve: nbgrader's metadata schema, and its ClearSolutions with the shipped stub.
    import nbformat
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.preprocessors import ClearSolutions
    from traitlets.config import Config

    config = Config()
    monkeypatch.setenv(STRICT_ENV, "1")  # the config sets it: monkeypatch puts this session's value back
    exec(compile((ROOT / "tools" / "nbgrader_config.py").read_text(encoding="utf-8"), "nbgrader_config.py", "exec"),
         {"get_config": lambda: config})
    assert os.environ[STRICT_ENV] == GRADED
    nb = nbformat.read(path, as_version=4)
    MetadataValidator().validate_nb(nb)
    released, _ = ClearSolutions(config=config).preprocess(nb, {})
    ours = json.loads(student.make_student(path.parent, tmp_path)[NOTEBOOKS.index(path)].read_text(encoding="utf-8"))
    assert [(c.cell_type, c.source) for c in released.cells] == [(c["cell_type"], _source(c)) for c in ours["cells"]]


def test_the_tool_writes_the_metadata_and_removes_stray_entries(tmp_path):
    committed = (ROOT / "notebooks" / "00-welcome.ipynb").read_text(encoding="utf-8")
    nb = json.loads(committed)
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    nb["cells"][0]["metadata"]["nbgrader"] = {"grade": True, "grade_id": "made-up", "points": 5}
    (tmp_path / "00-welcome.ipynb").write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    assert meta.main([str(tmp_path)]) == 0
    assert (tmp_path / "00-welcome.ipynb").read_text(encoding="utf-8") == committed


@pytest.mark.parametrize("change, message", [
    (lambda cells: cells.append({"cell_type": "markdown", "metadata": {}, "source": "see `### BEGIN SOLUTION`"}),
     "contains 'BEGIN SOLUTION' but is no exercise's solution cell"),
    (lambda cells: cells.append({"cell_type": "markdown", "metadata": {}, "source": "up to END SOLUTION"}),
     "contains 'END SOLUTION'"),
    (lambda cells: [c for c in cells if 'ex.check("canonical_json"' in _source(c)][0].update(source="pass"),
     "exercise 'canonical_json' needs one check cell, found 0"),
    (lambda cells: cells.append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                 "source": 'ex.check("sha256_hex", sha256_hex, [])'}),
     "exercise 'sha256_hex' needs one check cell, found 2"),
], ids=["prose-quotes-begin", "prose-quotes-end", "check-deleted", "check-twice"])
def test_the_tool_refuses_a_notebook_nbgrader_would_misread_and_writes_nothing(tmp_path, capsys, change, message):
    nb = json.loads((ROOT / "notebooks" / "00-welcome.ipynb").read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        cell["metadata"].pop("nbgrader", None)
    change(nb["cells"])
    path = tmp_path / "00-welcome.ipynb"
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    before = path.read_bytes()
    with pytest.raises(ValueError, match=message):
        meta.expected_metadata(nb, "00-welcome")
    assert meta.main([str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    assert path.read_bytes() == before


# --- the workflow ------------------------------------------------------------------------------------


def _run(course: Path, *args: str) -> str:
    """``nbgrader ARGS`` in the course folder, as a subprocess of this venv; its log, or a failure with it."""
    env = dict(os.environ)
    # nbgrader runs alembic from the PATH; the kernels must import this checkout's labkit.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop(STRICT_ENV, None)  # as on an instructor's machine: the course's config sets it
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=900)
    log = done.stdout + done.stderr
    assert done.returncode == 0, f"nbgrader {' '.join(args)} exited {done.returncode}:\n{log[-4000:]}"
    return log


def _submission(release: dict, source: dict, who: str) -> dict:
    """A learner's copy of the release: the instructor's solutions pasted in, some wrong, or checks edited."""
    answers = {_nbgrader(c)["grade_id"]: _source(c) for c in source["cells"] if _nbgrader(c).get("solution")}
    nb = json.loads(json.dumps(release))
    for cell in nb["cells"]:
        grade_id = _nbgrader(cell).get("grade_id")
        if _nbgrader(cell).get("solution"):
            if who in ("full", "wrong") or (who == "tampered" and grade_id == meta.solution_id(SOLVED_WHEN_TAMPERED)):
                cell["source"] = answers[grade_id]
            if who == "wrong" and grade_id == meta.solution_id(WRONG[0]):
                cell["source"] = WRONG[1]
        elif _nbgrader(cell).get("grade") and who == "tampered":
            cell["source"] = f'ex.check("{grade_id}", lambda *a: None, [])'
    return nb


def _seconds(execution: dict) -> float | None:
    if "iopub.execute_input" not in execution or "shell.execute_reply" not in execution:
        return None
    start, end = (datetime.fromisoformat(execution[k].replace("Z", "+00:00"))
                  for k in ("iopub.execute_input", "shell.execute_reply"))
    return (end - start).total_seconds()


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> dict:
    """A course folder taken through the whole workflow; what each step left, and how long each took."""
    root = tmp_path_factory.mktemp("course")
    shutil.copy(ROOT / "tools" / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "source" / "ps1").mkdir(parents=True)
    for stem in COURSE:
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", root / "source" / "ps1")
    seconds = {}
    start = time.monotonic()
    seconds["generate_assignment"] = -time.monotonic()
    _run(root, "generate_assignment", "ps1")
    seconds["generate_assignment"] += time.monotonic()
    for who in ("full", "blank", "wrong", "tampered"):
        folder = root / "submitted" / who / "ps1"
        folder.mkdir(parents=True)
        for stem in COURSE:
            release = json.loads((root / "release" / "ps1" / f"{stem}.ipynb").read_text(encoding="utf-8"))
            source = json.loads((root / "source" / "ps1" / f"{stem}.ipynb").read_text(encoding="utf-8"))
            (folder / f"{stem}.ipynb").write_text(json.dumps(_submission(release, source, who), indent=1),
                                                  encoding="utf-8")
    logs = {}
    for step in (["autograde", "ps1", "--create"], ["generate_feedback", "ps1"], ["export"]):
        seconds[step[0]] = -time.monotonic()
        logs[step[0]] = _run(root, *step)
        seconds[step[0]] += time.monotonic()
    seconds["workflow"] = time.monotonic() - start
    print(f"\nnbgrader workflow on {', '.join(COURSE)}, 4 submissions: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))
    return {"root": root, "logs": logs, "seconds": seconds}


def _expected(who: str) -> float:
    rows = [e for stem in COURSE for e in in_notebook(stem)]
    total = sum(e.points for e in rows)
    return {"full": total, "blank": 0, "wrong": total - next(e.points for e in rows if e.name == WRONG[0]),
            "tampered": next(e.points for e in rows if e.name == SOLVED_WHEN_TAMPERED)}[who]


@pytest.mark.timeout(1800)
def test_export_gives_full_marks_zero_the_exact_partial_score_and_nothing_for_tampered_checks(course):
    with open(course["root"] / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    total = _expected("full")
    assert total == 17  # the course chosen above: 4 + 6 + 7 points, so a registry change is seen here
    for who in ("full", "blank", "wrong", "tampered"):
        assert (float(rows[who]["score"]), float(rows[who]["max_score"])) == (_expected(who), total), who


@pytest.mark.timeout(1800)
def test_each_exercise_scores_what_its_check_decided(course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course['root'] / 'gradebook.db'}") as gradebook:
        for stem in COURSE:
            for exercise in in_notebook(stem):
                scores = {who: gradebook.find_grade(meta.check_id(exercise.name), stem, "ps1", who).score
                          for who in ("full", "blank", "wrong", "tampered")}
                assert scores["full"] == exercise.points and scores["blank"] == 0, (exercise.name, scores)
                assert scores["wrong"] == (0 if exercise.name == WRONG[0] else exercise.points), exercise.name
                solved = exercise.name == SOLVED_WHEN_TAMPERED
                assert scores["tampered"] == (exercise.points if solved else 0), (exercise.name, scores)


@pytest.mark.timeout(1800)
def test_tampered_check_cells_are_graded_as_the_instructor_wrote_them(course):
    for stem in COURSE:
        source = json.loads((course["root"] / "source" / "ps1" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        graded = json.loads((course["root"] / "autograded" / "tampered" / "ps1" / f"{stem}.ipynb").read_text())
        checks = {_nbgrader(c)["grade_id"]: _source(c) for c in source["cells"] if _nbgrader(c).get("grade")}
        ran = {_nbgrader(c)["grade_id"]: _source(c) for c in graded["cells"] if _nbgrader(c).get("grade")}
        assert ran == checks
        assert not any("lambda *a: None" in text for text in ran.values())


@pytest.mark.timeout(1800)
def test_a_passed_check_tells_nbgrader_its_points_and_the_feedback_shows_each_verdict(course):
    # nbgrader reads a test cell's text result as its points: a verdict it cannot read is a warning today.
    assert "cannot be converted to" not in course["logs"]["autograde"]
    for who, verdict in (("full", "check_block: passed"), ("blank", "check_block: not attempted"),
                         ("wrong", "broken_links: failed")):
        page = (course["root"] / "feedback" / who / "ps1" / "04-the-chain.html").read_text(encoding="utf-8")
        assert verdict in page, who


@pytest.mark.timeout(1800)
def test_the_slowest_graded_cell_is_well_within_nbgraders_limit(course):
    times = []
    for path in (course["root"] / "autograded").glob("*/ps1/*.ipynb"):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            took = _seconds(cell.get("metadata", {}).get("execution", {}))
            if took is not None:
                times.append((took, f"{path.parent.parent.name}/{path.name}: {_source(cell)[:50]!r}"))
    assert len(times) > 100, "nbclient records each cell's timing in its metadata"
    slowest = max(times)
    print(f"\nslowest graded cell: {slowest[0]:.1f} s ({slowest[1]}); limit {CELL_LIMIT} s")
    assert slowest[0] < CELL_LIMIT / 2, f"{slowest[1]} took {slowest[0]:.1f} s of nbgrader's {CELL_LIMIT} s"


@pytest.mark.timeout(1800)
def test_make_student_and_nbgraders_release_show_a_learner_the_same_cells(course, tmp_path):
    built = {p.stem: p for p in student.make_student(ROOT / "notebooks", tmp_path)}
    for stem in COURSE:
        ours = json.loads(built[stem].read_text(encoding="utf-8"))
        released = json.loads((course["root"] / "release" / "ps1" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        assert [(c["cell_type"], _source(c)) for c in ours["cells"]] == \
            [(c["cell_type"], _source(c)) for c in released["cells"]], stem
        assert any(student.STUB in _source(c) for c in released["cells"])
