"""labkit.node: live nodes that publish, follow and mine over a loopback DHT and BitTorrent.

The live scenario runs four nodes (three members and a stranger) in one child
process; where ``unshare -n`` works that child has a network namespace of its
own with only the loopback interface up, so nothing can leave the machine.
Each step waits a bounded time and says what it waited for.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from netns import run_isolated
from waiting import scaled

from labkit.network import Member
from labkit.errors import NodeError
from labkit.node.journal import EVENT_KINDS, Journal, read_status
from labkit.node.live import Node, network_salt
from labkit.node.keys import NodeKey

HERE = Path(__file__).resolve().parent


def demo_members(difficulty: int = 1):
    """The demo network at ``difficulty`` with a fresh node key per member: (network, wallets, node keys)."""
    from labkit.lessons.data import demo_network, demo_wallets

    wallets = demo_wallets()
    keys = [NodeKey.generate() for _ in wallets]
    base = demo_network(difficulty)
    network = base.with_members(Member(w.name, w.public_key, k.public_key) for w, k in zip(wallets, keys))
    return network, wallets, keys


# --- without a session ---------------------------------------------------------------------


def test_the_salt_names_the_network_by_its_secret():
    network, _, _ = demo_members()
    salt = network_salt(network)
    assert salt.startswith(b"labkit:") and len(salt) == 39
    assert network_salt(network.with_difficulty(3)) == salt  # the same network
    other = type(network).create(network.members, name=network.name)  # same name, new secret
    assert network_salt(other) != salt


def test_a_node_refuses_a_node_key_the_network_does_not_record(tmp_path):
    network, wallets, _ = demo_members()
    with pytest.raises(NodeError, match="not the one the network records"):
        Node(network, wallets[0], NodeKey.generate(), tmp_path)


def test_mining_without_a_session_queues_mines_and_reports_a_refused_contract(tmp_path):
    from labkit.lessons.data import seed_contracts

    network, wallets, keys = demo_members()
    node = Node(network, wallets[0], keys[0], tmp_path / "alice")
    first = seed_contracts()[0]
    assert node.submit(first) == 0
    assert node.submit(first) == 0  # the same contract queued again keeps its place
    entry = node.mine_once()
    assert entry is not None and node.height == 0
    node.submit(first)  # registering the same student twice: the VM refuses the second
    assert node.mine_once() is None
    assert not node.queue and node.queue.refused[0]["rule"] == "contract"
    kinds = [e.kind for e in node.events]
    assert kinds == ["queued", "queued", "mined", "queued", "contract refused"]
    assert read_status(tmp_path / "alice")["refused_contracts"][0]["contract"] == first
    status = read_status(tmp_path / "alice")
    assert status["height"] == 0 and status["tip"] == entry.hash and status["digest"] == node.peer.digest()
    lines = (tmp_path / "alice" / "events.jsonl").read_text().splitlines()
    assert [json.loads(line)["event"] for line in lines] == kinds
    # a node started again reads its chain back
    assert Node(network, wallets[0], keys[0], tmp_path / "alice").tip.hash == entry.hash


def test_an_unstarted_node_says_so(tmp_path):
    network, wallets, keys = demo_members()
    node = Node(network, wallets[0], keys[0], tmp_path)
    with pytest.raises(NodeError, match="not started"):
        node.follow()


def test_the_journal_refuses_an_unknown_kind_and_counts(tmp_path):
    journal = Journal(tmp_path, keep=2)
    with pytest.raises(ValueError):
        journal.log("exploded")
    for kind in EVENT_KINDS[:3]:
        journal.log(kind)
    assert journal.count == 3 and [e.kind for e in journal.since(1)] == list(EVENT_KINDS[1:3])
    assert [e.kind for e in journal.since(0)] == list(EVENT_KINDS[1:3])  # only the kept ones


# --- the live network ------------------------------------------------------------------------


def follow_each(nodes) -> dict[str, float]:
    """Each node follows once, one after the other; the seconds each round took (lookups, fetch, judging)."""
    took = {}
    for node in nodes:
        start = time.monotonic()
        node.follow()
        took[node.name] = round(time.monotonic() - start, 3)
    return took


def scenario(workdir: str) -> dict:
    """Three members and a stranger on 127.0.0.1; returns what each step saw."""
    from labkit.chain import mine_block
    from labkit.fastmine import mine as fast_mine
    from labkit.lessons.data import seed_contracts
    from labkit.wallet import Wallet

    root = Path(workdir)
    network, (alice, bob, carol), (ka, kb, kc) = demo_members(difficulty=1)
    contracts = seed_contracts()
    t0 = time.monotonic()
    a = Node(network, alice, ka, root / "alice").start()
    seeds = [a.address]
    b = Node(network, bob, kb, root / "bob", bootstrap=seeds).start()
    c = Node(network, carol, kc, root / "carol", bootstrap=seeds).start()
    stranger = Node(network, Wallet.generate(name="mallory"), NodeKey.generate(), root / "mallory",
                    bootstrap=seeds).start()
    nodes = (a, b, c, stranger)
    out: dict = {"ports": [n.address[1] for n in nodes]}
    try:
        a.wait_for_dht(3, timeout=scaled(20))
        for n in (b, c, stranger):
            n.wait_for_dht(1, timeout=scaled(10))
        out["dht_ready_s"] = time.monotonic() - t0

        # alice mines two contracts and publishes; bob and carol follow
        a.submit(contracts[0])
        a.submit(contracts[1])
        a.mine_once()
        a.mine_once()
        out["first"] = {"follow_s": follow_each((b, c))}
        out["first"].update(a=a.status(), b=b.status(), c=c.status())
        out["fetched"] = [e.to_json() for n in (b, c) for e in n.events if e.kind == "fetched"]

        # bob mines on top; alice and carol follow
        b.submit(contracts[2])
        b.mine_once()
        out["second"] = {"follow_s": follow_each((a, c))}
        out["second"].update(a=a.status(), b=b.status(), c=c.status())
        out["fetched"] += [e.to_json() for n in (a, c) for e in n.events
                           if e.kind == "fetched" and e.to_json() not in out["fetched"]]

        # the stranger follows too (its blocks would be refused, but it may read), then points to
        # a chain with more work than anyone's: members never look, and when told its key, ignore it
        stranger.follow()
        out["stranger_height"] = stranger.height
        stranger.publish_file(stranger.folder / "chain.jsonl", 99, 10**6)
        out["stranger_round"] = [e.to_json() for e in a.follow(keys=[stranger.node_key.public_key])]
        out["a_after_stranger"] = a.status()

        # carol publishes a chain whose last block the VM refuses (registering S001 again)
        forged = mine_block(network, carol, contracts[0], parent=c.tip, miner=fast_mine)
        bad = c.folder / "forged" / "chain.jsonl"
        bad.parent.mkdir()
        from labkit.blocksfile import save_blocks
        save_blocks(bad, [*c.peer.chain.blocks, forged])
        c.publish_file(bad, c.height + 1, c.total_work + 16)
        out["refusals"] = {n.name: [e.to_json() for e in n.follow()] for n in (a, b)}
        out["after_forgery"] = {"a": a.status(), "b": b.status()}

        # then carol points back to less work than she claimed: that goes backwards
        c.publish_file(c.folder / "chain.jsonl", c.height, c.total_work)
        out["backwards"] = [e.to_json() for e in a.follow()]
        out["contacted_ok"] = all(n.session.settings()["dht_bootstrap_nodes"] == "" for n in nodes)
    finally:
        for n in nodes:
            n.stop()
    out["elapsed_s"] = time.monotonic() - t0
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    pytest.importorskip("libtorrent")
    workdir = tmp_path_factory.mktemp("nodes")
    return run_isolated(str(Path(__file__).resolve()), [str(workdir)], lambda: scenario(str(workdir)),
                        what="live node scenario", timeout=150)


def same_tip(*statuses) -> bool:
    return len({(s["tip"], s["height"], s["total_work"], s["digest"]) for s in statuses}) == 1


def test_followers_adopt_the_chain_a_member_published(live):
    first = live["first"]
    assert first["a"]["height"] == 1, first["a"]["events"]
    assert same_tip(first["a"], first["b"], first["c"]), (first["b"]["events"], first["c"]["events"])
    assert [e["event"] for e in first["a"]["events"]].count("published") == 2  # once per block mined


def test_a_block_mined_on_top_reaches_everyone(live):
    second = live["second"]
    assert second["b"]["height"] == 2
    assert same_tip(second["a"], second["b"], second["c"]), (second["a"]["events"], second["c"]["events"])
    adopted = [e for e in second["a"]["events"] if e["event"] == "adopted"]
    assert adopted and adopted[-1]["member"] == "bob"


def test_a_pointer_under_a_key_no_member_has_is_ignored_and_logged(live):
    assert live["stranger_height"] == 2  # it could read the members' chain
    ignored = [e for e in live["stranger_round"] if e["event"] == "ignored"]
    assert len(ignored) == 1 and "not a member's node key" in ignored[0]["reason"], live["stranger_round"]
    assert not [e for e in live["stranger_round"] if e["event"] in ("fetched", "adopted")]
    assert same_tip(live["a_after_stranger"], live["second"]["a"])


def test_a_chain_with_a_refused_block_changes_nothing_and_is_logged_with_its_rule(live):
    for name in ("alice", "bob"):
        refused = [e for e in live["refusals"][name] if e["event"] == "refused"]
        assert len(refused) == 1, live["refusals"][name]
        assert refused[0]["rule"] == "contract" and refused[0]["member"] == "carol" and refused[0]["index"] == 3
        assert not [e for e in live["refusals"][name] if e["event"] == "adopted"]
    assert same_tip(live["after_forgery"]["a"], live["after_forgery"]["b"], live["second"]["a"])


def test_a_pointer_that_goes_backwards_is_ignored(live):
    ignored = [e for e in live["backwards"] if e["event"] == "ignored"]
    assert len(ignored) == 1 and "goes backwards" in ignored[0]["reason"], live["backwards"]
    assert ignored[0]["member"] == "carol"


def test_the_figures(live):
    fetched = live["fetched"]
    assert fetched and all(e["bytes"] >= e["size"] for e in fetched), fetched
    print(f"\nDHT ready after {live['dht_ready_s']:.1f} s; follow rounds that adopted (s): "
          f"{live['first']['follow_s']} then {live['second']['follow_s']}; fetches (bytes, s): "
          f"{[(e['bytes'], e['seconds']) for e in fetched]}; whole scenario {live['elapsed_s']:.1f} s; "
          f"network namespace: {live['netns']}")
    assert live["contacted_ok"]
    assert max(live["second"]["follow_s"].values()) < 10


if __name__ == "__main__":  # the child process of the ``live`` fixture
    print(json.dumps(scenario(sys.argv[1]), default=str))
