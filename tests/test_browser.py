"""The workbook as a learner uses it: JupyterLab in Chromium, Run All Cells, then the widgets.

Kernel-level tests drive the widgets' Python side; these check what only a browser
shows: that the widget extension loads, that each widget renders, that a click
reaches the kernel and the answer comes back to the page.

One JupyterLab server (on a temporary copy of notebooks/) and one Chromium serve
the whole session, and JupyterLab's page stays loaded from test to test: each test
opens its notebook in the loaded app and closes it, its kernel shut down, afterwards
(browser_support.LoadedLab; a test that fails leaves the next a freshly loaded page).
Screenshots go to test-artifacts/, named after the test; a failure names the test,
the notebook and the condition it waited for.

Chromium is Debian's (/usr/bin/chromium). Without it the tests skip, except in CI
(LABKIT_REQUIRE_BROWSER or CI set), where they must run and a missing browser fails.

Run them alone with ``.venv/bin/python -m pytest tests/test_browser.py``; leave them
out with ``-m "not browser"`` (as ``make test-fast`` does).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_support import WAIT, LabServer, LoadedLab, NotebookPage, write_notebook

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
HARNESS = "harness-check.ipynb"  # written into the server's copy only, never into notebooks/
STOPS = "harness-stops.ipynb"  # likewise: Run All stops at its second cell


# --- fixtures: one server and one browser for the session


@pytest.fixture(scope="session")
def lab(chromium_ready, tmp_path_factory):
    with LabServer(REPO / "notebooks", tmp_path_factory.mktemp("jupyterlab")) as server:
        _write_harness_notebook(server.root / HARNESS)
        _write_stopping_notebook(server.root / STOPS)
        yield server


# chromium_ready and browser (one Chromium for the session) are in conftest.py


@pytest.fixture(scope="session")
def loaded_lab(lab, browser):
    """JupyterLab's page, loaded once and kept from test to test (browser_support.LoadedLab)."""
    loaded = LoadedLab(browser, lab, ARTIFACTS)
    yield loaded
    loaded.close()


@pytest.fixture
def run_notebook(request, loaded_lab, test_failed):
    """Open a notebook in JupyterLab and Run All Cells; returns the NotebookPage."""
    with loaded_lab.notebooks_for(request.node.name, test_failed, NotebookPage.run_all) as run:
        yield run


def _write_harness_notebook(path: Path) -> None:
    """A slider, a button and a label: checks the harness and the widget extension, apart from any lesson."""
    code = """\
import ipywidgets as w
slider = w.IntSlider(value=2, min=0, max=6, description="difficulty")
button = w.Button(description="Go")
label = w.Label("clicks: 0")
def go(_):
    label.value = f"clicks: {int(label.value.split()[1]) + 1} at {slider.value}"
button.on_click(go)
w.VBox([slider, button, label])"""
    write_notebook(path, "Harness check", [code])


def _write_stopping_notebook(path: Path) -> None:
    """Three cells, the first two with their source hidden as the exercises' checks are; the second raises."""
    import nbformat

    hidden = {"jupyter": {"source_hidden": True}}
    write_notebook(path, "Run All stops here", [
        nbformat.v4.new_code_cell("first = 1", metadata=hidden),
        nbformat.v4.new_code_cell("raise RuntimeError('the harness stops here')", metadata=hidden),
        "third = 3"])


def _move_slider(notebook: NotebookPage, slider, value: int) -> None:
    """Move an ipywidgets slider to ``value`` with the arrow keys on its handle, as a keyboard user would."""
    handle = slider.locator("[role='slider']")
    notebook.wait_visible(handle, "the slider's handle")
    with notebook.step(f"moving the slider to {value} with the arrow keys"):
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
    notebook.click(notebook.button("Go", output), "the Go button")
    notebook.wait_text(output.locator(".widget-label", has_text="clicks"), r"^clicks: 1 at 4$",
                       "the label the button updates")
    notebook.finish(show=output)


def test_run_all_names_the_cells_that_did_not_run_hidden_source_or_not(run_notebook):
    """The harness's own check: a hidden cell that ran counts as run; after a raise, the rest did not run."""
    shot = ARTIFACTS / "test_run_all_names_the_cells_that_did_not_run_hidden_source_or_not-failure.png"
    shot.unlink(missing_ok=True)  # the failure must take its own
    with pytest.raises(pytest.fail.Exception) as failed:
        run_notebook(STOPS)
    message = str(failed.value)
    assert "test_run_all_names_the_cells_that_did_not_run_hidden_source_or_not (harness-stops.ipynb)" in message
    assert "Run All Cells stopped early: code cells [3] of 3 did not run" in message
    assert "RuntimeError: the harness stops here" in message
    assert f"screenshot: {shot}" in message and shot.stat().st_size > 0


def test_block_inspector_names_the_check_an_edit_breaks(run_notebook):
    notebook = run_notebook("02-jwt-blocks.ipynb")
    inspector = notebook.wait_visible(notebook.widget("labkit-block-inspector"), "the block inspector")
    verdict = inspector.locator(".labkit-audit > p").first

    notebook.click(notebook.button("Reset", inspector), "the inspector's Reset button")  # the lesson tampered with it
    notebook.wait_text(verdict, r"^Accepted", "the verdict on the original block")
    payload = inspector.get_by_label("payload", exact=True)
    with notebook.step("reading the payload box"):
        original = payload.input_value()
    notebook.check("Blockchain Technology" in original, f"block 1's payload is not the seed's course:\n{original}")
    notebook.fill(payload, original.replace("Blockchain Technology", "Blockchain for Beginners"), "the payload box")
    notebook.click(notebook.button("Check", inspector), "the inspector's Check button")

    notebook.wait_text(verdict, r"^Rejected at signature", "the verdict on the edited block")
    row = inspector.locator("tr.labkit-check[data-check='signature']")
    notebook.wait_text(row, r"rejected here", "the signature row of the checks table")
    notebook.wait_class(row, "labkit-fail", "the signature row of the checks table")
    hash_line = notebook.wait_text(inspector.locator(".widget-html", has_text="hash").first, r"the token changed",
                                   "the hash line")
    notebook.check("as it was mined" not in hash_line, f"the edited block is described as the original: {hash_line}")
    notebook.finish(show=row)


def test_mining_widget_finds_a_block_at_the_chosen_difficulty(run_notebook):
    notebook = run_notebook("03-proof-of-work.ipynb")
    widget = notebook.wait_visible(notebook.widget("labkit-difficulty-widget"), "the difficulty widget")
    attempts = widget.locator(".widget-label", has_text=re.compile(r"^attempts: "))

    _move_slider(notebook, widget.locator(".widget-slider"), 4)
    notebook.click(notebook.button("fast", widget), "the fast miner's toggle")  # the reference takes ~8 s at 4
    notebook.wait_class(notebook.button("fast", widget), "mod-active", "the fast miner's toggle")
    # Record every text the attempts label shows from now on: the page's own view of the run.
    with notebook.step("watching the attempts label"):
        attempts.evaluate("""label => {
            window.labkitAttempts = [];
            new MutationObserver(() => window.labkitAttempts.push(label.textContent))
                .observe(label, {childList: true, characterData: true, subtree: true});
        }""")
        before = attempts.text_content()
    notebook.click(notebook.button("Mine", widget), "the Mine button")

    status = notebook.wait_text(widget.locator(".widget-html", has_text="found after"),
                                r"found after [\d,]+ attempts.*valid at difficulty 4", "the mining status",
                                timeout=2 * WAIT)
    with notebook.step("reading the attempts the label showed"):
        final = int(re.sub(r"\D", "", attempts.text_content()))  # every hash computed, all workers together
        seen = [int(re.sub(r"\D", "", text)) for text in notebook.page.evaluate("window.labkitAttempts")]
    if before == "attempts: 0" and seen[:1] != [0]:  # Mine resets the label to 0: no change to observe
        seen.insert(0, 0)
    notebook.check(len(seen) >= 2 and seen[0] < seen[-1] == final and seen == sorted(seen),
                   f"the attempts label should rise from 0 to {final:,}; it showed {seen}")
    notebook.wait_text(widget.locator("code.labkit-hash span"), r"^0000$", "the hash's highlighted zeros")
    digest = notebook.wait_text(widget.locator("code.labkit-hash"), r"^0000", "the mined hash")
    notebook.check(re.fullmatch(r"0000[0-9a-f]{60}", digest) is not None, f"not a hash with 4 leading zeros: {digest}")
    notebook.finish(show=widget.locator("code.labkit-hash"))


def test_swarm_progress_bars_reach_100_percent(run_notebook):
    notebook = run_notebook("05-torrent-sharing.ipynb")
    swarm = notebook.wait_visible(notebook.widget("labkit-swarm"), "the swarm's progress bars")

    notebook.wait_text(swarm.locator(".labkit-swarm-summary"), r"^3 peer\(s\) had the whole", "the swarm's summary",
                       timeout=2 * WAIT)
    # The bars follow the kernel's values as they arrive: wait for them rather than read them once.
    notebook.wait_count(swarm.locator(".widget-hprogress .progress-bar"), 3, "the swarm's progress bars")
    notebook.wait_count(swarm.locator(".widget-hprogress .progress-bar[style*='width: 100%']"), 3,
                        "the progress bars at 100%")
    notebook.wait_count(swarm.locator(".widget-html", has_text="done in"), 3, "the peers saying 'done in'")
    notebook.finish(show=swarm)


def test_contract_builder_adds_a_row_to_the_state_table(run_notebook):
    notebook = run_notebook("06-contracts-and-the-vm.ipynb")
    builder = notebook.wait_visible(notebook.widget("labkit-contract-builder"), "the contract builder")

    notebook.select(builder.get_by_label("signed by", exact=True), "bob", "the 'signed by' drop-down")
    notebook.select(builder.get_by_label("action", exact=True), "register_student", "the action drop-down")
    department = builder.get_by_label("department", exact=True)  # only this action's form has it
    notebook.wait_visible(department, "the register_student form")
    notebook.fill(builder.get_by_label("id", exact=True), "S077", "the id box")
    notebook.fill(builder.get_by_label("name", exact=True), "Grace Hopper", "the name box")
    notebook.fill(department, "Navy", "the department box")
    # The kernel writes the preview: once it shows the three fields, the kernel has them.
    notebook.wait_text(builder.locator("pre").first, r'"S077".*"Grace Hopper".*"Navy"', "the contract preview")
    notebook.click(notebook.button("Mine and submit", builder), "the 'Mine and submit' button")

    notebook.wait_text(builder.locator(".labkit-status"), r"mined by bob.*accepted by every check",
                       "the builder's status after submitting", timeout=2 * WAIT)
    row = builder.locator("tr", has=notebook.page.locator("th", has_text=re.compile(r"^\s*S077\s*$")))
    notebook.wait_visible(row, "S077's row in the students table")
    notebook.wait_text(row, r"Grace Hopper.*Navy", "S077's row in the students table")
    notebook.wait_visible(row.locator("td.labkit-new"), "S077's cells marked new (green)")
    notebook.finish(show=row)


GREEN, RED = "rgb(46, 157, 72)", "rgb(217, 48, 37)"  # labkit.widgets.chain.ACCEPTED and REFUSED, as CSS computes them


def _borders(notebook: NotebookPage, cards) -> list[str]:
    with notebook.step("reading the blocks' border colours"):
        return cards.evaluate_all("cards => cards.map(c => getComputedStyle(c).borderTopColor)")


def test_chain_widget_turns_an_edited_block_and_the_later_ones_red_and_remining_repairs_them(run_notebook):
    notebook = run_notebook("04-the-chain.ipynb")
    widget = notebook.wait_visible(notebook.widget("labkit-chain-widget"), "the chain widget")
    summary = widget.locator(".labkit-chain-summary")

    # After Run All, as the prose says: nothing edited, every block green, the copies agree.
    notebook.wait_count(widget.locator(".labkit-chain-block.labkit-accepted"), 12, "the green blocks of three copies")
    notebook.wait_text(summary, r"the 3 copies agree", "the copies' summary after Run All")
    carol = widget.locator(".labkit-chain-copy").filter(has_text="carol's copy")
    cards = carol.locator(".labkit-chain-block")
    notebook.wait_count(cards, 4, "the blocks of carol's copy")
    notebook.check(_borders(notebook, cards) == [GREEN] * 4, f"carol's borders: {_borders(notebook, cards)}")
    with notebook.step("measuring carol's row"):
        right = max(box["x"] + box["width"] for box in (cards.nth(i).bounding_box() for i in range(4)))
    notebook.check(right <= 1280, f"carol's four blocks reach {right:.0f} px, past a 1280-pixel projector")

    # Type into block 2's data, key by key: its hash changes with each key, and blocks 2 and 3 turn red.
    block2, block3 = cards.nth(2), cards.nth(3)
    hash2 = block2.locator("code.labkit-hash")
    before = notebook.wait_text(hash2, r"^00[0-9a-f]{14}$", "block 2's hash after Run All")
    notebook.type_text(block2.locator("textarea"), "n", "block 2's data", at="Increase")
    after_one_key = notebook.wait_text(hash2, rf"^(?!{before}$)[0-9a-f]{{16}}$", "block 2's hash after one key")
    notebook.type_text(block2.locator("textarea"), "ot ", "block 2's data", at="Increase")
    notebook.wait_text(hash2, rf"^(?!{after_one_key}$)[0-9a-f]{{16}}$", "block 2's hash after three more keys")
    notebook.wait_class(block2, "labkit-refused", "block 2 after the edit")
    notebook.wait_class(block3, "labkit-refused", "block 3 after block 2's edit")
    notebook.wait_text(block2.locator(".widget-html").first, r"✗ signature", "block 2's verdict")
    notebook.wait_text(block3.locator(".widget-html").first, r"✗ link", "block 3's verdict")
    notebook.check(_borders(notebook, cards) == [GREEN, GREEN, RED, RED], f"carol's borders: {_borders(notebook, cards)}")
    notebook.wait_count(widget.locator(".labkit-chain-block.labkit-accepted"), 10, "the green blocks after the edit")
    notebook.wait_text(summary, r"copies disagree.*carol.*differs from alice's copy from block 2 on",
                       "the copies' summary after the edit")

    # Re-mine block 2, then block 3: each turns green in turn, and the attempts add up.
    notebook.click(notebook.button("re-mine", block2), "block 2's re-mine button")
    notebook.wait_class(block2, "labkit-accepted", "block 2 after its re-mine")
    first = notebook.wait_text(block2.locator(".labkit-attempts"), r"^[\d,]+ attempts$", "block 2's attempts")
    notebook.wait_text(block3.locator(".widget-html").first, r"✗ link", "block 3, still naming the old block 2")
    cost = carol.locator(".widget-label", has_text="re-mined")
    notebook.wait_text(cost, rf"re-mined 1 block\(s\): {first}", "carol's re-mining cost after one block")
    notebook.click(notebook.button("re-mine", block3), "block 3's re-mine button")
    notebook.wait_class(block3, "labkit-accepted", "block 3 after its re-mine")
    total = notebook.wait_text(cost, r"re-mined 2 block\(s\): [\d,]+ attempts", "carol's re-mining cost after two blocks")
    spent = int(re.search(r": ([\d,]+) attempts", total).group(1).replace(",", ""))
    notebook.check(spent > int(first.split()[0].replace(",", "")), f"the cost did not grow: {first} then {total}")
    notebook.check(_borders(notebook, cards) == [GREEN] * 4, f"carol's borders: {_borders(notebook, cards)}")
    notebook.wait_text(summary, r"copies disagree.*every copy is valid on its own", "the copies' summary after the repair")
    notebook.finish(show=carol)
