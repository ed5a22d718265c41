"""The rules every block must pass: one ordered table, one row per rule.

Each rule is a row of ``RULES``: its name, the one-line question it asks,
the small function that asks it, and what it needs that an earlier rule (or
the block's parent) establishes. ``labkit.chain.judge`` runs the table and
is the only place a block's fate is decided; everything else (the chain,
the block tree, peers, the inspector's audit, the attack lab) asks it.

The table, generated from ``RULES`` (tests/test_rules.py checks this text):

.. rules-table

=========  ==========================================================================
record     Is the line a well-formed record?
signer     Is the signer the record names a member of the network?
signature  Did that member's private key sign exactly this token?
token      Is the token a well-formed HS256 JWT?
mac        Was the token MACed with the network secret?
payload    Do the claims have the right fields and types?
author     Does the token name the record's signer as its author?
index      Does the declared index follow the parent's?
link       Does prev_hash name the parent block?
pow        Does the hash start with enough zeros?
timestamp  Is the time not before the parent's, and not too far in the future?
ancestry   Were the parent and all blocks before it accepted?
contract   Does the contract apply to the state after the parent?
=========  ==========================================================================

.. end-rules-table

Where each rule's data lives: the record in ``labkit.block``, keys and
signatures in ``labkit.wallet``, the JWT, its claims and the timestamp
grammar in ``labkit.tokens``, the proof of work in ``labkit.pow``, the
contract's execution in ``labkit.vm``.

A rule raises ``RuleBroken`` when the block breaks it, and ``Waiting`` when
it cannot be decided until the block's parent is known (an orphan).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable

from .block import Block
from .errors import ContractError, InvalidRecord, InvalidSignature, InvalidToken, RuleBroken, TooEarly, UnknownSigner
from .network import Member, Network
from .pow import meets_difficulty, token_hash
from .tokens import GENESIS_HASH, Payload, TokenParts, check_mac, read_claims, split_token
from .operations import Context
from .vm import State, execute
from .wallet import verify

__all__ = ["RULES", "CHECKS", "QUESTIONS", "Rule", "BlockContext", "Waiting", "NotAsked", "rules_table"]


class Waiting(Exception):
    """The rule needs the block's parent, which has not arrived."""


class NotAsked(Exception):
    """The rule cannot be asked: something it needs was not given (the reason says what)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class BlockContext:
    """One block being judged: what the rules start from, and what each passing rule establishes.

    ``parent`` is the ``labkit.chain.Link`` of the block's parent, None for
    the first block or while the parent has not arrived (``parent_known``
    False). ``state`` is the VM state after the parent.
    """

    network: Network
    parent: Any
    now: dt.datetime
    received: Any  # a Block, or a record as a dict (the inspector edits dicts)
    state: State | None = None  # the VM state after the parent (None: not given)
    operations: Any = None  # the VM's operations (None: labkit.operations.OPERATIONS)
    parent_known: bool = True
    token: str = ""  # "record": the record's fields
    signature: bytes | None = None
    signer: str | None = None  # the address the record names ("signer" fills it in for a seed record)
    member: Member | None = None  # "signer": who signed the block
    jwt: TokenParts | None = None  # "token": the token split at its dots and decoded
    payload: Payload | None = None  # "payload": the claims
    difficulty: int | None = None  # "pow": the zeros the hash has to have
    state_after: State | None = None  # "contract": the state once the contract has run

    @property
    def index(self) -> int:
        """The block's height: the parent's plus one, or the one the block declares while the parent is unknown."""
        if not self.parent_known:
            declared = self.payload.index if self.payload is not None else None
            return -1 if declared is None else declared
        return 0 if self.parent is None else self.parent.index + 1

    @property
    def hash(self) -> str:
        """sha256 hex of the token: what the proof of work is about, and what the next block links to."""
        if isinstance(self.received, Block) and self.received.token == self.token:
            return self.received.hash  # the record caches it
        return token_hash(self.token)


Ask = Callable[[BlockContext], Any]  # returns what it found (for the audit), or raises RuleBroken/Waiting


@dataclass(frozen=True)
class Rule:
    """One row of the table."""

    name: str
    question: str  # the one line a learner reads
    ask: Ask
    needs: tuple[str, ...] = ()  # BlockContext fields an earlier rule must have set; "parent": a known parent
    about: str = "token"  # "record": a refusal says nothing about another record of the same token


# --- the rules, one small function each ----------------------------------------------


def is_a_record(ctx: BlockContext) -> str:
    """What was received is a Block, or a dict that makes one."""
    received = ctx.received
    if isinstance(received, dict):
        token, signer = received.get("token"), received.get("signer")
        ctx.token = token if isinstance(token, str) else ""  # later rules may still be asked about it
        ctx.signer = signer if isinstance(signer, str) else None
        try:
            received = ctx.received = Block.from_dict(received)
        except InvalidRecord as exc:
            raise RuleBroken(exc.reason) from None
    if not isinstance(received, Block):
        raise RuleBroken(f"expected a Block, got {type(received).__name__}")
    ctx.token, ctx.signature, ctx.signer = received.token, received.signature, received.signer
    return "a well-formed record"


def signer_is_a_member(ctx: BlockContext) -> str:
    """The record names a member; only a seed file (one signer, named by the caller) may name none."""
    network = ctx.network
    if ctx.signer is None:
        if not network.seed_file:
            raise RuleBroken("the record names no signer (only a seed file, read with its signer named, may omit it)")
        ctx.member = network.members[0]
        ctx.signer = ctx.member.address
        return f"no signer named; the seed file's signer is {ctx.member.name}"
    try:
        ctx.member = network.member(ctx.signer)
    except UnknownSigner:
        raise RuleBroken(f"signer {ctx.signer[:10]}… is not a member of the network") from None
    return f"{ctx.member.name} is a member"


def signed_by_the_member(ctx: BlockContext) -> str:
    """The RSA signature over the token is the member's."""
    try:
        verify(ctx.member.public_key, ctx.token.encode("ascii"), ctx.signature)
    except (InvalidSignature, UnicodeEncodeError) as exc:
        raise RuleBroken(f"not signed by {ctx.member.name}: {exc}") from None
    return f"signed with {ctx.member.name}'s key"


def token_is_a_jwt(ctx: BlockContext) -> str:
    ctx.jwt = split_token(ctx.token)
    return "an HS256 JWT"


def mac_matches_the_secret(ctx: BlockContext) -> str:
    check_mac(ctx.jwt, ctx.network.secret)
    return "MACed with the network secret"


def claims_are_well_formed(ctx: BlockContext) -> str:
    ctx.payload = read_claims(ctx.jwt)
    return "prev_hash, timestamp, transaction_data, nonce" + ("" if ctx.payload.index is None else ", index")


def token_names_the_author(ctx: BlockContext) -> str:
    """The token's ``signer`` claim is the record's signer: the MAC and the work cover who the author is."""
    author = ctx.payload.signer
    if author is None:
        if ctx.network.seed_file:
            return "no author named: a seed file, whose only signer the caller named"
        raise RuleBroken("the token does not name its author (the 'signer' claim); without it any member "
                         "could re-sign the block as their own")
    if author != ctx.signer:
        raise RuleBroken(f"the token names {ctx.network.name_of(author)} ({author[:10]}…) "
                         f"as its author, but the record is signed by {ctx.member.name}")
    return f"names {ctx.member.name}"


def index_follows_the_parent(ctx: BlockContext) -> str:
    declared = ctx.payload.index
    if declared is None:
        return "no index declared"
    if not ctx.parent_known:
        raise Waiting
    index = ctx.index
    if declared != index:
        raise RuleBroken(f"block declares index {declared} but follows block {index - 1}"
                         if index else f"block declares index {declared} but is the first block")
    return f"index {index}"


def links_to_the_parent(ctx: BlockContext) -> str:
    parent, prev_hash = ctx.parent, ctx.payload.prev_hash
    if not ctx.parent_known:
        raise Waiting
    if prev_hash != (GENESIS_HASH if parent is None else parent.hash):
        what = "the genesis hash (64 zeros)" if parent is None else f"block {parent.index}'s hash {parent.hash[:12]}…"
        raise RuleBroken(f"prev_hash {prev_hash[:12]}… is not {what}")
    return f"prev_hash {prev_hash[:12]}…"


def meets_the_difficulty(ctx: BlockContext) -> str:
    """The hash starts with the network's number of zeros, or the higher number the block declares."""
    network, declared = ctx.network, ctx.payload.difficulty
    if declared is not None and declared < network.difficulty:
        raise RuleBroken(f"declares difficulty {declared}, below the network's {network.difficulty}")
    difficulty = network.difficulty if declared is None else declared
    digest = ctx.hash
    if not meets_difficulty(digest, difficulty):
        raise RuleBroken(f"hash {digest[:12]}… does not start with {difficulty} zeros")
    ctx.difficulty = difficulty
    return f"hash {digest[:12]}… has {difficulty} leading zeros"


def is_on_time(ctx: BlockContext) -> str:
    """Not further in the future than the clock skew allows, and not before the parent."""
    payload, parent, skew = ctx.payload, ctx.parent, ctx.network.max_clock_skew
    if (payload.time - ctx.now).total_seconds() > skew:
        raise TooEarly(f"{payload.timestamp} is more than {skew} s in the future")
    if not ctx.parent_known:
        raise Waiting
    if parent is not None and parent.time is not None and payload.time < parent.time:
        raise RuleBroken(f"{payload.timestamp} is earlier than block {parent.index}'s")
    return payload.timestamp


def has_accepted_ancestors(ctx: BlockContext) -> str:
    if not ctx.parent_known:
        raise Waiting
    refused = getattr(ctx.parent, "refused", None)
    if refused is not None:
        raise RuleBroken(refused)
    return "genesis" if ctx.parent is None else f"block {ctx.parent.index} was accepted"


def contract_applies(ctx: BlockContext) -> str:
    """The contract runs on the state after the parent (``labkit.vm.execute``), with this block's context."""
    if not ctx.parent_known:
        raise Waiting
    if ctx.state is None:
        raise NotAsked("the state after the parent was not given")
    try:
        ctx.state_after = execute(ctx.state, ctx.payload.transaction_data,
                                  Context(ctx.signer or "", ctx.index, ctx.hash), ctx.operations)
    except ContractError as exc:
        raise RuleBroken(str(exc)) from None
    return "applies to the state"


# Every rule, in the order a verifier asks them: the record and who signed it, the token
# and what it claims, where it stands, and what it does.
RULES: tuple[Rule, ...] = (
    Rule("record", "Is the line a well-formed record?", is_a_record, about="record"),
    Rule("signer", "Is the signer the record names a member of the network?", signer_is_a_member,
         about="record"),
    Rule("signature", "Did that member's private key sign exactly this token?", signed_by_the_member,
         needs=("member", "signature"), about="record"),
    Rule("token", "Is the token a well-formed HS256 JWT?", token_is_a_jwt),
    Rule("mac", "Was the token MACed with the network secret?", mac_matches_the_secret, needs=("jwt",)),
    Rule("payload", "Do the claims have the right fields and types?", claims_are_well_formed, needs=("jwt",)),
    Rule("author", "Does the token name the record's signer as its author?", token_names_the_author,
         needs=("member", "payload"), about="record"),
    Rule("index", "Does the declared index follow the parent's?", index_follows_the_parent, needs=("payload",)),
    Rule("link", "Does prev_hash name the parent block?", links_to_the_parent, needs=("payload",)),
    Rule("pow", "Does the hash start with enough zeros?", meets_the_difficulty, needs=("payload",)),
    Rule("timestamp", "Is the time not before the parent's, and not too far in the future?", is_on_time,
         needs=("payload",)),
    Rule("ancestry", "Were the parent and all blocks before it accepted?", has_accepted_ancestors),
    Rule("contract", "Does the contract apply to the state after the parent?", contract_applies,
         needs=("payload",)),
)

CHECKS: tuple[str, ...] = tuple(rule.name for rule in RULES)
QUESTIONS: dict[str, str] = {rule.name: rule.question for rule in RULES}


def rules_table() -> str:
    """The table of the module docstring, made from RULES."""
    width = max(len(name) for name in CHECKS) + 2
    rule_line = "=" * (width - 2) + "  " + "=" * 74
    rows = [f"{rule.name:<{width}}{rule.question}" for rule in RULES]
    return "\n".join([rule_line, *rows, rule_line])
