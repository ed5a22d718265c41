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
from waiting import scaled, wait_until

from labkit.block import Block
from labkit.blocksfile import MAX_LINES
from labkit.chain import mine_block
from labkit.fastmine import mine as fast_mine
from labkit.errors import QueueError
from labkit.sharing.dht import Pointer
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
    shared = {t.info_hash for t in seeder.session.transfers}
    if torrent.info_hash not in shared:
        seeder._seeding[torrent.info_hash] = seeder.session.seed(path, torrent)
    return Pointer(torrent.info_hash, height, work, seq=seq, peer=seeder.address if peer == "self" else peer,
                   tip=tip)


def courses(n: int, tag: str = "C") -> list[dict]:
    """``n`` contracts the VM accepts on any branch, each adding another course."""
    return [{"actions": [{"action": "add_course", "course": {"id": f"{tag}{i}", "name": f"course {i}",
                                                             "department": "hostility studies"}}]}
            for i in range(n)]


def grow(network, wallet, contracts, *, on=(), when=None):
    """A Chain of the blocks ``on``, then one block per contract mined on them; ``when`` stamps the new ones
    (or their parent's time, if later). The blocks are made here, not judged: honest nodes judge them."""
    from labkit.chain import Chain, stamp

    judged_at = None if when is None else when + dt.timedelta(days=1)
    chain = Chain(network)
    for block in on:
        chain.append(block, now=judged_at)
    for contract in contracts:
        block = mine_block(network, wallet, contract, parent=chain.tip, miner=fast_mine,
                           timestamp=None if when is None else stamp(chain.tip, when))
        chain.append(block, now=judged_at)
    return chain


def chain_of(network, wallet, contracts, *, on=(), when=None) -> list:
    """The blocks of :func:`grow`'s chain."""
    return list(grow(network, wallet, contracts, on=on, when=when).blocks)


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
                         capture_output=True, text=True, timeout=scaled(60))
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

    def step(_seconds: float) -> None:
        runner.mine_step()
        if runner.searching is not None:
            runner.searching.thread.join(scaled(5))

    wait_until(lambda: node.height >= 0, timeout=30, what="the second contract to be mined", pause=step)
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


# --- the hostile member's state machine ------------------------------------------------------

MACHINE_EXAMPLES = 10  # runs of the machine (each a fresh room of four nodes)
MACHINE_STEPS = 15  # hostile or honest moves per run
HOSTILE_FETCH_TIMEOUT = 0.4  # s: honest nodes give up on a hostile fetch quickly (they back off anyway)


def hostile_machine():
    """The machine class (built on demand: hypothesis and libtorrent are only needed to run it)."""
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

    from labkit.chain import stamp
    from labkit.forks import MAX_ORPHANS
    from labkit.network import Member
    from labkit.node.live import Node
    from labkit.node.queue import submit_to
    from labkit.node.threats import MAX_LOGGED_PER_MEMBER, MAX_REMEMBERED_CHAINS, MAX_SIDE_BLOCKS_PER_MEMBER
    from labkit.node.keys import NodeKey
    from labkit.lessons.data import demo_network, demo_wallets
    from labkit.wallet import Wallet

    wallets = demo_wallets()
    mallory, stranger = Wallet.generate(name="mallory"), Wallet.generate(name="stranger")
    keys = [NodeKey.generate() for _ in range(4)]
    network = demo_network(1).with_members(
        Member(w.name, w.public_key, k.public_key) for w, k in zip([*wallets, mallory], keys))
    peers = st.sampled_from([None, "self", ("0.0.0.0", 6881), ("224.0.0.1", 6881), ("255.255.255.255", 80),
                             ("::", 6881), ("127.0.0.1", 9), ("8.8.8.8", 6881), ("10.1.2.3", 6881)])
    own = st.one_of(st.just("self"), peers)  # a chain's pointer names mallory's seed more often than not
    works = st.one_of(st.integers(0, 64), st.integers(0, 10**30))
    seqs = st.integers(0, 2**20)
    skews = st.sampled_from([-30, -3, 2, 5, 40, 10**5])  # seconds past the allowed skew
    counter = iter(range(10**9))

    class HostileMember(RuleBasedStateMachine):
        runs = 0
        steps = 0

        def __init__(self):
            super().__init__()
            import tempfile

            type(self).runs += 1
            self.root = Path(tempfile.mkdtemp(prefix="hostile-", dir=WORKDIR))
            self.honest = [Node(network, w, k, self.root / w.name, fetch_timeout=HOSTILE_FETCH_TIMEOUT).start()
                           for w, k in zip(wallets, keys)]
            self.mallory = Node(network, mallory, keys[3], self.root / "mallory").start()
            self.seq = 0
            self.offset = 0.0  # seconds every clock is moved on by (time passes without sleeping)
            for node in [*self.honest, self.mallory]:
                node.clock = self.now
            self.courses = 0
            self.honest_blocks = 0

        # -- helpers --
        def now(self):
            return utc_now() + dt.timedelta(seconds=self.offset)

        def deliver(self, pointer, to=None):
            for node in (self.honest if to is None else [to]):
                node.consider("mallory", pointer)

        def new_courses(self, n):
            self.courses += n
            return courses(n, f"H{next(counter)}-")

        # -- the hostile member's moves --
        @rule(peer=peers, work=works, seq=seqs, height=st.integers(0, 10**6), who=st.integers(0, 2))
        def point_at_nothing(self, peer, work, seq, height, who):
            """A pointer to a chain no one seeds, with any peer, work, height and seq."""
            type(self).steps += 1
            ih = hashlib.sha1(b"%d" % next(counter)).hexdigest()
            address = self.mallory.address if peer == "self" else peer
            self.deliver(Pointer(ih, height, work, seq=seq, peer=address), to=self.honest[who])

        @rule(kind=st.sampled_from(["extend", "vm-refused", "bad-signer", "orphans", "side", "garbage",
                                    "too-many-lines"]),
              base=st.integers(0, 2), blocks=st.integers(1, 6), skew=skews, peer=own, work=works,
              seq=st.one_of(st.just(None), seqs))
        def offer_chain(self, kind, base, blocks, skew, peer, work, seq):
            """Seed a chain (valid, or with invalid blocks, or not blocks at all) and point everyone to it."""
            type(self).steps += 1
            on = list(self.honest[base].peer.chain.blocks)
            tag = f"M{next(counter)}-"
            if kind == "extend":  # valid, stamped near the allowed skew (ahead of it when skew > 0)
                when = self.now() + dt.timedelta(seconds=network.max_clock_skew + skew)
                data = chain_bytes(chain_of(network, mallory, courses(blocks, tag), on=on, when=when))
            elif kind == "orphans":  # the first new block left out: the rest wait for a parent never sent
                made = chain_of(network, mallory, courses(blocks + 1, tag), on=on, when=self.now())
                data = chain_bytes(made[:len(on)] + made[len(on) + 1:])
            elif kind == "vm-refused":  # valid blocks, then one whose contract the VM refuses
                chain = grow(network, mallory, courses(blocks, tag), on=on, when=self.now())
                again = chain.tip.payload.transaction_data  # its course exists already
                refused = mine_block(network, mallory, again, parent=chain.tip, miner=fast_mine,
                                     timestamp=stamp(chain.tip, self.now()))
                data = chain_bytes([*chain.blocks, refused])
            elif kind == "bad-signer":
                made = chain_of(network, mallory, courses(blocks, f"S{next(counter)}-"), on=on,
                                when=self.now())
                last = made[-1]
                data = chain_bytes(made[:-1] + [Block.create(last.token, stranger)])
            elif kind == "side":
                side = chain_of(network, mallory, courses(blocks * 5, f"D{next(counter)}-"), when=self.now())
                data = chain_bytes(side)
            elif kind == "garbage":
                data = b"".join(b'{"token": "%d"}\n' % i for i in range(blocks))
            else:
                data = b"{}\n" * (MAX_LINES + 1)
            self.seq = self.seq + 1 if seq is None else seq
            pointer = offer(self.mallory, data, self.seq, height=blocks, work=work,
                            peer=peer if peer != "self" else "self")
            self.deliver(pointer)

        @rule(depth=st.integers(33, 60), pad=st.integers(60_000, 64_000), who=st.integers(0, 2))
        def submit_unmineable(self, depth, pad, who):
            """Contracts no block could carry: refused at submit and from the inbox, the queue unharmed."""
            type(self).steps += 1
            node = self.honest[who]
            before = list(node.queue.waiting)
            for contract in (deep_contract(min(depth, 32)), {"actions": [], "pad": "x" * (pad - 40)}):
                try:
                    node.submit(contract)
                except QueueError:
                    pass
                else:
                    raise AssertionError(f"{node.name} queued a contract no block can carry")
                submit_to(node.folder, contract)
                node.take_inbox()
            assert node.queue.waiting == before

        @rule(seconds=st.sampled_from([1, 4, 30, 400]))
        def time_passes(self, seconds):
            """Every clock moves on (a block ahead of the skew comes within it), and back-offs run out."""
            type(self).steps += 1
            self.offset += seconds
            for node in self.honest:
                for member in getattr(node, "followed", {}).values():
                    member.next_try = 0.0

        # -- the honest members' moves --
        @rule(who=st.integers(0, 2))
        def honest_mines(self, who):
            type(self).steps += 1
            node = self.honest[who]
            node.submit(self.new_courses(1)[0])
            if node.mine_once(publish=False) is not None:
                self.honest_blocks += 1

        @rule()
        def honest_follow(self):
            type(self).steps += 1
            self.exchange()

        def exchange(self):
            for node in self.honest:
                if node.tip is None:
                    continue
                data = (node.folder / "chain.jsonl").read_bytes()
                pointer = offer(node, data, next(counter) + 1, height=node.height, work=node.total_work,
                                tip=node.tip.hash)
                for other in self.honest:
                    if other is not node:
                        other.consider(node.name, pointer)

        # -- what every honest node guarantees --
        @invariant()
        def memory_is_bounded(self):
            for node in self.honest:
                side = len(node.peer.tree) - len(node.peer.chain)
                # honest forks, plus each member's budget (two slices at most), plus the orphan pool
                assert side <= self.honest_blocks + 4 * 2 * MAX_SIDE_BLOCKS_PER_MEMBER, (node.name, side)
                assert len(node.peer.tree.orphans) <= MAX_ORPHANS
                assert len(node.refused_chains) <= MAX_REMEMBERED_CHAINS
                assert all(len(m.logged) <= MAX_LOGGED_PER_MEMBER for m in node.followed.values())
                assert all(m.side_blocks <= 2 * MAX_SIDE_BLOCKS_PER_MEMBER for m in node.followed.values())

        def teardown(self):
            try:
                self.mallory.stop()  # the hostile member stops; the honest nodes settle among themselves
                for node in self.honest:
                    node.fetch_timeout = 10.0
                for _ in range(8):
                    for node in self.honest:
                        for member in getattr(node, "followed", {}).values():
                            member.next_try = 0.0  # back-offs run out (time moved, not slept)
                    self.exchange()
                    if len({(n.tip and n.tip.hash, n.peer.digest()) for n in self.honest}) == 1:
                        break
                tips = {n.name: (n.height, n.tip and n.tip.hash[:12]) for n in self.honest}
                assert len({(n.tip and n.tip.hash) for n in self.honest}) == 1, (
                    f"the honest nodes disagree: {tips}", [str(e) for n in self.honest for e in n.events][-30:])
            finally:
                for node in self.honest:
                    node.stop()
                self.mallory.stop()

    return HostileMember


WORKDIR: Path | None = None


def run_machine(workdir: str) -> dict:
    """Play the hostile member against three honest nodes; how many runs and steps it took."""
    global WORKDIR
    from hypothesis import HealthCheck, Phase, settings
    from hypothesis.stateful import run_state_machine_as_test

    WORKDIR = Path(workdir)
    machine = hostile_machine()
    start = time.monotonic()
    run_state_machine_as_test(machine, settings=settings(
        max_examples=MACHINE_EXAMPLES, stateful_step_count=MACHINE_STEPS, deadline=None, database=None,
        # no shrinking: a live network's timing makes a replay differ (hypothesis calls it flaky), and
        # the first failing run, printed step by step with the node's error, is what a reader needs
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck)))
    return {"runs": machine.runs, "steps": machine.steps, "seconds": round(time.monotonic() - start, 1)}


def test_a_hostile_member_cannot_stop_crash_or_split_three_honest_nodes(tmp_path):
    pytest.importorskip("libtorrent")
    pytest.importorskip("hypothesis")
    result = run_isolated(str(Path(__file__).resolve()), ["machine", str(tmp_path)],
                          lambda: run_machine(str(tmp_path)), what="hostile member's state machine", timeout=240)
    print(f"\nhostile member: {result['runs']} runs, {result['steps']} steps, {result['seconds']} s, "
          f"network namespace: {result['netns']}")
    assert result["runs"] >= MACHINE_EXAMPLES and result["steps"] > 0


if __name__ == "__main__":  # the child process of the state machine's test, in its own namespace
    if sys.argv[1] == "machine":
        print(json.dumps(run_machine(sys.argv[2])))
