"""The workbook as a learner uses it: JupyterLab in Chromium, Run All Cells, then the widgets.

Kernel-level tests drive the widgets' Python side; these check what only a browser
shows: that the widget extension loads, that each widget renders, that a click
reaches the kernel and the answer comes back to the page.

One JupyterLab server (on a temporary copy of notebooks/) and one Chromium serve
the whole session; each test opens its notebook in a fresh browser context and
shuts its kernel down afterwards. Screenshots go to test-artifacts/.

Chromium is Debian's (/usr/bin/chromium). Without it the tests skip, except in CI
(LABKIT_REQUIRE_BROWSER or CI set), where they must run and a missing browser fails.

Run them alone with ``.venv/bin/python -m pytest tests/test_browser.py``; leave them
out with ``-m "not browser"`` (as ``make test-fast`` does).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_support import LabServer, NotebookPage, browser_required, launch_chromium, missing_browser

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
HARNESS = "harness-check.ipynb"  # written into the server's copy only, never into notebooks/


# --- fixtures: one server and one browser for the session


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    reason = missing_browser()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"the browser tests must run in CI (LABKIT_REQUIRE_BROWSER or CI is set), but {reason}",
                    pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def lab(chromium_ready, tmp_path_factory):
    with LabServer(REPO / "notebooks", tmp_path_factory.mktemp("jupyterlab")) as server:
        _write_harness_notebook(server.root / HARNESS)
        yield server


@pytest.fixture(scope="session")
def browser(chromium_ready, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-home"))
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def run_notebook(lab, browser):
    """Open a notebook in a fresh browser context and Run All Cells; returns the NotebookPage."""
    contexts = []

    def run(name: str) -> NotebookPage:
        if not (lab.root / name).exists():
            pytest.fail(f"notebooks/{name} does not exist", pytrace=False)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        contexts.append(context)
        context.set_default_timeout(30_000)
        notebook = NotebookPage(context.new_page(), lab, name, ARTIFACTS)
        notebook.open()
        notebook.run_all()
        return notebook

    yield run
    for context in contexts:
        context.close()
    lab.shutdown_kernels()


def _write_harness_notebook(path: Path) -> None:
    """A slider, a button and a label: checks the harness and the widget extension, apart from any lesson."""
    import nbformat

    code = """\
import ipywidgets as w
slider = w.IntSlider(value=2, min=0, max=6, description="difficulty")
button = w.Button(description="Go")
label = w.Label("clicks: 0")
def go(_):
    label.value = f"clicks: {int(label.value.split()[1]) + 1} at {slider.value}"
button.on_click(go)
w.VBox([slider, button, label])"""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}})
    notebook.cells = [nbformat.v4.new_markdown_cell("# Harness check"), nbformat.v4.new_code_cell(code)]
    nbformat.write(notebook, path)


def _move_slider(notebook: NotebookPage, slider, value: int) -> None:
    """Move an ipywidgets slider to ``value`` with the arrow keys on its handle, as a keyboard user would."""
    handle = slider.locator("[role='slider']")
    notebook.wait_visible(handle, "the slider's handle")
    now = int(float(handle.get_attribute("aria-valuenow")))
    handle.focus()
    for _ in range(abs(value - now)):
        handle.press("ArrowRight" if value > now else "ArrowLeft")
    notebook.wait_text(slider.locator(".widget-readout"), rf"^{value}$", "the slider's readout")


# --- the tests


def test_harness_widgets_render_and_reach_the_kernel(run_notebook):
    """Apart from any lesson: the widget extension loads, a slider moves, a click comes back."""
    notebook = run_notebook(HARNESS)
    output = notebook.wait_visible(notebook.widget_with_button("Go"), "the harness widgets")

    _move_slider(notebook, output.locator(".widget-slider"), 4)
    notebook.button("Go", output).click()
    notebook.wait_text(output.locator(".widget-label", has_text="clicks"), r"^clicks: 1 at 4$",
                       "the label the button updates")
    notebook.finish(show=output)


def test_block_inspector_names_the_check_an_edit_breaks(run_notebook):
    notebook = run_notebook("02-jwt-blocks.ipynb")
    inspector = notebook.wait_visible(notebook.widget("labkit-block-inspector"), "the block inspector")
    verdict = inspector.locator(".labkit-audit > p").first

    notebook.button("Reset", inspector).click()  # the lesson's own cells tampered with the block
    notebook.wait_text(verdict, r"^Accepted", "the verdict on the original block")
    payload = inspector.get_by_label("payload", exact=True)
    original = payload.input_value()
    notebook.check("Blockchain Technology" in original, f"block 1's payload is not the seed's course:\n{original}")
    payload.fill(original.replace("Blockchain Technology", "Blockchain for Beginners"))
    notebook.button("Check", inspector).click()

    notebook.wait_text(verdict, r"^Rejected at signature", "the verdict on the edited block")
    row = inspector.locator("tr.labkit-check[data-check='signature']")
    notebook.wait_text(row, r"rejected here", "the signature row of the checks table")
    notebook.check("labkit-fail" in row.get_attribute("class"), "the signature row is not marked failed")
    hash_line = notebook.wait_text(inspector.locator(".widget-html", has_text="hash").first, r"the token changed",
                                   "the hash line")
    notebook.check("as it was mined" not in hash_line, f"the edited block is described as the original: {hash_line}")
    notebook.finish(show=row)


def test_mining_widget_finds_a_block_at_the_chosen_difficulty(run_notebook):
    notebook = run_notebook("03-proof-of-work.ipynb")
    widget = notebook.wait_visible(notebook.widget("labkit-difficulty-widget"), "the difficulty widget")
    attempts = widget.locator(".widget-label", has_text=re.compile(r"^attempts: "))

    _move_slider(notebook, widget.locator(".widget-slider"), 4)
    notebook.button("fast", widget).click()  # the miner toggle; the reference miner takes ~8 s at 4
    # Record every text the attempts label shows from now on: the page's own view of the run.
    attempts.evaluate("""label => {
        window.labkitAttempts = [];
        new MutationObserver(() => window.labkitAttempts.push(label.textContent))
            .observe(label, {childList: true, characterData: true, subtree: true});
    }""")
    before = attempts.text_content()
    notebook.button("Mine", widget).click()

    status = notebook.wait_text(widget.locator(".widget-html", has_text="found after"),
                                r"found after [\d,]+ attempts.*valid at difficulty 4", "the mining status",
                                timeout=60_000)
    final = int(re.sub(r"\D", "", attempts.text_content()))  # every hash computed, all workers together
    seen = [int(re.sub(r"\D", "", text)) for text in notebook.page.evaluate("window.labkitAttempts")]
    if before == "attempts: 0" and seen[:1] != [0]:  # Mine resets the label to 0: no change to observe
        seen.insert(0, 0)
    notebook.check(len(seen) >= 2 and seen[0] < seen[-1] == final and seen == sorted(seen),
                   f"the attempts label should rise from 0 to {final:,}; it showed {seen}")
    notebook.wait_text(widget.locator("code.labkit-hash span"), r"^0000$", "the hash's highlighted zeros")
    digest = widget.locator("code.labkit-hash").text_content()
    notebook.check(re.fullmatch(r"0000[0-9a-f]{60}", digest) is not None, f"not a hash with 4 leading zeros: {digest}")
    notebook.finish(show=widget.locator("code.labkit-hash"))


def test_swarm_progress_bars_reach_100_percent(run_notebook):
    notebook = run_notebook("05-torrent-sharing.ipynb")
    swarm = notebook.wait_visible(notebook.widget("labkit-swarm"), "the swarm's progress bars")

    notebook.wait_text(swarm.locator(".labkit-swarm-summary"), r"^3 peer\(s\) had the whole", "the swarm's summary",
                       timeout=60_000)
    widths = swarm.locator(".widget-hprogress .progress-bar").evaluate_all("bars => bars.map(b => b.style.width)")
    notebook.check(widths == ["100%"] * 3, f"the three bars' widths in the page: {widths}")
    done = swarm.locator(".widget-html", has_text="done in")
    notebook.check(done.count() == 3, f"not every peer says 'done in': {swarm.inner_text()}")
    notebook.finish(show=swarm)


def test_contract_builder_adds_a_row_to_the_state_table(run_notebook):
    notebook = run_notebook("06-contracts-and-the-vm.ipynb")
    builder = notebook.wait_visible(notebook.widget("labkit-contract-builder"), "the contract builder")

    builder.get_by_label("signed by", exact=True).select_option("bob")
    builder.get_by_label("action", exact=True).select_option("register_student")
    department = builder.get_by_label("department", exact=True)  # only this action's form has it
    notebook.wait_visible(department, "the register_student form")
    builder.get_by_label("id", exact=True).fill("S077")
    builder.get_by_label("name", exact=True).fill("Grace Hopper")
    department.fill("Navy")
    # The kernel writes the preview: once it shows the three fields, the kernel has them.
    notebook.wait_text(builder.locator("pre").first, r'"S077".*"Grace Hopper".*"Navy"', "the contract preview")
    notebook.button("Mine and submit", builder).click()

    notebook.wait_text(builder.locator(".labkit-status"), r"mined by bob.*accepted by every check",
                       "the builder's status after submitting", timeout=60_000)
    row = builder.locator("tr", has=notebook.page.locator("th", has_text=re.compile(r"^\s*S077\s*$")))
    notebook.wait_visible(row, "S077's row in the students table")
    notebook.check("Grace Hopper" in row.inner_text() and "Navy" in row.inner_text(), f"S077's row: {row.inner_text()}")
    notebook.check(row.locator("td.labkit-new").count() > 0, "S077's row is not marked new (green)")
    notebook.finish(show=row)
