"""The package's shape: every module small enough to read in one sitting, and modules talk through public names.

Read from the source with ``ast`` (nothing is imported): a module over
``MAX_LINES`` lines, or an import of a name starting with ``_`` from another
labkit module, fails with the file and line to fix.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "labkit"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_LINES = 600
# Modules known to be too long, each with who splits it; strict, so the entry must go once it is split.
TOO_LONG: dict[str, str] = {}


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_module(node: ast.ImportFrom, path: Path, package_dir: Path) -> str:
    """The absolute name of the module ``node`` imports from (``from ..chain import x`` -> labkit.chain)."""
    if node.level == 0:
        return node.module or ""
    package = module_name(path, package_dir).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path, package: Path = PACKAGE) -> list[str]:
    """Each import of an underscore name (or from an underscore module) of labkit, as 'file:line: what'."""
    where = path.relative_to(package.parent).as_posix()
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            source = imported_module(node, path, package)
            if source != "labkit" and not source.startswith("labkit."):
                continue
            for alias in node.names:
                if private(alias.name) or any(private(part) for part in source.split(".")):
                    found.append(f"{where}:{node.lineno}: from {source} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("labkit.") and any(private(p) for p in alias.name.split(".")):
                    found.append(f"{where}:{node.lineno}: import {alias.name}")
    return found


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(reason=TOO_LONG[module_name(p)], strict=True))
    if module_name(p) in TOO_LONG else p
    for p in MODULES], ids=[module_name(p) for p in MODULES])
def test_a_module_is_at_most_600_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module_name(path)} has {lines} lines; split it by concept (at most {MAX_LINES})"


@pytest.mark.parametrize("path", MODULES, ids=[module_name(p) for p in MODULES])
def test_no_module_imports_another_modules_private_name(path):
    assert private_imports(path) == []


def test_the_check_finds_what_it_looks_for(tmp_path):
    # A made-up module in a package of the same shape: private names of labkit only, dunders allowed.
    fake = tmp_path / "labkit"
    (fake / "lessons").mkdir(parents=True)
    module = fake / "lessons" / "probe.py"
    module.write_text("from ..chain import _secret, judge\nfrom .lab import Lab\nimport labkit._hidden\n"
                      "from ..errors import __all__ as names\nfrom os import _exit\n")
    found = private_imports(module, fake)
    assert found == ["labkit/lessons/probe.py:1: from labkit.chain import _secret",
                     "labkit/lessons/probe.py:3: import labkit._hidden"]


def test_the_reading_order_lists_every_core_module():
    import labkit

    doc = labkit.__doc__
    table = doc.split(".. reading-order\n", 1)[1].split(".. end-reading-order", 1)[0]
    listed = [line.split()[0] for line in table.strip().splitlines()[3:-1]]
    core = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(listed) == core
    assert len(listed) == len(set(listed))
