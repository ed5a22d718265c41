"""The environment check of notebook 00: a table, never a print, with a fix for each failing row."""

from __future__ import annotations

import builtins
import importlib
import importlib.metadata
import sys
import types
from pathlib import Path

import pytest

from labkit.lessons import envcheck
from labkit.lessons.envcheck import (
    NEEDED_FOR,
    Requirement,
    check_environment,
    check_requirement,
    parse_requirement,
    range_problem,
    requirements,
    version_tuple,
)

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
FAKE = Requirement("fakemod", "fake-dist-not-installed", ">=2.0,<3.0", "testing")


def fake_importer(version):
    return lambda name: types.SimpleNamespace(__version__=version)


def without_packaging(monkeypatch):
    """Make `from packaging.requirements import ...` fail, as in a kernel without JupyterLab's dependencies."""
    real_import = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name == "packaging" or name.startswith("packaging."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)


def test_this_environment_passes():
    report = check_environment()
    assert list(report.index) == ["python"] + [r.distribution for r in requirements()]
    assert {"pyjwt", "libtorrent", "ipywidgets", "matplotlib", "jupyterlab", "tqdm"} <= set(report.index)
    assert report["ok"].all(), report.loc[~report["ok"], "fix"].to_dict()
    assert (report["fix"] == "").all()


def test_the_pins_are_pyproject_tomls():
    # pyproject.toml is the one list: the dependencies and the lab extra, not the test extra.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads(PYPROJECT.read_text("utf-8"))["project"]
    listed = [parse_requirement(text) for text in project["dependencies"] + project["optional-dependencies"]["lab"]]
    assert [(r.distribution, r.spec) for r in requirements()] == listed
    assert ("libtorrent", ">=2.0.11,<2.2") in listed
    assert check_environment().loc["python", "required"] == ">=3.10,<3.14" == project["requires-python"]


def test_every_requirement_says_what_it_is_for():
    for r in requirements():
        assert r.distribution in NEEDED_FOR, f"add {r.distribution!r} to envcheck.NEEDED_FOR"
    assert {r.module for r in requirements()} >= {"jwt", "libtorrent", "matplotlib"}


@pytest.mark.parametrize("text, expected", [
    ("rsa>=4.9", ("rsa", ">=4.9")),
    ("libtorrent<2.2,>=2.0.11", ("libtorrent", ">=2.0.11,<2.2")),
    ('jupyterlab>=4.0; extra == "lab"', ("jupyterlab", ">=4.0")),
    ('pytest>=8; extra == "test"', None),
    ('labkit[lab]; extra == "test"', None),
    ("PyJWT_x >= 2.13", ("pyjwt-x", ">=2.13")),
    ("tqdm", ("tqdm", "")),
])
@pytest.mark.parametrize("parser", ["packaging", "small parser"])
def test_parse_requirement(text, expected, parser, monkeypatch):
    # The small parser, used where packaging is not installed, must agree with packaging.
    if parser == "small parser":
        without_packaging(monkeypatch)
    assert parse_requirement(text) == expected


def test_requirements_without_packaging_are_the_same(monkeypatch):
    with_packaging = requirements()
    without_packaging(monkeypatch)
    assert requirements() == with_packaging


def test_labkit_not_installed_is_a_row_not_a_crash(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(envcheck.importlib.metadata, "metadata", missing)
    report = check_environment()
    assert list(report.index) == ["labkit"] and not report["ok"].any()
    assert "make lab" in report.loc["labkit", "fix"]


def test_missing_module_says_how_to_install_it():
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    row = check_requirement(FAKE, missing)
    assert row["ok"] is False and row["installed"] is None
    assert "pip install 'fake-dist-not-installed>=2.0,<3.0'" in row["fix"]
    assert "restart the kernel" in row["fix"]


def test_broken_install_is_reported_not_raised():
    def broken(name):
        raise ImportError("libtorrent-rasterbar.so.2.0: cannot open shared object file")

    row = check_requirement(FAKE, broken)
    assert not row["ok"] and "cannot open shared object" in row["fix"]


@pytest.mark.parametrize("version, ok, words", [
    ("1.9.9", False, "too old"),
    ("2.0", True, ""),
    ("2.0.0", True, ""),
    ("2.5.1.post3", True, ""),
    ("3.0.0", False, "too new"),
])
def test_version_range(version, ok, words):
    row = check_requirement(FAKE, fake_importer(version))
    assert row["ok"] is ok and row["installed"] == version
    assert words in row["fix"]


@pytest.mark.parametrize("version, spec, problem", [
    ("2.0.11", ">=2.0.11,<2.2", ""),
    ("2.2", ">=2.0.11,<2.2", "too new for labkit"),
    ("2.1.9", ">2.1,<=2.1.9", ""),
    ("2.1", ">2.1", "too old"),
    ("2.1.0", "!=2.1", "a version labkit excludes"),
    ("4.0", "==4", ""),
    ("1.0", "", ""),
])
def test_range_problem(version, spec, problem):
    assert range_problem(version, spec) == problem


def test_a_range_it_cannot_judge_is_an_error_not_a_pass():
    with pytest.raises(ValueError, match="~=2.1"):
        range_problem("2.1.5", "~=2.1")


def test_python_outside_the_range_says_so(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 14, 0, "final", 0))
    row = check_environment(()).loc["python"]
    assert not row["ok"] and "labkit needs Python >=3.10,<3.14" in row["fix"]


def test_module_without_a_version_is_trusted():
    row = check_requirement(FAKE, lambda name: types.SimpleNamespace())
    assert row["ok"] and row["installed"] is None


def test_jupyterlab_is_looked_up_not_imported(monkeypatch):
    # Importing jupyterlab takes seconds; the kernel never needs it.
    real = importlib.import_module

    def guarded(name, *args):
        assert name != "jupyterlab", "jupyterlab was imported"
        return real(name, *args)

    monkeypatch.setattr(envcheck.importlib, "import_module", guarded)
    lab = next(r for r in requirements() if r.module == "jupyterlab")
    assert not lab.kernel
    assert check_requirement(lab)["ok"]


@pytest.mark.parametrize("text, expected", [
    ("2.1.1", (2, 1, 1)), ("2.0.11.post1", (2, 0, 11)), ("42", (42,)), ("4.0rc1", (4, 0)), ("", ()),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


# --- on a JupyterHub: no make lab, ask for the image ----------------------------------------------


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "ana")
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)


@pytest.mark.parametrize("environ, expected", [({}, False), ({"JUPYTERHUB_USER": "ana"}, True),
                                               ({"JUPYTERHUB_API_TOKEN": "secret"}, True),
                                               ({"JUPYTERHUB_USER": ""}, False)])
def test_a_hub_is_told_by_the_variables_it_sets(environ, expected):
    assert envcheck.on_a_hub(environ) is expected


def test_on_a_hub_a_missing_module_is_for_the_image_not_make_lab(hub):
    def missing(name):
        raise ModuleNotFoundError(f"No module named {name!r}")

    fix = check_requirement(FAKE, missing)["fix"]
    assert "make lab" not in fix and "pip install" not in fix
    assert "'fake-dist-not-installed>=2.0,<3.0'" in fix and "JupyterHub" in fix and "deploy/" in fix


def test_on_a_hub_labkit_missing_says_so_too(hub, monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(envcheck.importlib.metadata, "metadata", missing)
    fix = check_environment().loc["labkit", "fix"]
    assert "make lab" not in fix and "JupyterHub" in fix
