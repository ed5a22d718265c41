"""The three widget tables the learner saw run together are drawn by frame_table, with its cell padding.

(The browser test, tests/test_browser_tables.py, measures the gap in Chromium;
this one checks, without a browser, that each widget's table carries the rule.)
"""

from __future__ import annotations

import re

import pytest

pytest.importorskip("ipywidgets")

from labkit.lessons.data import demo_network  # noqa: E402
from labkit.node.classroom import Classroom  # noqa: E402
from labkit.peer import Peer  # noqa: E402
from labkit.widgets.classroom import Dashboard  # noqa: E402
from labkit.widgets.contracts import contract_builder  # noqa: E402
from labkit.widgets.mining import difficulty_widget  # noqa: E402

PADDED = re.compile(r"#T_\w+\s+td \{\s*padding: 0\.25em 0\.75em;")


def test_the_difficulty_widgets_run_table_pads_its_cells(network, alice, contracts):
    widget = difficulty_widget(network, alice, contracts[1])
    widget.slider.value = 1
    widget.mine_button.click()
    widget.wait(timeout=60)
    assert PADDED.search(widget.history_html.value)


def test_the_contract_builders_chain_table_pads_its_cells(wallets):
    peer = Peer("alice", demo_network(1), wallet=wallets[0])
    w = contract_builder(peer)
    w.action.value = "register_student"
    for name, value in {"id": "S001", "name": "Ada", "department": "Maths"}.items():
        w.fields[name].value = value
    w.submit_button.click()
    assert PADDED.search(w.chain_output.value)


def test_the_dashboards_members_table_pads_its_cells(tmp_path):
    dash = Dashboard(Classroom(tmp_path / "room", ["ana", "ben"]))
    assert PADDED.search(dash.members_html.value)
