"""labkit.course.saved: a learner's function saved with what it uses from the notebook, loaded back alone."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest

from labkit.errors import SavedCodeError
from labkit.course import saved

# A notebook cell, as a kernel runs it: in __main__, its source in a file the kernel writes.
CELL = """
import hashlib
from labkit.lessons.factoring import pollard_rho
from labkit.tokens import format_timestamp

SALT = "labkit"  # a plain constant the function reads
encode = "an attribute's name, not a global the function reads"
TABLE = {"a": [1, 2]}
window = object()  # neither plain nor importable: named in a comment, not saved


def helper(text: str) -> str:
    return hashlib.sha256((SALT + text).encode()).hexdigest()


def uses_everything(text: str, n: int = 8051) -> tuple:
    # a module, a labkit function, a helper of the notebook (and its constant), a dict constant
    return helper(text), pollard_rho(n) in (83, 97), TABLE["a"], format_timestamp.__name__


def uses_the_window():
    return window
"""


@pytest.fixture
def cell(tmp_path):
    path = tmp_path / "cell.py"
    path.write_text(CELL)
    namespace = {"__name__": "__main__"}
    exec(compile(CELL, str(path), "exec"), namespace)
    return namespace


def helper(text: str) -> str:
    return hashlib.sha256(("labkit" + text).encode()).hexdigest()


@pytest.fixture(autouse=True)
def folder(monkeypatch, tmp_path):
    monkeypatch.setenv(saved.MINE_ENV, str(tmp_path / "mine"))
    return tmp_path / "mine"


def test_the_folder_is_work_mine_unless_the_environment_names_one(monkeypatch, folder, tmp_path):
    assert saved.mine_dir() == folder
    monkeypatch.delenv(saved.MINE_ENV)
    monkeypatch.delenv("LABKIT_WORK_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert saved.mine_dir() == tmp_path / "work" / "mine"  # labkit's work folder, beside the notebook


def test_keep_and_load_round_trip_with_what_the_function_uses(folder, cell):
    path = saved.keep("uses_everything", cell["uses_everything"])
    assert path == folder / "uses_everything.py"
    loaded = saved.load("uses_everything")
    assert loaded is not cell["uses_everything"] and loaded("x") == cell["uses_everything"]("x")
    assert loaded("x")[1:] == (True, [1, 2], "format_timestamp")
    source = path.read_text()
    assert "import hashlib" in source and "from labkit.lessons.factoring import pollard_rho" in source
    assert "SALT = 'labkit'" in source and "def helper" in source and "window" not in source
    assert "encode =" not in source


def test_keep_never_writes_through_a_symlink(folder, cell, tmp_path):
    # a classmate's (or a careless) symlink at the old fixed temporary name, or at the saved file itself,
    # must not make keep() write into the file it points to
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder.mkdir()
    (folder / ".uses_everything.py.tmp").symlink_to(victim)
    path = saved.keep("uses_everything", cell["uses_everything"])
    assert victim.read_text() == "precious" and not path.is_symlink()
    assert saved.load("uses_everything")("x") == cell["uses_everything"]("x")
    path.unlink()
    path.symlink_to(victim)
    saved.keep("uses_everything", cell["uses_everything"])
    assert victim.read_text() == "precious" and not path.is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == [".uses_everything.py.tmp", "uses_everything.py"]


def test_a_name_that_cannot_be_saved_is_named_and_fails_clearly_when_called(cell):
    source = saved.keep("uses_the_window", cell["uses_the_window"]).read_text()
    assert "# window: a object from the notebook, not saved" in source
    with pytest.raises(NameError, match="window"):
        saved.load("uses_the_window")()


def test_the_saved_file_runs_in_a_fresh_interpreter(folder, cell):
    saved.keep("uses_everything", cell["uses_everything"])
    code = textwrap.dedent(f"""
        import runpy
        ns = runpy.run_path({str(folder / 'uses_everything.py')!r})
        print(ns['uses_everything']('x')[0])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == helper("x")


def test_a_function_kept_under_another_name_is_found_by_that_name():
    saved.keep("fork_choice", helper)
    assert saved.load("fork_choice")("y") == helper("y")
    assert saved.names() == ["fork_choice"]


def test_load_of_an_exercise_never_passed_is_none():
    assert saved.load("check_block") is None


def test_saved_lists_course_order_first(folder):
    for name in ("zeta", "check_block", "hash_chain"):
        saved.keep(name, helper)
    assert saved.names() == ["hash_chain", "check_block", "zeta"]


@pytest.mark.parametrize("name", ["../evil", "a b", "", "1abc", "x.py"])
def test_a_name_that_is_not_an_identifier_is_refused(name):
    with pytest.raises(SavedCodeError, match="named like a Python function"):
        saved.keep(name, helper)
    with pytest.raises(SavedCodeError):
        saved.load(name)


def test_a_saved_file_that_does_not_run_or_lacks_the_function_is_reported(folder):
    folder.mkdir(parents=True)
    (folder / "broken.py").write_text("def broken(:\n")
    with pytest.raises(SavedCodeError, match="does not run: SyntaxError"):
        saved.load("broken")
    (folder / "empty.py").write_text("x = 1\n")
    with pytest.raises(SavedCodeError, match="defines no function 'empty'"):
        saved.load("empty")


def test_a_function_without_source_cannot_be_kept():
    with pytest.raises(SavedCodeError, match="no source"):
        saved.keep("builtin", len)


def test_every_kept_name_is_documented_with_its_signature():
    for name in saved.KEPT:
        assert f"``{name}(" in saved.__doc__, name
