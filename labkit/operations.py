"""The four contract operations, as a dispatch table from action name to function.

Each operation is a small function ``op(state, instruction, context)`` that
checks its instruction and then changes ``state``. It raises ContractError
before changing anything it has not checked, and it never mutates a record
in place: it stores a new one, so the VM can stage a contract on shallow
copies of the tables and apply it all at once (see labkit.vm).

Ids, names, departments and descriptions are checked and normalised by
``labkit.names.check_text`` (NFC, nothing invisible), so two look-alike
spellings are one id.

Instructions (the seed's wire format)::

    {"action": "register_student", "student":  {"id", "name", "department"}}
    {"action": "add_course",       "course":   {"id", "name", "department"}}
    {"action": "vote_proposal",    "proposal": {"id", "description"}}
    {"action": "generate_nft",     "nft":      {"id", "name", "metadata"?}}
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ContractError
from .names import BadText, check_text

__all__ = ["Context", "Operation", "OPERATIONS", "FIELDS", "empty_state"]

MAX_TEXT = 500  # characters in a name or description
MAX_ID = 64


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


# Which object each action carries, its required text fields, and optional fields.
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
        try:  # NFC, no invisible or control characters (labkit.names): no look-alike ids
            checked[name] = check_text(record[name], f"{key}.{name}", max_length=MAX_ID if name == "id" else MAX_TEXT)
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


OPERATIONS: dict[str, Operation] = {
    "register_student": register_student,
    "add_course": add_course,
    "vote_proposal": vote_proposal,
    "generate_nft": generate_nft,
}
