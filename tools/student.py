"""The student build and notebook hygiene.

The committed notebooks are the instructor's version: each exercise's
solution sits between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` lines
(nbgrader's markers). ``python tools/student.py notebooks student`` (``make
student``) writes the student version with each solution replaced by ``raise
NotImplementedError``; ``python tools/student.py --clean notebooks`` (``make
clean-notebooks``) strips outputs and execution counts in place (notebooks are
committed clean). The stub is the one nbgrader's release uses too
(tools/nbgrader_config.py), and ``make clean-notebooks`` also writes nbgrader's
cell metadata (tools/nbgrader_meta.py). A build tool, not part of labkit: it
needs only the standard library.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

__all__ = ["BEGIN", "END", "STUB", "strip_solutions", "clean_notebook", "make_student", "is_clean"]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB = 'raise NotImplementedError("your code here")'
_MARKER = re.compile(r"^(\s*)### (BEGIN|END) SOLUTION\s*$")


def strip_solutions(source: str) -> str:
    """Replace each BEGIN/END SOLUTION block with a stub at the marker's indentation."""
    out: list[str] = []
    inside = False
    for line in source.split("\n"):
        match = _MARKER.match(line)
        if match and match.group(2) == "BEGIN":
            if inside:
                raise ValueError("nested BEGIN SOLUTION")
            inside = True
            out.append(match.group(1) + STUB)
        elif match and match.group(2) == "END":
            if not inside:
                raise ValueError("END SOLUTION without BEGIN")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("BEGIN SOLUTION without END")
    return "\n".join(out)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def clean_notebook(nb: dict) -> dict:
    """Drop outputs, execution counts and per-cell run metadata."""
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    nb.get("metadata", {}).pop("widgets", None)
    return nb


def is_clean(nb: dict) -> bool:
    return not any(c.get("outputs") or c.get("execution_count")
                   for c in nb.get("cells", []) if c.get("cell_type") == "code")


def _write(nb: dict, path: Path) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def make_student(src: Path, dst: Path) -> list[Path]:
    """Write the student version of every notebook in ``src`` to ``dst``; returns the paths written."""
    dst.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(src.glob("[0-9][0-9]-*.ipynb")):
        nb = clean_notebook(json.loads(path.read_text(encoding="utf-8")))
        for cell in nb["cells"]:
            if cell.get("cell_type") == "code" and BEGIN in _source(cell):
                cell["source"] = strip_solutions(_source(cell))
        _write(nb, dst / path.name)
        written.append(dst / path.name)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/student.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", action="store_true", help="strip outputs in place instead of building")
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path, nargs="?")
    args = parser.parse_args(argv)
    if args.clean:
        for path in sorted(args.src.glob("*.ipynb")):
            nb = json.loads(path.read_text(encoding="utf-8"))
            if not is_clean(nb) or "widgets" in nb.get("metadata", {}):
                _write(clean_notebook(nb), path)
                print(f"cleaned {path}")
        return 0
    if args.dst is None:
        parser.error("give the destination folder for the student version")
    for path in make_student(args.src, args.dst):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
