"""A clean page in any theme, on a projector: JupyterLab in Chromium.

**Any theme.** Check results and table highlights in JupyterLab's dark theme.

A small notebook written into the server's copy shows what the workbook colours: a
passed, a failed and a not-attempted check (``labkit.course.exercises``), a validation
table with a rejected block and a state diff with a new row and a changed cell
(``labkit.lessons.display``). JupyterLab is switched to its dark theme through its
settings (``@jupyterlab/apputils-extension:themes``), the page is asked to confirm it,
and for each coloured element the text colour and the background it is drawn on
(every translucent layer up to the page, composited by a canvas) are read from the
computed style; their WCAG 2 contrast ratio must be at least 4.5, the level for body text.

**A projector.** At 1280x720, after Run All Cells, each big widget's verdict (the
inspector's accepted/rejected line, the contract builder's and the mining widget's
status) is inside the window once the widget's first line is scrolled to the top:
nobody scrolls past the widget to read what it decided.

Uses the helpers of ``browser_support`` (the server, the page, the time-outs) like
``test_browser.py``, with a server of its own, since its theme is not the default.
Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_page.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser_support import RUN_ALL, LabServer, LoadedLab, NotebookPage, write_notebook

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "theme-check.ipynb"  # written into the server's copy only, never into notebooks/
DARK = "JupyterLab Dark"
THEMES = "@jupyterlab/apputils-extension/themes.jupyterlab-settings"

CELLS = [
    """\
import os
from labkit.course.exercises import STRICT_ENV, Exercises
os.environ.pop(STRICT_ENV, None)  # show a wrong answer as a learner sees it, do not raise
ex = Exercises("theme-check", total=3)
ex.check("right", lambda x: x, [(1, 1)])""",
    'ex.check("wrong", lambda x: x + 1, [(1, 1)])',
    """\
def stub(x):
    raise NotImplementedError
ex.check("stub", stub, [(1, 1)])""",
    """\
from labkit.chain import Chain, validate_blocks
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.lessons.display import validation_table
network, alice = demo_network(1), demo_wallets()[0]
chain = Chain(network)
for contract, when in zip(seed_contracts(), demo_timestamps(4)):
    chain.mine(alice, contract, timestamp=when)
blocks = chain.blocks
blocks[1], blocks[2] = blocks[2], blocks[1]
validation_table(blocks, [r for r, _ in validate_blocks(network, blocks)], network)""",
    """\
import pandas as pd
from labkit.lessons.display import changes_table
changes_table(pd.DataFrame({"votes": [1]}, index=["P1"]), pd.DataFrame({"votes": [2, 0]}, index=["P1", "P2"]))""",
]

# The colour an element's text is drawn in and the colour under it: every background from the
# page down to the element, painted in order on a canvas (which composites translucent layers),
# then the text colour painted on top. Returns [text, background] as [r, g, b] in 0..255.
MEASURE = """element => {
    const layers = [];
    for (let node = element; node; node = node.parentElement) {
        layers.unshift(getComputedStyle(node).backgroundColor);
    }
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 1;
    const context = canvas.getContext("2d", {willReadFrequently: true});
    const paint = colour => { context.fillStyle = colour; context.fillRect(0, 0, 1, 1);
                              return Array.from(context.getImageData(0, 0, 1, 1).data.slice(0, 3)); };
    paint("white");  // what a browser shows under a page with no background at all
    let background;
    for (const layer of layers) background = paint(layer);
    const text = paint(getComputedStyle(element).color);
    return [text, background];
}"""


def luminance(rgb: list[int]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: list[int], b: list[int]) -> float:
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_contrast_is_the_wcag_ratio():
    assert contrast([0, 0, 0], [255, 255, 255]) == pytest.approx(21)
    assert contrast([255, 255, 255], [255, 255, 255]) == pytest.approx(1)
    assert contrast([118, 118, 118], [255, 255, 255]) == pytest.approx(4.54, abs=0.01)  # the famous #767676


@pytest.fixture(scope="module")
def dark_lab(chromium_ready, tmp_path_factory):
    with LabServer(REPO / "notebooks", tmp_path_factory.mktemp("jupyterlab-dark")) as server:
        write_notebook(server.root / NOTEBOOK, "Theme check", CELLS)
        # The server reads user settings from disk on every request, so this applies to the next page.
        settings = server.workdir / "jupyter-config" / "lab" / "user-settings" / THEMES
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"theme": DARK}), "utf-8")
        yield server


@pytest.fixture(scope="module")
def chromium(dark_lab, browser):
    """The session's Chromium (conftest.py): one Playwright per process."""
    return browser


# Run All is over when some cell shows an execution count, none is queued or running ([*]), and the kernel is idle.
FINISHED = """([prompts, status]) => {
    const texts = [...document.querySelectorAll(prompts)].map(p => p.textContent);
    const kernel = document.querySelector(status);
    return texts.some(t => /\\[\\d+\\]/.test(t)) && !texts.some(t => t.includes("*"))
        && kernel !== null && /\\| Idle$/.test(kernel.textContent);
}"""


def run_all_cells(notebook: NotebookPage) -> None:
    """Run > Run All Cells, wait until it is over, and fail if any cell shows a traceback.

    Not ``NotebookPage.run_all``, which also wants an execution count in every input prompt:
    the exercises' check cells have their source hidden, so their prompts show none.
    """
    page = notebook.page
    notebook.click(page.get_by_role("menuitem", name="Run", exact=True), "the Run menu")
    notebook.click(page.get_by_role("menuitem", name="Run All Cells", exact=True), "Run > Run All Cells")
    with notebook.step("waiting for Run All Cells to finish"):
        page.wait_for_function(FINISHED, arg=[notebook.PROMPTS, notebook.KERNEL_STATUS], timeout=RUN_ALL)
    errors = notebook.tracebacks()
    notebook.check(not errors, "Run All Cells showed tracebacks:\n" + "\n".join(errors))


@pytest.fixture(scope="module")
def loaded_lab(dark_lab, chromium):
    """The dark server's JupyterLab page, loaded once for the module (browser_support.LoadedLab)."""
    loaded = LoadedLab(chromium, dark_lab, ARTIFACTS)
    yield loaded
    loaded.close()


@pytest.fixture
def run_notebook(request, loaded_lab, test_failed):
    """Open a notebook in the loaded page and Run All Cells; closed again after the test."""
    with loaded_lab.notebooks_for(request.node.name, test_failed, run_all_cells) as run:
        yield run


@pytest.fixture(scope="module")
def dark_page(loaded_lab):
    notebook = loaded_lab.open(NOTEBOOK, "dark_theme")
    run_all_cells(notebook)
    yield notebook
    loaded_lab.release(notebook, failed=False)  # the tests that read it only look; a failed one closed nothing


def measured(notebook: NotebookPage, locator, what: str) -> float:
    element = notebook.wait_visible(locator, what)
    with notebook.step(f"reading the colours of {what}"):
        text, background = element.evaluate(MEASURE)
    ratio = contrast(text, background)
    print(f"{what}: text {text} on {background}, contrast {ratio:.1f}")
    return ratio


def test_the_page_is_in_the_dark_theme(dark_page):
    with dark_page.step("reading the theme JupyterLab applied"):
        theme = dark_page.page.evaluate("() => [document.body.dataset.jpThemeName, document.body.dataset.jpThemeLight]")
    dark_page.check(theme == [DARK, "false"], f"the page's theme: {theme}")


@pytest.mark.parametrize("status", ["passed", "failed", "not attempted"])
def test_check_results_are_readable_in_the_dark_theme(dark_page, status):
    check = dark_page.page.locator(f".labkit-check[data-status='{status}']")
    ratio = measured(dark_page, check, f"the {status!r} check result")
    dark_page.check(ratio >= 4.5, f"the {status!r} check result: contrast {ratio:.2f} < 4.5")


@pytest.mark.parametrize("css_class", ["labkit-invalid", "labkit-new", "labkit-changed"])
def test_table_highlights_are_readable_in_the_dark_theme(dark_page, css_class):
    cell = dark_page.page.locator(f"td.{css_class}").first
    ratio = measured(dark_page, cell, f"a table cell marked {css_class}")
    dark_page.check(ratio >= 4.5, f"a table cell marked {css_class}: contrast {ratio:.2f} < 4.5")
    if css_class == "labkit-changed":
        dark_page.finish(show=cell)


# --- a projector ------------------------------------------------------------------------

PROJECTOR = {"width": 1280, "height": 720}

# The widget's top scrolled to the top of the notebook, then where its verdict's bottom edge is.
VERDICT_BOTTOM = """([widget, verdict]) => {
    widget.scrollIntoView({block: "start"});
    return [verdict.getBoundingClientRect().bottom, window.innerHeight];
}"""


@pytest.mark.parametrize("name, widget_class, verdict", [
    ("02-jwt-blocks.ipynb", "labkit-block-inspector", ".labkit-audit > p"),
    ("06-contracts-and-the-vm.ipynb", "labkit-contract-builder", ".labkit-status"),
    ("03-proof-of-work.ipynb", "labkit-difficulty-widget", ".labkit-mining-status"),
])
def test_a_big_widgets_verdict_is_in_view_on_a_projector(run_notebook, name, widget_class, verdict):
    # Run All at the harness's usual size (it reads every cell's prompt, and at 720 px JupyterLab
    # leaves more cells unrendered), then look at the page as a projector shows it.
    notebook = run_notebook(name)
    notebook.page.set_viewport_size(PROJECTOR)
    widget = notebook.wait_visible(notebook.widget(widget_class), f"the {widget_class} widget").first
    line = notebook.wait_visible(widget.locator(verdict), f"the verdict ({verdict}) in {widget_class}").first
    with notebook.step("scrolling the widget's top into view and measuring its verdict"):
        bottom, height = notebook.page.evaluate(VERDICT_BOTTOM, [widget.element_handle(), line.element_handle()])
    print(f"{widget_class}: verdict's bottom at {bottom:.0f} px of {height} px")
    notebook.check(bottom <= height, f"{widget_class}: its verdict ends at {bottom:.0f} px, "
                                     f"below the {height} px window, with the widget's top in view")
    notebook.finish(show=widget)
