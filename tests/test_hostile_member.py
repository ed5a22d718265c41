"""A hostile classmate cannot stop, crash or split the class (issue 18; labkit.node.threats).

Each finding of the issue has a test here that fails on the node before the fix:
a member's pointer and the chain behind it are delivered to honest nodes
(``Node.consider``, what ``follow`` does with each member's pointer once the DHT
answered), seeded by real libtorrent sessions on 127.0.0.1. The hostile member's
state machine at the end plays random pointers and chains against three honest
nodes, in a loopback-only network namespace where ``unshare -n`` works.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
from netns import run_isolated

from labkit.block import Block
from labkit.blocksfile import MAX_LINES
from labkit.chain import mine_block
from labkit.fastmine import mine as fast_mine
from labkit.node.queue import QueueError
from labkit.pointer import Pointer
from labkit.tokens import utc_now

HERE = Path(__file__).resolve().parent


def demo_members(difficulty: int = 1):
    from test_node import demo_members as members

    return members(difficulty)


def chain_bytes(blocks) -> bytes:
    return "".join(block.to_line() + "\n" for block in blocks).encode("ascii")


def offer(seeder, data: bytes, seq: int, *, height: int = 0, work: int = 0, tip: str | None = None,
          peer: object = "self") -> Pointer:
    """Seed ``data`` as a chain file from ``seeder``'s session; the pointer a member would put for it."""
    from labkit.sharing.metainfo import make_torrent

    folder = seeder.folder / "offers" / f"{seq}-{hashlib.sha1(data).hexdigest()[:12]}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chain.jsonl"
    path.write_bytes(data)
    torrent = make_torrent(path)
    seeder._seeding.setdefault(torrent.info_hash, seeder.session.seed(path, torrent))
    return Pointer(torrent.info_hash, height, work, seq=seq, peer=seeder.address if peer == "self" else peer,
                   tip=tip)


def courses(n: int, tag: str = "C") -> list[dict]:
    """``n`` contracts the VM accepts on any branch, each adding another course."""
    return [{"actions": [{"action": "add_course", "course": {"id": f"{tag}{i}", "name": f"course {i}",
                                                             "department": "hostility studies"}}]}
            for i in range(n)]


def chain_of(network, wallet, contracts, *, on=(), when=None) -> list:
    """The blocks of ``on`` (blocks), then one per contract mined on them; ``when`` stamps the new ones."""
    from labkit.chain import Chain

    chain = Chain(network)
    for block in on:
        chain.append(block, now=when)
    for contract in contracts:
        block = mine_block(network, wallet, contract, parent=chain.tip, miner=fast_mine, timestamp=when)
        chain.append(block, now=when)  # judged at the time it was stamped: a future block too
    return list(chain.blocks)


@pytest.fixture
def room(tmp_path):
    """alice, bob and carol, each a started Node on 127.0.0.1 (no DHT: pointers are handed over)."""
    pytest.importorskip("libtorrent")
    from labkit.node.live import Node

    network, wallets, keys = demo_members(difficulty=1)
    nodes = [Node(network, w, k, tmp_path / w.name, fetch_timeout=10.0).start() for w, k in zip(wallets, keys)]
    try:
        yield network, wallets, nodes
    finally:
        for node in nodes:
            node.stop()


# --- finding 1: a split -------------------------------------------------------------------


def test_a_chain_refused_as_too_early_is_followed_once_the_clock_catches_up(room):
    """A block a little beyond the skew is refused for now; the chain is not remembered as refused,
    so once the clock moves on the node takes it, from the member or from another node."""
    network, (alice, bob, carol), (a, b, c) = room
    skew = network.max_clock_skew
    ahead = utc_now() + dt.timedelta(seconds=skew + 30)  # carol's clock is fast
    blocks = chain_of(network, carol, courses(2), when=ahead)
    data = chain_bytes(blocks)
    tip = blocks[-1].hash
    pointer = offer(c, data, 1, height=1, work=2 * 16, tip=tip)

    a.consider("carol", pointer)  # alice's clock: too early
    assert a.tip is None
    refused = [e for e in a.events if e.kind == "refused"]
    assert refused and refused[-1].detail["rule"] == "timestamp"

    later = ahead + dt.timedelta(seconds=1)  # the clocks catch up (moved, not slept)
    b.clock = a.clock = lambda: later - dt.timedelta(seconds=skew - 5)
    b.consider("carol", pointer)
    assert b.tip is not None and b.tip.hash == tip
    # bob's chain file is carol's, byte for byte: the same torrent, the same info-hash
    from_bob = offer(b, (b.folder / "chain.jsonl").read_bytes(), 1, height=1, work=2 * 16, tip=tip)
    assert from_bob.info_hash == pointer.info_hash
    a.consider("bob", from_bob)
    assert a.tip is not None and a.tip.hash == b.tip.hash == tip
    assert a.peer.digest() == b.peer.digest()
    assert pointer.info_hash not in a.refused_chains  # a refusal for now is never remembered


# --- finding 2: poisoned pointers ---------------------------------------------------------


def test_a_pointer_naming_an_unusable_peer_spoils_no_other_fetch(room):
    """carol points to 0.0.0.0 and no work: her pointer stays in alice's view, and its peer
    is dropped from every later fetch instead of making the session refuse the fetch."""
    network, (alice, bob, carol), (a, b, c) = room
    poisoned = Pointer("ab" * 20, 0, 0, seq=1, peer=("0.0.0.0", 6881))
    a.consider("carol", poisoned)
    assert a.pointers["carol"] == poisoned  # no work: nothing to fetch, but it is remembered
    blocks = chain_of(network, bob, courses(2, "B"))
    b.peer.receive(blocks)
    good = offer(b, chain_bytes(blocks), 1, height=1, work=32, tip=blocks[-1].hash)
    a.consider("bob", good)
    assert a.tip is not None and a.tip.hash == blocks[-1].hash, [str(e) for e in a.events]


def test_a_pointer_never_widens_the_address_policy_in_lan_mode():
    """In LAN mode a user's address outside the private ranges is let through; a pointer's is dropped,
    and so are unspecified, multicast and broadcast addresses; the policy is unchanged after."""
    from types import SimpleNamespace

    from labkit.node.fetch import usable_peers
    from labkit.sharing.addresses import AddressPolicy

    for lan in (False, True):
        session = SimpleNamespace(policy=AddressPolicy(lan=lan))
        peers = [("127.0.0.1", 7000), ("0.0.0.0", 7000), ("224.0.0.1", 7000), ("255.255.255.255", 7000),
                 ("8.8.8.8", 6881), ("::", 7000), None, ("127.0.0.1", 7000)]
        good, dropped = usable_peers(session, peers)
        assert good == [("127.0.0.1", 7000)], (lan, good)
        assert len(dropped) == 5, dropped
        assert session.policy.explicit == set()
    lan = SimpleNamespace(policy=AddressPolicy(lan=True))
    assert usable_peers(lan, [("192.168.1.20", 6881)])[0] == [("192.168.1.20", 6881)]  # private: allowed
    lan.policy.allow(("8.8.8.8", 6881))  # the user names it: from then on a pointer may name it too
    assert usable_peers(lan, [("8.8.8.8", 6881)])[0] == [("8.8.8.8", 6881)]


def test_a_member_that_keeps_failing_is_backed_off_with_a_cap(room):
    from labkit.node.threats import BACKOFF_FIRST_SECONDS, BACKOFF_MAX_SECONDS, backoff_seconds

    assert [backoff_seconds(n) for n in range(4)] == [0, BACKOFF_FIRST_SECONDS, 2 * BACKOFF_FIRST_SECONDS,
                                                      4 * BACKOFF_FIRST_SECONDS]
    assert backoff_seconds(10**6) == BACKOFF_MAX_SECONDS
    network, _, (a, b, c) = room
    a.fetch_timeout = 0.5
    # a chain no one seeds, at a loopback port where no one listens
    silent = Pointer("cd" * 20, 5, 10**6, seq=1, peer=("127.0.0.1", 9))
    a.consider("carol", silent)
    member = a.followed["carol"]
    assert member.failures == 1 and member.next_try > time.monotonic()
    start = time.monotonic()
    a.consider("carol", Pointer("ce" * 20, 6, 10**6 + 1, seq=2, peer=("127.0.0.1", 9)))
    assert time.monotonic() - start < 0.2 and member.failures == 1  # left alone while backed off
    assert [e.detail["member"] for e in a.events if e.kind == "ignored"] == ["carol"]


# --- finding 3: everyone exits ------------------------------------------------------------


def test_a_chain_file_with_more_lines_than_allowed_is_refused_for_that_member_only(room):
    network, (alice, bob, carol), (a, b, c) = room
    flood = offer(c, b"{}\n" * (MAX_LINES + 1), 1, height=MAX_LINES, work=10**9)
    a.consider("carol", flood)  # returns: the node goes on
    assert flood.info_hash in a.refused_chains
    assert any(e.kind == "ignored" and "refused" in e.detail["reason"] for e in a.events)
    a.consider("carol", Pointer(flood.info_hash, MAX_LINES, 10**9 + 1, seq=2, peer=c.address))
    assert any("refused before" in e.detail.get("reason", "") for e in a.events)


def test_a_miner_never_stamps_a_block_earlier_than_its_parent(tmp_path):
    """A parent 30 s ahead (a classmate's fast clock, within the skew) is adopted; the next block
    mined on it is stamped at the parent's time, not before, and the node accepts its own block."""
    from labkit.node.live import Node

    network, (alice, bob, carol), keys = demo_members()
    ahead = utc_now() + dt.timedelta(seconds=30)
    node = Node(network, alice, keys[0], tmp_path / "alice")
    node.peer.receive(chain_of(network, carol, courses(1, "F"), when=ahead))
    assert node.height == 0
    node.submit(courses(1, "G")[0])
    entry = node.mine_once()
    assert entry is not None and entry.index == 1, [str(e) for e in node.events]
    assert entry.payload.time >= node.peer.chain[0].payload.time
    from labkit.chain import stamp

    assert stamp(node.peer.chain[0]) >= ahead.replace(microsecond=0)


def deep_contract(depth: int) -> dict:
    contract: dict = {}
    for _ in range(depth - 1):
        contract = {"x": contract}
    return contract


def test_a_contract_no_block_could_carry_is_refused_at_submit(tmp_path):
    """Nested one level too deep for a block's claims, or too big for a token: refused with the
    reason at Node.submit, from the inbox, and by `node submit`, by the rules' own decoder."""
    from labkit.encoding import MAX_DEPTH, dumps_canonical, loads_strict
    from labkit.node.live import Node
    from labkit.node.queue import submit_to

    network, (alice, *_), keys = demo_members()
    node = Node(network, alice, keys[0], tmp_path / "alice")
    node.write_status()
    deep = deep_contract(MAX_DEPTH)
    assert loads_strict(dumps_canonical(deep)) == deep  # a contract file may hold it...
    big = {"actions": [], "pad": "x" * 60_000}
    for bad, reason in ((deep, "nested"), (big, "limit")):
        with pytest.raises(QueueError, match=f"can never be mined.*{reason}"):
            node.submit(bad)  # ...no block's claims can
        assert not node.queue
    submit_to(node.folder, deep)  # as an older `node submit` would have
    assert node.take_inbox() == []
    assert not node.queue and node.queue.refused[-1]["rule"] == "submit"
    assert node.mine_once() is None  # nothing to mine, and nothing raised
    # the command line refuses it too, with one error line
    import subprocess

    path = tmp_path / "deep.json"
    path.write_bytes(dumps_canonical(deep))
    run = subprocess.run([sys.executable, "-m", "labkit", "node", "submit", "--data", str(node.folder), str(path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and run.stderr.startswith("error:") and "never be mined" in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_contract_that_fails_to_mine_is_refused_and_the_queue_moves_on(tmp_path):
    from labkit.errors import LabkitError
    from labkit.node.live import Node
    from labkit.node.run import Runner

    network, (alice, *_), keys = demo_members()
    node = Node(network, alice, keys[0], tmp_path / "alice")
    first, second = courses(2, "M")
    node.submit(first)
    node.submit(second)
    real_mine = node.mine

    def mine(contract, *, cancel=None):
        if contract == first:
            raise LabkitError("this contract cannot be mined")
        return real_mine(contract, cancel=cancel)

    node.mine = mine
    runner = Runner(node)
    deadline = time.monotonic() + 30
    while node.height < 0 and time.monotonic() < deadline:
        runner.mine_step()
        if runner.searching is not None:
            runner.searching.thread.join(5)
    assert node.height == 0 and node.tip.payload.transaction_data == second
    assert node.queue.refused[0]["contract"] == first and node.queue.refused[0]["rule"] == "mine"


# --- finding 4: unbounded growth ------------------------------------------------------------


def test_side_blocks_and_memory_per_member_stay_bounded_across_rounds(room):
    """carol claims more work than her chain holds, round after round, each chain a new side
    branch of valid blocks: alice's tree and her memory stop growing once carol's budget is spent."""
    network, (alice, bob, carol), (a, b, c) = room
    canonical = chain_of(network, alice, courses(120, "A"))
    a.peer.receive(canonical)
    side_length = 100
    sizes, traced = [], []
    tracemalloc.start()
    try:
        for round_ in range(6):
            side = chain_of(network, carol, courses(side_length, f"R{round_}-"))
            pointer = offer(c, chain_bytes(side), round_ + 1, height=10**6, work=10**9 + round_)
            a.consider("carol", pointer)
            for member in getattr(a, "followed", {}).values():
                member.next_try = 0.0  # its back-off has run out (time moved, not slept)
            sizes.append(len(a.peer.tree))
            traced.append(tracemalloc.get_traced_memory()[0])
    finally:
        tracemalloc.stop()
    growth = traced[-1] - traced[2]
    print(f"\ntree sizes per round {sizes}; traced memory per round (MB) "
          f"{[round(t / 2**20, 2) for t in traced]}; growth over the last 3 rounds {growth / 2**20:.2f} MB")
    assert a.tip.hash == canonical[-1].hash  # never adopted
    assert sizes[-1] == sizes[-3], sizes  # no growth in the last rounds
    assert growth < 2**20 // 4, traced  # each round of 100 side blocks held would add about 0.33 MB
    from labkit.node.threats import MAX_SIDE_BLOCKS_PER_MEMBER

    assert sizes[-1] - len(canonical) <= 2 * MAX_SIDE_BLOCKS_PER_MEMBER, sizes
