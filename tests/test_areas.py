"""Every test file has an area (tests/areas.py), every area is a declared marker, and the marks are applied."""

from __future__ import annotations

import re
from pathlib import Path

from areas import (AREA_NAMES, AREAS, FIRST, GROUPS, NOTEBOOK_FIXTURES, SLOW, area_of, files_of, group_of, is_slow,
                   notebook_group)

TESTS = Path(__file__).resolve().parent


def test_every_test_file_has_an_area():
    files = sorted(p.name for p in TESTS.glob("test_*.py"))
    missing = [name for name in files if name not in AREAS]
    assert not missing, f"add these files to AREAS in tests/areas.py: {missing}"
    gone = sorted({key.partition("::")[0] for key in AREAS} - set(files))
    assert not gone, f"AREAS names files that are not in tests/: {gone}"


def _named_tests_exist(entries) -> None:
    for entry in entries:
        filename, _, name = entry.partition("::")
        assert filename in AREAS, entry
        if name:
            assert re.search(rf"^def {re.escape(name)}\(", (TESTS / filename).read_text(), re.M), entry


def test_every_area_is_a_declared_marker(request):
    declared = {line.split(":")[0].strip() for line in request.config.getini("markers")}
    assert set(AREA_NAMES) | {"slow"} <= declared, "declare each area under markers in pyproject.toml"
    assert set(AREAS.values()) <= set(AREA_NAMES)


def test_every_test_named_in_the_tables_exists():
    _named_tests_exist(SLOW)
    _named_tests_exist(AREAS)


def test_a_test_that_runs_notebooks_is_in_the_notebooks_area_whatever_its_file():
    assert area_of("test_clean_page.py", "test_cell_text[None-]") == "lessons"
    for fixture in NOTEBOOK_FIXTURES:
        assert area_of("test_clean_page.py", "test_x", ["tmp_path", fixture]) == "notebooks"
    assert area_of("test_new_and_unlisted.py", "test_x") is None


def test_a_test_named_in_the_table_has_its_own_area():
    named = [key for key in AREAS if "::" in key]
    assert named, "the table names single tests too (one that runs notebooks in a file that does not)"
    for key in named:
        filename, _, name = key.partition("::")
        assert area_of(filename, f"{name}[some-parameter]") == AREAS[key] != AREAS[filename]


def test_slow_is_matched_by_file_or_by_test_without_its_parameters():
    assert is_slow("test_faults.py", "test_anything[ana]")
    assert not is_slow("test_node.py", "test_anything")


def test_the_collected_tests_carry_their_files_area(request):
    """The conftest hook marks what this run collected: each test from tests/ has exactly one area."""
    for item in request.session.items:
        if item.path.parent != TESTS:
            continue
        areas = [mark.name for mark in item.iter_markers() if mark.name in AREA_NAMES]
        expected = area_of(item.path.name, item.name, item.fixturenames)
        # a browser file also sets pytestmark = browser itself: the same area twice is still one area
        assert set(areas) == {expected}, (item.nodeid, areas)
        assert (item.get_closest_marker("slow") is not None) == is_slow(item.path.name, item.name), item.nodeid


def test_an_area_collects_the_files_that_hold_its_tests():
    for key, area in AREAS.items():
        assert key.partition("::")[0] in files_of(area), key
    assert "test_clean_page.py" in files_of("notebooks")  # its scans ask for executed_notebook
    assert "test_clean_page.py" in files_of("lessons") and "test_student.py" not in files_of("lessons")


# --- under pytest -n: which tests share a worker (tests/areas.py group_of, conftest.py's scheduler) ---


def test_a_groups_tests_are_named_by_their_ids_alone():
    assert group_of("tests/test_node.py::test_x[ana]") == "tests/test_node.py"  # a file goes whole
    assert group_of("notebooks/03-proof-of-work.ipynb::Cell 4") == "notebooks/03-proof-of-work.ipynb"  # nbval
    assert group_of("tests/test_hub.py::test_x") == group_of("tests/test_image_install.py::test_y") == "hub"
    assert group_of("tests/test_student.py::test_student_notebook_runs_with_stubs[03-proof-of-work.ipynb]") \
        == group_of("tests/test_notebooks_run.py::test_every_cell_runs_without_an_error[03-proof-of-work]") \
        == notebook_group("03-proof-of-work")
    assert group_of("tests/test_clean_page.py::test_the_classroom_networks_measured_sentences_are_shown_from_its_run") \
        == notebook_group("09-the-classroom-network")
    assert group_of("tests/test_node.py::test_x[03-proof-of-work]") == "tests/test_node.py"  # not a run's reader
    assert group_of("tests/test_no_secrets_left.py::test_a_notebook_run_leaves_no_labkit_folder_and_no_process"
                    "[05-torrent-sharing]") == notebook_group("05-torrent-sharing")


def test_every_collected_test_that_reads_a_notebooks_run_is_sent_where_that_notebook_runs(request):
    """A test asking for notebook_runs with a notebook's name as a parameter is in that notebook's group:
    so the worker that runs a notebook is the one that reads it, and none waits for another's run
    (tests/notebook_runs.py). Checked on what this session collected (make test collects them all; the
    ids' shapes are checked above whatever is collected)."""
    stems = {p.stem for p in (TESTS.parent / "notebooks").glob("[0-9][0-9]-*.ipynb")}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        named = sorted({v.removesuffix(".ipynb") for v in params.values() if isinstance(v, str)} & stems)
        if "notebook_runs" in getattr(item, "fixturenames", ()) and named:
            assert group_of(item.nodeid) == notebook_group(named[0]), item.nodeid


def test_the_groups_started_first_are_groups_of_this_suite():
    for group in FIRST:
        kind, _, name = group.partition(":")
        if kind == "notebook-run":
            assert (TESTS.parent / "notebooks" / f"{name}.ipynb").exists(), group
        else:
            assert group in GROUPS.values() or (TESTS.parent / group).exists(), group
    assert len(set(FIRST)) == len(FIRST)
