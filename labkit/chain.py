"""The chain: blocks linked by hashes, and the one verdict on each block.

Genesis ``prev_hash`` is 64 zeros; every later block's ``prev_hash`` is the
sha256 hex of the previous block's token exactly as stored. ``judge`` decides
a block's fate given what its parent established (its ``Link``, and the VM
state after it): it asks every rule of ``labkit.rules.RULES`` in order and
returns a ``Verdict`` with each rule's outcome and the first rule broken.
Everything that accepts or refuses a block asks ``judge``: ``verify_block``,
``validate_blocks``, ``Chain``, the block tree (labkit.forks), peers, the
inspector's audit and the attack lab.

Each accepted block becomes an ``Entry`` that knows its parent's hash and the
cumulative work behind it (expected attempts, 16^difficulty per block), so a
store of competing branches and a fork choice by most work can be built on the
same pieces (see labkit.forks). A ``Chain`` holds one branch from genesis and
the VM state after its last block; it changes only through its own methods,
which keep the two in step.

To read every rule a block must pass: this module (``judge``), then
``labkit.rules`` (the table and one function per rule), then ``labkit.vm``
(``execute``, the contract rule).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import enum
import html

from .block import Block
from .errors import InvalidBlock, InvalidToken, RuleBroken, TooEarly
from .network import Network
from .operations import Context, Operation, empty_state
from .pow import Miner, expected_attempts
from .rules import CHECKS, QUESTIONS, RULES, BlockContext, NotAsked, Waiting
from .tokens import GENESIS_HASH, Payload, format_timestamp, utc_now
from .vm import State, state_digest
from .wallet import Wallet

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "CHECKS",
    "QUESTIONS",
    "Outcome",
    "RuleOutcome",
    "Verdict",
    "judge",
    "UNKNOWN_PARENT",
    "Link",
    "Entry",
    "BlockReport",
    "verify_block",
    "validate_blocks",
    "mine_block",
    "stamp",
    "Chain",
]



@dataclass(frozen=True)
class Link:
    """What a block's parent established for it: where it stands, its hash, time and work, and whether it was refused."""

    index: int
    hash: str
    time: dt.datetime | None  # None when the parent's payload could not be read
    total_work: int = 0  # work of the parent and all its ancestors
    refused: str | None = None  # why the parent, or a block before it, was refused; None if accepted


@dataclass(frozen=True)
class Entry:
    """A block that passed every rule, and its place in the chain."""

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
        return Link(self.index, self.hash, self.payload.time, self.total_work)

    @property
    def context(self) -> Context:
        """What the block tells its contract's operations: its author, height and hash."""
        return Context(self.signer, self.index, self.hash)


@dataclass(frozen=True)
class BlockReport:
    """The verdict on one block in a line: accepted, or the first rule it broke and why."""

    index: int
    hash: str | None
    accepted: bool
    rule: str | None = None  # one of CHECKS when rejected
    reason: str | None = None
    signer: str | None = None
    line: int | None = None  # line number in the blocks file, when read from one

    @classmethod
    def rejected(cls, error: InvalidBlock, block: Block | None, line: int | None = None) -> "BlockReport":
        if not isinstance(block, Block):  # None, or whatever failed the "record" rule
            block = None
        return cls(error.index, block.hash if block else None, False, error.rule, error.reason,
                   block.signer if block else None, line)

    def at_line(self, line: int | None) -> "BlockReport":
        return replace(self, line=line)

    def _repr_html_(self) -> str:
        where = f"block {self.index}" + ("" if self.line is None else f" (line {self.line})")
        if self.accepted:
            return f'<span style="color:#137333">✓ {where} accepted</span>'
        return (f'<span style="color:#a50e0e">✗ {where} refused at <code>{self.rule}</code>: '
                f"{html.escape(self.reason or '')}</span>")


# --- the verdict -------------------------------------------------------------------


class Outcome(enum.Enum):
    """What one rule said about a block."""

    PASSED = "passed"
    BROKEN = "broken"
    WAITING = "waiting"  # needs the block's parent, which has not arrived
    NOT_ASKED = "not asked"  # an earlier rule failed, or what the rule needs was not given

    @property
    def mark(self) -> str:
        return {"passed": "✓", "broken": "✗"}.get(self.value, "–")


@dataclass(frozen=True)
class RuleOutcome:
    rule: str  # one of CHECKS
    outcome: Outcome
    detail: str  # what the rule found, why it is broken, or why it was not asked

    @property
    def question(self) -> str:
        return QUESTIONS[self.rule]


class _Unknown:
    """The parent of an orphan: it has not arrived, so the rules about it wait."""

    def __repr__(self) -> str:
        return "UNKNOWN_PARENT"


UNKNOWN_PARENT = _Unknown()


@dataclass(frozen=True)
class Verdict:
    """A block's fate: every rule's outcome in table order, and the first rule broken."""

    index: int  # the block's height (the one it declares while its parent is unknown; -1 if none)
    hash: str | None  # sha256 of the token, None when there is no token to hash
    signer: str | None  # the address of the member who signed it, when known
    outcomes: tuple[RuleOutcome, ...]
    entry: Entry | None = None  # the accepted block's place in the chain
    state: State | None = None  # the VM state after the block, when its contract ran
    time: dt.datetime | None = None  # the block's time, when its claims could be read
    remembered: bool = True  # a refusal that holds for every record of this token (see labkit.forks)
    provisional: bool = False  # judged on a parent refused for now; judged again when a good copy comes

    @property
    def broken(self) -> RuleOutcome | None:
        """The first rule the block breaks: the verdict's reason."""
        return next((o for o in self.outcomes if o.outcome is Outcome.BROKEN), None)

    @property
    def accepted(self) -> bool:
        return self.entry is not None

    @property
    def waiting(self) -> bool:
        """Nothing broken so far, but some rules wait for the parent."""
        return self.broken is None and any(o.outcome is Outcome.WAITING for o in self.outcomes)

    @property
    def rule(self) -> str | None:
        broken = self.broken
        return None if broken is None else broken.rule

    @property
    def error(self) -> InvalidBlock | None:
        broken = self.broken
        return None if broken is None else InvalidBlock(self.index, broken.rule, broken.detail)

    def outcome(self, rule: str) -> RuleOutcome:
        return self.outcomes[CHECKS.index(rule)]

    @property
    def link(self) -> Link:
        """What this block establishes for a block built on it."""
        return self.entry.link if self.entry is not None else self.refused_link

    @property
    def refused_link(self) -> Link:
        """The link of this block taken as refused (even if it passed): a block on it breaks ``ancestry``."""
        broken = self.broken
        refused = (broken.detail if broken is not None and broken.rule == "ancestry"
                   else f"builds on rejected block {self.index}")
        return Link(self.index, self.hash or "", self.time, 0, refused)

    def report(self, line: int | None = None) -> BlockReport:
        broken = self.broken
        if broken is None:
            return BlockReport(self.index, self.hash, True, signer=self.signer, line=line)
        return BlockReport(self.index, self.hash, False, broken.rule, broken.detail, self.signer, line)

    def rules_frame(self) -> "pd.DataFrame":
        """The rules as a table: what each asks, ✓/✗/–, and what it found or why it failed."""
        import pandas as pd

        broken = self.rule
        rows = [{"rule": o.rule, "asks": o.question, "on its own": o.outcome.mark,
                 "verdict": "rejected here" if o.rule == broken else "", "detail": o.detail}
                for o in self.outcomes]
        return pd.DataFrame(rows).set_index("rule")


_CANNOT_ASK = {  # why a rule cannot be asked: what it needs that the rules before it could not establish
    "member": "no member's key to check it with",
    "signature": "no signature to check",
    "jwt": "the token cannot be read",
    "payload": "the claims cannot be read",
}


def judge(
    received: Block | dict,
    network: Network,
    parent: Link | Entry | None = None,
    *,
    state: State | None = None,
    now: dt.datetime | None = None,
    operations: dict[str, Operation] | None = None,
    every_rule: bool = False,
) -> Verdict:
    """The verdict on one block built on ``parent``: every rule of RULES, in order.

    ``parent`` is the parent's Link (or Entry), None for the first block, or
    UNKNOWN_PARENT for an orphan (rules about the parent then wait).
    ``state`` is the VM state after the parent (the empty state for the first
    block); without it the contract rule is not asked. After the first
    broken rule the rest are not asked, unless ``every_rule`` (the
    inspector's audit asks them all: one edited byte breaks several seals).
    """
    known = parent is not UNKNOWN_PARENT
    link = parent.link if isinstance(parent, Entry) else (parent if known else None)
    if state is None and known and link is None:
        state = empty_state()
    ctx = BlockContext(network, link, now or utc_now(), received, state, operations, known)
    outcomes: list[RuleOutcome] = []
    broken: RuleBroken | InvalidToken | None = None
    for rule in RULES:
        if broken is not None and not every_rule:
            outcomes.append(RuleOutcome(rule.name, Outcome.NOT_ASKED, "an earlier rule is broken"))
            continue
        missing = [need for need in rule.needs if getattr(ctx, need) is None]
        if missing:
            outcomes.append(RuleOutcome(rule.name, Outcome.NOT_ASKED, _CANNOT_ASK[missing[0]]))
            continue
        try:
            found = rule.ask(ctx)
        except (RuleBroken, InvalidToken) as exc:
            outcomes.append(RuleOutcome(rule.name, Outcome.BROKEN, exc.reason))
            if broken is None:
                broken = exc
                remembered = rule.about == "token" and not isinstance(exc, TooEarly)
        except Waiting:
            outcomes.append(RuleOutcome(rule.name, Outcome.WAITING, "waits for the parent block"))
        except NotAsked as exc:
            outcomes.append(RuleOutcome(rule.name, Outcome.NOT_ASKED, exc.reason))
        else:
            outcomes.append(RuleOutcome(rule.name, Outcome.PASSED, found))
    block = ctx.received if isinstance(ctx.received, Block) else None
    block_hash = ctx.hash if ctx.token and ctx.token.isascii() else None  # a non-ASCII token has no hash
    time = ctx.payload.time if ctx.payload is not None else None
    common = dict(index=ctx.index, hash=block_hash, signer=ctx.signer,
                  outcomes=tuple(outcomes), time=time)
    if broken is not None:
        return Verdict(**common, remembered=remembered)
    if any(o.outcome is Outcome.WAITING for o in outcomes):
        return Verdict(**common)
    if block.signer is None:  # a seed record: the Entry names the member who signed it
        block = Block(block.token, block.signature, ctx.signer)
    work = expected_attempts(ctx.difficulty)
    entry = Entry(block, ctx.payload, ctx.index, work, (link.total_work if link else 0) + work)
    return Verdict(**common, entry=entry, state=ctx.state_after)


def verify_block(
    block: Block,
    network: Network,
    parent: Link | Entry | None,
    *,
    state: State | None = None,
    now: dt.datetime | None = None,
) -> Entry:
    """The Entry of a block ``judge`` accepts; raises InvalidBlock naming the first rule it breaks.

    Without ``state`` (the VM state after the parent) the contract of a
    block after the first is not run.
    """
    verdict = judge(block, network, parent, state=state, now=now)
    if verdict.entry is None:
        raise verdict.error
    return verdict.entry


def validate_blocks(
    network: Network,
    blocks: Iterable[Block],
    *,
    parent: Entry | None = None,
    state: State | None = None,
    now: dt.datetime | None = None,
    operations: dict[str, Operation] | None = None,
) -> Iterator[tuple[BlockReport, Entry | None]]:
    """Judge a sequence of blocks in order; yield a report (and the Entry if accepted) per block.

    Each block is judged on the block before it in the sequence, so after a
    tampered block the next one breaks ``link``; a block that passes its own
    rules but follows a refused one breaks ``ancestry``. Contracts run from
    ``state`` (the empty state from genesis).
    """
    prev: Link | Entry | None = parent
    for block in blocks:
        verdict = judge(block, network, prev, state=state, now=now, operations=operations)
        yield verdict.report(), verdict.entry
        prev = verdict.link
        if verdict.accepted:
            state = verdict.state


def stamp(parent: Entry | Link | None, now: dt.datetime | None = None) -> dt.datetime:
    """The time a miner stamps on a block: its clock, but never earlier than the parent's time.

    A parent from a classmate's fast clock (within the allowed skew) is valid; a block
    stamped earlier than it would break the timestamp rule, so the miner waits for no
    one and stamps the parent's time instead.
    """
    now = now or utc_now()
    parent_time = parent.payload.time if isinstance(parent, Entry) else getattr(parent, "time", None)
    return max(now, parent_time) if parent_time is not None else now


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
    """Mine a block on ``parent`` (None for the first block) and sign it with ``wallet``.

    Without ``timestamp`` the block is stamped now, never earlier than its parent (:func:`stamp`).
    """
    if isinstance(parent, Entry):
        parent = parent.link
    if miner is None:
        from .fastmine import default_miner

        miner = default_miner()
    timestamp = timestamp or stamp(parent)
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
    """One branch from genesis, validated block by block, and the VM state after its last block.

    Its invariants: every entry was accepted by ``judge`` on the entry before
    it, and ``state`` is the state after running every entry's contract in
    order. Only its own methods change it (``append``, and ``switch_branch``
    for the block tree's reorganisations), and they keep both.
    """

    def __init__(self, network: Network, blocks: Iterable[Block] = (), *,
                 operations: dict[str, Operation] | None = None):
        self.network = network
        self.operations = operations
        self._entries: list[Entry] = []
        self._state: State = empty_state()
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

    @property
    def state(self) -> State:
        """The VM state after the last block (do not edit it: copy it, e.g. with copy.deepcopy)."""
        return self._state

    def digest(self) -> str:
        """sha256 of the state's canonical JSON (labkit.vm.state_digest)."""
        return state_digest(self._state)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Entry:
        return self._entries[index]

    def __iter__(self) -> Iterator[Entry]:
        return iter(self._entries)

    def judge(self, block: Block, *, now: dt.datetime | None = None, every_rule: bool = False) -> Verdict:
        """The verdict on a block as the next one, without adding it."""
        return judge(block, self.network, self.tip, state=self._state, now=now,
                     operations=self.operations, every_rule=every_rule)

    def append(self, block: Block, *, now: dt.datetime | None = None) -> Entry:
        """Judge and add a block; raises InvalidBlock and leaves the chain unchanged."""
        verdict = self.judge(block, now=now)
        if verdict.entry is None:
            raise verdict.error
        self._entries.append(verdict.entry)
        self._state = verdict.state
        return verdict.entry

    def switch_branch(self, fork_index: int, branch: Sequence[Entry], state: State) -> tuple[Entry, ...]:
        """Replace the blocks after ``fork_index`` by ``branch``; return the entries rolled back.

        ``branch`` must link on from block ``fork_index`` (-1: from genesis),
        each entry on the one before with its work added up, and ``state``
        is the state after its last entry as ``judge`` computed it. Raises
        ValueError, changing nothing, if the entries do not link.
        """
        if not -1 <= fork_index < len(self._entries):
            raise ValueError(f"fork index {fork_index} is not in a chain of {len(self._entries)} blocks")
        prev = self._entries[fork_index] if fork_index >= 0 else None
        for entry in branch:
            expected = (GENESIS_HASH, 0, 0) if prev is None else (prev.hash, prev.index + 1, prev.total_work)
            if (entry.prev_hash, entry.index, entry.total_work - entry.work) != expected:
                raise ValueError(f"block {entry.hash[:12]}… does not follow block {expected[1] - 1} of the branch")
            prev = entry
        rolled_back = tuple(self._entries[fork_index + 1:])
        self._entries[fork_index + 1:] = branch
        self._state = state
        return rolled_back

    def mine(self, wallet: Wallet, contract: dict, **kwargs) -> Entry:
        """Mine a block with ``contract`` on the tip, sign it, and append it."""
        return self.append(mine_block(self.network, wallet, contract, parent=self.tip, **kwargs))

    def save(self, path: str | os.PathLike) -> Path:
        from .blocksfile import save_blocks

        return save_blocks(path, self.blocks)

    def __repr__(self) -> str:
        tip = f", tip={self.tip.hash[:12]}…" if self._entries else ""
        return f"Chain({len(self)} blocks{tip})"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{e.index}</td><td><code>{e.hash[:12]}…</code></td><td><code>{e.prev_hash[:12]}…</code></td>"
            f"<td>{html.escape(self.network.name_of(e.signer))}</td><td>{e.work:,}</td><td>{e.total_work:,}</td></tr>"
            for e in self._entries)
        head = "<tr><th>index</th><th>hash</th><th>prev_hash</th><th>signer</th><th>work</th><th>total work</th></tr>"
        return (f"<p><b>Chain</b> of {len(self)} blocks, state digest <code>{self.digest()[:12]}…</code></p>"
                f"<table>{head}{rows}</table>")
