"""Every test file has an area (tests/areas.py), every area is a declared marker, and the marks are applied."""

from __future__ import annotations

import re
from pathlib import Path

from areas import AREA_NAMES, AREAS, NOTEBOOK_FIXTURES, SLOW, area_of, files_of, is_slow

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
