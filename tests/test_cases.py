"""labkit.teaching.cases: the generated cases are the same on every run and varied, and each reference agrees
with a second way of computing its answer (hashlib, pyjwt, the miner's own check, labkit's BlockTree rank)."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import jwt
import pytest

from labkit.encoding import b64url_encode
from labkit.pow import meets_difficulty, token_hash
from labkit.teaching import cases
from labkit.teaching.race import nakamoto_probability
from labkit.tokens import encode_token

GENERATORS = ["hash_chain", "modular_inverse", "verify_hs256", "mine_nonce", "check_block", "bencode",
              "transfer_nft", "fork_choice", "attacker_success"]


@pytest.mark.parametrize("name", GENERATORS)
def test_cases_are_many_and_the_same_on_every_run(name):
    make = getattr(cases, f"{name}_cases")
    first, again = make(), make()
    assert len(first) >= 40
    assert repr(first) == repr(again)
    assert repr(make(seed=99)) != repr(first)


def test_hash_chain_is_sha256_of_the_previous_hash_and_the_line():
    assert cases.hash_chain_reference([]) == []
    one = hashlib.sha256(("0" * 64 + "a").encode()).hexdigest()
    assert cases.hash_chain_reference(["a", "b"]) == [one, hashlib.sha256((one + "b").encode()).hexdigest()]


def test_modular_inverse_cases_have_inverses():
    for e, phi in cases.modular_inverse_cases():
        assert e * cases.modular_inverse_reference(e, phi) % phi == 1


def test_verify_hs256_agrees_with_pyjwt_and_has_both_answers():
    answers = Counter()
    for token, secret in cases.verify_hs256_cases():
        try:
            jwt.decode(token, secret, algorithms=["HS256"])
            theirs = True
        except jwt.InvalidTokenError:
            theirs = False
        assert cases.verify_hs256_reference(token, secret) is theirs, token
        answers[theirs] += 1
    assert answers[True] >= 10 and answers[False] >= 30


def test_mine_nonce_is_the_first_nonce_that_meets_the_difficulty():
    for template, secret, difficulty in cases.mine_nonce_cases()[:15]:
        nonce = cases.mine_nonce_reference(template, secret, difficulty)
        assert meets_difficulty(token_hash(encode_token(template.with_nonce(nonce), secret)), difficulty)
        assert not any(meets_difficulty(token_hash(encode_token(template.with_nonce(n), secret)), difficulty)
                       for n in range(template.nonce, nonce))


def test_check_block_cases_break_each_rule_and_none():
    seen = Counter(cases.check_block_reference(*case) for case in cases.check_block_cases())
    assert set(seen) == {None, "index", "link", "pow"} and min(seen.values()) >= 5


def test_check_block_reference_by_hand():
    # A second reading of the three rules, straight from the payload (no judge).
    for block, parent, network in cases.check_block_cases():
        payload = block.payload(network.secret)
        need = network.difficulty if payload.difficulty is None else payload.difficulty
        expected = None
        if payload.index != (0 if parent is None else parent.index + 1):
            expected = "index"
        elif payload.prev_hash != ("0" * 64 if parent is None else parent.hash):
            expected = "link"
        elif need < network.difficulty or not block.hash.startswith("0" * need):
            expected = "pow"
        assert cases.check_block_reference(block, parent, network) == expected


def test_bencode_reference_known_answers():
    assert cases.bencode_reference({"b": 1, "a": [b"x", "é"]}) == b"d1:al1:x2:\xc3\xa9e1:bi1ee"
    assert cases.bencode_reference(-3) == b"i-3e"
    for bad in (True, 1.5, None):
        with pytest.raises(TypeError):
            cases.bencode_reference(bad)


def test_transfer_nft_cases_have_both_outcomes_and_never_change_the_case():
    outcomes = Counter()
    for state, instruction, context in cases.transfer_nft_cases():
        before = repr(state)
        try:
            after = cases.state_after(cases.transfer_nft_reference, state, instruction, context)
            outcomes["moved"] += 1
            moved = [k for k in after["nfts"] if after["nfts"][k] != state["nfts"][k]]
            assert len(moved) <= 1 and all(after["nfts"][k]["owner"] == instruction["nft"]["to"] for k in moved)
        except Exception as exc:
            outcomes[type(exc).__name__] += 1
        assert repr(state) == before
    assert outcomes["moved"] >= 15 and outcomes["ContractError"] >= 15


def test_fork_choice_is_most_work_then_smaller_hash():
    blocks = {"bb": (None, 16), "cc": ("bb", 16), "aa": ("bb", 16), "dd": (None, 256)}
    assert cases.fork_choice_reference(blocks) == "dd"  # 256 > 32
    blocks["ee"] = ("cc", 256)
    assert cases.fork_choice_reference(blocks) == "ee"
    assert cases.fork_choice_reference({"b": (None, 1), "a": (None, 1)}) == "a"  # a tie: the smaller hash


def test_fork_choice_cases_include_ties():
    ties = 0
    for (blocks,) in cases.fork_choice_cases():
        tips = [h for h in blocks if h not in {p for p, _ in blocks.values()}]

        def total(h):
            parent, work = blocks[h]
            return work + (total(parent) if parent else 0)

        best = max(total(t) for t in tips)
        ties += sum(total(t) == best for t in tips) > 1
    assert ties >= 5


def test_attacker_success_cases_are_valid_for_the_reference():
    values = [nakamoto_probability(q, z) for q, z in cases.attacker_success_cases()]
    assert all(0 <= v <= 1 for v in values) and any(v == 1.0 for v in values) and any(v < 1e-6 for v in values)
    assert cases.close(0.1 + 0.2, 0.3) and not cases.close(0.30001, 0.3) and not cases.close("0.3", 0.3)


def test_hmac_by_hand_matches_the_reference():
    token, secret = cases.verify_hs256_cases()[0]
    head, body, mac = token.split(".")
    assert b64url_encode(hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()) == mac
    assert cases.verify_hs256_reference(token, secret)


def test_long_cases_are_numbered_so_a_learner_can_fetch_the_one_that_failed():
    found = cases.check_block_cases()
    assert found[17].label.startswith("case 17 of 60 (cases.check_block_cases()[17]): a block declaring index ")
    assert cases.mine_nonce_cases()[3].label.startswith("case 3 of 40 (cases.mine_nonce_cases()[3]): a template")
