"""00's map of the course lists every notebook that exists, in its table and in its diagram.

The map is prose a person writes (what each notebook lets you do, what it
builds on); this test keeps it honest against the notebooks folder, so a new
notebook cannot be left off it again.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def map_cell() -> str:
    cells = json.loads((NOTEBOOKS / "00-welcome.ipynb").read_text(encoding="utf-8"))["cells"]
    found = ["".join(c["source"]) for c in cells if "".join(c["source"]).startswith("## The map of the course")]
    assert len(found) == 1, "00 has one cell headed '## The map of the course'"
    return found[0]


def test_the_table_lists_every_notebook_in_order():
    rows = re.findall(r"^\| `(\d\d-[a-z0-9-]+)` \|", map_cell(), re.M)
    assert rows == sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def test_the_diagram_places_every_notebook_after_the_welcome():
    diagram = map_cell().split("```")[1]
    named = {int(n) for group in re.findall(r"\(([\d, ]+)\)", diagram) for n in group.split(",")}
    expected = {int(p.name[:2]) for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")} - {0}
    assert named == expected


def test_each_row_builds_only_on_earlier_notebooks():
    for number, builds_on in re.findall(r"^\| `(\d\d)-[a-z0-9-]+` \|[^|]*\| ([^|]*)\|", map_cell(), re.M):
        earlier = [int(n) for a, b in re.findall(r"(\d\d)(?:-(\d\d))?", builds_on) for n in (a, b) if n]
        assert all(n < int(number) for n in earlier), (number, builds_on)
