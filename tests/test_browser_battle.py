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

Then the scoreboard table under "Your scoreboard" (the output of the code cell after that
heading, whatever the cell displays), its top scrolled to the top of the notebook:

- the table fits: its right edge is within its output area, the notebook's visible area and
  the 1280 px window, and the output does not scroll sideways (the old players-by-rounds
  frame, eleven round names as columns, put its last columns past the right edge);
- every round is in it by its full name (``ROUNDS``), and each name's cell is inside that
  visible width;
- the whole table is on screen at once: its bottom is inside the 720 px window;
- a fooled cell says "fooled" and its title (hover) says what the node did.

Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_battle.py``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labkit.battle.rounds import ROUNDS

from battle_learners import write_learner
from browser_support import LabServer, NotebookPage
from test_browser_page import MEASURE, contrast

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "12-defend-the-chain.ipynb"
PROJECTOR = {"width": 1280, "height": 720}
GAP = 8  # px between the text of two adjacent cells, at least
HEADING = "Your scoreboard"  # the markdown heading whose next code cell displays the scoreboard table

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

# The scoreboard table's top scrolled to the top of the notebook, then the width it may use (its output
# area's, the notebook's and the window's, the narrowest), its box, and every cell's text and box.
TABLE_LAYOUT = """table => {
    table.scrollIntoView({block: "start"});
    const output = table.closest(".jp-OutputArea-output");
    const area = table.closest(".jp-WindowedPanel-outer, .jp-Notebook").getBoundingClientRect();
    const box = output.getBoundingClientRect();
    const rect = table.getBoundingClientRect();
    const visibleLeft = Math.max(box.left + output.clientLeft, area.left, 0);
    const visibleRight = Math.min(box.left + output.clientLeft + output.clientWidth, area.right, window.innerWidth);
    const cells = [...table.querySelectorAll("th, td")].map(cell => {
        const r = cell.getBoundingClientRect();
        return [cell.textContent.trim(), r.left, r.right];
    });
    return {top: rect.top, bottom: rect.bottom, left: rect.left, right: rect.right, width: rect.width,
            visibleLeft, visibleRight, windowWidth: window.innerWidth, windowHeight: window.innerHeight,
            scrollWidth: output.scrollWidth, clientWidth: output.clientWidth, cells};
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

            check_scoreboard_table(notebook)
            notebook.finish(show=board)
        finally:
            context.close()


def check_scoreboard_table(notebook: NotebookPage) -> None:
    """The table under "Your scoreboard" fits the notebook's width and height and names every round."""
    heading = notebook.notebook.locator(".jp-MarkdownCell").filter(
        has=notebook.page.locator("h2", has_text=HEADING))
    cell = heading.locator("xpath=following-sibling::div[contains(@class, 'jp-CodeCell')][1]")
    table = notebook.wait_visible(cell.locator(".jp-OutputArea-output table"),
                                  f"the table under {HEADING!r}").first
    with notebook.step(f"scrolling the table under {HEADING!r} to the top and measuring it"):
        at = table.evaluate(TABLE_LAYOUT)
    print("scoreboard table: left {left:.0f} to right {right:.0f} px ({width:.0f} px wide), top {top:.0f} to "
          "bottom {bottom:.0f} px; visible {visibleLeft:.0f} to {visibleRight:.0f} px of a {windowWidth}x"
          "{windowHeight} window; output scrollWidth {scrollWidth} px, clientWidth {clientWidth} px".format(**at))
    path = notebook.screenshot("scoreboard-table")
    print(f"screenshot of the scoreboard table: {path}")
    notebook.check(at["left"] >= at["visibleLeft"] - 0.5 and at["right"] <= at["visibleRight"] + 0.5,
                   f"the scoreboard table spans {at['left']:.0f} to {at['right']:.0f} px, beyond the "
                   f"{at['visibleLeft']:.0f} to {at['visibleRight']:.0f} px the notebook shows")
    notebook.check(at["scrollWidth"] <= at["clientWidth"],
                   f"the scoreboard table's output scrolls sideways: {at['scrollWidth']} px in {at['clientWidth']} px")
    boxes = {text: (left, right) for text, left, right in at["cells"]}
    missing = [r.name for r in ROUNDS if r.name not in boxes]
    notebook.check(not missing, f"the scoreboard table has no cell for the rounds {missing}")
    cut = [name for name in (r.name for r in ROUNDS)
           if boxes[name][0] < at["visibleLeft"] - 0.5 or boxes[name][1] > at["visibleRight"] + 0.5]
    notebook.check(not cut, f"the scoreboard table's cells for the rounds {cut} are outside the "
                            f"{at['visibleLeft']:.0f} to {at['visibleRight']:.0f} px the notebook shows")
    notebook.check(at["bottom"] <= at["windowHeight"],
                   f"the scoreboard table ends at {at['bottom']:.0f} px, below the {at['windowHeight']} px window")
    fooled = table.locator("td.labkit-fooled")
    notebook.wait_visible(fooled, "a 'fooled' cell of the scoreboard table")
    with notebook.step("reading the fooled cells' text and title"):
        marks = fooled.evaluate_all("cells => cells.map(c => [c.textContent.trim(), c.title])")
    print(f"fooled cells of the scoreboard table (text, title): {marks}")
    notebook.check(all(text == "fooled" and title.strip() for text, title in marks),
                   f"a fooled cell of the scoreboard table lacks its word or its title: {marks}")
