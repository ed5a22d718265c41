"""labkit.lessons.tables: the VM state and the chain as pandas DataFrames."""

from __future__ import annotations

import pytest

from labkit.block import Block
from labkit.chain import validate_blocks
from labkit.operations import Context
from labkit.peer import Peer
from labkit.lessons.tables import (
    chain_frame,
    courses_frame,
    nfts_frame,
    proposals_frame,
    report_frame,
    state_frames,
    students_frame,
)
from labkit.vm import OISC
from makers import NOW


@pytest.fixture(scope="module")
def peer(net1, wallets, small_blocks):
    peer = Peer("alice", net1, wallet=wallets[0])
    peer.receive(small_blocks, now=NOW)
    return peer


def test_students_and_courses(peer):
    students = students_frame(peer.state)
    assert students.index.name == "id" and list(students.index) == ["S001"]
    assert list(students.columns) == ["name", "department"]
    assert students.loc["S001", "name"] == "John Doe"
    courses = courses_frame(peer.state)
    assert courses.loc["C001", "name"] == "Blockchain Technology"


def test_proposals_with_votes_and_voters(peer, net1, wallets):
    state = peer.state
    vm = OISC()
    vm.state = state
    vm.execute_smart_contract({"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]},
                              Context(signer=wallets[1].address))
    frame = proposals_frame(vm.state, net1)
    assert list(frame.columns) == ["description", "votes", "voters"]
    assert frame.loc["P001", "votes"] == 2
    assert frame.loc["P001", "voters"] == "carol, bob"
    short = proposals_frame(vm.state)  # without a network: short addresses
    assert short.loc["P001", "voters"] == f"{wallets[2].address[:10]}, {wallets[1].address[:10]}"


def test_nfts_flatten_metadata(peer, net1):
    frame = nfts_frame(peer.state, net1)
    assert list(frame.columns) == ["name", "owner", "metadata.artist", "metadata.creation_date",
                                   "metadata.description"]
    assert frame.loc["NFT001", "owner"] == "alice"
    assert frame.loc["NFT001", "metadata.artist"] == "Alice"


def test_nft_without_metadata():
    vm = OISC()
    vm.execute_smart_contract({"actions": [{"action": "generate_nft", "nft": {"id": "N1", "name": "Plain"}}]},
                              Context(signer="a" * 64))
    frame = nfts_frame(vm.state)
    assert list(frame.index) == ["N1"] and frame.loc["N1", "owner"] == "a" * 10


def test_empty_state_gives_empty_tables():
    frames = state_frames(OISC().state)
    assert list(frames) == ["students", "courses", "proposals", "nfts", "balances"]
    assert all(len(frame) == 0 for frame in frames.values())
    assert list(frames["balances"].columns) == ["holder", "balance"]
    assert list(frames["proposals"].columns) == ["description", "votes", "voters"]
    assert list(frames["nfts"].columns) == ["name", "owner"]


def test_state_frames_match_the_state(peer, net1):
    frames = state_frames(peer.state, net1)
    assert {name: len(frame) for name, frame in frames.items()} == {
        "students": 1, "courses": 1, "proposals": 1, "nfts": 1, "balances": 0}


def test_chain_frame(peer, small_blocks):
    frame = chain_frame(peer.chain)
    assert frame.index.name == "index" and list(frame.index) == [0, 1, 2, 3]
    assert list(frame.columns) == ["hash", "prev_hash", "nonce", "signer", "actions", "valid"]
    assert list(frame["signer"]) == ["alice", "bob", "carol", "alice"]
    assert list(frame["actions"]) == ["register_student", "add_course", "vote_proposal", "generate_nft"]
    assert frame.loc[0, "prev_hash"] == "0" * 12
    assert frame.loc[1, "prev_hash"] == frame.loc[0, "hash"] == small_blocks[0].hash[:12]
    assert frame["valid"].all()


def test_report_frame_shows_the_rejected_block(net1, small_blocks):
    tampered = list(small_blocks)
    tampered[1] = Block(small_blocks[1].token, small_blocks[0].signature, small_blocks[1].signer)
    reports = [r for r, _ in validate_blocks(net1, tampered, now=NOW)]
    frame = report_frame(tampered, reports, net1)
    assert list(frame["valid"]) == [True, False, False, False]
    assert list(frame["rule"]) == ["", "signature", "ancestry", "ancestry"]
    assert "not signed by bob" in frame.loc[1, "reason"]
    assert frame.loc[1, "actions"] == "add_course"  # the payload is still readable


def test_report_frame_with_an_unreadable_token(net1, small_blocks, wallets):
    other_net = net1.__class__.create(wallets, difficulty=1)
    reports = [r for r, _ in validate_blocks(other_net, small_blocks[:1], now=NOW)]
    frame = report_frame(list(small_blocks[:1]), reports, other_net)
    assert frame.loc[0, "rule"] == "mac" and frame.loc[0, "actions"] == "?"


def test_balances_and_rewards_frames_name_the_holders(net1, alice, bob):
    from labkit.lessons.tables import balances_frame, rewards_frame

    vm = OISC()
    vm.execute_smart_contract({"actions": [
        {"action": "register_student", "student": {"id": "S1", "name": "Ada", "department": "CS"}},
        {"action": "mint"}, {"action": "transfer", "transfer": {"to": "S1", "amount": 20}},
        {"action": "transfer", "transfer": {"to": bob.address, "amount": 5}}]}, Context(alice.address, index=4))
    frame = balances_frame(vm.state, net1)
    assert list(frame.index) == [alice.address[:10], "S1", bob.address[:10]]  # richest first
    assert list(frame["holder"]) == ["alice", "Ada", "bob"] and list(frame["balance"]) == [25, 20, 5]
    assert list(balances_frame(vm.state)["holder"]) == [alice.address[:10], "Ada", bob.address[:10]]
    rewards = rewards_frame(vm.state, net1)
    assert list(rewards.index) == [4] and rewards.loc[4, "miner"] == "alice" and rewards.loc[4, "amount"] == 50
