"""Notebook 12, the battle, in JupyterLab on a projector (1280x720): Run All, then read the scoreboard.

Issue 24's done-when: "Notebook 12 runs ... in the browser test at 1280x720 with its
scoreboard readable". Before the server starts, a learner's saved functions are put where
the kernels look for them (``LABKIT_MINE_DIR``): a fork choice that takes the longest chain
(``battle_learners.LONGEST``, the test_battle learner "ben"), so the learner's node (``you``)
is fooled in some rounds and the scoreboard shows both kinds of cell.

After Run All Cells every code cell has run and no cell shows an error. Then, with the
scoreboard widget's top scrolled to the top of the window:

- the table's top is inside the 720 px window;
- the table fits the width the notebook shows it in: its right edge is within the notebook's
  visible area and the 1280 px window, and the widget does not scroll sideways (its
  scrollWidth is its clientWidth), so no round's column is cut off;
- a "held" and a "fooled" cell are readable: the WCAG 2 contrast of their text on the
  background they are drawn on (measured as test_browser_page.py measures the checks) is at
  least 4.5;
- adjacent cells are apart: in every row, the text of one cell ends at least 8 px before the
  text of the next begins (their padding and border between them).

Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_battle.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from battle_learners import write_learner
from browser_support import LabServer, NotebookPage
from test_browser_page import MEASURE, contrast

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "12-defend-the-chain.ipynb"
PROJECTOR = {"width": 1280, "height": 720}
GAP = 8  # px between the text of two adjacent cells, at least

# The scoreboard's top scrolled to the top of the window, then where its table is, against the
# window, the notebook's visible area and the widget box it scrolls in.
LAYOUT = """([board, table]) => {
    board.scrollIntoView({block: "start"});
    const rect = table.getBoundingClientRect();
    const area = board.closest(".jp-WindowedPanel-outer, .jp-Notebook").getBoundingClientRect();
    return {top: rect.top, left: rect.left, right: rect.right, width: rect.width,
            windowWidth: window.innerWidth, windowHeight: window.innerHeight,
            areaLeft: area.left, areaRight: area.right,
            scrollWidth: board.scrollWidth, clientWidth: board.clientWidth};
}"""

# The table's width with every header wrapped as far as it goes (its min-content width): how much
# room the scoreboard needs at the least, for the report; the table's own style is put back after.
MIN_WIDTH = """table => {
    const before = table.style.width;
    table.style.width = "min-content";
    const width = table.getBoundingClientRect().width;
    table.style.width = before;
    return width;
}"""

# In each row, the space between the end of one cell's text and the start of the next cell's text.
GAPS = """table => {
    const textBox = cell => {
        const range = document.createRange();
        range.selectNodeContents(cell);
        return range.getBoundingClientRect();
    };
    const gaps = [];
    for (const row of table.rows) {
        const cells = [...row.cells].filter(c => c.textContent.trim() !== "");
        for (let i = 0; i + 1 < cells.length; i++) {
            gaps.push([row.cells[0].textContent.trim(), textBox(cells[i + 1]).left - textBox(cells[i]).right]);
        }
    }
    return gaps;
}"""


@pytest.mark.timeout(900)
def test_notebook_12_runs_and_its_scoreboard_is_readable_on_a_projector(browser, tmp_path_factory,
                                                                         monkeypatch, request):
    from labkit.course import saved
    from labkit.course.exercises import STRICT_ENV

    tmp_path = tmp_path_factory.mktemp("battle-page")
    mine = write_learner(tmp_path / "mine", tmp_path / "no-solutions", "longest")
    monkeypatch.setenv(saved.MINE_ENV, str(mine))
    monkeypatch.delenv(STRICT_ENV, raising=False)

    with LabServer(REPO / "notebooks", tmp_path / "jupyterlab") as server:
        context = browser.new_context(viewport=PROJECTOR)
        try:
            notebook = NotebookPage(context.new_page(), server, NOTEBOOK, ARTIFACTS, test=request.node.name)
            notebook.open()
            started = time.monotonic()
            notebook.run_all()
            seconds = time.monotonic() - started
            errors = notebook.tracebacks()
            notebook.check(not errors, "Run All Cells showed errors:\n" + "\n---\n".join(errors))
            print(f"Run All of {NOTEBOOK}: {seconds:.0f} s, {len(notebook.code_cells())} code cells")

            board = notebook.wait_visible(notebook.widget("labkit-scoreboard"), "the scoreboard widget").first
            table = board.locator("table").first
            notebook.wait_visible(table, "the scoreboard's table")
            with notebook.step("scrolling the scoreboard's top into view and measuring its table"):
                at = notebook.page.evaluate(LAYOUT, [board.element_handle(), table.element_handle()])
            print("scoreboard: table top {top:.0f} px of {windowHeight} px; left {left:.0f} to right {right:.0f} px "
                  "({width:.0f} px wide) in the notebook's {areaLeft:.0f} to {areaRight:.0f} px of a {windowWidth} px "
                  "window; widget scrollWidth {scrollWidth} px, clientWidth {clientWidth} px".format(**at))
            notebook.check(0 <= at["top"] < at["windowHeight"],
                           f"the scoreboard's top is at {at['top']:.0f} px, outside the {at['windowHeight']} px window")
            notebook.check(at["right"] <= min(at["areaRight"], at["windowWidth"]) and at["left"] >= at["areaLeft"],
                           f"the scoreboard's table spans {at['left']:.0f} to {at['right']:.0f} px: beyond the "
                           f"notebook's {at['areaLeft']:.0f} to {at['areaRight']:.0f} px or the "
                           f"{at['windowWidth']} px window")
            notebook.check(at["scrollWidth"] <= at["clientWidth"],
                           f"the scoreboard scrolls sideways: {at['scrollWidth']} px of table in "
                           f"{at['clientWidth']} px of widget")

            with notebook.step("measuring the narrowest the scoreboard's table can be"):
                narrowest_table = table.evaluate(MIN_WIDTH)
            print(f"scoreboard: the table needs at least {narrowest_table:.0f} px (its min-content width)")

            for word in ("held", "fooled"):
                cell = table.locator(f"td.labkit-{word}").first
                notebook.wait_visible(cell, f"a {word!r} cell of the scoreboard")
                with notebook.step(f"reading the colours of a {word!r} cell"):
                    text, background = cell.evaluate(MEASURE)
                ratio = contrast(text, background)
                print(f"a {word!r} cell: text {text} on {background}, contrast {ratio:.1f}")
                notebook.check(cell.text_content().strip() == word, f"a {word!r} cell reads {cell.text_content()!r}")
                notebook.check(ratio >= 4.5, f"a {word!r} cell: contrast {ratio:.2f} < 4.5")

            with notebook.step("measuring the space between adjacent cells' text"):
                gaps = table.evaluate(GAPS)
            narrowest = min(gaps, key=lambda g: g[1])
            print(f"narrowest space between two adjacent cells' text: {narrowest[1]:.1f} px (row {narrowest[0]!r}),"
                  f" of {len(gaps)}")
            notebook.check(narrowest[1] >= GAP, f"in the row {narrowest[0]!r} two cells' text are "
                                                f"{narrowest[1]:.1f} px apart, under {GAP} px")
            notebook.finish(show=board)
        finally:
            context.close()
