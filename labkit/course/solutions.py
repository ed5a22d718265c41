"""The instructor's solutions, read from the notebooks' ``### BEGIN SOLUTION`` cells, saved as a learner's would be.

A room of learner nodes needs a learner who got everything right (the battle's
control, issue 24): ``keep_solutions(notebooks)`` takes each kept exercise's
solution from its notebook (the instructor's version, where the solution cells are
filled in) and saves it with :func:`labkit.course.saved.keep`, exactly as a passing
``check`` does. A solution is written as a module of the notebook's import
statements and top-level functions (its helpers), loaded from a file so that
``keep`` can read its source.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
from pathlib import Path
from typing import Callable, Iterable

from ..errors import SavedCodeError
from ..files import ScratchFolder
from . import saved
from .registry import exercise

__all__ = ["MARK", "solution", "keep_solutions"]

MARK = "### BEGIN SOLUTION"


def _code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def solution(notebooks: str | os.PathLike, name: str) -> Callable:
    """Exercise ``name``'s function as its notebook's solution cell defines it (with its helpers and imports)."""
    found = exercise(name)
    if found is None:
        raise SavedCodeError(name, "no such exercise in labkit.course.registry")
    matches = sorted(Path(notebooks).glob(f"{found.number}-*.ipynb"))
    if not matches:
        raise SavedCodeError(name, f"no notebook {found.number}-*.ipynb in {notebooks}")
    statements: list[str] = []
    defined = False
    for source in _code_cells(matches[0]):
        try:
            tree = ast.parse(source)
        except SyntaxError:  # a cell of IPython magics: none is a solution's helper
            continue
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.ClassDef)):
                statements.append(ast.get_source_segment(source, node) or "")
            if isinstance(node, ast.FunctionDef) and node.name == name and MARK in source:
                defined = True
    if not defined:
        raise SavedCodeError(name, f"{matches[0].name} has no solution cell defining {name}")
    folder = ScratchFolder("labkit-solution-")  # removed with the function's module, or at exit
    path = folder / f"solution_{name}.py"
    path.write_text("\n\n".join(statements) + "\n", encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"solution_{name}", path)
    module = importlib.util.module_from_spec(spec)
    module.__dict__["_scratch_folder"] = folder  # its source file stays readable while the function lives
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return getattr(module, name)


def keep_solutions(notebooks: str | os.PathLike, names: Iterable[str]) -> list[Path]:
    """Save the notebooks' solutions of ``names`` in ``saved.mine_dir()``; the files written."""
    return [saved.keep(name, solution(notebooks, name)) for name in names]
