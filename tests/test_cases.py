"""labkit.course.cases: the generated cases are the same on every run and varied, and each reference agrees
with a second way of computing its answer (hashlib, pyjwt, the miner's own check, labkit's BlockTree rank)."""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import jwt
import pytest

from labkit.encoding import b64url_encode
from labkit.pow import meets_difficulty, token_hash
from labkit.course import cases
from labkit.lessons.race import nakamoto_probability
from labkit.tokens import encode_token

GENERATORS = ["hash_chain", "modular_inverse", "verify_hs256", "mine_nonce", "check_block", "bencode",
              "transfer_nft", "fork_choice", "attacker_success", "fork_rate", "spend"]


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


def _random_block_trees(count: int, seed: int):
    """Block trees of real blocks (difficulty 1 or 2, so tips tie often and work differs), mined at random places."""
    import datetime as dt
    import random

    from labkit.chain import mine_block
    from labkit.fastmine import mine as fast_mine
    from labkit.forks import BlockTree
    from labkit.lessons.data import DEMO_START, demo_network, demo_wallets

    network, wallets, rng = demo_network(1), demo_wallets(), random.Random(seed)
    for _ in range(count):
        tree = BlockTree(network)
        for minute in range(rng.randint(1, 7)):
            parent = rng.choice([None, *tree]) if rng.random() < 0.15 or not len(tree) else rng.choice(list(tree))
            when = DEMO_START + dt.timedelta(minutes=minute)
            block = mine_block(network.with_difficulty(rng.choice([1, 1, 2])), rng.choice(wallets),
                               {"actions": [{"action": "register_student", "student": {
                                   "id": f"S{minute:03d}", "name": "Ada", "department": "CS"}}]},
                               parent=parent, timestamp=when,
                               miner=fast_mine)
            tree.add(block, now=when + dt.timedelta(hours=1))
        yield tree


def test_the_course_reference_picks_the_block_trees_tip_on_generated_trees():
    from labkit.course.capstone import fork_choice_input

    ties = 0
    for tree in _random_block_trees(25, seed=7):
        assert cases.fork_choice_reference(fork_choice_input(tree)) == tree.tip.hash
        ties += sum(tip.total_work == tree.tip.total_work for tip in tree.tips()) > 1
    assert ties >= 3  # the tie rule was exercised, not only "most work"


def test_the_course_reference_decides_by_the_forks_rank(monkeypatch):
    from labkit import forks

    blocks = {"aa": (None, 16), "bb": (None, 16), "cc": (None, 256)}
    assert cases.fork_choice_reference(blocks) == "cc"
    monkeypatch.setattr(forks, "rank", lambda total_work, tip_hash: (total_work, tip_hash))  # least work wins
    assert cases.fork_choice_reference(blocks) == "aa"


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


# --- the cases catch the mistakes learners make ----------------------------------------------------


def _fails(name, wrong, reference, found, **options):
    from labkit.course.exercises import Exercises

    result = Exercises("nb", total=1).check_against(name, wrong, reference, found, keep=False, **options)
    return result.status.wrong


def _hash_chain_swapped(lines):
    out, previous = [], "0" * 64
    for line in lines:
        previous = hashlib.sha256((line + previous).encode()).hexdigest()
        out.append(previous)
    return out


def _inverse_unreduced(e, phi):
    old_r, r, old_s, s = e, phi, 1, 0
    while r:
        q = old_r // r
        old_r, r, old_s, s = r, old_r - q * r, s, old_s - q * s
    return old_s  # may be negative


def _mine_from_zero(template, secret, difficulty):
    return cases.mine_nonce_reference(template.with_nonce(0), secret, difficulty)


def _check_block_network_only(block, parent, network):
    rule = cases.check_block_reference(block, parent, network)
    if rule != "pow":
        return rule
    return None if block.hash.startswith("0" * network.difficulty) else "pow"  # ignores what the block declares


def _bencode_unsorted(value):
    if isinstance(value, dict):
        return b"d" + b"".join(cases.bencode_reference(k) + _bencode_unsorted(v) for k, v in value.items()) + b"e"
    if isinstance(value, list):
        return b"l" + b"".join(_bencode_unsorted(v) for v in value) + b"e"
    return cases.bencode_reference(value)


def _transfer_anyone(state, instruction, context):
    nft = instruction.get("nft")
    if not isinstance(nft, dict) or "id" not in nft or "to" not in nft or nft["id"] not in state["nfts"]:
        from labkit.errors import ContractError
        raise ContractError("bad")
    state["nfts"][nft["id"]] = {**state["nfts"][nft["id"]], "owner": nft["to"]}  # never asks who signs


def _fork_choice_first_seen(blocks):
    totals = {}

    def total(h):
        parent, work = blocks[h]
        return work + (total(parent) if parent else 0)

    tips = [h for h in blocks if h not in {p for p, _ in blocks.values()}]
    return max(tips, key=total)  # a tie goes to the first tip seen, which depends on arrival order


def _fork_choice_longest(blocks):
    def length(h):
        return 1 + (length(blocks[h][0]) if blocks[h][0] else 0)

    tips = [h for h in blocks if h not in {p for p, _ in blocks.values()}]
    return min(tips, key=lambda h: (-length(h), h))


def _attacker_without_the_majority_case(q, z):
    p = 1 - q
    lam = z * q / p
    return 1 - sum(2.718281828459045 ** -lam * lam ** k / __import__("math").factorial(k) * (1 - (q / p) ** (z - k))
                   for k in range(z + 1))


@pytest.mark.parametrize("name, wrong, reference, options", [
    ("hash_chain", _hash_chain_swapped, cases.hash_chain_reference, {}),
    ("modular_inverse", _inverse_unreduced, cases.modular_inverse_reference, {}),
    ("verify_hs256", lambda token, secret: token.count(".") == 2, cases.verify_hs256_reference, {}),
    ("mine_nonce", _mine_from_zero, cases.mine_nonce_reference, {}),
    ("check_block", _check_block_network_only, cases.check_block_reference, {}),
    ("bencode", _bencode_unsorted, cases.bencode_reference, {}),
    ("transfer_nft", _transfer_anyone, cases.transfer_nft_reference, {"call": cases.state_after}),
    ("fork_choice", _fork_choice_first_seen, cases.fork_choice_reference, {}),
    ("fork_choice", _fork_choice_longest, cases.fork_choice_reference, {}),
    ("attacker_success", _attacker_without_the_majority_case, nakamoto_probability, {"compare": cases.close}),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_a_plausible_mistake_fails_on_the_generated_cases(monkeypatch, name, wrong, reference, options):
    from labkit.course.exercises import STRICT_ENV

    monkeypatch.delenv(STRICT_ENV, raising=False)  # a failure is reported, not raised
    found = getattr(cases, f"{name}_cases")()
    assert _fails(name, wrong, reference, found, **options)
    assert not _fails(name, reference, reference, found, **options)  # and the reference itself passes
