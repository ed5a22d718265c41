"""A widget's table reads like a notebook's: adjacent cells are apart, in JupyterLab in Chromium.

JupyterLab pads the cells of a table in a cell's output, not in a widget's HTML:
the 09 dashboard, the 06 contract builder's chain table and the 03 difficulty
widget's run table showed their columns run together ("0000715d1bb5 12,288
3eb166e117b9" read as one digest). Every labkit table goes through
``frame_table``, which now pads its own cells. A small notebook shows the same
table twice, as an output and inside an ``ipywidgets.HTML`` (as the widgets
show theirs), and the page measures, in the first row, the gap between the
end of one cell's text and the start of the next.

Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_tables.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import LabServer, NotebookPage, write_notebook
from test_browser_page import ARTIFACTS, run_all_cells

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK = "table-check.ipynb"  # written into the server's copy only
MIN_GAP = 8  # px between one cell's text and the next: about a space and a half at JupyterLab's font

CELLS = [
    """\
import ipywidgets as widgets
import pandas as pd
from labkit.lessons.display import frame_table
frame = pd.DataFrame({"hash": ["0000715d1bb5", "00a3f0c2de11"], "bytes": [12288, 6521],
                      "prev_hash": ["3eb166e117b9", "0000715d1bb5"], "nonce": [1, 22]})
box = widgets.HTML(frame_table(frame).to_html())
box.add_class("table-in-a-widget")
box""",
    "frame_table(frame)",
    """\
import functools
from labkit import fastmine
from labkit.lessons.powtrials import measure_mining, summary_frame, summary_table
one_core = functools.partial(fastmine.mine, workers=1)
runs = pd.concat([measure_mining(range(0, 4), trials=2, label="reference"),
                  measure_mining(range(0, 5), trials=2, miner=one_core, label="fast")])
summary = summary_table(summary_frame(runs))
summary.set_table_attributes('class="labkit-table mining-summary"')""",
]

# For each adjacent pair of cells in the table's first body row: the start of the right cell's
# text minus the end of the left cell's text, in px (Range rectangles: the text, not the box).
GAPS = """table => {
    const cells = [...table.querySelector("tbody tr").children];
    const text = cell => { const range = document.createRange(); range.selectNodeContents(cell);
                           return range.getBoundingClientRect(); };
    return cells.slice(1).map((cell, i) => text(cell).left - text(cells[i]).right);
}"""


@pytest.fixture(scope="module")
def table_page(chromium_ready, browser, tmp_path_factory):
    with LabServer(REPO / "notebooks", tmp_path_factory.mktemp("jupyterlab-tables")) as server:
        write_notebook(server.root / NOTEBOOK, "Table check", CELLS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = NotebookPage(context.new_page(), server, NOTEBOOK, ARTIFACTS, test="widget_tables")
        page.open()
        run_all_cells(page)
        yield page
        context.close()
        server.shutdown_kernels()


# How much wider than its output area a table is (0 when it fits), with JupyterLab's file browser open.
OVERFLOW = """table => {
    const area = table.closest(".jp-OutputArea-output");
    return [table.getBoundingClientRect().width, area.clientWidth];
}"""


def test_03s_summary_fits_a_projector_with_the_file_browser_open(table_page):
    page = table_page.page
    with table_page.step("showing the file browser and a 1280x720 window"):
        page.set_viewport_size({"width": 1280, "height": 720})
        browser_panel = page.locator("#filebrowser")
        if not browser_panel.is_visible():
            page.locator(".jp-SideBar.jp-mod-left [data-id='filebrowser']").click()
        browser_panel.wait_for(state="visible")
    table = table_page.wait_visible(table_page.notebook.locator("table.mining-summary").first, "03's summary")
    with table_page.step("measuring the summary against its output area"):
        width, room = table.evaluate(OVERFLOW)
    print(f"03's summary: {width:.0f} px wide in an output area of {room} px")
    table_page.check(width <= room, f"03's summary is {width:.0f} px wide, its output area {room} px: clipped")


@pytest.mark.parametrize("where, selector", [
    ("inside a widget", ".table-in-a-widget table.labkit-table"),
    ("in a cell's output", ".jp-RenderedHTMLCommon table.labkit-table"),
])
def test_adjacent_cells_are_apart(table_page, where, selector):
    table = table_page.wait_visible(table_page.notebook.locator(selector).first, f"the table {where}")
    with table_page.step(f"measuring the gaps between the cells of the table {where}"):
        gaps = table.evaluate(GAPS)
    print(f"{where}: gaps {gaps}")
    table_page.check(len(gaps) == 3 and min(gaps) >= MIN_GAP,
                     f"the table {where}: gaps between adjacent cells {gaps} px, want at least {MIN_GAP}")
