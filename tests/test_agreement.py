"""Honest peers never disagree: the same blocks in any order give the same chain, state and verdicts.

A fixed pool of blocks (forks of equal and of more work, a bad signature, a
block re-signed by another member, a contract that fails on its branch and
a block built on it, a block from the future and its child, an orphan whose
parent never comes) is fed to several peers in orders hypothesis chooses.
Every peer must end with the same canonical tip and state digest, equal to a
fresh replay of its canonical chain; and for every block the chain
(validate_blocks along the block's ancestry), the tree, the peer's report
and the inspector's audit must name the same rule.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.block import Block
from labkit.chain import judge, validate_blocks
from labkit.forks import replay
from labkit.reorg import BlockStatus
from labkit.operations import empty_state
from labkit.peer import Peer
from labkit.lessons.audit import audit_record
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets
from labkit.vm import state_digest
from makers import NOW, forge

NET = demo_network(1)
ALICE, BOB, CAROL = demo_wallets()
T = demo_timestamps(8)
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def student(student_id: str) -> dict:
    return {"actions": [{"action": "register_student", "student": {"id": student_id, "name": "S", "department": "CS"}}]}


def resigned(block: Block, wallet) -> Block:
    """The same token, signed by another member who names themself as signer."""
    return Block(block.token, wallet.sign(block.token.encode()), wallet.address)


def _pool() -> tuple[dict[str, Block], dict[str, list[str]]]:
    """Named blocks, and each block's ancestry (names, root first, the block last)."""
    blocks: dict[str, Block] = {}
    lineage: dict[str, list[str]] = {}

    def add(name: str, parent: str | None, wallet, when, contract=None, difficulty: int = 1) -> None:
        tip, state = None, empty_state()
        for earlier in lineage[parent] if parent else []:  # what the ancestry establishes, refused or not
            verdict = judge(blocks[earlier], NET, tip, state=state, now=NOW)
            tip, state = verdict.link, verdict.state
        blocks[name] = forge(NET.secret, wallet, parent=tip, contract=contract, when=when, difficulty=difficulty)
        lineage[name] = [*(lineage[parent] if parent else []), name]

    add("t0", None, ALICE, T[0], student("S1"))
    add("t1", "t0", BOB, T[1], student("S2"))
    add("t2", "t1", CAROL, T[2], student("S3"))
    add("a1", "t0", ALICE, T[3], student("S2"))  # a rival branch: the same student on its own branch is fine
    add("a2", "a1", ALICE, T[4], student("S9"))
    add("heavy", "t2", BOB, T[5], student("S4"), difficulty=2)  # 256 work: the trunk wins
    add("dup", "t1", CAROL, T[3], student("S1"))  # S1 exists on this branch: the contract fails
    add("after dup", "dup", ALICE, T[4], student("S7"))
    add("future", "t0", BOB, NOW + dt.timedelta(hours=2), student("S8"))
    add("after future", "future", CAROL, NOW + dt.timedelta(hours=2), student("S10"))
    add("lost parent", "t2", ALICE, T[6], student("S11"))
    add("orphan", "lost parent", BOB, T[7], student("S12"))
    blocks["bad signature"] = Block(blocks["t1"].token, CAROL.sign(blocks["t1"].token.encode()), BOB.address)
    blocks["re-signed t2"] = resigned(blocks["t2"], ALICE)
    blocks["re-signed heavy"] = resigned(blocks["heavy"], CAROL)
    for name in ("bad signature", "re-signed t2", "re-signed heavy"):
        original = name.split(" ", 1)[1] if name.startswith("re-signed") else "t1"
        lineage[name] = [*lineage[original][:-1], name]
    return blocks, lineage


BLOCKS, LINEAGE = _pool()
NEVER_SENT = {"lost parent"}  # the orphan's parent never arrives
SENT = [name for name in BLOCKS if name not in NEVER_SENT]
EXPECTED = {  # the verdict on each record once every block has arrived
    "t0": None, "t1": None, "t2": None, "a1": None, "a2": None, "heavy": None,
    "dup": "contract", "after dup": "ancestry", "future": "timestamp", "after future": "timestamp",
    "bad signature": "signature", "re-signed t2": "author", "re-signed heavy": "author",
}


def chain_view(name: str) -> str | None:
    """The rule validate_blocks names for the block, judging its ancestry in order."""
    reports = [report for report, _ in validate_blocks(NET, [BLOCKS[n] for n in LINEAGE[name]], now=NOW)]
    return reports[-1].rule


def audit_view(name: str) -> str | None:
    """The rule the inspector's audit names, on what the block's ancestry establishes."""
    parent, state = None, empty_state()
    for earlier in LINEAGE[name][:-1]:
        verdict = judge(BLOCKS[earlier], NET, parent, state=state, now=NOW)
        parent, state = verdict.link, verdict.state
    return audit_record(BLOCKS[name].to_dict(), NET, parent, state=state, now=NOW).failed_rule


def test_the_pool_means_what_it_says():
    for name, rule in EXPECTED.items():
        assert chain_view(name) == rule, name
        assert audit_view(name) == rule, name


@EXAMPLES
@given(st.lists(st.permutations(SENT), min_size=3, max_size=3), st.integers(1, 4))
def test_every_order_gives_the_same_chain_state_and_verdicts(orders, batches):
    tips, digests = set(), set()
    for number, order in enumerate(orders):
        peer = Peer(f"p{number}", NET)
        reports = {}
        size = -(-len(order) // batches)
        for start in range(0, len(order), size):  # the same blocks, in several deliveries
            chunk = order[start:start + size]
            for name, report in zip(chunk, peer.receive([BLOCKS[n] for n in chunk], now=NOW)):
                reports[name] = report
        tips.add(peer.chain.tip.hash)
        digests.add(peer.digest())
        assert peer.digest() == state_digest(replay(peer.chain))
        assert [e.hash for e in peer.chain] == [BLOCKS[n].hash for n in LINEAGE["heavy"]]
        for name, rule in EXPECTED.items():
            tree_rule = peer.tree.judge(BLOCKS[name], now=NOW).rule
            report = reports[name]
            # A report made before a later delivery may say the block waited for its parent, or was
            # refused for now on a parent whose good copy came later; every other report is final.
            for_now = report.rule in ("link", "ancestry") and batches > 1
            if not for_now:
                assert report.rule == rule, (name, report)
            assert tree_rule == rule, (name, tree_rule)
        assert peer.tree.status(BLOCKS["orphan"].hash) is BlockStatus.ORPHAN
        for name in ("t1", "t2", "heavy"):  # the author is the one who mined it, whoever re-signed it
            assert peer.tree.entry(BLOCKS[name].hash).signer == BLOCKS[name].signer
    assert len(tips) == 1 and len(digests) == 1


@EXAMPLES
@given(st.permutations(SENT), st.sampled_from(["t0", "t1", "t2", "a1", "a2", "heavy"]), st.sampled_from([0, 1, 2]))
def test_a_block_re_signed_by_another_member_is_refused_in_any_order(order, name, who):
    thief = [w for w in (ALICE, BOB, CAROL) if w.address != BLOCKS[name].signer][who % 2]
    stolen = resigned(BLOCKS[name], thief)
    peer = Peer("honest", NET)
    position = len(order) if who == 2 else order.index(name) + (who - 1)  # before, after, or at the end
    blocks = [BLOCKS[n] for n in order]
    blocks.insert(max(0, position), stolen)
    reports = peer.receive(blocks, now=NOW)
    stolen_report = reports[blocks.index(stolen)]
    assert (stolen_report.accepted, stolen_report.rule) == (False, "author")
    assert peer.tree.entry(BLOCKS[name].hash).signer == BLOCKS[name].signer


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_one_by_one_or_in_a_batch_the_same(name):
    one = Peer("one", NET)
    for n in SENT:
        try:
            one.receive_block(BLOCKS[n], now=NOW)
        except Exception:  # noqa: BLE001  (refusals are the point; the tip is compared below)
            pass
    batch = Peer("batch", NET)
    batch.receive([BLOCKS[n] for n in SENT], now=NOW)
    assert one.chain.tip.hash == batch.chain.tip.hash and one.digest() == batch.digest()
    assert one.tree.judge(BLOCKS[name], now=NOW).rule == batch.tree.judge(BLOCKS[name], now=NOW).rule
