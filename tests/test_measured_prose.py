"""Prose never states a number the run measures: a cell computes the sentence from the number.

09 once said "the bytes per new block are about the chain's size" (they were
half), "our room's delays are a second or less" (p95 was 1.51 s) and "the room
is still running" under a dashboard that said no node was running after Run
All. Such sentences are now made by a code cell from the measurement (as 03
does for its mining rates), and this test keeps the Markdown free of them:
no sentence in a notebook's prose pairs a measured quantity of the run with
a figure, and each computed sentence is in a code cell.
(tests/test_clean_page.py's COMPUTED lists the sentences whose output it checks
for the notebooks it executes.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

# A measured quantity of a live run, then a figure or a comparison, in one sentence.
_MEASURED = re.compile(r"\b(delays?|propagation|bytes (fetched |moved )?per (new )?block|p95|95th percentile|median)\b"
                       r"[^.]*?\b(are|is|was|were) (about|a second|less|more|under|over|\d[\d,.]*\s*(s\b|ms\b|seconds?|bytes|KiB|%))",
                       re.I)
# The state of the room at the end of the notebook, which differs between stepping through and Run All.
_STATE_CLAIMS = re.compile(r"\bthe room is still running\b", re.I)


def cells(name: str, kind: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def test_the_scan_finds_the_sentences_09_once_had():
    old = ["This chain is shorter than a piece: the bytes per new block are about the chain's size.",
           "Our room's delays are a second or less, on one machine."]
    assert all(_MEASURED.search(s) for s in old)
    assert _STATE_CLAIMS.search("The room is still running: submit more contracts above.")


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")), ids=lambda p: p.stem)
def test_no_prose_states_a_measured_figure(path):
    claims = [m.group(0) for text in cells(path.stem, "markdown") for m in _MEASURED.finditer(text)]
    claims += [m.group(0) for text in cells(path.stem, "markdown") for m in _STATE_CLAIMS.finditer(text)]
    assert not claims, f"{path.stem} states in prose what its run measures: {claims}"


COMPUTED_09 = [r'Markdown\(f"Each new block moved \{per_block:,\.0f\} bytes on average: \{share:\.0%\}',
               r"Markdown\(f\"Our room's delays were \{propagation\.median:\.2f\} s at the median \"\s*"
               r"f\"and \{propagation\.p95:\.2f\} s"]


@pytest.mark.parametrize("pattern", COMPUTED_09)
def test_09_computes_its_measured_sentences(pattern):
    assert any(re.search(pattern, code) for code in cells("09-the-classroom-network", "code")), pattern
