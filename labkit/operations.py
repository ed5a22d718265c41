"""The contract operations, as a dispatch table from action name to function.

The seed's four operations keep records (students, courses, proposals,
NFTs); two more run a classroom token: ``mint`` is the block reward and
``transfer`` moves tokens from the block's author to someone else.

Each operation is a small function ``op(state, instruction, context)`` that
checks its instruction and then changes ``state``. It raises ContractError
before changing anything it has not checked, and it never mutates a record
in place: it stores a new one, so the VM can stage a contract on shallow
copies of the tables and apply it all at once (see labkit.vm).

Ids, names, departments and descriptions are checked and normalised by
``labkit.names`` (nothing invisible; names in NFC, ids and transfer
recipients in NFKC), so two look-alike spellings ("S001", the fullwidth
"Ｓ００１") are one id.

Instructions (the seed's wire format for its four, then the token's two)::

    {"action": "register_student", "student":  {"id", "name", "department"}}
    {"action": "add_course",       "course":   {"id", "name", "department"}}
    {"action": "vote_proposal",    "proposal": {"id", "description"}}
    {"action": "generate_nft",     "nft":      {"id", "name", "metadata"?}}
    {"action": "mint"}
    {"action": "transfer",         "transfer": {"to", "amount"}}

The token's two tables, ``balances`` (account -> tokens) and ``rewards``
(block index -> who was paid), appear in the state with the first ``mint``:
a chain that never uses the token has the same state, and the same state
digest, as before the token existed.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ContractError
from .errors import BadText
from .names import check_id, check_text

__all__ = ["Context", "Operation", "OPERATIONS", "FIELDS", "empty_state", "REWARD", "MAX_AMOUNT", "balance_of"]

MAX_TEXT = 500  # characters in a name or description
MAX_ID = 64
REWARD = 50  # tokens a block's author earns with ``mint``: fixed by the rules, not chosen by the miner
MAX_AMOUNT = 10 ** 9  # tokens in one transfer
ADDRESS = re.compile(r"[0-9a-f]{64}")  # a member's address (labkit.wallet.address_of)


@dataclass(frozen=True)
class Context:
    """What the block around a contract tells its operations."""

    signer: str  # address of the block's author
    index: int = 0  # the block's position in the chain
    block_hash: str = ""


State = dict[str, dict[str, dict]]
Operation = Callable[[State, dict, Context], None]


def empty_state() -> State:
    return {"students": {}, "courses": {}, "proposals": {}, "nfts": {}}


# The record operations: which object each action carries, its required text fields, and optional
# fields (the contract builder widget offers these). mint and transfer check their own fields.
FIELDS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "register_student": ("student", ("id", "name", "department"), ()),
    "add_course": ("course", ("id", "name", "department"), ()),
    "vote_proposal": ("proposal", ("id",), ("description",)),
    "generate_nft": ("nft", ("id", "name"), ("metadata",)),
}


def _record(instruction: dict) -> dict:
    """Check the instruction's object against FIELDS and return it."""
    action = instruction["action"]
    key, required, optional = FIELDS[action]
    extra = set(instruction) - {"action", key}
    if extra:
        raise ContractError(f"unexpected field(s) {', '.join(sorted(map(repr, extra)))} in the instruction")
    record = instruction.get(key)
    if not isinstance(record, dict):
        raise ContractError(f"{action} needs a {key!r} object")
    unknown = set(record) - set(required) - set(optional)
    if unknown:
        raise ContractError(f"{key} has unknown field(s) {', '.join(sorted(map(repr, unknown)))}")
    for name in required:
        if name not in record:
            raise ContractError(f"{key} is missing {name!r}")
    checked = dict(record)
    for name in (*required, *optional):
        if name not in record or name == "metadata":
            continue
        try:  # no invisible or control characters (labkit.names); ids in NFKC: no look-alike ids
            if name == "id":
                checked[name] = check_id(record[name], f"{key}.{name}", max_length=MAX_ID)
            else:
                checked[name] = check_text(record[name], f"{key}.{name}", max_length=MAX_TEXT)
        except BadText as exc:
            raise ContractError(str(exc)) from None
    return checked


def _add_unique(table: dict, kind: str, record: dict) -> None:
    if record["id"] in table:
        raise ContractError(f"{kind} id {record['id']!r} already exists")
    table[record["id"]] = record


def register_student(state: State, instruction: dict, context: Context) -> None:
    student = _record(instruction)
    _add_unique(state["students"], "student", dict(student))


def add_course(state: State, instruction: dict, context: Context) -> None:
    course = _record(instruction)
    _add_unique(state["courses"], "course", dict(course))


def vote_proposal(state: State, instruction: dict, context: Context) -> None:
    """The first vote creates the proposal; each signer's vote counts once."""
    proposal = _record(instruction)
    proposals = state["proposals"]
    current = proposals.get(proposal["id"])
    if current is None:
        if "description" not in proposal:
            raise ContractError(f"proposal {proposal['id']!r} is new and needs a 'description'")
        proposals[proposal["id"]] = {"id": proposal["id"], "description": proposal["description"],
                                     "votes": 1, "voters": [context.signer]}
        return
    if context.signer in current["voters"]:
        raise ContractError(f"{context.signer[:10]}… already voted on proposal {proposal['id']!r}")
    if "description" in proposal and proposal["description"] != current["description"]:
        raise ContractError(f"description does not match proposal {proposal['id']!r}'s")
    proposals[proposal["id"]] = {**current, "votes": current["votes"] + 1,
                                 "voters": [*current["voters"], context.signer]}


def _check_metadata(value: Any, depth: int = 0) -> None:
    if depth > 4:
        raise ContractError("nft.metadata is nested too deeply")
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):  # JSON keys are strings; others break the canonical encoding
                raise ContractError(f"nft.metadata keys must be strings, not {k!r}")
            _check_metadata(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_metadata(v, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):  # JSON has no NaN or Infinity
        raise ContractError(f"nft.metadata holds {value!r}, not a finite number")
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        raise ContractError(f"nft.metadata holds an unsupported value {value!r}")


def generate_nft(state: State, instruction: dict, context: Context) -> None:
    """Mint an NFT; its owner is the block's signer."""
    nft = _record(instruction)
    metadata = nft.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ContractError("nft.metadata must be an object")
    _check_metadata(metadata)
    _add_unique(state["nfts"], "NFT", {"id": nft["id"], "name": nft["name"],
                                       "metadata": copy.deepcopy(metadata), "owner": context.signer})


# --- the classroom token ----------------------------------------------------------------------------


def balance_of(state: State, account: str) -> int:
    """Tokens held by ``account`` (an address or a student id); 0 if it never held any."""
    return state.get("balances", {}).get(account, {}).get("balance", 0)


def _credit(state: State, changes: dict[str, int]) -> None:
    """Store new balance records for the accounts in ``changes`` (account -> tokens added or taken)."""
    balances = dict(state.get("balances", {}))
    for account, delta in changes.items():
        balances[account] = {"account": account, "balance": balance_of(state, account) + delta}
    state["balances"] = balances


def mint(state: State, instruction: dict, context: Context) -> None:
    """The block reward: credit the block's author REWARD tokens, at most once per block."""
    extra = set(instruction) - {"action"}
    if extra:
        raise ContractError(f"mint takes no field(s), not {', '.join(sorted(map(repr, extra)))}: "
                            f"the reward is {REWARD} tokens, set by the rules, not by the miner")
    if not context.signer:
        raise ContractError("mint pays the block's author, and this block names none")
    rewards = state.get("rewards", {})
    key = str(context.index)
    if key in rewards:
        raise ContractError(f"block {context.index} has already paid its reward (one mint per block)")
    state["rewards"] = {**rewards, key: {"block": context.index, "miner": context.signer, "amount": REWARD}}
    _credit(state, {context.signer: REWARD})


def _amount(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ContractError(f"transfer.amount must be a whole number of tokens, not {value!r}")
    if not 1 <= value <= MAX_AMOUNT:
        raise ContractError(f"transfer.amount must be from 1 to {MAX_AMOUNT:,}, not {value:,}")
    return value


def transfer(state: State, instruction: dict, context: Context) -> None:
    """Move tokens from the block's author to a registered student or an address; never more than it holds."""
    extra = set(instruction) - {"action", "transfer"}
    if extra:
        raise ContractError(f"unexpected field(s) {', '.join(sorted(map(repr, extra)))} in the instruction")
    order = instruction.get("transfer")
    if not isinstance(order, dict):
        raise ContractError("transfer needs a 'transfer' object {'to', 'amount'}")
    unknown = set(order) - {"to", "amount"}
    if unknown:  # a 'from' field above all: tokens leave the block's author, whoever the contract names
        raise ContractError(f"transfer has unknown field(s) {', '.join(sorted(map(repr, unknown)))}; "
                            "tokens always leave the block's author")
    for name in ("to", "amount"):
        if name not in order:
            raise ContractError(f"transfer is missing {name!r}")
    try:
        to = check_id(order["to"], "transfer.to", max_length=MAX_ID)  # a student id, compared as ids are
    except BadText as exc:
        raise ContractError(str(exc)) from None
    amount = _amount(order["amount"])
    if to not in state["students"] and not ADDRESS.fullmatch(to):
        raise ContractError(f"transfer.to {to!r} is neither a registered student nor an address")
    sender = context.signer
    if not sender:
        raise ContractError("a transfer spends the block author's tokens, and this block names none")
    if to == sender:
        raise ContractError("a transfer to the block's own author moves nothing")
    held = balance_of(state, sender)
    if amount > held:
        raise ContractError(f"{sender[:10]}… holds {held:,} tokens and cannot send {amount:,}: "
                            "spending tokens it does not have, or has already spent (a double spend)")
    _credit(state, {sender: -amount, to: amount})


OPERATIONS: dict[str, Operation] = {
    "register_student": register_student,
    "add_course": add_course,
    "vote_proposal": vote_proposal,
    "generate_nft": generate_nft,
    "mint": mint,
    "transfer": transfer,
}
