"""The capstone in JupyterLab, in Chromium: Run All with the learner's functions saved, and read the page.

Before the server starts, right functions (those of test_capstone, standing in for a
learner's) are saved where the kernels look for them (``LABKIT_MINE_DIR``). After
Run All Cells the page must show every part as **yours**, each comparison table
with ✓ in every row and no ✗, the fork choice decided by the learner's function,
and the summary counting 25 of 25 blocks in agreement; both exercises show
"passed". Uses ``browser_support`` like ``test_browser.py``, with a server of its own
(the kernels need the environment variable from the start).
Run alone: ``LABKIT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest tests/test_browser_capstone.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import LabServer, NotebookPage

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
NOTEBOOK = "11-your-own-verifier.ipynb"


@pytest.mark.timeout(900)
def test_capstone_shows_your_functions_and_where_they_agree_with_labkit(browser, tmp_path_factory,
                                                                         monkeypatch, request):
    from labkit.course import capstone, saved
    from labkit.course.exercises import STRICT_ENV
    import test_capstone as learner

    tmp_path = tmp_path_factory.mktemp("capstone")
    monkeypatch.setenv(saved.MINE_ENV, str(tmp_path / "mine"))
    monkeypatch.delenv(STRICT_ENV, raising=False)
    for name in capstone.PARTS:
        saved.keep(name, getattr(learner, name))

    with LabServer(REPO / "notebooks", tmp_path / "jupyterlab") as server:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        try:
            notebook = NotebookPage(context.new_page(), server, NOTEBOOK, ARTIFACTS, test=request.node.name)
            notebook.open()
            notebook.run_all()

            tables = notebook.notebook.locator(".jp-OutputArea-output table")
            parts = tables.filter(has_text="in the verifier")
            notebook.wait_visible(parts, "the table of the verifier's parts")
            with notebook.step("reading whose each part is"):
                text = parts.first.text_content()
            notebook.check(text.count("yours") == len(capstone.PARTS) and "labkit's" not in text,
                           f"the parts table does not show every part as yours: {text!r}")

            compared = tables.filter(has_text="labkit's verdict")
            notebook.wait_count(compared, 5, "the five tables of verdicts")
            with notebook.step("reading the verdict tables"):
                verdicts = compared.all_text_contents()
            marks = "".join(verdicts)
            notebook.check(marks.count("✓") == 25 and "✗" not in marks,
                           f"{marks.count('✓')} ✓ and {marks.count('✗')} ✗ in the verdict tables")
            notebook.check("yours check_block" in verdicts[1] and "yours check_block" in verdicts[3],
                           "the tampered chain's link and the lazy block's pow are not decided by your check_block")
            forks = tables.filter(has_text="labkit's tip")
            notebook.wait_text(forks.first, r"yours fork_choice.*✓", "the fork choice table")

            summary = notebook.output_with(notebook.page.locator("text=blocks compared"))
            notebook.wait_text(summary.first, r"'blocks compared': 25,\s*'agree': 25", "the summary")
            checks = notebook.notebook.locator(".labkit-check")
            notebook.wait_count(checks.filter(has_text="passed"), 2, "the two exercises' checks")
            notebook.finish(show=summary)
        finally:
            context.close()
