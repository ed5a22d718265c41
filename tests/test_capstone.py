"""The capstone's verifier (labkit.course.capstone): the learner's saved functions, or labkit's in their place.

Functions written here stand in for a learner's: saved with labkit.course.saved
as a passing check would save them, then assembled. Right ones agree with
labkit on an honest chain, a tampered one and an attack; a wrong one disagrees
where it is wrong; one that raises, or a saved file that does not load, is
reported, never a crash.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from labkit.block import Block
from labkit.chain import CHECKS, mine_block, validate_blocks
from labkit.encoding import b64url_decode, b64url_encode
from labkit.errors import ContractError
from labkit.peer import Peer
from labkit.course import capstone, saved
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.course.exercises import STRICT_ENV
from labkit.lessons.lab import registration
from labkit.tokens import encode_token
from waiting import scaled

ALICE, BOB, CAROL = demo_wallets()
NETWORK = demo_network(difficulty=1)
GIVE = {"actions": [{"action": "transfer_nft", "nft": {"id": "NFT001", "to": BOB.address}}]}


@pytest.fixture(autouse=True)
def mine_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(saved.MINE_ENV, str(tmp_path / "mine"))
    monkeypatch.delenv(STRICT_ENV, raising=False)
    return tmp_path / "mine"


# --- a learner's functions, right and wrong ---------------------------------------------------


def verify_hs256(token, secret):
    pieces = token.split(".")
    if len(pieces) != 3:
        return False
    mac = hmac.new(secret, f"{pieces[0]}.{pieces[1]}".encode("ascii"), hashlib.sha256).digest()
    return hmac.compare_digest(b64url_encode(mac), pieces[2])


def check_block(block, parent, network):
    claims = block.payload(network.secret)
    if claims.index is not None and claims.index != (0 if parent is None else parent.index + 1):
        return "index"
    if claims.prev_hash != ("0" * 64 if parent is None else parent.hash):
        return "link"
    zeros = network.difficulty if claims.difficulty is None else claims.difficulty
    if zeros < network.difficulty or not block.hash.startswith("0" * zeros):
        return "pow"
    return None


def check_block_without_pow(block, parent, network):
    claims = block.payload(network.secret)
    return "link" if claims.prev_hash != ("0" * 64 if parent is None else parent.hash) else None


def check_block_that_raises(block, parent, network):
    return 1 // 0


def check_block_that_exits(block, parent, network):
    raise SystemExit("a learner's sys.exit()")


def mine_nonce(template, secret, difficulty):
    nonce = template.nonce
    while not hashlib.sha256(encode_token(template.with_nonce(nonce), secret).encode()).hexdigest().startswith(
            "0" * difficulty):
        nonce += 1
    return nonce


def fork_choice(blocks):
    def total(h):
        parent, work = blocks[h]
        return work + (total(parent) if parent is not None else 0)

    parents = {parent for parent, _ in blocks.values()}
    return min((h for h in blocks if h not in parents), key=lambda h: (-total(h), h))


def fork_choice_first(blocks):
    return next(iter(blocks))


def transfer_nft(state, instruction, context):
    nft = instruction.get("nft")
    if not isinstance(nft, dict) or "id" not in nft or "to" not in nft:
        raise ContractError("transfer_nft needs an 'nft' object with 'id' and 'to'")
    current = state["nfts"].get(nft["id"])
    if current is None:
        raise ContractError(f"NFT {nft['id']!r} does not exist")
    if current["owner"] != context.signer:
        raise ContractError(f"only the owner may transfer NFT {nft['id']!r}")
    state["nfts"][nft["id"]] = {**current, "owner": nft["to"]}


def transfer_nft_that_raises(state, instruction, context):
    return state["tokens"][instruction["nft"]["id"]]


def transfer_nft_for_anyone(state, instruction, context):
    nft = instruction["nft"]
    if nft["id"] not in state["nfts"]:
        raise ContractError(f"NFT {nft['id']!r} does not exist")
    state["nfts"][nft["id"]] = {**state["nfts"][nft["id"]], "owner": nft["to"]}


# --- chains -------------------------------------------------------------------------------------------


def _mine(contracts, signer=ALICE, kept=(), network=NETWORK):
    blocks, parent = list(kept), None
    for report, entry in validate_blocks(NETWORK, blocks, operations=capstone.labkit_operations()):
        parent = entry
    for contract, when in zip(contracts, demo_timestamps(len(blocks) + len(contracts))[len(blocks):]):
        blocks.append(mine_block(network, signer, contract, parent=parent, timestamp=when))
        *_, (report, parent) = validate_blocks(NETWORK, blocks, operations=capstone.labkit_operations())
    return blocks


@pytest.fixture(scope="module")
def honest():
    return _mine([*seed_contracts(), GIVE])


def _tamper(blocks, at):
    """``blocks`` with a note added to block ``at``'s contract: its signature no longer covers it."""
    header, body, mac = blocks[at].token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["transaction_data"]["note"] = "edited"
    forged = Block(".".join([header, b64url_encode(json.dumps(claims).encode()), mac]), blocks[at].signature,
                   blocks[at].signer)
    return [*blocks[:at], forged, *blocks[at + 1:]]


@pytest.fixture(scope="module")
def tampered(honest):
    header, body, mac = honest[2].token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["transaction_data"]["actions"][0]["proposal"]["description"] = "Decrease Research Funding"
    forged = Block(".".join([header, b64url_encode(json.dumps(claims).encode()), mac]), honest[2].signature,
                   honest[2].signer)
    return [*honest[:2], forged, *honest[3:]]


@pytest.fixture(scope="module")
def lazy(honest):
    """bob's block declares difficulty 0, below the network's 1 (08's 'lower difficulty')."""
    return _mine([registration("S104", "Lazy Bob")], signer=BOB, kept=honest[:4], network=NETWORK.with_difficulty(0))


@pytest.fixture(scope="module")
def theft(honest):
    """bob gives himself alice's NFT."""
    return _mine([{"actions": [{"action": "transfer_nft", "nft": {"id": "NFT001", "to": BOB.address}}]}],
                 signer=BOB, kept=honest[:4])


def _keep_right_ones():
    for name, function in [("verify_hs256", verify_hs256), ("check_block", check_block), ("mine_nonce", mine_nonce),
                           ("fork_choice", fork_choice), ("transfer_nft", transfer_nft)]:
        saved.keep(name, function)


def _rows(frame):
    return [tuple(row) for row in frame[["your verdict", "decided by", "labkit's verdict", "agree"]].itertuples(
        index=False)]


# --- assembling -------------------------------------------------------------------------------------------


def test_with_nothing_saved_labkit_stands_in_for_every_part_and_says_so():
    parts = capstone.assemble()
    assert list(parts) == list(capstone.PARTS)
    assert all(p.whose == "labkit's" and p.note.startswith("not passed yet in notebook") for p in parts.values())
    assert parts["check_block"].function is capstone.cases.check_block_reference
    frame = capstone.parts_frame(parts)
    assert list(frame["whose"]) == ["labkit's"] * len(capstone.PARTS)


def test_saved_functions_are_the_learners_and_a_file_that_does_not_load_is_replaced(mine_folder):
    saved.keep("check_block", check_block)
    (mine_folder / "fork_choice.py").write_text("def fork_choice(:\n")
    parts = capstone.assemble()
    assert parts["check_block"].whose == "yours" and parts["check_block"].function.__name__ == "check_block"
    assert parts["fork_choice"].whose == "labkit's" and "does not load" in parts["fork_choice"].note
    assert parts["verify_hs256"].whose == "labkit's"


@pytest.mark.parametrize("body", ["raise SystemExit(3)", "import sys\nsys.exit()", "raise GeneratorExit"])
def test_a_saved_file_that_exits_is_the_learners_broken_file_and_labkit_stands_in(mine_folder, body):
    # SystemExit is no Exception: it must not stop the capstone (nor the kernel running it)
    mine_folder.mkdir()
    (mine_folder / "fork_choice.py").write_text(body + "\n")
    parts = capstone.assemble()
    part = parts["fork_choice"]
    assert part.whose == "labkit's" and part.function is capstone.cases.fork_choice_reference
    assert "does not load" in part.note and "fork_choice.py" in part.note


def test_a_saved_function_that_exits_when_asked_refuses_the_block_and_names_itself(honest):
    saved.keep("check_block", check_block_that_exits)
    decisions = capstone.verify_chain(honest, NETWORK, capstone.assemble())
    assert decisions[0].rule == "index" and "yours check_block raised SystemExit" in decisions[0].detail


# --- the verdicts ------------------------------------------------------------------------------------


def test_on_the_honest_chain_every_block_is_accepted_by_both(honest):
    _keep_right_ones()
    frame = capstone.compare_frame(honest, NETWORK, capstone.assemble())
    assert _rows(frame) == [("accepted", "every rule passed", "accepted", "✓")] * 5


def test_on_the_tampered_chain_your_check_block_finds_the_broken_link(tampered):
    _keep_right_ones()
    frame = capstone.compare_frame(tampered, NETWORK, capstone.assemble())
    assert _rows(frame)[2:] == [("refused: signature", "labkit's rule signature", "refused: signature", "✓"),
                                ("refused: link", "yours check_block", "refused: link", "✓"),
                                ("refused: ancestry", "labkit's rule ancestry", "refused: ancestry", "✓")]


def test_what_builds_on_a_refused_block_is_refused_with_labkits_own_words(honest):
    _keep_right_ones()
    early = _tamper(honest, 1)  # 1 breaks its signature, 2 its link, 3 and 4 build on refused blocks
    decisions = capstone.verify_chain(early, NETWORK, capstone.assemble())
    reports = [report for report, _ in validate_blocks(NETWORK, early, operations=capstone.labkit_operations())]
    assert [d.rule for d in decisions] == [None, "signature", "link", "ancestry", "ancestry"]
    assert [(d.rule, d.detail) for d in decisions[3:]] == [(r.rule, r.reason) for r in reports[3:]]


def test_a_block_below_the_difficulty_is_refused_by_your_pow_check_or_accepted_by_one_without(lazy):
    _keep_right_ones()
    assert _rows(capstone.compare_frame(lazy, NETWORK, capstone.assemble()))[4] == (
        "refused: pow", "yours check_block", "refused: pow", "✓")
    saved.keep("check_block", check_block_without_pow)
    assert _rows(capstone.compare_frame(lazy, NETWORK, capstone.assemble()))[4] == (
        "accepted", "every rule passed", "refused: pow", "✗")


def test_a_wrong_mac_is_refused_by_your_verify_hs256(honest):
    _keep_right_ones()
    header, body, mac = honest[1].token.split(".")
    token = f"{header}.{body}.{'A' * len(mac)}"
    remac = [honest[0], Block(token, ALICE.sign(token.encode("ascii")), ALICE.address), *honest[2:]]
    decisions = capstone.verify_chain(remac, NETWORK, capstone.assemble())
    assert (decisions[1].rule, decisions[1].by) == ("mac", "yours verify_hs256")
    assert capstone.labkit_verdicts(remac, NETWORK)[1] == "mac"


def test_a_function_that_raises_refuses_the_block_and_names_itself(honest):
    saved.keep("check_block", check_block_that_raises)
    decisions = capstone.verify_chain(honest, NETWORK, capstone.assemble())
    assert decisions[0].rule == "index" and "yours check_block raised ZeroDivisionError" in decisions[0].detail
    assert [d.rule for d in decisions[1:]] == ["index"] * 4  # each block judged on the one before, like labkit


def test_your_transfer_nft_runs_in_the_vm_and_a_lax_one_lets_bob_steal(theft):
    _keep_right_ones()
    assert _rows(capstone.compare_frame(theft, NETWORK, capstone.assemble()))[4] == (
        "refused: contract", "labkit's rule contract (yours transfer_nft in the VM)", "refused: contract", "✓")
    saved.keep("transfer_nft", transfer_nft_for_anyone)
    assert _rows(capstone.compare_frame(theft, NETWORK, capstone.assemble()))[4] == (
        "accepted", "every rule passed", "refused: contract", "✗")


def test_a_transfer_nft_that_raises_something_else_refuses_the_contract_and_names_itself(honest):
    _keep_right_ones()
    saved.keep("transfer_nft", transfer_nft_that_raises)
    decision = capstone.verify_chain(honest, NETWORK, capstone.assemble())[4]
    assert decision.rule == "contract" and "yours transfer_nft raised KeyError: 'tokens'" in decision.detail


def test_your_miner_repairs_the_tampered_chain_and_labkit_accepts_it(honest, tampered):
    _keep_right_ones()
    parts = capstone.assemble()
    contracts = [b.payload(NETWORK.secret) for b in honest[2:]]
    repaired = capstone.remine(NETWORK, BOB, parts, tampered[:2], [(p.transaction_data, p.time) for p in contracts])
    assert capstone.labkit_verdicts(repaired, NETWORK) == [None] * 5
    assert [b.signer for b in repaired[2:]] == [BOB.address] * 3 and repaired[2].hash != honest[2].hash


def test_the_fork_choice_is_compared_with_the_block_trees_tip():
    peer = Peer("alice", NETWORK)
    trunk = _mine(seed_contracts()[:2])
    honest_branch = _mine([seed_contracts()[2]], kept=trunk)
    heavier = _mine([seed_contracts()[2], seed_contracts()[3]], signer=BOB, kept=trunk)
    peer.receive(honest_branch)
    peer.receive(heavier)
    assert len(peer.tree.tips()) == 2
    _keep_right_ones()
    frame = capstone.fork_frame([("two branches", peer.tree)], capstone.assemble())
    assert list(frame["agree"]) == ["✓"] and frame["decided by"][0] == "yours fork_choice"
    assert frame["labkit's tip"][0] == heavier[-1].hash[:16] + "…"
    saved.keep("fork_choice", fork_choice_first)
    assert list(capstone.fork_frame([("two branches", peer.tree)], capstone.assemble())["agree"]) == ["✗"]


# --- the capstone's exercises' references ------------------------------------------------------------------


def test_first_broken_is_the_first_rule_in_labkits_order():
    assert capstone.first_broken(set()) is None and capstone.first_broken({"duplicate"}) is None
    assert capstone.first_broken({"pow", "mac", "contract"}) == "mac"
    assert capstone.first_broken(set(CHECKS)) == CHECKS[0]
    cases = capstone.first_broken_cases()
    assert len(cases) == 100 and len({frozenset(c[0]) for c in cases}) > 50


def test_disagreements_are_positions_that_differ_counting_a_longer_lists_extra():
    assert capstone.disagreements([None, "pow"], [None, "link", None]) == [1, 2]
    assert capstone.disagreements([], []) == [] and capstone.disagreements([None], []) == [0]
    cases = capstone.disagreements_cases()
    assert any(capstone.disagreements(*c) for c in cases) and any(not capstone.disagreements(*c) for c in cases)


# --- the notebook, after the instructor's solutions passed and were saved ---------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
BEFORE = ("02-jwt-blocks", "03-proof-of-work", "04-the-chain", "06-contracts-and-the-vm", "07-peers-end-to-end")


@pytest.mark.timeout(600)
def test_the_capstone_runs_on_the_instructors_saved_functions_and_agrees_everywhere(mine_folder):
    """02-07 run first (strict, so a check that fails stops the run; those that pass save), then 11 with every
    part the instructor's own: every block and tip agrees with labkit."""
    import ast
    import os

    import nbclient
    import nbformat

    for name in BEFORE:
        before = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        nbclient.NotebookClient(before, timeout=scaled(300), kernel_name="python3",
                                resources={"metadata": {"path": str(mine_folder.parent)}}).execute(
            env={**os.environ, STRICT_ENV: "1"})
    assert set(capstone.PARTS) <= set(saved.names())
    nb = nbformat.read(ROOT / "notebooks" / "11-your-own-verifier.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=scaled(300), kernel_name="python3",
                            resources={"metadata": {"path": str(mine_folder.parent)}}).execute()
    (summary,) = [c for c in nb.cells if c.cell_type == "code" and '"blocks compared"' in c.source]
    shown = ast.literal_eval(summary.outputs[0]["data"]["text/plain"])
    assert shown["your functions"] == list(capstone.PARTS)
    assert shown["agree"] == shown["blocks compared"] == 25
    (forks,) = [c for c in nb.cells if c.cell_type == "code" and "fork_frame" in c.source]
    assert "yours fork_choice" in forks.outputs[0]["data"]["text/html"]
