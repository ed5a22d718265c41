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
    import threading

    threads = threading.active_count()
    reports = peer.receive(lab.honest[1:], now=lab.now)  # each refused at once: the first call still runs
    assert all("has not returned yet" in r.reason or r.rule == "ancestry" for r in reports)
    assert threading.active_count() == threads


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


# --- the live room (in a loopback-only network namespace where the machine allows) --------------

WRONG_KINDS = {"ana": "solution", "ben": "longest", "cleo": "no-signature", "dev": "raises"}
# The rounds each wrong learner must be fooled by: exactly those that test its mistake.
FOOLED_BY = {"ana": set(), "ben": {"longer chain, less work", "heavier branch"},
             "cleo": {"forged signature", "private branch"}, "dev": {"NFT sold"}}


def scenario(workdir: str) -> dict:
    """Four learner nodes and one of labkit's through every round; the results, scoreboard and gradebook as JSON."""
    import os

    from labkit.battle.room import Battle, red_team_score
    from labkit.battle.scoreboard import gradebook_rows, scoreboard_frame

    work = Path(workdir)
    solved = work / "solutions"
    os.environ["LABKIT_MINE_DIR"] = str(solved)
    solutions.keep_solutions(NOTEBOOKS, PARTS)
    learners = {name: write_learner(work / "mine" / name, solved, kind) for name, kind in WRONG_KINDS.items()}
    started = time.monotonic()
    with Battle(work / "room", learners, ["classmate"]) as battle:
        results = battle.play()
        lab = battle.red_team_lab()  # ana designs one chain: a block MACed with a guessed secret, mined and signed
        template = lab.template("bob", registration("S500", "Red team"))
        mined = lab.miner(template, b"ana's guess at the secret, 32 b.", lab.honest_difficulty)
        red = battle.red_team("ana", [attacks.sign_record(mined.token, lab.wallets["bob"])])
        try:
            battle.red_team("ana", [attacks.sign_record(mined.token, lab.wallets["bob"])])
            again = ""
        except Exception as exc:  # one chain each
            again = f"{type(exc).__name__}: {exc}"
        running = {name: node.running for name, node in battle.room.nodes.items()}
        statuses = battle.room.statuses()
    return {"results": [r.__dict__ for r in results], "running": running, "seconds": time.monotonic() - started,
            "scoreboard": scoreboard_frame(results).to_string(), "gradebook": gradebook_rows(results),
            "rules": {name: s["rules"] for name, s in statuses.items()},
            "red_team": [r.__dict__ for r in red], "red_score": red_team_score(red, "ana"), "again": again}


@pytest.fixture(scope="module")
def battle(tmp_path_factory):
    from netns import run_isolated

    workdir = tmp_path_factory.mktemp("battle")
    return run_isolated(str(Path(__file__).resolve()), [str(workdir)], lambda: scenario(str(workdir)),
                        what="battle", timeout=300)


def test_each_learner_is_fooled_exactly_by_the_rounds_that_test_its_mistake(battle):
    fooled: dict[str, set] = {name: set() for name in [*WRONG_KINDS, "classmate"]}
    for result in battle["results"]:
        if not result["held"]:
            fooled[result["node"]].add(result["round"])
    print(battle["scoreboard"])
    assert fooled == {**FOOLED_BY, "classmate": set()}, battle["scoreboard"]  # labkit's node: never fooled
    assert all(battle["running"].values())  # a wrong learner's node keeps running


def test_the_scoreboard_says_what_each_got_wrong(battle):
    why = {(r["node"], r["round"]): r["why"] for r in battle["results"] if not r["held"]}
    assert "breaks rule mac" in why[("cleo", "forged signature")]
    assert "less work" in why[("ben", "longer chain, less work")]
    assert "yours transfer_nft raised KeyError" in why[("dev", "NFT sold")]
    assert battle["rules"]["ana"]["whose"] == "the learner's"
    assert battle["rules"]["classmate"]["whose"] == "labkit's"


def test_a_red_team_chain_scores_the_classmates_it_fools_once_per_author(battle):
    fooled = {r["node"] for r in battle["red_team"] if not r["held"]}
    assert fooled == {"cleo"}  # the one node that skips the signature; labkit's classmate holds
    assert battle["red_score"] == 1
    assert battle["again"].startswith("ConfigError") and "one chain each" in battle["again"]


def test_the_gradebook_gives_points_only_for_what_held(battle):
    earned = {(row["student"], row["exercise"]): row["earned"] for row in battle["gradebook"]}
    assert {row["exercise"] for row in battle["gradebook"]} == {
        "battle: verify_hs256", "battle: transfer_nft", "battle: fork_choice", "battle: check_block"}
    points = {row["exercise"]: row["points"] for row in battle["gradebook"]}
    assert all(earned[("ana", exercise)] == points[exercise] for exercise in points)
    assert earned[("ben", "battle: fork_choice")] == 0 and earned[("ben", "battle: verify_hs256")] > 0
    assert earned[("cleo", "battle: verify_hs256")] == 0 and earned[("cleo", "battle: fork_choice")] > 0
    assert earned[("dev", "battle: transfer_nft")] == 0 and earned[("dev", "battle: check_block")] > 0


if __name__ == "__main__":  # the child process of the ``battle`` fixture
    import json
    import sys

    print(json.dumps(scenario(sys.argv[1]), default=str))


@pytest.mark.parametrize("argv, says", [
    (["--learner", "bad"], "--learner takes NAME=FOLDER"),
    ([], "no players"),
    (["--classmates", "1", "--rounds", "nope"], "no round 'nope'"),
    (["--learner", "a=/no/such/folder"], "--learner"),
])
def test_the_battle_command_refuses_bad_input_and_makes_nothing(argv, says, tmp_path, capsys):
    from labkit.__main__ import main

    assert main(["battle", "--dir", str(tmp_path / "room"), *argv]) == 2
    assert says in capsys.readouterr().err
    assert not (tmp_path / "room").exists()


def test_the_scoreboard_widget_shows_held_and_fooled_in_words():
    from labkit.battle.room import RoundResult
    from labkit.battle.scoreboard import gradebook_rows, scoreboard_frame
    from labkit.widgets.scoreboard import scoreboard_html

    results = [RoundResult("heavier branch", "ana", True, "a" * 64, "a" * 64, "", "fork_choice", 2.0),
               RoundResult("heavier branch", "ben", False, "b" * 64, "a" * 64, "stayed on a tip with less <work>",
                           "fork_choice", 2.0)]
    page = scoreboard_html(results)
    assert "held" in page and "fooled" in page and "&lt;work&gt;" in page and "<work>" not in page
    assert scoreboard_frame(results).loc["ben", "heavier branch"] == "fooled"
    rows = {row["student"]: row for row in gradebook_rows(results)}
    assert rows["ana"]["earned"] == rows["ana"]["points"] > 0 and rows["ben"]["earned"] == 0


def test_the_scoreboard_table_has_a_row_per_round_a_column_per_node_and_says_why_on_hover():
    from labkit.battle.room import RoundResult
    from labkit.battle.rounds import ROUNDS
    from labkit.battle.scoreboard import TOTAL, scoreboard_table

    nodes = ["you", "classmate1", "classmate2"]
    results = [RoundResult(r.name, node, not (node == "you" and r.targets == "fork_choice"), "a" * 64, "b" * 64,
                           'stayed on "a tip" with less <work>' if node == "you" and r.targets == "fork_choice"
                           else "", r.targets, 1.0)
               for r in ROUNDS for node in nodes]
    styler = scoreboard_table(results, highlight="you")
    board = styler.data
    assert list(board.columns) == ["round", "tests", *nodes]  # as narrow as the players are few
    assert list(board["round"]) == [*(r.name for r in ROUNDS), TOTAL]  # every round by its full name, in order
    assert list(board["tests"])[:len(ROUNDS)] == [r.targets or "labkit's rules" for r in ROUNDS]
    assert list(board.iloc[-1][nodes]) == ["9/11", "11/11", "11/11"]
    fooled = {name for name, mark in zip(board["round"], board["you"]) if mark == "fooled"}
    assert fooled == {"longer chain, less work", "heavier branch"}
    page = styler.to_html()
    assert page.count("labkit-fooled") == 2 and page.count("labkit-held") == 3 * 11 - 2
    assert page.count('title="stayed on &quot;a tip&quot; with less &lt;work&gt;"') == 2  # escaped, once a cell
    assert "<work>" not in page and 'class="labkit-table labkit-scoreboard-table"' in page
    assert "font-weight: bold" in page and "font-weight: bold" not in scoreboard_table(results).to_html()


def test_the_scoreboard_table_leaves_a_round_a_node_missed_empty():
    from labkit.battle.room import RoundResult
    from labkit.battle.scoreboard import TOTAL, scoreboard_table

    results = [RoundResult("heavier branch", "ana", False, None, "a" * 64, "", "fork_choice", 2.0),
               RoundResult("NFT sold", "ben", True, "a" * 64, "a" * 64, "", "transfer_nft", 2.0)]
    styler = scoreboard_table(results)
    board = styler.data.set_index("round")
    assert board.loc["heavier branch", "ben"] == "" and board.loc["NFT sold", "ana"] == ""
    assert board.loc[TOTAL, "ana"] == "0/2" and board.loc[TOTAL, "ben"] == "1/2"
    assert 'title="fooled"' in styler.to_html()  # a fooled cell without a reason still has a title


def test_a_learner_node_mines_with_its_mine_nonce_and_refuses_what_it_mines_wrong(lab, solved, tmp_path):
    from labkit.chain import validate_blocks
    from labkit.node.keys import NodeKey

    network = lab.network.with_difficulty(2)
    node = LearnerNode(network, lab.wallets["alice"], NodeKey.generate(), tmp_path / "good",
                       loader=mine_dir_loader(solved))
    try:
        node.submit(registration("S400", "Mined"))
        assert node.mine_once(publish=False) is not None and node.height == 0
        [(report, _)] = validate_blocks(network, node.peer.chain.blocks)
        assert report.accepted  # labkit's verdict on the learner's mining
    finally:
        node.stop()
    folder = write_learner(tmp_path / "lazy", solved, "")
    (folder / "mine_nonce.py").write_text("def mine_nonce(template, secret, difficulty):\n    return template.nonce\n")
    node = LearnerNode(network, lab.wallets["alice"], NodeKey.generate(), tmp_path / "lazy-node",
                       loader=mine_dir_loader(folder))
    try:
        node.submit(registration("S401", "Unmined"))
        refused = None
        for _ in range(20):  # 1 in 256 nonces meets difficulty 2 by luck: then the next contract is tried
            if node.mine_once(publish=False) is None:
                refused = node.queue.refused[-1]
                break
            node.submit(registration(f"S4{len(node.peer.chain):02d}", "Again"))
        assert refused is not None and refused["rule"] == "pow"  # refused by check_block, the node goes on
    finally:
        node.stop()


def test_the_red_team_score_is_capped_and_leaves_out_the_author():
    from labkit.battle.room import RED_TEAM_CAP, RoundResult, red_team_score

    results = [RoundResult("red team: ana", node, False, None, "c" * 64, "fooled", None, 1.0)
               for node in ["ana", *(f"n{i}" for i in range(RED_TEAM_CAP + 3))]]
    assert red_team_score(results, "ana") == RED_TEAM_CAP
    assert red_team_score(results[:2], "ana") == 1
    assert red_team_score(results, "ben") == 0


def test_a_learner_node_whose_code_raises_refuses_and_reports_it_and_goes_on(lab, solved, tmp_path):
    from labkit.node.keys import NodeKey

    folder = write_learner(tmp_path / "exits", solved, "")
    (folder / "check_block.py").write_text("import sys\n\ndef check_block(block, parent, network):\n"
                                           "    sys.exit(3)\n")
    node = LearnerNode(lab.network, lab.wallets["carol"], NodeKey.generate(), tmp_path / "node",
                       loader=mine_dir_loader(folder))
    try:
        reports = node.peer.receive(lab.honest, now=lab.now)
        assert not reports[0].accepted and "yours check_block raised SystemExit" in reports[0].reason
        problems = node.write_status()["rules"]["problems"]
        assert problems and problems[0]["part"] == "yours check_block"
        assert node.height == -1  # nothing accepted, and the node is still there to say so
    finally:
        node.stop()


def test_node_status_says_whose_rules_and_what_the_learners_code_did():
    from labkit.node.cli import status_text

    status = {"member": "ana", "listen": None, "tip": None, "height": -1, "total_work": 0, "digest": "0" * 64,
              "queued": [], "refused_contracts": [], "peers": {}, "events": [],
              "rules": {"whose": "the learner's", "parts": {},
                        "problems": [{"part": "yours fork_choice", "reason": "raised KeyError: 'x'"}]}}
    text = status_text(status)
    assert "rules   the learner's" in text and "yours fork_choice: raised KeyError" in text
