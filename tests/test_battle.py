"""The battle (issue 24): a learner's node decides with the learner's code; adversary rounds; the scoreboard."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from labkit.block import Block
from labkit.course import capstone, solutions
from labkit.lessons import attacks
from labkit.lessons.lab import make_lab, registration
from labkit.node.rules import LearnerNode, LearnerTree, learner_parts, mine_dir_loader
from labkit.peer import Peer
from labkit.wallet import Wallet

from battle_learners import write_learner

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PARTS = ("verify_hs256", "mine_nonce", "check_block", "transfer_nft", "fork_choice")


@pytest.fixture(scope="module")
def solved(tmp_path_factory) -> Path:
    """The instructor's solutions of the five parts, saved as a learner's passing checks save them."""
    import os

    folder = tmp_path_factory.mktemp("solutions")
    before = os.environ.get("LABKIT_MINE_DIR")
    os.environ["LABKIT_MINE_DIR"] = str(folder)
    try:
        solutions.keep_solutions(NOTEBOOKS, PARTS)
    finally:
        if before is None:
            del os.environ["LABKIT_MINE_DIR"]
        else:
            os.environ["LABKIT_MINE_DIR"] = before
    return folder


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return make_lab(tmp_path_factory.mktemp("lab"))


def learner_peer(lab, folder: Path, problems: list | None = None) -> Peer:
    peer = Peer("learner", lab.network)
    parts = learner_parts(mine_dir_loader(folder), time_limit=1.0)
    peer.tree = LearnerTree(lab.network, parts, on_problem=lambda part, why: (problems or []).append((part, why)))
    reports = peer.receive(lab.honest, now=lab.now)
    assert all(r.accepted for r in reports), reports
    return peer


def forged_mac(lab) -> Block:
    """bob's block on the tip, mined and signed, its HS256 MAC made with a secret that is not the network's."""
    template = lab.template("bob", registration("S300", "Forged"))
    mined = lab.miner(template, b"not the network secret, 32 bytes", lab.honest_difficulty)
    return attacks.sign_record(mined.token, lab.wallets["bob"])


def test_the_solutions_decide_as_labkit(lab, solved):
    peer = learner_peer(lab, solved)
    [report] = peer.receive([forged_mac(lab)], now=lab.now)
    assert not report.accepted and report.rule == "mac" and "yours verify_hs256" in report.reason
    assert peer.digest() == lab.peers[0].digest()
    assert all(part.whose == "yours" for part in learner_parts(mine_dir_loader(solved)).values())


def test_a_check_that_skips_the_signature_accepts_a_forged_block(lab, solved, tmp_path):
    peer = learner_peer(lab, write_learner(tmp_path / "ns", solved, "no-signature"))
    forged = forged_mac(lab)
    [report] = peer.receive([forged], now=lab.now)
    assert report.accepted and peer.chain.tip.hash == forged.hash
    with pytest.raises(Exception):
        lab.peers[0].receive_block(forged, now=lab.now)  # labkit's verdict is unchanged


def test_a_transfer_nft_that_raises_refuses_the_block_and_says_why(lab, solved, tmp_path):
    problems: list = []
    peer = learner_peer(lab, write_learner(tmp_path / "raises", solved, "raises"), problems)
    sold = lab.mine("alice", {"actions": [{"action": "transfer_nft", "nft": {"id": "NFT001", "to": "bob"}}]})
    labkit = Peer("labkit", lab.network, operations=capstone.labkit_operations())  # labkit's own transfer_nft
    labkit.receive(lab.honest, now=lab.now)
    assert labkit.tree.judge(sold, now=lab.now).accepted
    [report] = peer.receive([sold], now=lab.now)
    assert not report.accepted and report.rule == "contract"
    assert "yours transfer_nft raised KeyError" in report.reason


def test_a_hanging_function_is_cut_off_and_the_block_refused(lab, solved, tmp_path):
    folder = write_learner(tmp_path / "hangs", solved, "")
    (folder / "check_block.py").write_text("import time\n\ndef check_block(block, parent, network):\n"
                                           "    time.sleep(30)\n")
    peer = Peer("learner", lab.network)
    problems: list = []
    peer.tree = LearnerTree(lab.network, learner_parts(mine_dir_loader(folder), time_limit=0.3),
                            on_problem=lambda part, why: problems.append((part, why)))
    started = time.monotonic()
    [report, *_] = peer.receive(lab.honest[:1], now=lab.now)
    assert time.monotonic() - started < 5
    assert not report.accepted and "took longer than 0.3 s" in report.reason
    assert problems and problems[0][0] == "yours check_block"


def test_a_longest_chain_fork_choice_takes_less_work(lab, solved, tmp_path):
    peer = learner_peer(lab, write_learner(tmp_path / "longest", solved, "longest"))
    friends = [("bob", registration(f"S9{i:02d}", f"friend {i}")) for i in range(len(lab.honest) + 1)]
    longer = lab.branch(friends, parent=None, difficulty=lab.network.difficulty)
    peer.receive(longer, now=lab.now)
    assert peer.chain.tip.hash == longer[-1].hash
    assert peer.chain.total_work < lab.peers[0].chain.total_work


def test_a_learner_node_says_whose_rules_it_runs(lab, solved, tmp_path):
    from labkit.node.keys import NodeKey

    folder = write_learner(tmp_path / "some", solved, "")
    (folder / "fork_choice.py").unlink()
    node = LearnerNode(lab.network, lab.wallets["carol"], NodeKey.generate(), tmp_path / "node",
                       loader=mine_dir_loader(folder))
    try:
        rules = node.status()["rules"]
        assert rules["whose"] == "the learner's, labkit's standing in"
        assert rules["parts"]["fork_choice"]["whose"] == "labkit's"
        assert rules["parts"]["check_block"]["whose"] == "yours"
    finally:
        node.stop()
