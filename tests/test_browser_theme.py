"""Readable in any theme: check results and table highlights in JupyterLab's dark theme, in Chromium.

A small notebook written into the server's copy shows what the workbook colours: a
passed, a failed and a not-attempted check (``labkit.teaching.exercises``), a validation
table with a rejected block and a state diff with a new row and a changed cell
(``labkit.teaching.display``). JupyterLab is switched to its dark theme through its
settings (``@jupyterlab/apputils-extension:themes``), the page is asked to confirm it,
and for each coloured element the text colour and the background it is drawn on
(every translucent layer up to the page, composited by a canvas) are read from the
computed style; their WCAG 2 contrast ratio must be at least 4.5, the level for body text.

Uses the helpers of ``browser_support`` (the server, the page, the time-outs) like
``test_browser.py``, with a server of its own, since its theme is not the default.
Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_theme.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from browser_support import WAIT, LabServer, NotebookPage, browser_required, launch_chromium, missing_browser

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "theme-check.ipynb"  # written into the server's copy only, never into notebooks/
DARK = "JupyterLab Dark"
THEMES = "@jupyterlab/apputils-extension/themes.jupyterlab-settings"

CELLS = [
    """\
import os
from labkit.teaching.exercises import STRICT_ENV, Exercises
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
from labkit.teaching.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.teaching.display import validation_table
network, alice = demo_network(1), demo_wallets()[0]
chain = Chain(network)
for contract, when in zip(seed_contracts(), demo_timestamps(4)):
    chain.mine(alice, contract, timestamp=when)
blocks = chain.blocks
blocks[1], blocks[2] = blocks[2], blocks[1]
validation_table(blocks, [r for r, _ in validate_blocks(network, blocks)], network)""",
    """\
import pandas as pd
from labkit.teaching.display import changes_table
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
def dark_lab(tmp_path_factory):
    reason = missing_browser()
    if reason is not None:
        if browser_required():
            pytest.fail(f"the browser tests must run in CI (LABKIT_REQUIRE_BROWSER or CI is set), but {reason}",
                        pytrace=False)
        pytest.skip(f"browser tests skipped: {reason}")
    import nbformat

    with LabServer(REPO / "notebooks", tmp_path_factory.mktemp("jupyterlab-dark")) as server:
        notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
        notebook.cells = [nbformat.v4.new_markdown_cell("# Theme check")]
        notebook.cells += [nbformat.v4.new_code_cell(code) for code in CELLS]
        nbformat.write(notebook, server.root / NOTEBOOK)
        # The server reads user settings from disk on every request, so this applies to the next page.
        settings = server.workdir / "jupyter-config" / "lab" / "user-settings" / THEMES
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"theme": DARK}), "utf-8")
        yield server


@pytest.fixture(scope="module")
def dark_page(request, dark_lab, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-home-dark"))
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1000})
            context.set_default_timeout(WAIT)
            notebook = NotebookPage(context.new_page(), dark_lab, NOTEBOOK, ARTIFACTS, test="dark_theme")
            notebook.open()
            notebook.run_all()
            yield notebook
        finally:
            browser.close()
            dark_lab.shutdown_kernels()


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
