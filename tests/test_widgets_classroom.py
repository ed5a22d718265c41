"""The classroom dashboard: what it shows, over status files written here and over a real room of two nodes.

The fake rooms are ``Classroom`` objects whose nodes never started: their
``status.json`` files are written by the test, as a node writes them, so the
tree, the members and the feed are checked against known blocks and events.
The real room runs two ``node run`` processes at difficulty 1 (in a private
network namespace where the machine allows it) and checks that the dashboard
shows the tip they agree on and the state replayed from the chain file.
"""

from __future__ import annotations

import json
import re
import time

import pytest

pytest.importorskip("ipywidgets")

from labkit.node.classroom import Classroom, student_contracts
from labkit.node.journal import EVENT_KINDS
from labkit.widgets.classroom import FEED_KINDS, Dashboard, describe, feed_frame, tree_blocks, tree_svg
from waiting import scaled, wait_until

GENESIS16 = "0" * 16
A0, B1, C1, C2 = "000a" + "0" * 12, "000b" + "1" * 12, "000c" + "1" * 12, "000c" + "2" * 12
TIP_C2 = C2 + "f" * 48  # the whole hash, as status.json names the tip


def block(hash16, parent, index, author, canonical):
    return {"hash": hash16, "parent": parent, "index": index, "author": author, "canonical": canonical}


def event(time_, kind, **detail):
    return {"time": f"2026-12-02T10:00:{time_}Z", "event": kind, **detail}


def status(tip, height, tree, events=(), **more):
    return {"member": "?", "tip": tip, "height": height, "total_work": 16 * (height + 1), "digest": "d" * 64,
            "queued": [], "refused_contracts": [], "error": None, "peers": {}, "events": list(events),
            "tree": tree, **more}


def write(room, name, value):
    folder = room.nodes[name].data
    folder.mkdir(parents=True, exist_ok=True)
    text = value if isinstance(value, str) else json.dumps(value)
    (folder / "status.json").write_text(text, encoding="utf-8")


# ana and ben mined at height 1 at once; cleo's block won; ben reorganised onto it and requeued his contract.
ANA_TREE = [block(A0, GENESIS16, 0, "ana", True), block(B1, A0, 1, "ben", False), block(C1, A0, 1, "cleo", True),
            block(C2, C1, 2, "cleo", True)]
BEN_TREE = [block(A0, GENESIS16, 0, "ana", True), block(B1, A0, 1, "ben", True)]  # he has not heard of cleo's
BEN_EVENTS = [event("01.000", "mined", height=1, block=B1 + "0" * 48, canonical="canonical"),
              event("03.000", "reorganised", depth=1, fork_index=0, old_work=32, new_work=32, applied=1),
              event("03.100", "requeued", block=B1 + "0" * 48, height=1),
              event("04.000", "refused", member="mallory", rule="pow", reason="the hash does not meet difficulty 1")]
ANA_EVENTS = [event("00.500", "mined", height=0, block=A0 + "0" * 48, canonical="canonical"),
              event("02.000", "adopted", member="cleo", height=1, tip=C1 + "0" * 48, total_work=32),
              event("02.500", "published", height=1, info_hash="ab" * 20),  # not in the feed by default
              event("05.000", "ignored", member="eve", seq=1, reason="not a member")]


@pytest.fixture
def room(tmp_path):
    room = Classroom(tmp_path / "room", ["ana", "ben", "cleo"])
    write(room, "ana", status(TIP_C2, 2, ANA_TREE, ANA_EVENTS))
    write(room, "ben", status(B1 + "0" * 48, 1, BEN_TREE, BEN_EVENTS))
    return room


def boxes(svg):
    """Each block drawn: (hash, index, author, canonical or stale)."""
    return re.findall(r'<g class="labkit-block labkit-(\w+)" data-hash="(\w+)" data-index="(\d+)" '
                      r'data-author="(\w+)"', svg)


def test_the_tree_draws_a_fork_as_two_blocks_at_one_height(room):
    d = Dashboard(room, view="ana")
    drawn = boxes(d.tree_html.value)
    assert sorted((h, int(i), a, s) for s, h, i, a in drawn) == [
        (A0, 0, "ana", "canonical"), (B1, 1, "ben", "stale"), (C1, 1, "cleo", "canonical"),
        (C2, 2, "cleo", "canonical")]
    assert [i for _, _, i, _ in drawn].count("1") == 2
    # every block joined to its parent: three lines, none of them the dashed stub of a missing parent
    assert d.tree_html.value.count("<line ") == 3 and "stroke-dasharray=\"2,2\"" not in d.tree_html.value
    assert "▲ ana</text>" in d.tree_html.value  # ana stands on C2 (ben's tip is his own B1: "▲ ben")
    assert "▲ ben</text>" in d.tree_html.value


def test_the_outlined_chain_is_the_viewed_nodes(room):
    # ben still follows his own block: from his view B1 is canonical and cleo's blocks are news to him
    rows = {r["hash"]: r for r in tree_blocks(room.statuses(), view="ben")}
    assert rows[B1]["canonical"] and not rows[C1]["canonical"] and not rows[C2]["held"]
    assert rows[B1]["tips"] == ["ben"] and rows[C2]["tips"] == ["ana"]
    d = Dashboard(room, view="ana")
    d.view.value = "ben"  # choosing another node redraws at once
    assert ("canonical", B1) in {(s, h) for s, h, _, _ in boxes(d.tree_html.value)}
    assert ("stale", C1) in {(s, h) for s, h, _, _ in boxes(d.tree_html.value)}


def test_the_tree_keeps_the_newest_heights():
    chain = [block(f"{i:016x}", f"{i - 1:016x}" if i else GENESIS16, i, "ana", True) for i in range(15)]
    svg = tree_svg({"ana": status(f"{14:016x}" + "0" * 48, 14, chain)}, heights=4)
    assert [int(i) for _, _, i, _ in boxes(svg)] == [11, 12, 13, 14]
    assert "height 10" not in svg and "stroke-dasharray=\"2,2\"" in svg  # block 11's parent is cut off
    assert tree_svg({"ana": None}) == "<p class='labkit-tree-empty'>no blocks yet</p>"


def test_the_members_table_shows_each_nodes_tip_height_and_queue(room):
    d = Dashboard(room)
    members = d.members_html.value
    assert TIP_C2[:12] in members and (B1 + "0" * 48)[:12] in members
    assert ">2<" in members and ">1<" in members  # the heights
    assert "no status yet from cleo" in d.summary_html.value
    assert "3 different tips" not in d.summary_html.value  # no node runs: it says so instead
    assert "no node is running" in d.summary_html.value


def test_the_feed_merges_every_nodes_events_newest_last(room):
    frame = feed_frame(room.statuses())
    assert list(frame["time"]) == sorted(frame["time"])
    assert list(zip(frame["node"], frame["event"])) == [
        ("ana", "mined"), ("ben", "mined"), ("ana", "adopted"), ("ben", "reorganised"), ("ben", "requeued"),
        ("ben", "refused"), ("ana", "ignored")]
    what = dict(zip(frame["event"], frame["what"]))
    assert what["reorganised"] == "reorganised: rolled back 1 block(s) after height 0, applied 1"
    assert what["refused"] == "refused mallory's chain, rule pow: the hash does not meet difficulty 1"
    assert what["ignored"] == "ignored eve's pointer: not a member"
    assert what["requeued"] == f"requeued the contract of its orphaned block {B1[:8]} (height 1)"
    assert list(feed_frame(room.statuses(), last=2)["event"]) == ["refused", "ignored"]
    d = Dashboard(room)
    assert "not a member" in d.feed_html.value and "published" not in d.feed_html.value
    assert d.feed_html.value.index("mallory's") < d.feed_html.value.index("eve's")


def test_every_kind_of_event_reads_as_a_sentence_with_its_detail():
    seen = {describe(event("00.000", kind, rule="R", reason="WHY", depth=7, member="M", height=3, block="B" * 64,
                           tip="T" * 64, action="save the chain", listen="127.0.0.1:1", bytes=9, seconds=0.5,
                           canonical="canonical", fork_index=2, applied=7))
            for kind in EVENT_KINDS}
    assert len(seen) == len(EVENT_KINDS)  # one sentence per kind, none falling back to a list of fields
    assert describe(event("0", "refused", member="M", rule="R", reason="WHY")) == "refused M's chain, rule R: WHY"
    assert describe(event("0", "failed", action="save the chain", reason="disk full")) == \
        "failed to save the chain: disk full"
    assert "7 block(s)" in describe(event("0", "reorganised", depth=7, fork_index=2, applied=7))
    assert set(FEED_KINDS) <= set(EVENT_KINDS)


def test_refresh_never_raises_on_a_missing_or_half_written_status(room):
    d = Dashboard(room)
    write(room, "ana", json.dumps(status(TIP_C2, 2, ANA_TREE, ANA_EVENTS))[:200])  # cut off mid-write
    write(room, "cleo", "")
    d.refresh()
    assert "no status yet from ana, cleo" in d.summary_html.value
    assert {h for _, h, _, _ in boxes(d.tree_html.value)} == {A0, B1}  # ben's blocks only
    assert "mallory's" in d.feed_html.value and "eve's" not in d.feed_html.value
    assert "ana has no chain yet" in d.state_html.value  # no chain.jsonl either
    (room.nodes["ana"].data / "chain.jsonl").write_text('{"token": "half a li', encoding="utf-8")
    d.refresh()
    assert "ana" in d.state_html.value and "students" not in d.state_html.value


def test_start_refreshes_in_the_background_until_stop(room):
    d = Dashboard(room)
    before = d.refreshes
    d.start(every=0.05)
    assert d.running and d.live.value
    wait_until(lambda: d.refreshes >= before + 3, timeout=10, what="three refreshes in the background",
               interval=0.02)
    write(room, "cleo", status(TIP_C2, 2, ANA_TREE))  # cleo's first status: the next refresh shows it
    wait_until(lambda: "cleo" not in d.summary_html.value, timeout=10, what="a refresh to show cleo's status",
               interval=0.02)
    assert "no status yet" not in d.summary_html.value
    d.stop()
    assert not d.running and not d.live.value
    stopped = d.refreshes
    time.sleep(0.2)  # not a wait for something: four refresh periods in which nothing may happen
    assert d.refreshes == stopped
    d.live.value = True  # the toggle starts and stops it too
    assert d.running
    d.live.value = False
    assert not d.running


def test_a_real_room_of_two_nodes(tmp_path):
    pytest.importorskip("libtorrent")
    room = Classroom.create(tmp_path / "room", ["ana", "ben"], difficulty=1)
    room.isolate()  # where the machine allows it; else the nodes stay on 127.0.0.1
    with room:
        room.start()
        d = Dashboard(room, view="ben")
        assert "2 running nodes, no block mined yet" in d.summary_html.value
        [contract] = student_contracts("ana", 1)
        room.submit("ana", contract)
        room.wait_until(lambda: room.converged() and room.status("ben")["height"] == 0, scaled(60),
                        "ben to adopt ana's block")
        d.refresh()
        tip = room.status("ana")["tip"]
        assert f"all 2 running nodes agree: tip {tip[:12]}, height 0" in d.summary_html.value
        assert [(s, h, a) for s, h, _, a in boxes(d.tree_html.value)] == [("canonical", tip[:16], "ana")]
        assert "▲ ana, ben</text>" in d.tree_html.value
        assert "ANA001" in d.state_html.value and "Student 1 of ana" in d.state_html.value  # ben's file, replayed
        feed = feed_frame(room.statuses())
        assert ("ana", "mined") in set(zip(feed["node"], feed["event"]))
        assert ("ben", "adopted") in set(zip(feed["node"], feed["event"]))
        room.stop("ben")
        d.refresh()
        assert f"ana runs alone: tip {tip[:12]}, height 0" in d.summary_html.value
        assert re.search(r"<td[^>]*>no</td>", d.members_html.value)  # ben stopped, still listed with his tip


def test_a_refresh_that_fails_in_the_background_is_shown_and_the_watching_goes_on(room, monkeypatch):
    d = Dashboard(room)
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("the disk went away")

    monkeypatch.setattr(room, "statuses", broken)
    d.start(every=0.05)
    try:
        wait_until(lambda: len(calls) >= 3, timeout=10, what="three refreshes, each failing", interval=0.02)
    finally:
        d.stop()
    assert len(calls) >= 3  # it kept trying after the first failure
    assert "refresh failed: RuntimeError: the disk went away" in d.summary_html.value
    with pytest.raises(RuntimeError):  # called directly, refresh() reports the failure to the caller
        d.refresh()
