"""The package's shape: modules small enough to read in one sitting, talking through public names, without cycles.

Read from the source with ``ast`` (nothing is imported): a module over
``MAX_LINES`` lines, an import of a name starting with ``_`` from another
labkit module, an import cycle among labkit's modules (every import counts,
those inside functions too, but not those under ``if TYPE_CHECKING:``), or
libtorrent imported outside ``labkit/sharing/``, fails with what to fix. And
the exercise registry names every exercise the notebooks check, and no other.
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



# --- imports: no cycle among labkit's modules, libtorrent only in sharing/ ---------------------------------


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of the nodes under ``if TYPE_CHECKING:`` (imports for annotations, never run)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(inner) for statement in node.body for inner in ast.walk(statement)}
    return skipped


def imports(path: Path, package: Path = PACKAGE, modules: frozenset[str] = frozenset()) -> list[tuple[int, str]]:
    """(line, module) for every module ``path`` imports when it runs, at the top or inside a function.

    ``from .x import y`` names the module ``x.y`` when it is one of ``modules``, else ``x``.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = _type_checking_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom):
            source = imported_module(node, path, package)
            for alias in node.names:
                found.append((node.lineno, f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules
                              else source))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def import_cycles(package: Path = PACKAGE) -> list[list[str]]:
    """Each set of labkit modules that import each other in a ring (Tarjan's strongly connected components)."""
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph = {name: sorted({m for _, m in imports(path, package, frozenset(paths)) if m in paths and m != name})
             for name, path in paths.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(name: str) -> None:
        order[name] = low[name] = len(order)
        stack.append(name)
        for other in graph[name]:
            if other not in order:
                visit(other)
                low[name] = min(low[name], low[other])
            elif other in stack:
                low[name] = min(low[name], order[other])
        if low[name] == order[name]:
            ring = []
            while not ring or ring[-1] != name:
                ring.append(stack.pop())
            if len(ring) > 1:
                cycles.append(sorted(ring))

    for name in graph:
        if name not in order:
            visit(name)
    return cycles


def test_no_import_cycle_among_labkit_modules():
    assert import_cycles() == []


def test_the_cycle_check_finds_a_ring_through_a_function_level_import(tmp_path):
    fake = tmp_path / "labkit"
    (fake / "lessons").mkdir(parents=True)
    for name, text in {"__init__.py": "", "pow.py": "def miner():\n    from .fastmine import mine\n",
                       "fastmine.py": "from .pow import miner\n", "chain.py": "from . import pow\n",
                       "lessons/__init__.py": "", "lessons/lab.py": "from ..chain import x\n",
                       "typed.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .lessons.lab import y\n"
                       }.items():
        (fake / name).write_text(text)
    assert import_cycles(fake) == [["labkit.fastmine", "labkit.pow"]]


def libtorrent_imports(package: Path = PACKAGE) -> list[str]:
    """Each import of libtorrent outside labkit/sharing/, as 'file:line'."""
    sharing = package / "sharing"
    return [f"{path.relative_to(package.parent).as_posix()}:{line}"
            for path in sorted(package.rglob("*.py")) if sharing not in path.parents
            for line, module in imports(path, package) if module.split(".")[0] == "libtorrent"]


def test_libtorrent_is_imported_only_inside_labkit_sharing():
    assert libtorrent_imports() == []


def test_the_libtorrent_check_finds_an_import_in_a_function(tmp_path):
    fake = tmp_path / "labkit"
    (fake / "sharing").mkdir(parents=True)
    (fake / "course").mkdir()
    (fake / "sharing" / "session.py").write_text("import libtorrent as lt\n")
    (fake / "course" / "cases.py").write_text("def f():\n    import libtorrent\n    from libtorrent import bencode\n")
    assert libtorrent_imports(fake) == ["labkit/course/cases.py:2", "labkit/course/cases.py:3"]


def test_the_reading_order_lists_every_core_module():
    import labkit

    doc = labkit.__doc__
    table = doc.split(".. reading-order\n", 1)[1].split(".. end-reading-order", 1)[0]
    listed = [line.split()[0] for line in table.strip().splitlines()[3:-1]]
    core = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_"))
    assert sorted(listed) == core
    assert len(listed) == len(set(listed))


# --- the exercise registry: one row per exercise, every notebook's checks and nothing else ------------------

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
README = Path(__file__).resolve().parent.parent / "README.md"


def registry_mismatches(notebooks: Path, exercises) -> list[str]:
    """What differs between the checks the notebooks make and the registry's rows, one line each."""
    from labkit.course.grade import exercise_names

    checked = {path.stem: exercise_names(path) for path in sorted(notebooks.glob("[0-9][0-9]-*.ipynb"))}
    listed: dict[str, list[str]] = {}
    for row in exercises:
        listed.setdefault(row.notebook, []).append(row.name)
    found = []
    for notebook in sorted(set(checked) | set(listed)):
        mine, theirs = checked.get(notebook, []), listed.get(notebook, [])
        found += [f"{notebook} checks {name!r}, which the registry lacks" for name in mine if name not in theirs]
        found += [f"the registry names {name!r} in {notebook}, which no check there makes"
                  for name in theirs if name not in mine]
        if set(mine) == set(theirs) and mine != theirs:
            found.append(f"{notebook} checks {mine}, the registry lists {theirs}: not in the notebook's order")
    return found


def test_the_registry_has_every_exercise_the_notebooks_check_and_no_other():
    from labkit.course.registry import EXERCISES

    assert registry_mismatches(NOTEBOOKS, EXERCISES) == []


def test_the_registry_check_finds_a_missing_and_an_extra_exercise(tmp_path):
    import nbformat

    from labkit.course.registry import Exercise

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('ex.check("one", f, [])\nex.check("two", g, [])')])
    nbformat.write(nb, str(tmp_path / "00-probe.ipynb"))
    rows = [Exercise("one", "00-probe", 1), Exercise("three", "00-probe", 1), Exercise("four", "01-gone", 2)]
    assert registry_mismatches(tmp_path, rows) == [
        "00-probe checks 'two', which the registry lacks",
        "the registry names 'three' in 00-probe, which no check there makes",
        "the registry names 'four' in 01-gone, which no check there makes"]
    assert registry_mismatches(tmp_path, [Exercise("two", "00-probe", 1), Exercise("one", "00-probe", 1)]) == [
        "00-probe checks ['one', 'two'], the registry lists ['two', 'one']: not in the notebook's order"]


def test_every_exercise_has_one_name_style_points_and_three_hint_tiers_and_every_hint_an_exercise():
    from labkit.course import hints
    from labkit.course.registry import BY_NAME, EXERCISES

    assert len(BY_NAME) == len(EXERCISES)  # names are unique across the course
    for row in EXERCISES:
        assert row.name.isidentifier() and row.name == row.name.lower(), row.name  # a function's name
        assert row.points in (1, 2, 3), row.name
        assert len(row.hints) == 3, row.name
        assert not row.capstone or row.kept, f"{row.name}: the capstone loads only saved code"
        assert bool(row.signature) == row.kept, f"{row.name}: a kept exercise documents its signature"
        assert not row.kept or (row.reference and row.cases), f"{row.name}: a kept exercise has generated cases"
    assert set(hints.HINTS) == set(BY_NAME)


def test_every_reference_and_case_generator_the_registry_names_exists():
    from labkit.course.registry import EXERCISES

    for row in EXERCISES:
        if row.reference:
            assert callable(row.reference_function()), row.reference
        if row.cases:
            assert len(row.case_function()()) >= 40, row.cases


def test_saved_code_the_capstone_and_the_tables_are_derived_from_the_registry():
    from labkit.course import capstone, registry, saved

    assert saved.KEPT == tuple(row.name for row in registry.EXERCISES if row.kept)
    assert {name: role for name, (_, role, _) in capstone.PARTS.items()} == {
        row.name: row.capstone for row in registry.EXERCISES if row.capstone}
    assert all(capstone.PARTS[row.name][2] is row.reference_function() for row in registry.EXERCISES if row.capstone)
    assert registry.kept_list() in saved.__doc__
    readme = README.read_text(encoding="utf-8")
    assert "-->\n" + registry.exercises_table() + "\n<!-- end exercises -->" in readme


# Exceptions used as signals inside one module (never shown to a user, never caught elsewhere) may stay there.
INTERNAL_SIGNALS = {"labkit.rules.Waiting", "labkit.rules.NotAsked", "labkit.blocksfile._TooMany",
                    "labkit.node.rules.LearnerTimeout"}


def error_classes_outside_errors(package: Path = PACKAGE) -> list[str]:
    """Each class outside labkit/errors.py whose base is an exception (by name: ``...Error``, ``Exception``)."""
    found = []
    for path in sorted(package.rglob("*.py")):
        if path == package / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                         for b in node.bases]
                if any(b.endswith(("Error", "Exception", "Full")) for b in bases):
                    name = f"{module_name(path, package)}.{node.name}"
                    if name not in INTERNAL_SIGNALS:
                        found.append(name)
    return found


def test_every_error_class_is_in_labkit_errors():
    assert error_classes_outside_errors() == []


def test_the_error_class_check_finds_one_elsewhere(tmp_path):
    fake = tmp_path / "labkit"
    (fake / "node").mkdir(parents=True)
    (fake / "errors.py").write_text("class LabkitError(Exception):\n    pass\n")
    (fake / "node" / "queue.py").write_text("from ..errors import LabkitError\n\n"
                                            "class QueueError(LabkitError):\n    pass\n\n"
                                            "class Fine:\n    pass\n")
    assert error_classes_outside_errors(fake) == ["labkit.node.queue.QueueError"]
