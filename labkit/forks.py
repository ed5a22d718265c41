"""Forks: a tree of blocks, the canonical chain by most work, and reorganisations.

Two members can mine on the same parent, and an attacker can mine a branch in
secret, so a peer keeps every valid block it has seen as a tree, not a list:

* a block whose parent is known (or that starts at genesis) joins the tree;
  it starts a new branch when its parent already has a child;
* a block whose parent is unknown waits in a bounded orphan pool
  (``MAX_ORPHANS`` blocks) until the parent arrives; when the pool is full the
  oldest orphan is dropped, and an orphan that has waited through
  ``MAX_ORPHAN_AGE`` arrivals is dropped as too old, each with a reason;
* the canonical chain is the branch whose tip has the most cumulative work
  (``Entry.total_work``: 16^difficulty expected attempts per block), not the
  most blocks; on a tie the branch that joined the tree first stays canonical;
* when another branch overtakes it, the VM state is rebuilt to match the new
  canonical chain and a ``Reorg`` says which blocks were rolled back and
  which were applied.

Contract validity is decided per branch. A contract's effect depends on the
state before it, and that state depends on the branch: registering student
S002 is fine on a branch where nobody has, and a duplicate id on a branch
where someone already did. A block's ``prev_hash`` fixes its whole ancestry,
so its contract is executed, once, on the state of *its own* branch when the
block joins the tree; if the contract fails there the block is invalid
(check ``contract``) for good, and so is every block built on it (check
``ancestry``). The same contract in a block on another branch is judged on
that branch's state. The invariant the tests check: the VM state always
equals replaying the canonical chain from genesis.

States are rebuilt from snapshots: the tree remembers the state after the
most recently used ``STATE_CACHE`` blocks (the VM stages every contract on
copies and never edits a state in place, so keeping references is safe) and
replays forward from the nearest remembered ancestor, or from genesis.

Which verdicts are remembered: a rejection that the token alone decides
(bad MAC or payload, wrong index, no proof of work, timestamp before the
parent's, contract, ancestry) is remembered by block hash, so a child of such
a block is refused at once. A rejection of the *record* (signer, signature)
is not, because the hash covers only the token: another copy of the same
token with a good signature may still arrive. Nor is a timestamp too far in
the future, which the clock will fix.

References: S. Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System"
(2008), sections 4 and 5 (the chain with the most proof of work wins);
Bitcoin Core's chain selection by ``nChainWork`` and its orphan-block pool.
"""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict, deque
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Iterator

from .block import Block
from .chain import BlockReport, Chain, Entry, Link, verify_block
from .encoding import StrictJSONError, b64url_decode, loads_strict
from .errors import ContractError, InvalidBlock, InvalidToken
from .network import Network
from .operations import Context, empty_state
from .tokens import GENESIS_HASH, Payload, utc_now
from .vm import OISC

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "MAX_ORPHANS",
    "MAX_ORPHAN_AGE",
    "STATE_CACHE",
    "Dropped",
    "Reorg",
    "TreeUpdate",
    "BlockTree",
    "replay",
]

MAX_ORPHANS = 100  # blocks waiting for their parent
MAX_ORPHAN_AGE = 1000  # arrivals an orphan may wait before it is dropped as too old
STATE_CACHE = 32  # states kept for fast reorgs; older ones are replayed
MAX_REMEMBERED_INVALID = 1000  # rejected block hashes remembered, so their children are refused at once

# Rejections of the record, not of the token: another copy of the token may be fine.
_RECORD_CHECKS = frozenset({"record", "signer", "signature"})

State = dict


def replay(entries: "list[Entry] | tuple[Entry, ...] | Chain", vm: OISC | None = None) -> State:
    """The state after executing the contracts of ``entries`` in order, from an empty state."""
    vm = OISC() if vm is None else vm
    for entry in entries:
        vm.execute_smart_contract(entry.payload.transaction_data,
                                  Context(entry.signer, entry.index, entry.hash))
    return vm.state


# --- what an arrival did ------------------------------------------------------


@dataclass(frozen=True)
class Dropped:
    """An orphan that stopped waiting for its parent."""

    hash: str
    index: int | None  # the height the block declares, if any
    reason: str


@dataclass(frozen=True)
class Reorg:
    """How the canonical chain changed: blocks rolled back and blocks applied, in chain order.

    A plain extension of the chain is a Reorg with nothing rolled back.
    """

    fork_index: int  # index of the last block the old and new chains share; -1 when none
    rolled_back: tuple[Entry, ...]
    applied: tuple[Entry, ...]
    old_work: int  # total work of the old canonical chain
    new_work: int

    @property
    def is_extension(self) -> bool:
        return not self.rolled_back

    @property
    def depth(self) -> int:
        """How many canonical blocks were undone."""
        return len(self.rolled_back)

    def __repr__(self) -> str:
        return (f"Reorg(after block {self.fork_index}: {len(self.rolled_back)} rolled back, "
                f"{len(self.applied)} applied, work {self.old_work} -> {self.new_work})")

    def _repr_html_(self) -> str:
        return self.frame().to_html(index=False)

    def frame(self, network: Network | None = None) -> "pd.DataFrame":
        """One row per block rolled back or applied."""
        import pandas as pd

        def name(entry: Entry) -> str:
            return network.name_of(entry.signer) if network else entry.signer[:10]

        rows = [{"change": change, "index": e.index, "hash": e.hash[:12], "signer": name(e),
                 "actions": _actions(e.payload.transaction_data), "work": e.work}
                for change, entries in (("rolled back", self.rolled_back), ("applied", self.applied))
                for e in entries]
        return pd.DataFrame(rows, columns=["change", "index", "hash", "signer", "actions", "work"])


@dataclass(frozen=True)
class TreeUpdate:
    """What adding one block did to the tree."""

    hash: str
    status: str  # "canonical", "side" (valid, on another branch), "orphan" (waiting) or "known" (held already)
    connected: tuple[Entry, ...] = ()  # blocks that joined the tree: this one and orphans it freed
    rejected: tuple[BlockReport, ...] = ()  # waiting orphans refused once their parent arrived
    dropped: tuple[Dropped, ...] = ()  # orphans that stopped waiting
    change: Reorg | None = None  # how the canonical chain changed, if it did

    @property
    def reorg(self) -> Reorg | None:
        """The change, when it rolled blocks back (not a plain extension)."""
        return self.change if self.change is not None and self.change.rolled_back else None


@dataclass(frozen=True)
class _Orphan:
    block: Block
    payload: Payload
    arrival: int  # the tree's arrival counter when it came


def _actions(contract: object) -> str:
    if isinstance(contract, dict) and isinstance(contract.get("actions"), list):
        return ", ".join(str(a.get("action", "?")) if isinstance(a, dict) else "?" for a in contract["actions"])
    return "?"


# --- the tree -----------------------------------------------------------------


class BlockTree:
    """Every valid block a peer holds, its canonical chain, and the VM state of that chain.

    ``chain`` is a ``labkit.chain.Chain`` holding the canonical branch and
    ``vm`` the OISC whose state matches it; both are kept in step by ``add``.
    """

    def __init__(
        self,
        network: Network,
        *,
        vm: OISC | None = None,
        max_orphans: int = MAX_ORPHANS,
        max_orphan_age: int = MAX_ORPHAN_AGE,
    ):
        self.network = network
        self.vm = OISC() if vm is None else vm
        self.chain = Chain(network)
        self.max_orphans = max_orphans
        self.max_orphan_age = max_orphan_age
        self._entries: dict[str, Entry] = {}
        self._joined: dict[str, int] = {}  # the order blocks joined the tree in: ties go to the earlier
        self._children: dict[str, list[str]] = {}
        self._states: OrderedDict[str, State] = OrderedDict()  # state after a block, most recent last
        self._orphans: OrderedDict[str, _Orphan] = OrderedDict()  # oldest first
        self._waiting: dict[str, list[str]] = {}  # parent hash -> orphans waiting for it
        self._invalid: OrderedDict[str, tuple[InvalidBlock, Link]] = OrderedDict()
        self._arrivals = 0

    # --- looking ---------------------------------------------------------------

    def __len__(self) -> int:
        """Valid blocks held, on every branch."""
        return len(self._entries)

    def __contains__(self, block_hash: object) -> bool:
        return block_hash in self._entries

    def __iter__(self) -> Iterator[Entry]:
        """Every valid block, in the order it joined the tree."""
        return iter(self._entries.values())

    @property
    def tip(self) -> Entry | None:
        """The canonical chain's last block."""
        return self.chain.tip

    @property
    def orphans(self) -> tuple[Block, ...]:
        """Blocks waiting for their parent, oldest first."""
        return tuple(o.block for o in self._orphans.values())

    def entry(self, block_hash: str) -> Entry:
        """The valid block with this hash; raises KeyError."""
        return self._entries[block_hash]

    def parent(self, entry: Entry) -> Entry | None:
        return None if entry.prev_hash == GENESIS_HASH else self._entries[entry.prev_hash]

    def is_canonical(self, block_hash: str) -> bool:
        entry = self._entries.get(block_hash)
        return (entry is not None and entry.index < len(self.chain)
                and self.chain[entry.index].hash == block_hash)

    def status(self, block_hash: str) -> str:
        """"canonical", "side", "orphan", "invalid" (remembered as rejected) or "unknown"."""
        if block_hash in self._entries:
            return "canonical" if self.is_canonical(block_hash) else "side"
        if block_hash in self._orphans:
            return "orphan"
        if block_hash in self._invalid:
            return "invalid"
        return "unknown"

    def waiting_for(self, block_hash: str) -> str | None:
        """The parent hash an orphan waits for (None if it is not an orphan)."""
        orphan = self._orphans.get(block_hash)
        return orphan.payload.prev_hash if orphan else None

    def rejection(self, block_hash: str) -> InvalidBlock | None:
        """Why a block was refused, if the tree remembers it."""
        found = self._invalid.get(block_hash)
        return found[0] if found else None

    def holds(self, block: Block) -> bool:
        """Whether this very record (same token and signature) is already in the tree."""
        entry = self._entries.get(block.hash)
        return entry is not None and _same_record(entry.block, block)

    def path(self, block_hash: str) -> list[Entry]:
        """The branch from the first block to this one."""
        entries = []
        entry: Entry | None = self._entries[block_hash]
        while entry is not None:
            entries.append(entry)
            entry = self.parent(entry)
        return entries[::-1]

    def tips(self) -> list[Entry]:
        """The last block of every branch, most work first (ties: the one that joined first)."""
        tips = [e for h, e in self._entries.items() if not self._children.get(h)]
        return sorted(tips, key=lambda e: (-e.total_work, self._joined[e.hash]))

    def state_after(self, block_hash: str | None) -> State:
        """The VM state after this block on its own branch (None or the genesis hash: empty).

        Do not edit the returned state; the tree may share it.
        """
        if block_hash is None or block_hash == GENESIS_HASH:
            return empty_state()
        known = self._known_state(block_hash)
        if known is not None:
            return known
        todo = []
        entry = self._entries[block_hash]
        while True:
            todo.append(entry)
            if entry.prev_hash == GENESIS_HASH:
                state = empty_state()
                break
            state = self._known_state(entry.prev_hash)
            if state is not None:
                break
            entry = self._entries[entry.prev_hash]
        for entry in reversed(todo):
            # Each contract was executed on this very state when its block joined the tree.
            state = self._apply(state, entry)
            self._remember_state(entry.hash, state)
        return state

    def branches_frame(self) -> "pd.DataFrame":
        """One row per branch: its tip, length, total work, where it leaves the canonical chain."""
        import pandas as pd

        rows = []
        for tip in self.tips():
            entry: Entry | None = tip
            while entry is not None and not self.is_canonical(entry.hash):
                entry = self.parent(entry)
            canonical = self.is_canonical(tip.hash)
            rows.append({"tip": tip.hash[:12], "blocks": tip.index + 1, "total_work": tip.total_work,
                         "signer": self.network.name_of(tip.signer),
                         "forks_after": None if canonical else (entry.index if entry is not None else -1),
                         "canonical": canonical})
        frame = pd.DataFrame(rows, columns=["tip", "blocks", "total_work", "signer", "forks_after", "canonical"])
        return frame.astype({"forks_after": "Int64"})  # empty for the canonical branch

    def frame(self) -> "pd.DataFrame":
        """Every valid block: index, hash, parent, signer, work, total work, canonical or side."""
        import pandas as pd

        rows = [{"index": e.index, "hash": e.hash[:12], "prev_hash": e.prev_hash[:12],
                 "signer": self.network.name_of(e.signer), "actions": _actions(e.payload.transaction_data),
                 "work": e.work, "total_work": e.total_work, "status": self.status(e.hash)}
                for e in sorted(self._entries.values(), key=lambda e: (e.index, self._joined[e.hash]))]
        columns = ["index", "hash", "prev_hash", "signer", "actions", "work", "total_work", "status"]
        return pd.DataFrame(rows, columns=columns)

    def __repr__(self) -> str:
        return (f"BlockTree({len(self)} blocks, {len(self.tips())} branches, {len(self._orphans)} orphans, "
                f"canonical {len(self.chain)} blocks, work {self.chain.total_work})")

    # --- adding ----------------------------------------------------------------

    def add(self, block: Block, *, now: dt.datetime | None = None) -> TreeUpdate:
        """Add a block; raise InvalidBlock (and change nothing) if it is refused.

        A block whose parent is unknown is not an error: it waits as an orphan.
        Orphans freed by this block are checked in turn; those refused are
        listed in ``TreeUpdate.rejected`` rather than raised.
        """
        self._arrivals += 1
        now = now or utc_now()
        try:
            update = self._add(block, now)
        except InvalidBlock:
            if isinstance(block, Block) and block.hash in self._invalid:
                self._free_orphans(block.hash, now)  # orphans waiting for it are refused with it
            raise
        dropped = self._expire_orphans()
        if dropped:
            update = replace(update, dropped=update.dropped + dropped)
        return update

    def _add(self, block: Block, now: dt.datetime) -> TreeUpdate:
        if not isinstance(block, Block):
            raise InvalidBlock(len(self.chain), "record", f"expected a Block, got {type(block).__name__}")
        block_hash = block.hash

        held = self._entries.get(block_hash)
        if held is not None:
            if _same_record(held.block, block):
                return TreeUpdate(block_hash, "known")
            verify_block(block, self.network, self.parent(held), now=now)  # names a bad signature...
            raise self._second_author(block, held.block, held.index)  # ...or refuses a good one
        orphan = self._orphans.get(block_hash)
        if orphan is not None:
            if _same_record(orphan.block, block):
                return TreeUpdate(block_hash, "orphan")
            self._check_alone(block, orphan.payload, now)
            raise self._second_author(block, orphan.block, orphan.payload.index)
        if block_hash in self._invalid:
            error, _ = self._invalid[block_hash]
            self._invalid.move_to_end(block_hash)
            raise InvalidBlock(error.index, error.check, error.reason)

        try:
            payload = block.payload(self.network.secret)
        except InvalidToken as exc:
            # Let verify_block name the first rule broken, in CHECKS order.
            guess = self._guess_parent(block)
            verify_block(block, self.network, guess, now=now)
            raise InvalidBlock(0 if guess is None else guess.index + 1, exc.check, exc.reason) from None

        parent_hash = payload.prev_hash
        if parent_hash != GENESIS_HASH and parent_hash not in self._entries:
            if parent_hash in self._invalid:
                raise self._refuse_descendant(block, payload, parent_hash, now)
            self._check_alone(block, payload, now)
            dropped = self._add_orphan(block, payload)
            return TreeUpdate(block_hash, "orphan", dropped=dropped)

        entry = self._join(block, payload, self._entries.get(parent_hash), now)
        connected, rejected = self._free_orphans(entry.hash, now)
        change = self._choose((entry, *connected))
        return TreeUpdate(block_hash, self.status(block_hash), (entry, *connected), tuple(rejected), (), change)

    # --- the steps of add -----------------------------------------------------------

    def _join(self, block: Block, payload: Payload, parent: Entry | None, now: dt.datetime) -> Entry:
        """Check a block against its parent and its branch's state; add it to the tree or raise."""
        try:
            entry = verify_block(block, self.network, parent, now=now)
        except InvalidBlock as exc:
            future = exc.check == "timestamp" and (payload.time - now).total_seconds() > self.network.max_clock_skew
            if exc.check not in _RECORD_CHECKS and not future:
                self._remember_invalid(block.hash, exc, payload)
            raise
        try:
            state = self._apply(self.state_after(entry.prev_hash), entry)
        except ContractError as exc:
            error = InvalidBlock(entry.index, "contract", str(exc))
            self._remember_invalid(block.hash, error, payload)
            raise error from None
        self._entries[entry.hash] = entry
        self._joined[entry.hash] = len(self._joined)
        self._children.setdefault(entry.prev_hash, []).append(entry.hash)
        self._remember_state(entry.hash, state)
        return entry

    def _free_orphans(self, block_hash: str, now: dt.datetime) -> tuple[list[Entry], list[BlockReport]]:
        """Connect the orphans waiting for a block, and theirs, breadth first in arrival order.

        If that block was refused, they are refused (``ancestry``) instead.
        """
        connected: list[Entry] = []
        rejected: list[BlockReport] = []
        queue = deque([block_hash])
        while queue:
            parent_hash = queue.popleft()
            for orphan_hash in self._waiting.pop(parent_hash, []):
                orphan = self._orphans.pop(orphan_hash)
                parent = self._entries.get(parent_hash)
                try:
                    if parent is None:  # its parent was refused just now
                        raise self._refuse_descendant(orphan.block, orphan.payload, parent_hash, now)
                    child = self._join(orphan.block, orphan.payload, parent, now)
                except InvalidBlock as exc:
                    rejected.append(BlockReport.rejected(exc, orphan.block))
                    if orphan_hash in self._invalid:
                        queue.append(orphan_hash)  # its own orphans are refused in turn
                    continue
                connected.append(child)
                queue.append(child.hash)
        return connected, rejected

    def _choose(self, candidates: tuple[Entry, ...]) -> Reorg | None:
        """Make the candidate with the most work canonical if it beats the tip (ties keep the tip)."""
        best = self.chain.tip
        for entry in candidates:  # in the order they joined, so among equals the first wins
            if best is None or entry.total_work > best.total_work:
                best = entry
        if best is None or best is self.chain.tip:
            return None
        new_branch = []
        entry: Entry | None = best
        while entry is not None and not self.is_canonical(entry.hash):
            new_branch.append(entry)
            entry = self.parent(entry)
        fork_index = entry.index if entry is not None else -1
        old_work = self.chain.total_work
        rolled_back = tuple(self.chain._entries[fork_index + 1:])
        applied = tuple(reversed(new_branch))
        state = self.state_after(best.hash)
        self.chain._entries[fork_index + 1:] = applied  # the tree owns this Chain
        self.vm.state = state
        return Reorg(fork_index, rolled_back, applied, old_work, best.total_work)

    def _check_alone(self, block: Block, payload: Payload, now: dt.datetime) -> None:
        """Every check that does not need the parent: signer, signature, token, MAC, payload, work, clock."""
        if payload.index == 0 or payload.prev_hash == GENESIS_HASH:
            verify_block(block, self.network, None, now=now)
            return
        stand_in = Link((payload.index or 1) - 1, payload.prev_hash, None)  # the parent it claims
        verify_block(block, self.network, stand_in, now=now)

    def _refuse_descendant(self, block: Block, payload: Payload, parent_hash: str,
                           now: dt.datetime) -> InvalidBlock:
        """The error for a block built on a refused one: its own fault first (as validate_blocks does), else ancestry."""
        found = self._invalid.get(parent_hash)
        link = found[1] if found else Link(-1, parent_hash, None)
        verify_block(block, self.network, link, now=now)
        error = InvalidBlock(link.index + 1, "ancestry", f"builds on rejected block {link.index}")
        self._remember_invalid(block.hash, error, payload)
        return error

    def _second_author(self, block: Block, held: Block, index: int | None) -> InvalidBlock:
        """A valid signature on a token the tree already holds under another signer."""
        return InvalidBlock(-1 if index is None else index, "signer",
                            f"block {block.hash[:12]}… is already held, signed by "
                            f"{self.network.name_of(held.signer or '')}; another signature cannot change its author")

    def _guess_parent(self, block: Block) -> Link | None:
        """The parent a block that cannot be decoded claims (read without checking the MAC), for its index."""
        try:
            claims = loads_strict(b64url_decode(block.token.split(".")[1]))
            prev_hash = claims["prev_hash"]
        except (IndexError, ValueError, StrictJSONError, KeyError, TypeError):
            return None
        if not isinstance(prev_hash, str) or prev_hash == GENESIS_HASH:
            return None
        if prev_hash in self._entries:
            return self._entries[prev_hash].link
        index = claims.get("index")
        if isinstance(index, int) and not isinstance(index, bool) and index > 0:
            return Link(index - 1, prev_hash, None)
        return None

    def _add_orphan(self, block: Block, payload: Payload) -> tuple[Dropped, ...]:
        dropped = []
        while len(self._orphans) >= self.max_orphans:
            oldest = next(iter(self._orphans))
            dropped.append(self._drop_orphan(
                oldest, f"the orphan pool is full ({self.max_orphans} blocks): the oldest makes room"))
        self._orphans[block.hash] = _Orphan(block, payload, self._arrivals)
        self._waiting.setdefault(payload.prev_hash, []).append(block.hash)
        return tuple(dropped)

    def _expire_orphans(self) -> tuple[Dropped, ...]:
        dropped = []
        while self._orphans:
            oldest_hash, oldest = next(iter(self._orphans.items()))
            age = self._arrivals - oldest.arrival
            if age <= self.max_orphan_age:
                break
            dropped.append(self._drop_orphan(
                oldest_hash, f"waited more than {self.max_orphan_age} arrivals for its parent "
                             f"{oldest.payload.prev_hash[:12]}…: too old"))
        return tuple(dropped)

    def _drop_orphan(self, block_hash: str, reason: str) -> Dropped:
        orphan = self._orphans.pop(block_hash)
        waiting = self._waiting.get(orphan.payload.prev_hash, [])
        if block_hash in waiting:
            waiting.remove(block_hash)
        if not waiting:
            self._waiting.pop(orphan.payload.prev_hash, None)
        return Dropped(block_hash, orphan.payload.index, reason)

    def _remember_invalid(self, block_hash: str, error: InvalidBlock, payload: Payload | None) -> None:
        self._invalid[block_hash] = (error, Link(error.index, block_hash, payload.time if payload else None))
        self._invalid.move_to_end(block_hash)
        while len(self._invalid) > MAX_REMEMBERED_INVALID:
            self._invalid.popitem(last=False)

    # --- states ------------------------------------------------------------------

    def _known_state(self, block_hash: str) -> State | None:
        tip = self.chain.tip
        if tip is not None and tip.hash == block_hash:
            return self.vm.state
        state = self._states.get(block_hash)
        if state is not None:
            self._states.move_to_end(block_hash)
        return state

    def _remember_state(self, block_hash: str, state: State) -> None:
        self._states[block_hash] = state
        self._states.move_to_end(block_hash)
        while len(self._states) > STATE_CACHE:
            self._states.popitem(last=False)

    def _apply(self, state: State, entry: Entry) -> State:
        """The state after ``entry``'s contract, run by a VM with this tree's operations; raises ContractError."""
        vm = OISC(self.vm.operations)
        vm.state = state  # execute_smart_contract stages on copies: ``state`` itself is not changed
        vm.execute_smart_contract(entry.payload.transaction_data, Context(entry.signer, entry.index, entry.hash))
        return vm.state


def _same_record(a: Block, b: Block) -> bool:
    """Same token and signature; a record without signer matches one naming the only member."""
    return a.token == b.token and a.signature == b.signature and (
        a.signer == b.signer or a.signer is None or b.signer is None)
