"""Small things a projector shows: a digest that fits its coloured cell, a count that reads as a count."""

from __future__ import annotations

import json
from pathlib import Path

from labkit.lessons.data import demo_wallets
from labkit.lessons.display import peers_table
from labkit.peer import Peer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def test_peers_table_shows_a_digest_short_enough_for_its_cell(small_blocks, net1):
    peers = [Peer(w.name, net1, wallet=w) for w in demo_wallets()]
    for peer in peers:
        peer.receive(small_blocks if peer.name != "carol" else small_blocks[:2])
    styler = peers_table(peers)
    shown = list(styler.data["digest"])
    assert shown == [f"{p.digest()[:16]}…" for p in peers]
    assert list(styler.labkit_mask["digest"]) == [False, False, True]  # judged on the whole digest


def test_05s_plot_title_counts_peers_as_a_whole_number():
    nb = json.loads((NOTEBOOKS / "05-torrent-sharing.ipynb").read_text(encoding="utf-8"))
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    titled = [c for c in code if "peers: one server takes" in c]
    assert titled and all("{int(last['peers'])} peers" in c for c in titled)
