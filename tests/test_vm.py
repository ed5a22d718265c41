"""labkit.vm: the OISC contract VM, atomic contracts and the state digest."""

from __future__ import annotations

import copy
import hashlib

import pytest

from labkit.encoding import dumps_canonical
from labkit.errors import ContractError
from labkit.operations import Context
from labkit.vm import MAX_ACTIONS, OISC, check_contract, state_digest

ALICE = Context(signer="a" * 64, index=0)
BOB = Context(signer="b" * 64, index=1)


def student(sid, name="Ada"):
    return {"action": "register_student", "student": {"id": sid, "name": name, "department": "CS"}}


def vote(pid, description="More funding"):
    return {"action": "vote_proposal", "proposal": {"id": pid, "description": description}}


def refused(vm: OISC, contract, context=ALICE) -> ContractError:
    """Run a contract that must fail; check that the state is exactly as it was."""
    digest, snapshot = vm.digest(), vm.snapshot()
    with pytest.raises(ContractError) as info:
        vm.execute_smart_contract(contract, context)
    assert vm.digest() == digest and vm.state == snapshot
    return info.value


@pytest.fixture
def vm(contracts):
    machine = OISC()
    for contract in contracts:
        machine.execute_smart_contract(contract, ALICE)
    return machine


# --- the seed's scenario ----------------------------------------------------------------------------


def test_seed_contracts_give_the_seed_state(vm):
    assert vm.state["students"] == {"S001": {"id": "S001", "name": "John Doe", "department": "Computer Science"}}
    assert vm.state["courses"] == {"C001": {"id": "C001", "name": "Blockchain Technology",
                                            "department": "Computer Science"}}
    assert vm.state["proposals"] == {"P001": {"id": "P001", "description": "Increase Research Funding",
                                              "votes": 1, "voters": [ALICE.signer]}}
    nft = vm.state["nfts"]["NFT001"]
    assert nft["owner"] == ALICE.signer and nft["metadata"]["artist"] == "Alice"


def test_seed_style_bare_list_of_actions(contracts):
    machine = OISC()
    for contract in contracts:
        machine.execute_smart_contract(contract["actions"], ALICE)  # the seed passed contract['actions']
    assert set(machine.state["students"]) == {"S001"}


def test_execute_one_action():
    machine = OISC()
    machine.execute(student("S1"))
    assert machine.state["students"]["S1"]["name"] == "Ada"
    digest = machine.digest()
    with pytest.raises(ContractError) as info:
        machine.execute(student("S1"))
    assert info.value.action_index is None and info.value.action == "register_student"
    assert machine.digest() == digest


def test_register_operation():
    machine = OISC()

    def add_grade(state, instruction, context):
        state["students"] = {**state["students"], instruction["id"]: {"id": instruction["id"], "grade": "A"}}

    machine.register_operation("add_grade", add_grade)
    machine.execute_smart_contract({"actions": [{"action": "add_grade", "id": "S9"}]})
    assert machine.state["students"]["S9"]["grade"] == "A"
    assert "add_grade" not in OISC().operations  # registering changes only this VM


def test_repr_and_snapshot(vm):
    assert "students=1" in repr(vm) and vm.digest()[:12] in repr(vm)
    snapshot = vm.snapshot()
    snapshot["students"].clear()
    assert vm.state["students"]


# --- atomic contracts ---------------------------------------------------------------------------


def test_second_action_failing_leaves_the_state_unchanged(vm):
    error = refused(vm, {"actions": [student("S002"), {"action": "fly"}, student("S003")]})
    assert (error.action_index, error.action) == (1, "fly")
    assert "S002" not in vm.state["students"]


def test_duplicate_within_one_contract(vm):
    error = refused(vm, {"actions": [student("S7"), student("S7", "Eve")]})
    assert error.action_index == 1 and "student id 'S7' already exists" in error.reason


@pytest.mark.parametrize("table, instruction", [
    ("student", student("S001")),
    ("course", {"action": "add_course", "course": {"id": "C001", "name": "x", "department": "y"}}),
    ("NFT", {"action": "generate_nft", "nft": {"id": "NFT001", "name": "copy"}}),
])
def test_duplicate_ids_across_contracts(vm, table, instruction):
    error = refused(vm, {"actions": [instruction]}, BOB)
    assert f"{table} id" in error.reason and "already exists" in error.reason


def test_double_vote_by_the_same_signer(vm):
    error = refused(vm, {"actions": [vote("P001", "Increase Research Funding")]}, ALICE)
    assert "already voted" in error.reason
    vm.execute_smart_contract({"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]}, BOB)
    assert vm.state["proposals"]["P001"]["votes"] == 2
    assert vm.state["proposals"]["P001"]["voters"] == [ALICE.signer, BOB.signer]


def test_double_vote_within_one_contract():
    machine = OISC()
    error = refused(machine, {"actions": [vote("P2"), vote("P2")]}, BOB)
    assert error.action_index == 1 and "already voted on proposal 'P2'" in error.reason
    assert machine.state["proposals"] == {}


def test_nft_owner_is_the_signer():
    machine = OISC()
    machine.execute_smart_contract({"actions": [{"action": "generate_nft", "nft": {"id": "N", "name": "n"}}]}, BOB)
    assert machine.state["nfts"]["N"]["owner"] == BOB.signer


@pytest.mark.parametrize("contract, words", [
    ({"actions": [{"action": "fly"}]}, "unknown action 'fly'; known: add_course, generate_nft"),
    ({"actions": [{"student": {}}]}, "the 'action' field must be a string"),
    ({"actions": [{"action": 3}]}, "the 'action' field must be a string"),
    ({"actions": ["register_student"]}, "an action is a JSON object"),
    ({"actions": [{"action": "register_student"}]}, "needs a 'student' object"),
    ({"actions": [{"action": "register_student", "student": {"id": "S1", "name": 7, "department": "x"}}]},
     "student.name must be a non-empty string"),
    ({"actions": []}, "non-empty list of 'actions'"),
    ({"actions": {"action": "register_student"}}, "non-empty list of 'actions'"),
    ({}, "non-empty list of 'actions'"),
    ({"actions": [student("S1")], "gas": 5}, "unknown contract field(s) 'gas'"),
    ("register_student", "a contract is a JSON object"),
    ({"actions": [student(f"S{i}") for i in range(MAX_ACTIONS + 1)]}, f"at most {MAX_ACTIONS} actions"),
])
def test_bad_contracts(vm, contract, words):
    assert words in refused(vm, contract).reason


def test_contract_error_names_the_action():
    error = ContractError("bad", action_index=2, action="vote_proposal")
    assert str(error) == "action 2 (vote_proposal): bad"
    assert isinstance(error, ValueError)


def test_check_contract_returns_the_actions():
    assert check_contract({"actions": [student("S1")]}) == [student("S1")]


def test_largest_contract_applies():
    machine = OISC()
    machine.execute_smart_contract({"actions": [student(f"S{i}") for i in range(MAX_ACTIONS)]})
    assert len(machine.state["students"]) == MAX_ACTIONS


# --- the digest ---------------------------------------------------------------------------------


def test_digest_is_sha256_of_canonical_json(vm):
    assert vm.digest() == state_digest(vm.state) == hashlib.sha256(dumps_canonical(vm.state)).hexdigest()


def test_digest_ignores_insertion_order():
    one, two = OISC(), OISC()
    one.execute_smart_contract({"actions": [student("S1"), student("S2")]})
    two.execute_smart_contract({"actions": [student("S2"), student("S1")]})
    assert one.digest() == two.digest()


def test_digest_changes_with_the_state(vm):
    before = vm.digest()
    vm.execute_smart_contract({"actions": [student("S9")]})
    assert vm.digest() != before


def test_empty_state_digest_is_fixed():
    expected = hashlib.sha256(b'{"courses":{},"nfts":{},"proposals":{},"students":{}}').hexdigest()
    assert OISC().digest() == expected


def test_contract_input_is_not_kept_by_reference():
    machine = OISC()
    contract = {"actions": [student("S1")]}
    machine.execute_smart_contract(contract)
    digest = machine.digest()
    contract["actions"][0]["student"]["name"] = "changed"
    assert machine.digest() == digest
    assert copy.deepcopy(machine.state) == machine.state


# --- the classroom token in contracts ---------------------------------------------------------------


def pay(to, amount):
    return {"action": "transfer", "transfer": {"to": to, "amount": amount}}


def test_mint_then_spend_in_one_contract(vm):
    vm.execute_smart_contract({"actions": [{"action": "mint"}, pay("S001", 30)]}, BOB)
    assert {a: b["balance"] for a, b in vm.state["balances"].items()} == {BOB.signer: 20, "S001": 30}


def test_spending_the_same_tokens_twice_applies_nothing(vm):
    vm.execute_smart_contract({"actions": [{"action": "mint"}]}, BOB)
    error = refused(vm, {"actions": [pay("S001", 30), pay(ALICE.signer, 30)]}, Context(BOB.signer, index=2))
    assert (error.action_index, error.action) == (1, "transfer") and "double spend" in error.reason
    assert vm.state["balances"] == {BOB.signer: {"account": BOB.signer, "balance": 50}}


def test_a_refused_contract_does_not_keep_its_reward(vm):
    # the miner's reward rides in the same contract as the rest: a refused block pays nothing
    error = refused(vm, {"actions": [{"action": "mint"}, student("S001")]}, BOB)
    assert error.action_index == 1
    assert "balances" not in vm.state and "rewards" not in vm.state


def test_two_mints_in_one_contract_refused():
    machine = OISC()
    error = refused(machine, {"actions": [{"action": "mint"}, {"action": "mint"}]}, BOB)
    assert error.action_index == 1 and "block 1 has already paid its reward" in error.reason


def test_digest_covers_balances():
    one, two = OISC(), OISC()
    one.execute_smart_contract({"actions": [{"action": "mint"}, pay(ALICE.signer, 1)]}, BOB)
    two.execute_smart_contract({"actions": [{"action": "mint"}, pay(ALICE.signer, 2)]}, BOB)
    assert one.state["rewards"] == two.state["rewards"]
    assert one.digest() != two.digest()
