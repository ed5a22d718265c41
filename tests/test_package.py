"""The package itself: ``import labkit`` is cheap, and every module is reachable as ``labkit.<name>``."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import labkit

PACKAGE = Path(labkit.__file__).parent


def module_files() -> set[str]:
    """The public modules and subpackages, read from the folder independently of labkit's own listing."""
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    return {name for name in modules | packages if not name.startswith("_")}


def test_every_module_is_reachable_as_an_attribute():
    assert set(labkit.__all__) >= module_files()
    for name in sorted(module_files()):
        assert getattr(labkit, name) is importlib.import_module(f"labkit.{name}"), name


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_module"):
        labkit.no_such_module  # noqa: B018


def test_import_labkit_loads_only_the_errors():
    # In a fresh interpreter: this one has imported submodules already.
    probe = "import sys, json, labkit; print(json.dumps(sorted(m for m in sys.modules if m.startswith('labkit'))))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=PACKAGE.parent)
    assert json.loads(result.stdout) == ["labkit", "labkit.errors"]
