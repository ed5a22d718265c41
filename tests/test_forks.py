"""labkit.forks: the block tree, fork choice by most work, orphans and reorgs."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import NOW
from labkit.block import Block
from labkit.chain import Chain, Entry, Link, mine_block, verify_block
from labkit.errors import InvalidBlock
from labkit.fastmine import mine as fast_mine
from labkit.forks import BlockTree, replay
from labkit.reorg import BlockStatus, Reorg
from labkit.peer import Peer
from labkit.lessons.data import DEMO_START, demo_network, demo_wallets
from labkit.vm import state_digest

NET = demo_network(1)  # minimum difficulty 1; blocks may declare 2 for sixteen times the work
ALICE, BOB, CAROL = demo_wallets()


def register(student_id: str) -> dict:
    return {"actions": [{"action": "register_student",
                         "student": {"id": student_id, "name": f"Student {student_id}", "department": "CS"}}]}


def mined(parent: Entry | Link | None, wallet=ALICE, contract: dict | None = None, *, minute: int = 0,
          difficulty: int = 1) -> Block:
    """A block on ``parent`` at DEMO_START + ``minute`` minutes, declaring ``difficulty``."""
    return mine_block(NET.with_difficulty(difficulty), wallet, contract or register(f"S{minute:03d}"),
                      parent=parent, timestamp=DEMO_START + dt.timedelta(minutes=minute), miner=fast_mine)


def branch(parent: Entry | None, count: int, *, start: int, wallet=ALICE, difficulty: int = 1,
           prefix: str = "S") -> list[Block]:
    """``count`` blocks in a row on ``parent``, each registering a fresh student."""
    blocks = []
    for i in range(count):
        block = mined(parent, wallet, register(f"{prefix}{start + i:03d}"), minute=start + i, difficulty=difficulty)
        parent = verify_block(block, NET, parent, now=NOW)
        blocks.append(block)
    return blocks


def entry_of(tree: BlockTree, block: Block) -> Entry:
    return tree.entry(block.hash)


def assert_consistent(tree: BlockTree) -> None:
    """The laws every tree keeps: state = replay of the canonical chain, which is valid and has the most work."""
    canonical = list(tree.chain)
    assert tree.digest() == state_digest(replay(canonical))
    assert Chain(NET, [e.block for e in canonical]).total_work == tree.chain.total_work
    if len(tree):
        assert tree.chain.total_work == max(e.total_work for e in tree)
        assert tree.tips()[0].hash == tree.tip.hash  # most work, and among equals the first to join
    for i, entry in enumerate(canonical):
        assert entry.index == i and tree.is_canonical(entry.hash)


@pytest.fixture(scope="module")
def trunk() -> list[Block]:
    """Three blocks at difficulty 1: the common start of the branches below."""
    return branch(None, 3, start=0)


@pytest.fixture
def tree(trunk) -> BlockTree:
    tree = BlockTree(NET)
    for block in trunk:
        tree.add(block, now=NOW)
    return tree


# --- the linear case ------------------------------------------------------------------


def test_a_chain_is_a_tree_with_one_branch(tree, trunk):
    assert [e.block for e in tree.chain] == trunk
    assert [tree.status(b.hash) for b in trunk] == [BlockStatus.CANONICAL] * 3
    assert len(tree) == 3 and len(tree.tips()) == 1
    assert tree.chain.total_work == 3 * 16
    assert_consistent(tree)


def test_adding_again_is_known_and_changes_nothing(tree, trunk):
    digest = tree.digest()
    update = tree.add(trunk[1], now=NOW)
    assert update.known and update.change is None
    assert tree.digest() == digest and len(tree) == 3


def test_extension_is_a_change_without_rollback(tree, trunk):
    block = mined(entry_of(tree, trunk[-1]), minute=3)
    update = tree.add(block, now=NOW)
    assert update.status is BlockStatus.CANONICAL
    assert update.change is not None and update.change.is_extension and update.reorg is None
    assert [e.hash for e in update.change.applied] == [block.hash]
    assert_consistent(tree)


# --- fork choice -------------------------------------------------------------------------


def test_fork_choice_by_work_not_length(tree, trunk):
    fork = entry_of(tree, trunk[0])
    long = branch(fork, 4, start=10)  # four blocks at difficulty 1: work 64 after the fork
    heavy = branch(fork, 2, start=20, wallet=BOB, difficulty=2)  # two blocks at difficulty 2: work 512
    for block in long:
        tree.add(block, now=NOW)
    assert tree.tip.hash == long[-1].hash and len(tree.chain) == 5
    for block in heavy:
        tree.add(block, now=NOW)
    assert tree.tip.hash == heavy[-1].hash
    assert len(tree.chain) == 3 < 5  # fewer blocks, more work
    assert tree.chain.total_work == 16 + 2 * 256
    assert tree.status(long[-1].hash) is BlockStatus.SIDE
    assert_consistent(tree)


def test_a_longer_branch_with_less_work_never_wins(trunk):
    tree = BlockTree(NET)
    heavy = branch(None, 2, start=30, difficulty=2)
    for block in heavy:
        tree.add(block, now=NOW)
    for block in branch(None, 6, start=40, wallet=CAROL):  # 6 blocks, 96 work < 512
        update = tree.add(block, now=NOW)
        assert update.status is BlockStatus.SIDE and update.change is None
    assert [e.block for e in tree.chain] == heavy
    assert_consistent(tree)


@pytest.mark.parametrize("first", ["a", "b"])
def test_a_tie_goes_to_the_smaller_hash_in_either_order(trunk, first):
    tree = BlockTree(NET)
    for block in trunk:
        tree.add(block, now=NOW)
    fork = entry_of(tree, trunk[-1])
    a = mined(fork, ALICE, register("SA1"), minute=50)
    b = mined(fork, BOB, register("SB1"), minute=51)
    order = (a, b) if first == "a" else (b, a)
    for block in order:
        tree.add(block, now=NOW)
    assert tree.tip.hash == min(a.hash, b.hash)  # the arrival order plays no part
    assert_consistent(tree)


def test_one_more_block_breaks_the_tie(tree, trunk):
    fork = entry_of(tree, trunk[-1])
    a = mined(fork, ALICE, register("SA1"), minute=50)
    b = mined(fork, BOB, register("SB1"), minute=51)
    for block in (a, b):
        tree.add(block, now=NOW)
    b2 = mined(verify_block(b, NET, fork, now=NOW), BOB, register("SB2"), minute=52)
    update = tree.add(b2, now=NOW)
    if a.hash < b.hash:  # a won the tie: b2 overturns it
        assert [e.hash for e in update.reorg.rolled_back] == [a.hash]
        assert [e.hash for e in update.reorg.applied] == [b.hash, b2.hash]
    else:  # b won the tie already: b2 extends it
        assert update.change.is_extension and update.reorg is None
    assert tree.tip.hash == b2.hash
    assert_consistent(tree)


# --- reorgs --------------------------------------------------------------------------------------


def test_reorg_reports_rollback_and_apply_and_rebuilds_the_state(tree, trunk):
    fork = entry_of(tree, trunk[0])
    honest = branch(entry_of(tree, trunk[-1]), 1, start=3)
    tree.add(honest[0], now=NOW)
    assert "S003" in tree.state["students"] and "S001" in tree.state["students"]
    rival = branch(fork, 4, start=60, wallet=BOB, prefix="R")
    for block in rival[:2]:
        assert tree.add(block, now=NOW).change is None  # less work than the trunk
    # 3 blocks after the fork tie with the trunk (48 work): the smaller tip hash wins, so the
    # switch comes at the tie or one block later, never twice.
    reorgs = [u.reorg for u in (tree.add(rival[2], now=NOW), tree.add(rival[3], now=NOW)) if u.reorg]
    assert len(reorgs) == 1
    reorg = reorgs[0]
    assert isinstance(reorg, Reorg)
    assert reorg.fork_index == 0 and reorg.depth == 3
    assert [e.hash for e in reorg.rolled_back] == [trunk[1].hash, trunk[2].hash, honest[0].hash]
    at_the_tie = rival[2].hash < honest[0].hash
    assert [e.hash for e in reorg.applied] == [b.hash for b in (rival[:3] if at_the_tie else rival)]
    assert (reorg.old_work, reorg.new_work) == ((64, 64) if at_the_tie else (64, 80))
    students = tree.state["students"]
    assert "S000" in students and "S001" not in students and "S003" not in students and "R063" in students
    frame = reorg.changes_frame(NET)
    assert list(frame["change"]) == ["rolled back"] * 3 + ["applied"] * len(reorg.applied)
    assert set(frame.loc[frame["change"] == "applied", "signer"]) == {"bob"}
    assert f"3 rolled back, {len(reorg.applied)} applied" in repr(reorg)
    assert_consistent(tree)


def test_switching_back_and_forth(tree, trunk):
    fork = entry_of(tree, trunk[-1])
    a = branch(fork, 3, start=70, prefix="A")
    b = branch(fork, 3, start=80, wallet=BOB, prefix="B")
    order = [a[0], b[0], b[1], a[1], a[2], b[2]]  # b takes the lead, a takes it back; then ties
    tips = []
    for block in order:
        tree.add(block, now=NOW)
        tips.append(tree.tip.hash)
        assert_consistent(tree)
    tie = min(a[0].hash, b[0].hash), min(a[1].hash, b[1].hash), min(a[2].hash, b[2].hash)
    assert tips == [a[0].hash, tie[0], b[1].hash, tie[1], a[2].hash, tie[2]]


def test_contract_validity_is_decided_per_branch(tree, trunk):
    """The same contract is valid on one branch and a duplicate on another."""
    fork = entry_of(tree, trunk[0])
    again = mined(fork, BOB, register("S001"), minute=90)  # S001 is registered by trunk[1], not on this branch
    update = tree.add(again, now=NOW)
    assert update.status is BlockStatus.SIDE
    assert tree.state_after(again.hash)["students"]["S001"]["name"] == "Student S001"
    duplicate = mined(entry_of(tree, trunk[-1]), BOB, register("S001"), minute=91)
    with pytest.raises(InvalidBlock) as info:
        tree.add(duplicate, now=NOW)
    assert (info.value.index, info.value.rule) == (3, "contract")
    assert "student id 'S001' already exists" in info.value.reason
    assert tree.status(duplicate.hash) is BlockStatus.REFUSED
    child = mined(verify_block(duplicate, NET, entry_of(tree, trunk[-1]), now=NOW), minute=92)
    with pytest.raises(InvalidBlock) as info:
        tree.add(child, now=NOW)
    assert (info.value.index, info.value.rule, info.value.reason) == (4, "ancestry", "builds on rejected block 3")
    assert_consistent(tree)


def test_a_reorg_needs_states_rebuilt_beyond_the_cache(tree, trunk, monkeypatch):
    monkeypatch.setattr("labkit.forks.STATE_CACHE", 2)
    fork = entry_of(tree, trunk[0])
    main = branch(entry_of(tree, trunk[-1]), 4, start=3)
    rival = branch(fork, 8, start=100, wallet=CAROL, prefix="C")
    for block in main + rival:
        tree.add(block, now=NOW)
    assert tree.tip.hash == rival[-1].hash
    assert_consistent(tree)
    assert tree.state_after(main[-1].hash) == replay(tree.path(main[-1].hash))


# --- orphans ---------------------------------------------------------------------------------------


def test_orphan_waits_then_connects(tree, trunk):
    more = branch(entry_of(tree, trunk[-1]), 3, start=3)
    digest = tree.digest()
    for block in reversed(more[1:]):
        update = tree.add(block, now=NOW)
        assert update.status is BlockStatus.ORPHAN and update.change is None
    assert tree.orphans == (more[2], more[1]) and tree.digest() == digest
    assert tree.waiting_for(more[1].hash) == more[0].hash
    update = tree.add(more[0], now=NOW)
    assert update.status is BlockStatus.CANONICAL
    assert [e.hash for e in update.connected] == [b.hash for b in more]
    assert [e.hash for e in update.change.applied] == [b.hash for b in more]
    assert tree.orphans == () and tree.tip.hash == more[-1].hash
    assert_consistent(tree)


def test_orphans_are_checked_before_they_wait(tree, trunk):
    more = branch(entry_of(tree, trunk[-1]), 2, start=3)
    forged = Block(more[1].token, more[0].signature, more[1].signer)
    with pytest.raises(InvalidBlock) as info:
        tree.add(forged, now=NOW)
    assert info.value.rule == "signature"
    assert tree.orphans == ()


def test_orphan_pool_is_bounded_oldest_dropped_first(trunk):
    tree = BlockTree(NET, max_orphans=3)
    blocks = branch(None, 6, start=0)
    dropped = []
    for block in reversed(blocks[1:]):  # five orphans into a pool of three
        dropped += tree.add(block, now=NOW).dropped
    assert [d.hash for d in dropped] == [blocks[5].hash, blocks[4].hash]
    assert all("orphan pool is full (3 blocks)" in d.reason for d in dropped)
    assert [d.index for d in dropped] == [5, 4]
    assert tree.orphans == (blocks[3], blocks[2], blocks[1])
    update = tree.add(blocks[0], now=NOW)  # the rest connect
    assert len(tree.chain) == 4 and tree.orphans == ()
    assert [e.hash for e in update.connected] == [b.hash for b in blocks[:4]]
    assert_consistent(tree)


def test_orphans_too_old_are_dropped(trunk):
    tree = BlockTree(NET, max_orphan_age=2)
    blocks = branch(None, 3, start=0)
    tree.add(blocks[2], now=NOW)
    others = branch(None, 3, start=200, wallet=BOB, prefix="O")
    assert tree.add(others[0], now=NOW).dropped == ()
    assert tree.add(others[1], now=NOW).dropped == ()
    dropped = tree.add(others[2], now=NOW).dropped
    assert [d.hash for d in dropped] == [blocks[2].hash]
    assert "too old" in dropped[0].reason
    assert tree.status(blocks[2].hash) is BlockStatus.UNKNOWN


def test_orphan_whose_parent_is_refused_is_refused_too(tree, trunk):
    bad_parent = mined(entry_of(tree, trunk[-1]), BOB, register("S000"), minute=300)  # S000 exists: contract
    child = mined(verify_block(bad_parent, NET, entry_of(tree, trunk[-1]), now=NOW), minute=301)
    assert tree.add(child, now=NOW).status is BlockStatus.ORPHAN
    with pytest.raises(InvalidBlock) as info:
        tree.add(bad_parent, now=NOW)
    assert info.value.rule == "contract"
    assert tree.status(child.hash) is BlockStatus.REFUSED
    assert tree.rejection(child.hash).rule == "ancestry"


def test_orphan_refused_when_its_parent_arrives(tree, trunk):
    """A child that declares a time before its parent's can only be caught once the parent is there."""
    parent = mined(entry_of(tree, trunk[-1]), minute=400)
    early = mined(verify_block(parent, NET, entry_of(tree, trunk[-1]), now=NOW), minute=399)
    assert tree.add(early, now=NOW).status is BlockStatus.ORPHAN
    update = tree.add(parent, now=NOW)
    assert update.status is BlockStatus.CANONICAL
    assert [(r.hash, r.rule) for r in update.rejected] == [(early.hash, "timestamp")]
    assert_consistent(tree)


# --- copies and clocks ------------------------------------------------------------------------------


def test_a_second_signature_on_a_held_block_is_refused(tree, trunk):
    stolen = Block(trunk[1].token, BOB.sign(trunk[1].token.encode()), BOB.address)
    with pytest.raises(InvalidBlock) as info:
        tree.add(stolen, now=NOW)
    assert info.value.rule == "author" and "the token names alice" in info.value.reason
    assert tree.entry(trunk[1].hash).signer == ALICE.address


def test_a_block_from_the_future_is_not_remembered_as_invalid(tree, trunk):
    later = mined(entry_of(tree, trunk[-1]), minute=24 * 60 + 10)  # ten minutes after NOW
    with pytest.raises(InvalidBlock) as info:
        tree.add(later, now=NOW)
    assert info.value.rule == "timestamp"
    assert tree.status(later.hash) is BlockStatus.UNKNOWN
    assert tree.add(later, now=NOW + dt.timedelta(minutes=10)).status is BlockStatus.CANONICAL


def test_a_remembered_rejection_is_repeated(tree, trunk):
    bad = mined(entry_of(tree, trunk[-1]), BOB, register("S000"), minute=500)
    for _ in range(2):
        with pytest.raises(InvalidBlock) as info:
            tree.add(bad, now=NOW)
        assert info.value.rule == "contract"


def test_not_a_block(tree):
    with pytest.raises(InvalidBlock) as info:
        tree.add("not a block", now=NOW)  # type: ignore[arg-type]
    assert info.value.rule == "record"


# --- tables and peers -------------------------------------------------------------------------------


def test_tables(tree, trunk):
    fork = entry_of(tree, trunk[0])
    for block in branch(fork, 1, start=600, wallet=BOB, prefix="T"):
        tree.add(block, now=NOW)
    frame = tree.blocks_frame()
    assert list(frame["status"]).count("side") == 1 and len(frame) == 4
    branches = tree.branches_frame()
    assert list(branches["canonical"]) == [True, False]
    assert branches.loc[1, "forks_after"] == 0
    assert "2 branches" in repr(tree)


def test_peer_reports_a_reorg(trunk):
    peer = Peer("carol", NET, wallet=CAROL)
    assert all(r.accepted for r in peer.receive(trunk, now=NOW))
    rival = branch(None, 4, start=700, wallet=BOB, prefix="P")
    reports = peer.receive(rival, now=NOW)
    assert all(r.accepted for r in reports)
    assert [e.block for e in peer.chain] == rival
    assert len(peer.reorgs) == 1 and peer.reorgs[0].depth == 3
    assert peer.digest() == state_digest(replay(peer.chain))


def test_peer_receive_reorders_a_shuffled_file(trunk, tmp_path):
    path = tmp_path / "shuffled.jsonl"
    path.write_text("".join(b.to_line() + "\n" for b in (trunk[2], trunk[0], trunk[1])))
    peer = Peer("bob", NET, wallet=BOB)
    reports = peer.receive(path, now=NOW)
    assert [(r.index, r.accepted, r.line) for r in reports] == [(2, True, 1), (0, True, 2), (1, True, 3)]
    assert [e.block for e in peer.chain] == trunk


def test_peer_receive_reports_a_gap(trunk):
    peer = Peer("bob", NET, wallet=BOB)
    reports = peer.receive([trunk[0], trunk[2]], now=NOW)
    assert [(r.accepted, r.rule) for r in reports] == [(True, None), (False, "link")]
    assert "orphan pool" in reports[1].reason
    assert peer.receive([trunk[1]], now=NOW)[0].accepted
    assert len(peer.chain) == 3


# --- the invariant, for random trees and arrival orders --------------------------------------------------

CONTRACTS = (register("X1"), register("X2"),
             {"actions": [{"action": "vote_proposal", "proposal": {"id": "P9", "description": "More labs"}}]},
             {"actions": [{"action": "generate_nft", "nft": {"id": "N9", "name": "Nine"}}]})
SIGNERS = (ALICE, BOB, CAROL)


@functools.lru_cache(maxsize=None)
def cached_block(parent: Link | None, signer: int, contract: int, difficulty: int, minute: int) -> Block:
    return mined(parent, SIGNERS[signer], CONTRACTS[contract], minute=minute, difficulty=difficulty)


@st.composite
def forests(draw):
    """Blocks that form a random tree (some with clashing contracts), and an order they arrive in."""
    count = draw(st.integers(1, 8))
    blocks: list[Block] = []
    links: list[Link] = []
    for i in range(count):
        parent_number = draw(st.integers(-1, i - 1))
        parent = None if parent_number < 0 else links[parent_number]
        block = cached_block(parent, draw(st.integers(0, 2)), draw(st.integers(0, 3)),
                             draw(st.sampled_from((1, 1, 2))), i)
        blocks.append(block)
        links.append(Link(0 if parent is None else parent.index + 1, block.hash,
                          block.payload(NET.secret).time))
    order = draw(st.permutations(range(count)))
    repeats = draw(st.lists(st.integers(0, count - 1), max_size=3))
    return blocks, list(order) + repeats


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(forests())
def test_state_is_always_the_replay_of_the_canonical_chain(forest):
    blocks, order = forest
    tree = BlockTree(NET)
    for number in order:
        try:
            tree.add(blocks[number], now=NOW)
        except InvalidBlock as exc:
            assert exc.rule in ("contract", "ancestry")  # the only faults these blocks can have
        assert_consistent(tree)
    # Whatever the order, the same blocks end up valid, and the canonical chain has the most work.
    reference = BlockTree(NET)
    for block in blocks:  # parents before children
        try:
            reference.add(block, now=NOW)
        except InvalidBlock:
            pass
    assert {e.hash for e in tree} == {e.hash for e in reference}
    assert tree.chain.total_work == reference.chain.total_work
    assert tree.orphans == ()


def test_orphans_of_a_block_refused_for_ancestry_are_refused_too(tree, trunk):
    """A grandchild waits; its parent arrives after the grandparent was refused: both are refused."""
    bad = mined(entry_of(tree, trunk[-1]), BOB, register("S000"), minute=800)
    child = mined(verify_block(bad, NET, entry_of(tree, trunk[-1]), now=NOW), minute=801)
    grandchild = mined(verify_block(child, NET, verify_block(bad, NET, entry_of(tree, trunk[-1]), now=NOW),
                                    now=NOW), minute=802)
    with pytest.raises(InvalidBlock):
        tree.add(bad, now=NOW)
    assert tree.add(grandchild, now=NOW).status is BlockStatus.ORPHAN
    with pytest.raises(InvalidBlock) as info:
        tree.add(child, now=NOW)
    assert info.value.rule == "ancestry"
    assert tree.orphans == () and tree.rejection(grandchild.hash).rule == "ancestry"


def test_peer_reports_an_orphan_refused_with_a_later_block(trunk):
    """The child comes first and waits; its parent then fails its contract: the child's report says ancestry."""
    peer = Peer("alice", NET, wallet=ALICE)
    peer.receive(trunk, now=NOW)
    tip = peer.chain.tip
    bad = mined(tip, BOB, register("S000"), minute=900)
    child = mined(verify_block(bad, NET, tip, now=NOW), minute=901)
    reports = peer.receive([child, bad], now=NOW)
    assert [(r.index, r.rule) for r in reports] == [(4, "ancestry"), (3, "contract")]
    assert peer.tree.orphans == ()
