"""The environment check of notebook 00: a table, never a print, with a fix for each failing row."""

from __future__ import annotations

import importlib
import types

import pytest

from labkit import envcheck
from labkit.envcheck import REQUIREMENTS, Requirement, check_environment, check_requirement, version_tuple

FAKE = Requirement("fakemod", "fake-dist-not-installed", "2.0", "3.0", "testing")


def fake_importer(version):
    return lambda name: types.SimpleNamespace(__version__=version)


def test_this_environment_passes():
    report = check_environment()
    assert list(report.index) == ["python"] + [r.distribution for r in REQUIREMENTS]
    assert {"pyjwt", "libtorrent", "ipywidgets", "matplotlib", "jupyterlab"} <= set(report.index)
    assert report["ok"].all(), report.loc[~report["ok"], "fix"].to_dict()
    assert (report["fix"] == "").all()


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
    ("2.5.1.post3", True, ""),
    ("3.0.0", False, "too new"),
])
def test_version_range(version, ok, words):
    row = check_requirement(FAKE, fake_importer(version))
    assert row["ok"] is ok and row["installed"] == version
    assert words in row["fix"]


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
    lab = next(r for r in REQUIREMENTS if r.module == "jupyterlab")
    assert not lab.kernel
    assert check_requirement(lab)["ok"]


@pytest.mark.parametrize("text, expected", [
    ("2.1.1", (2, 1, 1)), ("2.0.11.post1", (2, 0, 11)), ("42", (42,)), ("4.0rc1", (4, 0)), ("", ()),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected
