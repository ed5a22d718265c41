"""A clean page: the notebooks that show tables run, and no output shows a display defect.

Each notebook below is read from the session's one execution of it
(tests/notebook_runs.py, shared with the other checks) and every output a
reader sees is scanned: the richest representation of each output
(HTML where there is one, else plain text), and the HTML the widgets hold.
The defects are those a learner once saw: ``nan`` in a cell, a nonce shown as
``623.000000``, a reason cut with ``…`` or ``...``, ``dtype: object``, a raw
function repr, ``0.0000`` for a tiny probability, a default row number
(0, 1, 2...) shown as a column, and a raw DataFrame, which JupyterLab shows
right-aligned and pandas cuts at 50 characters (every table goes through
``labkit.lessons.display.frame_table``).

The notebooks open sockets (05 and 07 share by BitTorrent on 127.0.0.1): run
this file under ``unshare -n sh -c 'ip link set lo up; exec ...'`` on a shared
machine.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from labkit.lessons.display import cell_text, frame_table
from notebook_runs import error_outputs
from labkit.lessons.race import confirmation_frame, confirmation_table

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SCANNED = [
    "00-welcome",
    "02-jwt-blocks",
    "03-proof-of-work",
    "04-the-chain",
    "05-torrent-sharing",
    "06-contracts-and-the-vm",
    "07-peers-end-to-end",
    "08-attacks",
    "10-open-networks",
]
# 06 is scanned for its lesson and its contract builder; its exercises section is left out for now:
# the transfer_nft exercise shows its scenarios as a plain DataFrame (issue 14, the exercises' part).
LESSON_ONLY = {"06-contracts-and-the-vm"}
# Numbers that depend on the machine are computed in the notebook, from a measurement, and shown as prose.
COMPUTED = {"03-proof-of-work": [r"Here the reference miner tries about [\d,]+ nonces a second, so on average",
                                 r"labkit's fast miner tried [\d,]+ nonces a second on one core here"]}

_HEX_BEFORE = r"(?<![0-9a-f]{6})"  # a short hash (``00968a72c3bf…``) is abbreviated on purpose
DEFECTS = {
    "nan": re.compile(r"<td[^>]*>\s*(nan|NaN|None|&lt;NA&gt;)\s*</td>|(?<![\w.>-])(nan|<NA>)(?![\w<])"),
    "float nonce": re.compile(r"\d\.000000\b"),
    "cut text": re.compile(_HEX_BEFORE + r"(…|\.\.\.)\s*(</td>|$)", re.M),
    "dtype": re.compile(r"\bdtype: "),
    "function repr": re.compile(r"(<|&lt;)(built-in function|function|bound method) "),
    "0.0000": re.compile(r"(?<![\d.])0\.0000(?![\d])"),
    "raw DataFrame": re.compile(r'<table[^>]*class="dataframe'),
}


_TABLE = re.compile(r"<table.*?</table>", re.S)
_ROW_LABEL = re.compile(r'class="row_heading level0 row\d+"\s*>([^<]*)</th>|<tr>\s*<th>([^<]*)</th>')


def row_numbers(table: str) -> bool:
    """Whether a table's rows are labelled by bare numbers under no index name (left-over row numbers)."""
    labels = [a or b for a, b in _ROW_LABEL.findall(table)]
    return bool(labels) and all(label.isdigit() for label in labels) and "index_name" not in table


def defects(text: str) -> list[str]:
    """The names of the defects in one output's text, each with a little context."""
    found = [f"row number: {table[:120]!r}..." for table in _TABLE.findall(text)
             if row_numbers(table)]
    for name, pattern in DEFECTS.items():
        for match in pattern.finditer(text):
            found.append(f"{name}: ...{text[max(0, match.start() - 60):match.end() + 20]!r}")
    return found


def shown(output: dict) -> str:
    """What a reader sees of one output: a widget (scanned from the widget state), its HTML, or its text."""
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    if "application/vnd.jupyter.widget-view+json" in data:
        return ""
    if output.get("output_type") == "error":
        return "\n".join(output.get("traceback", []))
    return data.get("text/html") or data.get("text/plain", "")


def widget_texts(nb) -> list[str]:
    state = nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    return [w["state"]["value"] for w in state.values()
            if w.get("model_name") == "HTMLModel" and isinstance(w.get("state", {}).get("value"), str)]


@pytest.fixture(params=SCANNED)
def executed(request, executed_notebook):
    """The notebook's outputs from the session's one run of it (tests/notebook_runs.py)."""
    return request.param, executed_notebook(request.param)


@pytest.mark.timeout(900)  # the first test to ask for a notebook waits for its run
def test_no_output_shows_a_display_defect(executed):
    name, nb = executed
    problems = [f"{name} cell {i}: {ename}: {evalue}" for i, ename, evalue, _ in error_outputs(nb)]  # it runs
    cells = nb.cells
    if name in LESSON_ONLY:
        cells = cells[:next(i for i, c in enumerate(cells) if c.cell_type == "markdown"
                            and re.search(r"^## Exercises", c.source, re.M))]
    for number, cell in enumerate(cells):
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            problems += [f"{name} cell {number}: {p}" for p in defects(shown(output))]
    problems += [f"{name} widget: {p}" for text in widget_texts(nb) for p in defects(text)]
    texts = [o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", [])]
    problems += [f"{name}: no output says {pattern!r}" for pattern in COMPUTED.get(name, [])
                 if not any(re.search(pattern, text) for text in texts)]
    assert not problems, "\n".join(problems)


_TIMING = re.compile(r"\b(a|an|one|two|\d[\d,.]*)\s+(minutes?|seconds?|hours?)\b"
                     r"|\b(thousand|million) (attempts|hashes|nonces) (per|a) second", re.I)


def test_the_proof_of_work_prose_holds_no_measured_times():
    """How long mining takes here is measured and printed by 03's cells, not written into its Markdown."""
    nb = nbformat.read(NOTEBOOKS / "03-proof-of-work.ipynb", as_version=4)
    claims = [f"cell {number}: {match.group(0)!r}" for number, cell in enumerate(nb.cells)
              if cell.cell_type == "markdown" and number > 0  # the title cell's "About 30 minutes" is the lesson's length
              for match in _TIMING.finditer(cell.source)]
    assert not claims, "\n".join(claims)
    assert _TIMING.search("difficulty 5 takes about a minute") and _TIMING.search("half a million attempts per second")


# --- the scan finds what it looks for, and frame_table draws none of it -----------------


def bad_frame() -> pd.DataFrame:
    return pd.DataFrame({"nonce": [623, None], "reason": ["x" * 80, "ok"], "p": [1e-6, 0.5], "f": [len, print]})


def test_the_scan_finds_every_defect_of_a_raw_frame():
    frame = bad_frame()
    found = {p.split(":")[0] for p in defects(frame._repr_html_() + frame["reason"].to_string())}
    found |= {p.split(":")[0] for p in defects(repr(frame["nonce"]) + frame.style.to_html())}
    found |= {p.split(":")[0] for p in defects(frame.style.format(precision=4).to_html())}
    assert found == set(DEFECTS) | {"row number"}


def test_frame_table_draws_none_of_them():
    frame = bad_frame()
    html = frame_table(frame).to_html()
    assert defects(html) == []
    assert "x" * 80 in html and "623<" in html and "1.00e-06" in html and ">builtins.len<" in html
    assert 'class="labkit-table"' in html


def test_a_meaningful_index_is_kept_and_text_is_left_aligned():
    frame = pd.DataFrame({"reason": ["a", "b"], "n": [1, 2]}, index=pd.Index(["alice", "bob"], name="peer"))
    html = frame_table(frame).to_html()
    assert ">alice</th>" in html and ">peer</th>" in html
    assert re.search(r"text-align: left", html)


@pytest.mark.parametrize("value, text", [
    (None, ""), (float("nan"), ""), (pd.NA, ""), (623.0, "623"), (623, "623"), (True, "True"),
    (0.5, "0.5"), (1.5e-05, "1.50e-05"), (0.0, "0"), (317309.5, "317,310"), (2 / 3, "0.6667"), ("a…", "a…"),
    (4096, "4096"), (65536, "65,536"), (1234.5, "1234"), (-20000.0, "-20,000"),
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_filtered_rows_lose_their_numbers_too():
    frame = pd.DataFrame({"n": [5, 6, 7]})
    assert defects(frame_table(frame[frame["n"] > 5]).to_html()) == []
    assert defects(frame[frame["n"] > 5].style.to_html())  # the scan does see them


def test_tiny_probabilities_are_not_zero():
    frame = confirmation_frame(shares=(0.1,), confirmations=(10,), trials=100)
    assert 0 < frame["nakamoto"].iloc[0] < 1e-4
    html = confirmation_table(frame).to_html()
    assert defects(html) == [] and "e-0" in html


# --- diagrams and commands in the prose fit a narrow window ----------------------------

_FENCED = re.compile(r"```[^\n]*\n(.*?)```", re.S)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_preformatted_prose_fits_80_columns(path):
    """A ``` block in Markdown does not wrap on a projector: no line over 80 columns (commands split with \\)."""
    nb = nbformat.read(path, as_version=4)
    long = [f"cell {number}: {len(line)} columns: {line[:40]!r}..."
            for number, cell in enumerate(nb.cells) if cell.cell_type == "markdown"
            for block in _FENCED.findall(cell.source) for line in block.splitlines() if len(line) > 80]
    assert not long, "\n".join(long)


def test_the_course_map_in_00_is_plain_ascii():
    """Box-drawing arrows are drawn double-width by some fonts, which breaks the diagram's columns."""
    nb = nbformat.read(NOTEBOOKS / "00-welcome.ipynb", as_version=4)
    [diagram] = [block for cell in nb.cells if cell.cell_type == "markdown" and "How the pieces fit" in cell.source
                 for block in _FENCED.findall(cell.source)]
    assert diagram.isascii() and max(map(len, diagram.splitlines())) <= 72


COURSE = sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))  # every notebook of the course


@pytest.mark.parametrize("path", COURSE, ids=lambda p: p.name)
def test_check_cells_fit_a_projector(path):
    """A check cell is read on the projector while the class waits: no line of 100 characters or more."""
    nb = nbformat.read(path, as_version=4)
    long = [f"cell {number}: {len(line)} characters: {line[:50]!r}..."
            for number, cell in enumerate(nb.cells) if cell.cell_type == "code" and re.search(r"\bex\.check", cell.source)
            for line in cell.source.splitlines() if len(line) >= 100]
    assert not long, "\n".join(long)


# 09's page is not scanned for display defects (its dashboard is a live widget), but the sentences that state
# what its room measured are: each must come from the measurement, as 03's do (issue 23 item 5).
COMPUTED_09 = [r"Each new block moved [\d,]+ bytes on average: \d+% of the [\d,]+ bytes the chain file holds now",
               r"Our room's delays were [\d.]+ s at the median and [\d.]+ s at the 95th percentile, "
               r"over \d+ blocks"]


@pytest.mark.timeout(900)  # it may be the first test to ask for 09's run
def test_the_classroom_networks_measured_sentences_are_shown_from_its_run(executed_notebook):
    nb = executed_notebook("09-the-classroom-network")
    texts = [o.get("data", {}).get("text/markdown", "") for c in nb.cells for o in c.get("outputs", [])]
    missing = [pattern for pattern in COMPUTED_09 if not any(re.search(pattern, text) for text in texts)]
    assert not missing, f"no output of 09 says {missing}"
