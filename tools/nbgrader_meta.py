"""nbgrader's cell metadata for the notebooks, written from the exercise registry (never edited by hand).

nbgrader grades a notebook by its cells' ``metadata.nbgrader``: a solution
cell (``solution: true``) has its ``### BEGIN SOLUTION`` region replaced by a
stub in the release; a check cell is an autograded test (``grade: true``,
``locked: true``, worth the registry's points), restored from the instructor's
source before grading and scoring its points only when it does not raise.
Notebooks are JSON and merge badly, so this metadata is generated:
``python tools/nbgrader_meta.py notebooks`` (run by ``make clean-notebooks``)
rewrites every cell's ``nbgrader`` entry from :mod:`labkit.course.registry`,
and ``tests/test_nbgrader.py`` fails when a committed notebook differs from
what it writes. For each exercise of the registry:

- its solution cell is the code cell that defines ``def NAME(`` around the
  markers; grade id ``NAME-solution``;
- its check cell is the code cell that calls ``ex.check("NAME", ...)`` or
  ``ex.check_against("NAME", ...)``; grade id ``NAME``, the registry's points.

Every other cell carries no nbgrader metadata. A notebook whose cells do not
have that shape (an exercise without its solution or check cell, two check
cells for one exercise, markers in a cell no exercise owns) is refused with a
ValueError naming the notebook and the cell, and nothing is written.

``tools/nbgrader_config.py`` is the configuration a course folder needs (it
says why). A build tool, not part of labkit: it reads the registry of the
checkout it sits in.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # this checkout's registry, not some other installed labkit
    sys.path.insert(0, str(ROOT))

from labkit.course.registry import in_notebook  # noqa: E402

__all__ = ["SCHEMA_VERSION", "MARKERS", "BEGIN", "solution_id", "check_id", "expected_metadata", "with_metadata",
           "stale_cells", "main"]

SCHEMA_VERSION = 3  # nbgrader's cell metadata schema (nbgrader 0.6 and later)
# nbgrader's delimiters (ClearSolutions): it reads a solution region wherever this text appears in a
# cell, prose included, and refuses one in a cell not marked as a solution.
MARKERS = ("BEGIN SOLUTION", "END SOLUTION")
BEGIN = "### BEGIN SOLUTION"  # how the notebooks write it (tools/student.py)


def solution_id(name: str) -> str:
    return f"{name}-solution"


def check_id(name: str) -> str:
    """The check cell's grade id: the exercise's own name, the one the gradebook shows with its points."""
    return name


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _solution(grade_id: str) -> dict:
    return {"grade": False, "grade_id": grade_id, "locked": False, "schema_version": SCHEMA_VERSION,
            "solution": True, "task": False}


def _check(grade_id: str, points: int) -> dict:
    return {"grade": True, "grade_id": grade_id, "locked": True, "points": points,
            "schema_version": SCHEMA_VERSION, "solution": False, "task": False}


def expected_metadata(nb: dict, notebook: str) -> dict[int, dict]:
    """Cell index -> its nbgrader metadata, for the cells that carry some; ValueError for a notebook of the wrong shape."""
    cells = nb.get("cells", [])
    found: dict[int, dict] = {}
    for exercise in in_notebook(notebook):
        define = re.compile(rf"^\s*def {re.escape(exercise.name)}\(", re.M)
        call = re.compile(rf"\bex\.check(?:_against)?\(\s*[\"']{re.escape(exercise.name)}[\"']")
        solutions = [i for i, c in enumerate(cells)
                     if c.get("cell_type") == "code" and BEGIN in _source(c) and define.search(_source(c))]
        checks = [i for i, c in enumerate(cells) if c.get("cell_type") == "code" and call.search(_source(c))]
        for kind, where in (("solution cell (def with the markers)", solutions), ("check cell", checks)):
            if len(where) != 1:
                raise ValueError(f"{notebook}: exercise {exercise.name!r} needs one {kind}, found "
                                 f"{len(where)}{' at cells ' + str(where) if where else ''}")
        if solutions[0] == checks[0]:
            raise ValueError(f"{notebook}: exercise {exercise.name!r} is solved and checked in one cell "
                             f"({solutions[0]}); nbgrader needs them apart")
        for index, meta in ((solutions[0], _solution(solution_id(exercise.name))),
                            (checks[0], _check(check_id(exercise.name), exercise.points))):
            if index in found:
                raise ValueError(f"{notebook}: cell {index} is claimed by {found[index]['grade_id']!r} and "
                                 f"{meta['grade_id']!r}")
            found[index] = meta
    for i, cell in enumerate(cells):
        quoted = [marker for marker in MARKERS if marker in _source(cell)]
        if quoted and not found.get(i, {}).get("solution"):
            raise ValueError(f"{notebook}: cell {i} ({cell.get('cell_type')}) contains {quoted[0]!r} but is no "
                             f"exercise's solution cell; nbgrader reads it as a solution region (reword the prose)")
    return found


def with_metadata(nb: dict, notebook: str) -> dict:
    """``nb`` with every cell's nbgrader entry set from the registry (removed where a cell needs none)."""
    wanted = expected_metadata(nb, notebook)
    for i, cell in enumerate(nb.get("cells", [])):
        meta = cell.setdefault("metadata", {})
        if i in wanted:
            meta["nbgrader"] = wanted[i]
        else:
            meta.pop("nbgrader", None)
    return nb


def stale_cells(nb: dict, notebook: str) -> list[str]:
    """One line per cell whose nbgrader metadata differs from what this tool writes ([] when none)."""
    wanted = expected_metadata(nb, notebook)
    found = []
    for i, cell in enumerate(nb.get("cells", [])):
        have = cell.get("metadata", {}).get("nbgrader")
        if have != wanted.get(i):
            found.append(f"{notebook} cell {i}: has {have}, the registry gives {wanted.get(i)}")
    return found


def _write(nb: dict, path: Path) -> None:  # the same layout as tools/student.py and Jupyter's saves
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/nbgrader_meta.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the notebooks folder (NN-topic.ipynb)")
    args = parser.parse_args(argv)
    paths = sorted(args.folder.glob("[0-9][0-9]-*.ipynb"))
    if not paths:
        parser.error(f"{args.folder}: no NN-topic.ipynb notebooks there")
    try:
        notebooks = {path: json.loads(path.read_text(encoding="utf-8")) for path in paths}
        stale = {path: nb for path, nb in notebooks.items() if stale_cells(nb, path.stem)}
    except ValueError as exc:  # a malformed notebook or one of the wrong shape: nothing written
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path, nb in stale.items():
        _write(with_metadata(nb, path.stem), path)
        print(f"wrote nbgrader metadata in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
