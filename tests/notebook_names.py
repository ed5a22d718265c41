"""What a notebook's code cells define and use, read statically (symtable), for the tests that read notebooks."""

from __future__ import annotations

import builtins
import functools
import json
import symtable
from pathlib import Path

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
SOLUTION = "### BEGIN SOLUTION"


def code_cells(path: Path) -> list[str]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        # IPython's magics and shell lines are not Python: blank them out
        found.append("\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in text.splitlines()))
    return found


def bound(cell: str) -> set[str]:
    """The names a cell binds at the top level (assigned, imported, defined)."""
    table = symtable.symtable(cell, "<cell>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()
            or s.is_namespace()}


def used(cell: str) -> set[str]:
    """The global names a cell reads at its top level (not inside the functions it defines)."""
    table = symtable.symtable(cell, "<cell>", "exec")
    return {s.get_name() for s in table.get_symbols() if s.is_referenced()}


def is_exercise(cell: str) -> bool:
    return SOLUTION in cell


@functools.lru_cache(maxsize=None)
def notebook_names(path: Path) -> set[str]:
    """Every name the notebook's code binds at the top level, and Python's builtins."""
    names = set(dir(builtins))
    for cell in code_cells(path):
        names |= bound(cell)
    return names


def notebook_path(stem: str) -> Path:
    return NOTEBOOK_DIR / f"{stem}.ipynb"
