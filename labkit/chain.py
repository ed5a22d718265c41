"""The chain: blocks linked by hashes, each checked by every rule in order.

Genesis ``prev_hash`` is 64 zeros; every later block's ``prev_hash`` is the
sha256 hex of the previous block's token exactly as stored. A block is
accepted only if it passes, in this order (the names are ``CHECKS``; each
rule is one small function, listed in order in ``BLOCK_CHECKS``):

====================  =========================================================
record                the line is a well-formed record (see labkit.block)
signer                the record's signer is a member, and the author the token names
signature             the RSA signature over the token is the signer's
token                 the token is a well-formed HS256 JWT
mac                   the JWT's MAC matches the network secret
payload               the claims have the right fields and types
index                 the declared index follows the previous block's
link                  prev_hash is the previous block's hash
pow                   the hash meets the network's difficulty (and any higher one declared)
timestamp             not before the previous block, not too far in the future
contract              the contract applies to the VM (checked by labkit.peer)
ancestry              every earlier block was accepted
====================  =========================================================

Each validated block becomes an ``Entry`` that knows its parent's hash and the
cumulative work behind it (expected attempts, 16^difficulty per block), so a
store of competing branches and a fork choice by most work can be built on the
same pieces (see labkit.forks).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from .block import Block
from .errors import InvalidBlock, InvalidSignature, InvalidToken, RuleBroken, UnknownSigner
from .network import Member, Network
from .pow import Miner, expected_attempts, meets_difficulty, token_hash
from .tokens import GENESIS_HASH, Payload, TokenParts, check_mac, format_timestamp, read_claims, split_token, utc_now
from .wallet import Wallet, verify

__all__ = [
    "CHECKS",
    "BLOCK_CHECKS",
    "BlockContext",
    "Rule",
    "Link",
    "Entry",
    "BlockReport",
    "verify_block",
    "validate_blocks",
    "mine_block",
    "Chain",
]

CHECKS = ("record", "signer", "signature", "token", "mac", "payload", "index",
          "link", "pow", "timestamp", "contract", "ancestry")


@dataclass(frozen=True)
class Link:
    """What a block needs to know about its parent."""

    index: int
    hash: str
    time: dt.datetime | None  # None when the parent's payload could not be read

    @classmethod
    def of(cls, block: Block, network: Network, index: int) -> "Link":
        """The link the block at ``index`` offers the next one, even if it is invalid (to report what follows it)."""
        if not isinstance(block, Block):  # failed the "record" check: nothing can link to it
            return cls(index, "", None)
        try:
            when = block.payload(network.secret).time
        except InvalidToken:
            when = None
        return cls(index, block.hash, when)


@dataclass(frozen=True)
class Entry:
    """A block that passed every check, and its place in the chain."""

    block: Block
    payload: Payload
    index: int  # 0 for the first block
    work: int  # expected attempts this block's proof of work stands for
    total_work: int  # work of this block and all its ancestors

    @property
    def hash(self) -> str:
        return self.block.hash

    @property
    def prev_hash(self) -> str:
        return self.payload.prev_hash

    @property
    def signer(self) -> str:
        return self.block.signer  # type: ignore[return-value]  (filled in by verify_block)

    @property
    def link(self) -> Link:
        return Link(self.index, self.hash, self.payload.time)


@dataclass(frozen=True)
class BlockReport:
    """The verdict on one block: accepted, or the first check it failed and why."""

    index: int
    hash: str | None
    accepted: bool
    check: str | None = None  # one of CHECKS when rejected
    reason: str | None = None
    signer: str | None = None
    line: int | None = None  # line number in the blocks file, when read from one

    @classmethod
    def rejected(cls, error: InvalidBlock, block: Block | None, line: int | None = None) -> "BlockReport":
        if not isinstance(block, Block):  # None, or whatever failed the "record" check
            block = None
        return cls(error.index, block.hash if block else None, False, error.check, error.reason,
                   block.signer if block else None, line)


# --- the rules, one small function each -------------------------------------------


@dataclass
class BlockContext:
    """One block being checked: what the checks start from, and what each passing check establishes.

    The checks fill it in as they pass, in order; ``Rule.needs`` names what a
    check uses that an earlier one established.
    """

    network: Network
    parent: Link | None  # None for the first block
    now: dt.datetime
    received: Any  # what was handed in; "record" makes sure it is a Block
    token: str = ""  # "record": the record's fields
    signature: bytes | None = None
    signer: str | None = None  # the address the record names ("signer" fills it in for a seed record)
    member: Member | None = None  # "signer": who signed the block
    jwt: TokenParts | None = None  # "token": the token split at its dots and decoded
    payload: Payload | None = None  # "payload": the claims
    difficulty: int | None = None  # "pow": the zeros the hash has to have

    @property
    def index(self) -> int:
        return 0 if self.parent is None else self.parent.index + 1

    @property
    def hash(self) -> str:
        """sha256 hex of the token: what the proof of work is about, and what the next block links to."""
        if isinstance(self.received, Block) and self.received.token == self.token:
            return self.received.hash  # the record caches it; the Entry reuses the same value
        return token_hash(self.token)


Check = Callable[[BlockContext], None]  # raises RuleBroken (or InvalidToken) if the block breaks the rule


@dataclass(frozen=True)
class Rule:
    """One row of the table: the check's name (one of CHECKS), its function, and what it needs."""

    check: str
    test: Check
    needs: tuple[str, ...] = ()  # BlockContext fields an earlier check must have set

    def ask(self, ctx: BlockContext) -> None:
        """Ask this rule about ``ctx``'s block; raise InvalidBlock naming it if the block breaks it."""
        try:
            self.test(ctx)
        except (RuleBroken, InvalidToken) as exc:
            raise InvalidBlock(ctx.index, self.check, exc.reason) from None


def is_a_record(ctx: BlockContext) -> None:
    """What was received is a Block (a line of a blocks file becomes one through Block.from_line)."""
    block = ctx.received
    if not isinstance(block, Block):
        raise RuleBroken(f"expected a Block, got {type(block).__name__}")
    ctx.token, ctx.signature, ctx.signer = block.token, block.signature, block.signer


def signer_is_a_member(ctx: BlockContext) -> None:
    """The signer the record names is a member; a seed record names none, so the only member is assumed."""
    members = ctx.network.members
    if ctx.signer is None:
        if len(members) != 1:
            raise RuleBroken(f"the record names no signer and the network has {len(members)} members")
        ctx.member = members[0]
        ctx.signer = ctx.member.address
        return
    try:
        ctx.member = ctx.network.member(ctx.signer)
    except UnknownSigner:
        raise RuleBroken(f"signer {ctx.signer[:10]}… is not a member of the network") from None


def signed_by_the_member(ctx: BlockContext) -> None:
    """The RSA signature over the token is the member's."""
    try:
        verify(ctx.member.public_key, ctx.token.encode("ascii"), ctx.signature)
    except InvalidSignature as exc:
        raise RuleBroken(f"not signed by {ctx.member.name}: {exc}") from None


def token_is_a_jwt(ctx: BlockContext) -> None:
    """The token is a well-formed HS256 JWT."""
    ctx.jwt = split_token(ctx.token)


def mac_matches_the_secret(ctx: BlockContext) -> None:
    """The JWT was MACed with the network secret."""
    check_mac(ctx.jwt, ctx.network.secret)


def claims_are_well_formed(ctx: BlockContext) -> None:
    """The claims have the right fields and types."""
    ctx.payload = read_claims(ctx.jwt)


def token_names_the_signer(ctx: BlockContext) -> None:
    """The author the token names, if any, signed the record (labkit's miner always names one; the seed did not)."""
    author = ctx.payload.signer
    if author is not None and author != ctx.signer:
        raise RuleBroken(f"the token names {ctx.network.name_of(author)} ({author[:10]}…) "
                         f"as its author, but the record is signed by {ctx.member.name}")


def index_follows_the_parent(ctx: BlockContext) -> None:
    """The declared index, if any, is the parent's plus one."""
    declared, index = ctx.payload.index, ctx.index
    if declared is not None and declared != index:
        raise RuleBroken(f"block declares index {declared} but follows block {index - 1}"
                         if index else f"block declares index {declared} but is the first block")


def links_to_the_parent(ctx: BlockContext) -> None:
    """prev_hash is the parent's hash (the genesis hash for the first block)."""
    parent, prev_hash = ctx.parent, ctx.payload.prev_hash
    if prev_hash != (GENESIS_HASH if parent is None else parent.hash):
        what = "the genesis hash (64 zeros)" if parent is None else f"block {parent.index}'s hash {parent.hash[:12]}…"
        raise RuleBroken(f"prev_hash {prev_hash[:12]}… is not {what}")


def meets_the_difficulty(ctx: BlockContext) -> None:
    """The hash starts with the network's number of zeros, or the higher number the block declares."""
    network, declared = ctx.network, ctx.payload.difficulty
    if declared is not None and declared < network.difficulty:
        raise RuleBroken(f"declares difficulty {declared}, below the network's {network.difficulty}")
    difficulty = network.difficulty if declared is None else declared
    digest = ctx.hash
    if not meets_difficulty(digest, difficulty):
        raise RuleBroken(f"hash {digest[:12]}… does not start with {difficulty} zeros")
    ctx.difficulty = difficulty


def is_on_time(ctx: BlockContext) -> None:
    """Not before the parent, and not further in the future than the network's clock skew allows."""
    payload, parent, skew = ctx.payload, ctx.parent, ctx.network.max_clock_skew
    if parent is not None and parent.time is not None and payload.time < parent.time:
        raise RuleBroken(f"{payload.timestamp} is earlier than block {parent.index}'s")
    if (payload.time - ctx.now).total_seconds() > skew:
        raise RuleBroken(f"{payload.timestamp} is more than {skew} s in the future")


# Every rule verify_block asks, in the order it asks them. "contract" and "ancestry" need
# the blocks before this one: labkit.peer and validate_blocks ask those.
BLOCK_CHECKS: tuple[Rule, ...] = (
    Rule("record", is_a_record),
    Rule("signer", signer_is_a_member),
    Rule("signature", signed_by_the_member, needs=("member", "signature")),
    Rule("token", token_is_a_jwt),
    Rule("mac", mac_matches_the_secret, needs=("jwt",)),
    Rule("payload", claims_are_well_formed, needs=("jwt",)),
    Rule("signer", token_names_the_signer, needs=("member", "payload")),
    Rule("index", index_follows_the_parent, needs=("payload",)),
    Rule("link", links_to_the_parent, needs=("payload",)),
    Rule("pow", meets_the_difficulty, needs=("payload",)),
    Rule("timestamp", is_on_time, needs=("payload",)),
)


def verify_block(
    block: Block,
    network: Network,
    parent: Link | Entry | None,
    *,
    now: dt.datetime | None = None,
) -> Entry:
    """Check one block against its parent (None for the first block); raise InvalidBlock.

    Asks every rule of BLOCK_CHECKS in order and stops at the first the block
    breaks. A record without ``signer`` (as the seed writes them) is checked
    against the network's only member; with several members it is refused.
    """
    work_before = parent.total_work if isinstance(parent, Entry) else 0
    if isinstance(parent, Entry):
        parent = parent.link
    ctx = BlockContext(network, parent, now or utc_now(), block)
    for rule in BLOCK_CHECKS:
        rule.ask(ctx)
    if block.signer is None:  # a seed record: the Entry names the member who signed it
        block = Block(block.token, block.signature, ctx.signer)
    work = expected_attempts(ctx.difficulty)
    return Entry(block, ctx.payload, ctx.index, work, work_before + work)


def validate_blocks(
    network: Network,
    blocks: Iterable[Block],
    *,
    parent: Entry | None = None,
    now: dt.datetime | None = None,
    on_entry: Callable[[Entry], None] | None = None,
) -> Iterator[tuple[BlockReport, Entry | None]]:
    """Check a sequence of blocks in order; yield a report (and the Entry if accepted) per block.

    Each block is checked against the block before it in the sequence, so
    after a tampered block the next one fails its ``link``; a block that
    passes its own checks but follows a rejected one is reported as failing
    ``ancestry``. ``on_entry`` may raise InvalidBlock (the peer runs the
    contract there) to reject a block that is otherwise valid.
    """
    prev: Link | Entry | None = parent
    first_bad: int | None = None
    for block in blocks:
        index = 0 if prev is None else prev.index + 1
        try:
            entry = verify_block(block, network, prev, now=now)
            if first_bad is not None:
                raise InvalidBlock(index, "ancestry", f"builds on rejected block {first_bad}")
            if on_entry is not None:
                on_entry(entry)
        except InvalidBlock as exc:
            if first_bad is None:
                first_bad = exc.index
            yield BlockReport.rejected(exc, block), None
            prev = Link.of(block, network, index)
            continue
        yield BlockReport(entry.index, entry.hash, True, signer=entry.signer), entry
        prev = entry


def mine_block(
    network: Network,
    wallet: Wallet,
    contract: dict,
    *,
    parent: Entry | Link | None = None,
    timestamp: dt.datetime | None = None,
    miner: Miner | None = None,
    progress=None,
    cancel=None,
) -> Block:
    """Mine a block on ``parent`` (None for the first block) and sign it with ``wallet``."""
    if isinstance(parent, Entry):
        parent = parent.link
    if miner is None:
        from .pow import mine as miner
    timestamp = timestamp or utc_now()
    template = Payload(
        prev_hash=GENESIS_HASH if parent is None else parent.hash,
        timestamp=format_timestamp(timestamp),
        transaction_data=contract,
        nonce=0,
        index=0 if parent is None else parent.index + 1,
        difficulty=network.difficulty,
        signer=wallet.address,
    )
    result = miner(template, network.secret, network.difficulty, progress=progress, cancel=cancel)
    return Block.create(result.token, wallet)


class Chain:
    """A validated sequence of blocks from genesis, held as Entries."""

    def __init__(self, network: Network, blocks: Iterable[Block] = ()):
        self.network = network
        self._entries: list[Entry] = []
        for block in blocks:
            self.append(block)

    @property
    def entries(self) -> Sequence[Entry]:
        return tuple(self._entries)

    @property
    def blocks(self) -> list[Block]:
        return [e.block for e in self._entries]

    @property
    def tip(self) -> Entry | None:
        return self._entries[-1] if self._entries else None

    @property
    def total_work(self) -> int:
        return self.tip.total_work if self._entries else 0

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Entry:
        return self._entries[index]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def check(self, block: Block, *, now: dt.datetime | None = None) -> Entry:
        """Verify a block as the next one, without adding it."""
        return verify_block(block, self.network, self.tip, now=now)

    def append(self, block: Block, *, now: dt.datetime | None = None) -> Entry:
        """Verify and add a block; raises InvalidBlock and leaves the chain unchanged."""
        entry = self.check(block, now=now)
        self._entries.append(entry)
        return entry

    def mine(self, wallet: Wallet, contract: dict, **kwargs) -> Entry:
        """Mine a block with ``contract`` on the tip, sign it, and append it."""
        return self.append(mine_block(self.network, wallet, contract, parent=self.tip, **kwargs))

    def save(self, path: str | os.PathLike) -> Path:
        from .blocksfile import save_blocks

        return save_blocks(path, self.blocks)

    def __repr__(self) -> str:
        tip = f", tip={self.tip.hash[:12]}…" if self._entries else ""
        return f"Chain({len(self)} blocks{tip})"
