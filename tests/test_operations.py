"""labkit.operations: the contract operations (the seed's four and the token's two), called directly on a state."""

from __future__ import annotations

import copy

import pytest

from labkit.errors import ContractError
from labkit.operations import FIELDS, MAX_AMOUNT, OPERATIONS, REWARD, Context, balance_of, empty_state
from labkit.vm import state_digest

ALICE = Context(signer="a" * 64, index=0)
BOB = Context(signer="b" * 64, index=1)

STUDENT = {"action": "register_student", "student": {"id": "S001", "name": "John Doe", "department": "CS"}}
COURSE = {"action": "add_course", "course": {"id": "C001", "name": "Blockchain", "department": "CS"}}
VOTE = {"action": "vote_proposal", "proposal": {"id": "P001", "description": "More funding"}}
NFT = {"action": "generate_nft", "nft": {"id": "NFT001", "name": "RareArt",
                                         "metadata": {"artist": "Alice", "tags": ["rare", 1, 2.5, True, None]}}}


def run(state, instruction, context=ALICE):
    OPERATIONS[instruction["action"]](state, instruction, context)


def refused(state, instruction, context=ALICE) -> ContractError:
    before = copy.deepcopy(state)
    with pytest.raises(ContractError) as info:
        run(state, instruction, context)
    assert state == before  # an operation checks before it changes anything
    return info.value


def test_dispatch_table_has_the_seeds_four_actions_and_the_tokens_two():
    assert set(FIELDS) == {"register_student", "add_course", "vote_proposal", "generate_nft"}
    assert set(OPERATIONS) == set(FIELDS) | {"mint", "transfer"}
    assert empty_state() == {"students": {}, "courses": {}, "proposals": {}, "nfts": {}}


def test_register_student_and_add_course():
    state = empty_state()
    run(state, STUDENT)
    run(state, COURSE)
    assert state["students"] == {"S001": STUDENT["student"]}
    assert state["courses"] == {"C001": COURSE["course"]}
    assert state["students"]["S001"] is not STUDENT["student"]  # stored as a copy


def test_votes_count_once_per_signer_and_record_voters():
    state = empty_state()
    run(state, VOTE, ALICE)
    run(state, {"action": "vote_proposal", "proposal": {"id": "P001"}}, BOB)
    assert state["proposals"]["P001"] == {"id": "P001", "description": "More funding", "votes": 2,
                                          "voters": [ALICE.signer, BOB.signer]}
    error = refused(state, VOTE, ALICE)
    assert "already voted on proposal 'P001'" in error.reason


def test_a_vote_never_edits_the_stored_record():
    state = empty_state()
    run(state, VOTE, ALICE)
    first = state["proposals"]["P001"]
    run(state, VOTE, BOB)
    assert first == {"id": "P001", "description": "More funding", "votes": 1, "voters": [ALICE.signer]}


def test_new_proposal_needs_a_description():
    error = refused(empty_state(), {"action": "vote_proposal", "proposal": {"id": "P9"}})
    assert "is new and needs a 'description'" in error.reason


def test_vote_with_another_description_refused():
    state = empty_state()
    run(state, VOTE, ALICE)
    error = refused(state, {"action": "vote_proposal", "proposal": {"id": "P001", "description": "Less"}}, BOB)
    assert "description does not match" in error.reason


def test_nft_owner_is_the_signer_and_metadata_is_copied():
    state = empty_state()
    instruction = copy.deepcopy(NFT)
    run(state, instruction, BOB)
    assert state["nfts"]["NFT001"]["owner"] == BOB.signer
    instruction["nft"]["metadata"]["tags"].append("changed later")
    assert state["nfts"]["NFT001"]["metadata"] == NFT["nft"]["metadata"]


def test_nft_without_metadata():
    state = empty_state()
    run(state, {"action": "generate_nft", "nft": {"id": "N", "name": "Plain"}})
    assert state["nfts"]["N"] == {"id": "N", "name": "Plain", "metadata": {}, "owner": ALICE.signer}


@pytest.mark.parametrize("instruction, table", [
    (STUDENT, "student"), (COURSE, "course"), (NFT, "NFT"),
])
def test_duplicate_ids_refused(instruction, table):
    state = empty_state()
    run(state, instruction)
    error = refused(state, instruction, BOB)
    assert error.reason.startswith(f"{table} id ") and "already exists" in error.reason


# --- malformed instructions ---------------------------------------------------------------------------


def with_record(instruction, **changes):
    out = copy.deepcopy(instruction)
    key = FIELDS[instruction["action"]][0]
    for name, value in changes.items():
        if value is ...:
            del out[key][name]
        else:
            out[key][name] = value
    return out


@pytest.mark.parametrize("instruction, words", [
    ({"action": "register_student"}, "needs a 'student' object"),
    ({"action": "register_student", "student": ["S001"]}, "needs a 'student' object"),
    ({**STUDENT, "extra": 1}, "unexpected field(s) 'extra'"),
    (with_record(STUDENT, id=...), "student is missing 'id'"),
    (with_record(STUDENT, department=...), "student is missing 'department'"),
    (with_record(STUDENT, id=1), "student.id must be a non-empty string"),
    (with_record(STUDENT, name=""), "student.name must be a non-empty string"),
    (with_record(STUDENT, name="   "), "student.name must be a non-empty string"),
    (with_record(STUDENT, name=None), "student.name must be a non-empty string"),
    (with_record(STUDENT, email="x@y"), "student has unknown field(s) 'email'"),
    (with_record(STUDENT, id="S" * 65), "student.id is too long (65 characters)"),
    (with_record(STUDENT, name="n" * 501), "student.name is too long (501 characters)"),
    (with_record(COURSE, name=["Blockchain"]), "course.name must be a non-empty string"),
    (with_record(VOTE, description=3), "proposal.description must be a non-empty string"),
    (with_record(VOTE, votes=100), "proposal has unknown field(s) 'votes'"),
    (with_record(NFT, owner="b" * 64), "nft has unknown field(s) 'owner'"),
    (with_record(NFT, metadata="rare"), "nft.metadata must be an object"),
    (with_record(NFT, metadata={"a": {"b": {"c": {"d": {"e": {}}}}}}), "nested too deeply"),
    (with_record(NFT, metadata={"when": object()}), "unsupported value"),
    (with_record(NFT, metadata={"x": float("nan")}), "not a finite number"),
    (with_record(NFT, metadata={"x": [float("inf")]}), "not a finite number"),
    (with_record(NFT, metadata={1: "one"}), "keys must be strings"),
])
def test_malformed_instructions_refused(instruction, words):
    assert words in refused(empty_state(), instruction).reason


def test_every_stored_state_has_a_digest():
    state = empty_state()
    for instruction in (STUDENT, COURSE, VOTE, NFT):
        run(state, instruction)
    assert len(state_digest(state)) == 64


# --- look-alike ids (labkit.names) --------------------------------------------------------------

LOOK_ALIKES = {
    "zero-width space": "P1\u200b",
    "right-to-left override": "P\u202e1",
    "left-to-right isolate (Unicode 6.3)": "P\u20661",
    "escape sequence": "P1\x1b[31m",
    "trailing space": "P1 ",
    "byte order mark": "\ufeffP1",
    "private use": "P\ue0001",
    "noncharacter": "P1\ufdd0",
    "tag character": "P1\U000e0041",
}


@pytest.mark.parametrize("name", LOOK_ALIKES)
def test_hidden_characters_in_an_id_are_refused(name):
    state = empty_state()
    vote = {"action": "vote_proposal", "proposal": {"id": LOOK_ALIKES[name], "description": "More labs"}}
    with pytest.raises(ContractError) as info:
        OPERATIONS["vote_proposal"](state, vote, Context("a" * 64))
    assert "proposal.id" in str(info.value)
    assert state == empty_state()


def test_two_spellings_of_one_id_are_one_id():
    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    state = empty_state()
    student = {"action": "register_student", "student": {"id": composed, "name": "A", "department": "CS"}}
    OPERATIONS["register_student"](state, student, Context("a" * 64))
    again = {"action": "register_student", "student": {"id": decomposed, "name": "B", "department": "CS"}}
    with pytest.raises(ContractError, match="already exists"):
        OPERATIONS["register_student"](state, again, Context("a" * 64))
    assert list(state["students"]) == [composed]


@pytest.mark.parametrize("look_alike", ["\uff33\uff10\uff10\uff11", "S00\u00b9", "\uff33001"])
def test_a_look_alike_of_a_registered_id_is_that_id(look_alike):
    state = empty_state()
    OPERATIONS["register_student"](state, STUDENT, Context("a" * 64))
    again = {"action": "register_student", "student": {"id": look_alike, "name": "Mallory", "department": "CS"}}
    with pytest.raises(ContractError, match="student id 'S001' already exists"):
        OPERATIONS["register_student"](state, again, Context("a" * 64))
    assert list(state["students"]) == ["S001"]


def test_names_may_hold_letters_of_any_script_and_emoji():
    state = empty_state()
    nft = {"action": "generate_nft", "nft": {"id": "N\u00ba1", "name": "Ракета 🚀 火箭"}}
    OPERATIONS["generate_nft"](state, nft, Context("a" * 64))
    # the name as written (NFC); the id in its compatibility form (NFKC: the ordinal º is an o)
    assert state["nfts"]["No1"]["name"] == "Ракета 🚀 火箭" and state["nfts"]["No1"]["id"] == "No1"


# --- the classroom token: mint (the block reward) and transfer ----------------------------------------

MINT = {"action": "mint"}


def pay(to, amount):
    return {"action": "transfer", "transfer": {"to": to, "amount": amount}}


def test_mint_pays_the_blocks_author_the_reward_once_per_block():
    state = empty_state()
    run(state, MINT, ALICE)
    assert balance_of(state, ALICE.signer) == REWARD
    assert state["rewards"] == {"0": {"block": 0, "miner": ALICE.signer, "amount": REWARD}}
    error = refused(state, MINT, Context(signer=BOB.signer, index=0))  # another author, same block
    assert "block 0 has already paid its reward" in error.reason
    run(state, MINT, BOB)  # block 1
    assert balance_of(state, BOB.signer) == REWARD and balance_of(state, ALICE.signer) == REWARD


def test_a_state_without_the_token_has_no_token_tables():
    # so a chain that never mints keeps the state (and digest) it had before the token existed
    state = empty_state()
    run(state, STUDENT)
    assert set(state) == {"students", "courses", "proposals", "nfts"}
    assert balance_of(state, ALICE.signer) == 0


@pytest.mark.parametrize("instruction, context, words", [
    ({"action": "mint", "amount": 1_000_000}, ALICE, "mint takes no field(s), not 'amount'"),
    (MINT, Context(signer=""), "this block names none"),
])
def test_mint_refusals(instruction, context, words):
    assert words in refused(empty_state(), instruction, context).reason


def test_transfer_moves_tokens_to_a_student_or_an_address():
    state = empty_state()
    run(state, STUDENT)
    run(state, MINT, ALICE)
    first = state["balances"][ALICE.signer]
    run(state, pay("S001", 20), ALICE)
    run(state, pay(BOB.signer, 5), ALICE)
    assert {a: b["balance"] for a, b in state["balances"].items()} == {ALICE.signer: 25, "S001": 20, BOB.signer: 5}
    assert first == {"account": ALICE.signer, "balance": REWARD}  # a new record, the old one untouched
    run(state, pay("S001", 5), BOB)  # bob spends what he received
    assert balance_of(state, "S001") == 25 and balance_of(state, BOB.signer) == 0


def test_a_double_spend_is_refused():
    state = empty_state()
    run(state, STUDENT)
    run(state, MINT, ALICE)
    run(state, pay("S001", 40), ALICE)
    error = refused(state, pay("S001", 40), ALICE)  # the same 40 again: alice holds only 10
    assert "holds 10 tokens and cannot send 40" in error.reason and "double spend" in error.reason
    error = refused(state, pay(ALICE.signer, 1), BOB)  # bob never held any
    assert "holds 0 tokens and cannot send 1" in error.reason


@pytest.mark.parametrize("instruction, words", [
    ({"action": "transfer"}, "needs a 'transfer' object"),
    ({"action": "transfer", "transfer": [1]}, "needs a 'transfer' object"),
    ({**pay("S001", 1), "fee": 1}, "unexpected field(s) 'fee'"),
    ({"action": "transfer", "transfer": {"to": "S001", "amount": 1, "from": "b" * 64}},
     "transfer has unknown field(s) 'from'; tokens always leave the block's author"),
    ({"action": "transfer", "transfer": {"amount": 1}}, "transfer is missing 'to'"),
    ({"action": "transfer", "transfer": {"to": "S001"}}, "transfer is missing 'amount'"),
    (pay("S001", 0), "from 1 to 1,000,000,000, not 0"),
    (pay("S001", -5), "from 1 to 1,000,000,000, not -5"),
    (pay("S001", MAX_AMOUNT + 1), "not 1,000,000,001"),
    (pay("S001", 1.5), "a whole number of tokens, not 1.5"),
    (pay("S001", True), "a whole number of tokens, not True"),
    (pay("S001", "10"), "a whole number of tokens, not '10'"),
    (pay("S999", 1), "'S999' is neither a registered student nor an address"),
    (pay("B" * 64, 1), "is neither a registered student nor an address"),
    (pay("S001\u200b", 1), "transfer.to"),
    (pay(ALICE.signer, 1), "a transfer to the block's own author moves nothing"),
])
def test_malformed_transfers_refused(instruction, words):
    state = empty_state()
    run(state, STUDENT)
    run(state, MINT, ALICE)
    assert words in refused(state, instruction).reason


def test_transfer_from_a_block_without_author_refused():
    state = empty_state()
    run(state, STUDENT)
    assert "this block names none" in refused(state, pay("S001", 1), Context(signer="")).reason
