"""The student build runs: every notebook, solutions replaced by stubs, executed top to bottom.

``make student`` replaces each solution with ``raise NotImplementedError``.
Executed with nbclient (errors allowed, so one failure does not hide the
next), the only errors allowed are NotImplementedError, and every exercise
check must report "not attempted": a stub is never a crash, and no later
cell leans on a learner's answer.

The student build is executed in the session's one run of each notebook
(tests/notebook_runs.py): the lesson before the first solution, the same in
both versions, runs once, then the student's exercises from a kernel in
exactly the state a fresh student run reaches there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from notebook_runs import error_outputs
from tools_loader import load_tool

student = load_tool("student")
BEGIN, make_student = student.BEGIN, student.make_student

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
CELL_TIMEOUT = 240  # seconds; a hang fails instead of waiting forever


def test_the_student_build_has_every_notebook_and_no_solution(notebook_runs):
    built = sorted(notebook_runs.student.glob("*.ipynb"))
    assert [p.name for p in built] == [p.name for p in NOTEBOOKS]
    for path in built:
        nb = nbformat.read(path, as_version=4)
        assert not any(BEGIN in cell.source for cell in nb.cells if cell.cell_type == "code"), f"solutions left in {path.name}"


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    return "\n".join(str(data.get(kind, "")) for kind in ("text/plain", "text/html"))


@pytest.mark.timeout(900)  # the first test to ask for a notebook waits for its run
@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS])
def test_student_notebook_runs_with_stubs(student_run, name):
    nb = student_run(name)
    assert not any(BEGIN in cell.source for cell in nb.cells if cell.cell_type == "code"), "solutions left in"
    assert all(cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code" and cell.source.strip()), \
        "a cell did not run"

    errors = [(i, ename, evalue) for i, ename, evalue, _ in error_outputs(nb)]
    assert all(ename == "NotImplementedError" for _, ename, _ in errors), errors

    checks = [cell for cell in nb.cells if cell.cell_type == "code"
              and (".check(" in cell.source or ".check_against(" in cell.source)]
    assert len(checks) >= 2
    for cell in checks:
        shown = "\n".join(_text(out) for out in cell.get("outputs", []))
        assert "not attempted" in shown, f"{name}: {cell.source.splitlines()[0]} shows {shown[:200]!r}"
        if name[:2] <= "08":  # this round's exercises all have hints: offered folded, one tier per click
            assert "<summary>Hint 1 of 3</summary>" in shown and " open" not in shown, cell.source[:80]


@pytest.mark.timeout(300)
def test_a_learner_who_passes_an_exercise_keeps_the_function(tmp_path, monkeypatch):
    """In a real kernel: fill in 00's sha256_hex and hash_chain in the student build, run it, load what was kept."""
    from labkit.course import cases, saved

    monkeypatch.delenv(saved.MINE_ENV, raising=False)  # the default folder, work/mine beside the notebook
    make_student(ROOT / "notebooks", tmp_path)
    path = tmp_path / "00-welcome.ipynb"
    nb = nbformat.read(path, as_version=4)
    mine_line = "previous = hashlib.sha256((previous + line).encode()).hexdigest()"
    answers = {
        "def sha256_hex": "    return hashlib.sha256(text.encode()).hexdigest()",
        "def hash_chain": (f"    out, previous = [], '0' * 64\n    for line in lines:\n        {mine_line}\n"
                           "        out.append(previous)\n    return out"),
    }
    for cell in nb.cells:
        for start, answer in answers.items():
            if cell.cell_type == "code" and start in cell.source:
                cell.source = cell.source.replace(f"    {student.STUB}", answer)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    kept = tmp_path / "work" / "mine" / "hash_chain.py"
    assert kept.is_file(), "a passing check_against saves the function under work/mine/ beside the notebook"
    assert mine_line in kept.read_text()
    monkeypatch.setenv(saved.MINE_ENV, str(kept.parent))
    assert saved.load("hash_chain")(["a", "b"]) == cases.hash_chain_reference(["a", "b"])
    assert saved.names() == ["hash_chain"]  # check() keeps nothing: only check_against does
