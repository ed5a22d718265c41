"""A cell that takes more than a few seconds shows its progress while it runs.

The library reports steps through a callback (swarm_experiment's ``progress``)
or the dashboard's refreshes; the widgets here draw them: ``Steps``, a bar of
known steps, and ``Dashboard.watch``, a line that says what a cell waits for,
for how long, and the room's summary. The notebooks' long cells use them: 05's
swarm experiment, and 09's fork, kill and restart, and its measured blocks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")

from labkit.node.classroom import Classroom
from labkit.widgets.classroom import Dashboard, Watch
from labkit.widgets.progress import Steps

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_steps_count_each_callback_and_say_how_long():
    clock = Clock()
    steps = Steps(3, "runs", clock=clock)
    assert steps.text == "0 of 3 runs · 0 s" and steps.bar.value == 0
    clock.now += 9
    steps.step(object())  # a library's callback passes its result: ignored
    assert steps.text == "1 of 3 runs · 9 s" and steps.bar.value == 1
    clock.now += 18
    steps.step(), steps.step(), steps.step()  # never past the end
    clock.now += 5  # the time stops at the last step
    assert steps.text == "3 of 3 runs in 27 s" and steps.bar.bar_style == "success"
    assert "3 of 3 runs in 27 s" in steps.label.value


def test_steps_refuse_an_empty_bar():
    with pytest.raises(ValueError, match="at least one step"):
        Steps(0, "runs")


def test_a_watch_says_what_it_waits_for_and_stops_at_done(tmp_path):
    room = Classroom(tmp_path / "room", ["ana", "ben"])
    dash = Dashboard(room)
    watch = dash.watch("dev to catch up")
    assert isinstance(watch, Watch) and watch in dash.watches
    assert "dev to catch up: 0 s so far · no node is running" in watch.value
    seconds = watch.done()
    assert seconds >= 0 and f"done in {seconds:.1f} s" in watch.value
    dash.refresh()
    assert watch not in dash.watches  # a finished line is no longer redrawn


def cells(name: str) -> list[str]:
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


# Each long call, in the notebook whose cell runs it, and what the same cell must show while it runs.
LONG = [("05-torrent-sharing", r"swarm_experiment\(", r"progress=\w+\.step"),
        ("03-proof-of-work", r"measure_mining\(\[4\]", r"progress=\w+\.step"),
        ("09-the-classroom-network", r"room\.start\(progress", r"display\(started\)"),
        ("09-the-classroom-network", r"room\.kill\(", r"display\(watch\)"),
        ("09-the-classroom-network", r'room\.start\("dev"\)', r"display\(watch\)"),
        ("09-the-classroom-network", r"while not forked", r"display\(watch\)"),
        ("09-the-classroom-network", r"for i, name in enumerate\(rounds\)", r"display\(watch\)")]


@pytest.mark.parametrize("name, call, shown", LONG)
def test_a_long_cell_shows_progress(name, call, shown):
    found = [cell for cell in cells(name) if re.search(call, cell)]
    assert found, f"{name} has no cell matching {call}"
    assert all(re.search(shown, cell) for cell in found), f"{name}: a cell with {call} shows no progress ({shown})"
    if shown == r"display\(watch\)":
        assert all("watch.done()" in cell for cell in found)
