"""No exercise passes without the work, and a failure names what differs.

A function that calls labkit's own answer (the reference a check compares with)
is reported as using labkit's answer, never passed; plausible wrong answers get
feedback that names the claim or field that differs, decoded, and the fact the
case turns on (a tie, a total).
"""

from __future__ import annotations

import dataclasses

import pytest

from labkit import chain as chain_module
from labkit import fastmine
from labkit.block import Block
from labkit.chain import Chain, mine_block
from labkit.course import cases, saved
from labkit.course.exercises import STRICT_ENV, Exercises, Status
from labkit.course.feedback import differences, uses_answer
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.tokens import Payload, format_timestamp


@pytest.fixture(autouse=True)
def lenient(monkeypatch, tmp_path):
    monkeypatch.delenv(STRICT_ENV, raising=False)
    monkeypatch.setenv(saved.MINE_ENV, str(tmp_path / "mine"))


# --- make_block (02), checked on labkit's mine_block ------------------------------------------------


@pytest.fixture(scope="module")
def room():
    network = demo_network()
    alice, bob, _ = demo_wallets()
    chain = Chain(network)
    for contract, when in zip(seed_contracts()[:2], demo_timestamps(2)):
        chain.mine(alice, contract, timestamp=when)
    when = demo_timestamps(3)[2]
    args = (network, bob, seed_contracts()[2], chain[1], when)
    return args, mine_block(network, bob, seed_contracts()[2], parent=chain[1], timestamp=when)


def made(network, wallet, contract, parent, when, *, index_step=1, timestamp=None, sign=True):
    template = Payload(prev_hash=parent.hash, timestamp=timestamp or format_timestamp(when),
                       transaction_data=contract, index=parent.index + index_step,
                       difficulty=network.difficulty, signer=wallet.address)
    token = fastmine.mine(template, network.secret, network.difficulty).token
    return Block.create(token, wallet) if sign else token


def honest_make_block(network, wallet, contract, parent, when):
    return made(network, wallet, contract, parent, when)


def labkits_make_block(network, wallet, contract, parent, when):
    return mine_block(network, wallet, contract, parent=parent, timestamp=when)


def through_the_module(network, wallet, contract, parent, when):
    return chain_module.mine_block(network, wallet, contract, parent=parent, timestamp=when)


def _helper(network, wallet, contract, parent, when):
    return mine_block(network, wallet, contract, parent=parent, timestamp=when)


def through_a_helper(network, wallet, contract, parent, when):
    return _helper(network, wallet, contract, parent, when)


def check_make_block(function, room):
    args, expected = room
    return Exercises("02-jwt-blocks", total=4).check("make_block", function, [(args, expected)], answer=mine_block)


def test_the_work_itself_passes(room):
    assert check_make_block(honest_make_block, room).passed


@pytest.mark.parametrize("function, through", [(labkits_make_block, "mine_block"),
                                               (through_the_module, "chain_module.mine_block"),
                                               (through_a_helper, "mine_block")])
def test_calling_labkits_answer_is_reported_not_passed(function, through, room):
    result = check_make_block(function, room)
    assert result.status is Status.FAILED and not result.passed
    assert result.borrowed == through
    assert "uses labkit's answer" in repr(result) and f"it calls {through}" in repr(result)
    assert result.detail == f"uses labkit's answer: it calls {through}"


def test_strict_mode_refuses_labkits_answer(room, monkeypatch):
    from labkit.errors import ExerciseFailed

    monkeypatch.setenv(STRICT_ENV, "1")
    with pytest.raises(ExerciseFailed, match="uses labkit's answer"):
        check_make_block(labkits_make_block, room)


def test_an_off_by_one_index_names_the_index_claim(room):
    result = check_make_block(lambda *a: made(*a, index_step=2), room)
    assert result.status is Status.FAILED
    assert result.differs[0] == "claim index: expected 2, got 3"
    assert "differs: claim index: expected 2, got 3" in repr(result)
    assert "claim index: expected 2, got 3" in result.detail


def test_a_datetime_for_the_timestamp_names_the_timestamp_claim(room):
    args, _ = room
    result = check_make_block(lambda *a: made(*a, timestamp=str(args[4])), room)
    assert any(d.startswith("claim timestamp: expected '2") for d in result.differs), result.differs


def test_an_unsigned_token_says_a_block_was_expected(room):
    result = check_make_block(lambda *a: made(*a, sign=False), room)
    assert result.differs[0] == "expected a Block, got a str"


def test_the_wrong_signer_names_the_signer(room):
    args, expected = room
    alice = demo_wallets()[0]
    result = check_make_block(lambda n, w, c, p, t: made(n, alice, c, p, t), room)
    assert any(d.startswith("claim signer:") for d in result.differs)
    assert any(d.startswith("signer: expected") for d in result.differs)


# --- check_against: the reference is labkit's answer --------------------------------------------------


def fork_choice_by_reference(blocks):
    return cases.fork_choice_reference(blocks)


def fork_choice_larger_hash(blocks):
    parents = {parent for parent, _ in blocks.values()}

    def total(h):
        parent, work = blocks[h]
        return work + (total(parent) if parent is not None else 0)

    return max((h for h in blocks if h not in parents), key=lambda h: (total(h), h))


def fork_choice_longest(blocks):
    parents = {parent for parent, _ in blocks.values()}

    def length(h):
        parent, _ = blocks[h]
        return 1 + (length(parent) if parent is not None else 0)

    return max((h for h in blocks if h not in parents), key=lambda h: (length(h), h))


def test_check_against_reports_a_function_that_calls_the_reference():
    result = Exercises("07", total=3).check_against("fork_choice", fork_choice_by_reference,
                                                     cases.fork_choice_reference, cases.fork_choice_cases())
    assert not result.passed and result.borrowed == "cases.fork_choice_reference"
    assert result.cases == 0  # not run: the verdict is about whose work it is


def test_a_wrong_tie_break_says_the_tips_tie_at_equal_work():
    tie = {"aa": (None, 16), "bb": ("aa", 256), "cc": ("aa", 256)}
    result = Exercises("07", total=3).check_against("fork_choice", fork_choice_larger_hash,
                                                     cases.fork_choice_reference, [(tie,)])
    assert result.status is Status.FAILED
    assert result.differs == ("the tips bb and cc tie at equal total work (272 each): a tie goes to the smaller hash",)


def test_counting_blocks_instead_of_work_names_both_totals():
    heavier = {"aa": (None, 16), "bb": ("aa", 256), "cc": ("aa", 16), "dd": ("cc", 16)}
    result = Exercises("07", total=3).check_against("fork_choice", fork_choice_longest,
                                                     cases.fork_choice_reference, [(heavier,)])
    assert result.differs == ("tip bb has total work 272; tip dd has 48",)


def test_a_tip_that_is_a_parent_is_named():
    def first_block(blocks):
        return next(h for h, (parent, _) in blocks.items() if parent is None)

    chain_of_two = {"aa": (None, 16), "bb": ("aa", 16)}
    result = Exercises("07", total=3).check_against("fork_choice", first_block,
                                                     cases.fork_choice_reference, [(chain_of_two,)])
    assert result.differs[0].startswith("aa is not a tip")


# --- check: the case number, blocks shown by index, the fact that matters -------------------------------


def test_a_failing_case_is_numbered_and_blocks_are_shown_by_index(small_blocks, net1):
    def is_valid_chain(blocks, network):
        return True

    tampered = [small_blocks[1], *small_blocks[1:]]
    result = Exercises("04", total=4).check("is_valid_chain", is_valid_chain,
                                             [((list(small_blocks), net1), True), ((tampered, net1), False)])
    assert result.case == "case 2 of 2" and result.call.startswith("is_valid_chain([")
    assert "for case 2 of 2, is_valid_chain([" in repr(result)
    assert f"[{len(tampered)} blocks, indexes 1, 1," in result.call
    assert "Block(token=" not in repr(result)


def test_dissenters_on_a_tie_says_there_is_no_majority():
    def majority_only(digests):
        from collections import Counter

        common = Counter(digests.values()).most_common(1)[0][0]
        return sorted(n for n, d in digests.items() if d != common)

    result = Exercises("07", total=3).check("dissenters", majority_only,
                                             [({"a": "1", "b": "1", "c": "2", "d": "2"}, ["a", "b", "c", "d"])])
    assert result.differs == ("two digests tie at 2 peers each: with no majority, every peer is listed",)


def test_rewrite_attempts_names_the_blocks_and_their_total():
    def edited_block_only(difficulties, position):
        return 16 ** difficulties[position]

    result = Exercises("04", total=4).check("rewrite_attempts", edited_block_only, [(([1, 3, 2], 0), 4368)])
    assert result.differs == ("3 blocks are re-mined (block 0 and the 2 after it), at difficulties [1, 3, 2]: "
                              "16 + 4,096 + 256 attempts on average",)


def test_a_differing_dataclass_names_its_fields():
    @dataclasses.dataclass
    class Pair:
        left: int
        right: int

    assert differences(Pair(1, 2), Pair(1, 3)) == ["field right: expected 2, got 3"]
    assert differences(3, 4) == []


def test_code_names_reads_globals_and_attributes():
    globals_read, attributes = saved.code_names(through_the_module.__code__)
    assert "chain_module" in globals_read and "mine_block" in attributes
    assert uses_answer(honest_make_block, [mine_block]) == ""


# --- every exercise checked against labkit's answer refuses that answer -------------------------------

from labkit.course.registry import EXERCISES  # noqa: E402


def borrowing(reference, name):
    """A learner's function, defined as a notebook defines it, that returns labkit's answer."""
    scope = {"reference_from_labkit": reference}
    exec(f"def {name}(*args):\n    return reference_from_labkit(*args)\n", scope)  # globals, as in a notebook
    return scope[name]


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.reference], ids=lambda e: e.name)
def test_every_reference_checked_exercise_reports_labkits_own_answer(exercise):
    reference = exercise.reference_function()
    result = Exercises(exercise.notebook, total=1).check_against(
        exercise.name, borrowing(reference, exercise.name), reference, [()])
    assert result.status is Status.FAILED and result.borrowed == "reference_from_labkit"
    assert repr(result).splitlines()[0].endswith(f"{exercise.name}: uses labkit's answer")
