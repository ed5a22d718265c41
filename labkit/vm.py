"""The contract VM: ``OISC`` applies a contract's actions to the shared state.

The seed named its VM ``OISC``, after the *one-instruction set computer*.
The name fits in one sense: this machine has a single instruction, "apply
an action", and what the action does is looked up in a table of operations
(``labkit.operations.OPERATIONS``), the way Bitcoin's script interpreter
looks up opcodes. The seed's unused memory and registers are gone; the
state is four tables: students, courses, proposals and NFTs, and two more
once a block mints the classroom token: balances and rewards.

Executing a contract is one pure function, ``execute(state, contract,
context)``: it returns the new state, or raises ContractError (the refusal)
and the state it was given is untouched. Every action runs on staged copies
of the tables, so a contract applies atomically: all of it or nothing.
Peers, the chain and the block tree call ``execute``; ``OISC`` is the same
function with a state of its own, for notebook 06's experiments.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from .encoding import dumps_canonical
from .errors import ContractError
from .operations import OPERATIONS, Context, Operation, empty_state

__all__ = ["OISC", "State", "execute", "check_contract", "state_digest"]

MAX_ACTIONS = 100

State = dict  # {"students": {...}, "courses": {...}, "proposals": {...}, "nfts": {...}, "balances"?, "rewards"?}


def state_digest(state: dict) -> str:
    """sha256 of the canonical JSON of the state: equal states, equal digests."""
    return hashlib.sha256(dumps_canonical(state)).hexdigest()


def check_contract(contract: Any) -> list[dict]:
    """Return the contract's actions, or raise ContractError if it is not shaped like one."""
    if not isinstance(contract, dict):
        raise ContractError("a contract is a JSON object {'actions': [...]}")
    extra = set(contract) - {"actions"}
    if extra:
        raise ContractError(f"unknown contract field(s) {', '.join(sorted(map(repr, extra)))}")
    actions = contract.get("actions")
    if not isinstance(actions, list) or not actions:
        raise ContractError("a contract needs a non-empty list of 'actions'")
    if len(actions) > MAX_ACTIONS:
        raise ContractError(f"a contract may hold at most {MAX_ACTIONS} actions, not {len(actions)}")
    return actions


def _run(staged: dict, instruction: Any, context: Context, operations: dict[str, Operation],
         position: int | None) -> None:
    name = instruction.get("action") if isinstance(instruction, dict) else None
    try:
        if not isinstance(instruction, dict):
            raise ContractError("an action is a JSON object with an 'action' field")
        if not isinstance(name, str):
            raise ContractError("the 'action' field must be a string")
        operation = operations.get(name)
        if operation is None:
            raise ContractError(f"unknown action {name!r}; known: {', '.join(sorted(operations))}")
        operation(staged, instruction, context)
    except ContractError as exc:
        raise ContractError(exc.reason, action_index=position,
                            action=name if isinstance(name, str) else None) from None


def execute(state: State, contract: Any, context: Context,
            operations: dict[str, Operation] | None = None) -> State:
    """The state after ``contract`` runs on ``state``; raises ContractError and changes nothing.

    ``contract`` is ``{"actions": [...]}`` (or, as the seed wrote, a bare list
    of actions). Operations store new records instead of editing old ones, so
    shallow copies of the tables are enough to stage the contract.
    """
    actions = contract if isinstance(contract, list) else check_contract(contract)
    operations = OPERATIONS if operations is None else operations
    staged = {table: dict(records) for table, records in state.items()}
    for position, instruction in enumerate(actions):
        _run(staged, instruction, context, operations, position)
    return staged


class OISC:
    """The contract VM: state, a table of operations, and atomic execution."""

    def __init__(self, operations: dict[str, Operation] | None = None):
        self.state: dict[str, dict[str, dict]] = empty_state()
        self.operations: dict[str, Operation] = dict(OPERATIONS if operations is None else operations)

    def register_operation(self, action_name: str, function: Operation) -> None:
        """Add (or replace) the function that runs ``action_name``."""
        self.operations[action_name] = function

    def execute(self, instruction: dict, context: Context | None = None) -> None:
        """Apply one action atomically."""
        staged = {table: dict(records) for table, records in self.state.items()}
        _run(staged, instruction, context or Context(signer=""), self.operations, None)
        self.state = staged

    def execute_smart_contract(self, contract: dict | list, context: Context | None = None) -> None:
        """Apply a contract (or, as in the seed, a bare list of actions): all or nothing."""
        self.state = execute(self.state, contract, context or Context(signer=""), self.operations)

    def digest(self) -> str:
        return state_digest(self.state)

    def snapshot(self) -> dict:
        """A deep copy of the state, safe to keep while the VM goes on."""
        return copy.deepcopy(self.state)

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self.state.items())
        return f"OISC({counts}, digest={self.digest()[:12]}…)"
