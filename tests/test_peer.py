"""labkit.peer: peers verify and execute blocks and agree on the state."""

from __future__ import annotations

import json
import os

import pytest

from labkit.block import Block
from labkit.blocksfile import load_blocks
from labkit.network import Member, Network
from labkit.peer import Peer
from makers import NOW


@pytest.fixture
def peers(wallets, net1):
    return [Peer(w.name, net1, wallet=w) for w in wallets]


def tamper_line(path, line_number: int, change) -> None:
    """Rewrite one record of a blocks file with ``change(record) -> record``."""
    lines = path.read_text().splitlines()
    lines[line_number - 1] = json.dumps(change(json.loads(lines[line_number - 1])))
    path.write_text("\n".join(lines) + "\n")


def flip_token_character(record: dict) -> dict:
    token = record["token"]
    middle = len(token) // 2
    record["token"] = token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]
    return record


def test_three_peers_agree(peers, small_blocks, prefix_digests, wallets):
    for peer in peers:
        reports = peer.receive(small_blocks, now=NOW)
        assert [(r.index, r.accepted) for r in reports] == [(0, True), (1, True), (2, True), (3, True)]
        assert [r.signer for r in reports] == [b.signer for b in small_blocks]
    assert {peer.digest() for peer in peers} == {prefix_digests[4]}
    assert all(peer.chain.blocks == list(small_blocks) for peer in peers)
    # each peer's own wallet plays no part in what it accepts
    assert peers[1].state["proposals"]["P001"]["voters"] == [wallets[2].address]


def test_peers_reading_the_file(peers, blocks_file, prefix_digests):
    before, mtime = blocks_file.read_bytes(), blocks_file.stat().st_mtime_ns
    for peer in peers:
        reports = peer.receive(blocks_file, now=NOW)
        assert [r.line for r in reports] == [1, 2, 3, 4] and all(r.accepted for r in reports)
    assert {peer.digest() for peer in peers} == {prefix_digests[4]}
    assert blocks_file.read_bytes() == before and blocks_file.stat().st_mtime_ns == mtime


def test_receiving_again_changes_nothing(peers, small_blocks):
    peer = peers[0]
    peer.receive(small_blocks, now=NOW)
    digest = peer.digest()
    assert peer.receive(small_blocks, now=NOW) == []
    assert peer.digest() == digest and len(peer.chain) == 4


def test_receiving_in_parts(peers, small_blocks, prefix_digests):
    peer = peers[0]
    assert all(r.accepted for r in peer.receive(small_blocks[:2], now=NOW))
    assert peer.digest() == prefix_digests[2]
    reports = peer.receive(small_blocks, now=NOW)
    assert [(r.index, r.accepted) for r in reports] == [(2, True), (3, True)]
    assert peer.digest() == prefix_digests[4]


def test_tampered_token_keeps_the_valid_prefix(peers, blocks_file, prefix_digests, small_blocks):
    tamper_line(blocks_file, 3, flip_token_character)
    for peer in peers:
        reports = peer.receive(blocks_file, now=NOW)
        assert [r.accepted for r in reports] == [True, True, False, False]
        assert (reports[2].index, reports[2].rule, reports[2].line) == (2, "signature", 3)
        assert "not signed by carol" in reports[2].reason
        assert reports[3].rule in ("link", "ancestry")
        assert peer.chain.blocks == list(small_blocks[:2])
        assert peer.digest() == prefix_digests[2]


def test_tampered_signature_then_ancestry(peers, blocks_file, prefix_digests):
    def other_signature(record):
        record["signature"] = record["signature"][:-2] + ("00" if record["signature"][-2:] != "00" else "01")
        return record

    tamper_line(blocks_file, 2, other_signature)
    peer = peers[0]
    reports = peer.receive(blocks_file, now=NOW)
    assert [(r.index, r.accepted, r.rule) for r in reports] == [
        (0, True, None), (1, False, "signature"), (2, False, "ancestry"), (3, False, "ancestry")]
    assert reports[2].reason == "builds on rejected block 1"
    assert peer.digest() == prefix_digests[1]


def test_bad_line_is_reported_with_its_number(peers, blocks_file, prefix_digests):
    lines = blocks_file.read_text().splitlines()
    lines[2] = lines[2].replace('"signature"', '"sig"')
    blocks_file.write_text("\n".join(lines) + "\n")
    peer = peers[0]
    reports = peer.receive(blocks_file, now=NOW)
    assert [r.accepted for r in reports[:2]] == [True, True]
    problem, after = reports[2:]
    assert (problem.accepted, problem.rule, problem.line) == (False, "record", 3)
    assert "unknown field(s) 'sig'" in problem.reason
    # the well-formed line after it is read but not accepted, and says why
    assert (after.accepted, after.rule, after.line) == (False, "ancestry", 4)
    assert "after bad line 3" in after.reason
    assert peer.digest() == prefix_digests[2]


def test_contract_failure_leaves_the_state(peers, small_blocks, prefix_digests, wallets, net1):
    from labkit.chain import Link, mine_block
    from labkit.lessons.data import demo_timestamps

    peer = peers[0]
    peer.receive(small_blocks, now=NOW)
    again = {"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]}  # carol voted in block 2
    block = mine_block(net1, wallets[2], again, parent=peer.chain.tip, timestamp=demo_timestamps(5)[4])
    reports = peer.receive([block], now=NOW)
    assert (reports[0].index, reports[0].accepted, reports[0].rule) == (4, False, "contract")
    assert "already voted on proposal 'P001'" in reports[0].reason
    assert peer.digest() == prefix_digests[4] and len(peer.chain) == 4


def test_peer_save(peers, small_blocks, tmp_path):
    peer = peers[0]
    peer.receive(small_blocks, now=NOW)
    path = peer.save(tmp_path / "mine.jsonl")
    assert load_blocks(path).blocks == list(small_blocks)
    assert os.listdir(tmp_path) == ["mine.jsonl"]


def test_records_without_a_signer_only_in_a_seed_file(peers, small_blocks, net1, wallets):
    unsigned = [Block(b.token, b.signature) for b in small_blocks]
    reports = peers[0].receive(unsigned, now=NOW)
    assert (reports[0].accepted, reports[0].rule) == (False, "signer")
    solo = Peer("solo", net1.with_members([wallets[0]]))  # one member, but not a seed file
    assert solo.receive(unsigned[:1], now=NOW)[0].rule == "signer"
    seed = Peer("seed", Network.for_seed_file(Member("alice", wallets[0].public_key), net1.secret, 1))
    reports = seed.receive(unsigned[:1], now=NOW)  # the token names alice: that is accepted too
    assert reports[0].accepted and reports[0].signer == wallets[0].address


def test_peer_identity(peers, wallets):
    assert peers[0].address == wallets[0].address
    assert peers[0].name == "alice"
    assert "alice" in repr(peers[0]) and "0 blocks" in repr(peers[0])


def test_a_heavier_branch_undoes_a_payment_the_double_spend_by_reorganisation(wallets, net1):
    # bob's reward pays Ada on one branch; a longer branch pays the same tokens to carol instead.
    # Each branch alone is valid; the peer follows the one with more work, and its balances with it.
    from labkit.chain import Link, mine_block
    from labkit.lessons.data import demo_timestamps
    from labkit.lessons.tables import balances_frame

    alice, bob, carol = wallets
    times = demo_timestamps(4)
    ada = {"action": "register_student", "student": {"id": "S001", "name": "Ada", "department": "CS"}}
    first = mine_block(net1, alice, {"actions": [ada]}, timestamp=times[0])
    peer = Peer("dave", net1)
    peer.receive([first], now=NOW)
    parent = peer.chain.tip

    def pay(to):
        return {"actions": [{"action": "mint"}, {"action": "transfer", "transfer": {"to": to, "amount": 50}}]}

    to_ada = mine_block(net1, bob, pay("S001"), parent=parent, timestamp=times[1])
    peer.receive([to_ada], now=NOW)
    assert peer.state["balances"]["S001"]["balance"] == 50
    to_carol = mine_block(net1, bob, pay(carol.address), parent=parent, timestamp=times[1])
    peer.receive([to_carol], now=NOW)  # as much work as the branch it holds: it stays where it is
    assert peer.state["balances"]["S001"]["balance"] == 50
    payload = to_carol.payload(net1.secret)
    after = mine_block(net1, carol, {"actions": [{"action": "mint"}]},
                       parent=Link(payload.index, to_carol.hash, payload.time), timestamp=times[2])
    peer.receive([after], now=NOW)
    assert [e.hash for e in peer.chain] == [first.hash, to_carol.hash, after.hash]
    assert "S001" not in peer.state["balances"]
    assert peer.state["balances"][carol.address]["balance"] == 100
    frame = balances_frame(peer.state, net1)
    assert list(zip(frame["holder"], frame["balance"])) == [("carol", 100), ("bob", 0)] and peer.reorgs
