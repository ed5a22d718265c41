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
  most blocks; on a tie the tip with the smaller hash wins. That tie rule
  makes the choice depend only on which blocks a peer holds, never on the
  order they arrived in, so honest peers holding the same blocks agree;
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

Every block is judged by ``labkit.chain.judge``, on what its parent
established (an orphan, whose parent is unknown, on what it can be judged
alone; the rest when the parent arrives). Which refusals are remembered: one
that the token alone decides (bad MAC or payload, wrong index, no proof of
work, timestamp before the parent's, ancestry, contract) is remembered by
block hash, so a child of such a block is refused at once. A refusal of the
*record* (signer, signature, author) is not, because the hash covers only the
token: another copy of the same token with a good signature may still
arrive. Nor is a timestamp too far in the future, which the clock will fix
(``Verdict.remembered`` says which).

The canonical chain changes only through ``Chain.switch_branch``, which
checks that the new branch links on, so the chain's invariants hold after
every reorganisation.

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
from .chain import UNKNOWN_PARENT, BlockReport, Chain, Entry, Link, Verdict, judge
from .encoding import b64url_decode, loads_strict
from .errors import InvalidBlock, StrictJSONError
from .network import Network
from .reorg import BlockStatus, Dropped, Reorg, TreeUpdate, actions_text
from .operations import Operation, empty_state
from .tokens import GENESIS_HASH, utc_now
from .vm import State, execute

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "MAX_ORPHANS",
    "MAX_ORPHAN_AGE",
    "STATE_CACHE",
    "BlockTree",
    "rank",
    "replay",
]

MAX_ORPHANS = 100  # blocks waiting for their parent
MAX_ORPHAN_AGE = 1000  # arrivals an orphan may wait before it is dropped as too old
STATE_CACHE = 32  # states kept for fast reorgs; older ones are replayed
MAX_REMEMBERED_INVALID = 1000  # rejected block hashes remembered, so their children are refused at once


def replay(entries: "list[Entry] | tuple[Entry, ...] | Chain",
           operations: dict[str, Operation] | None = None) -> State:
    """The state after executing the contracts of ``entries`` in order, from an empty state."""
    state = empty_state()
    for entry in entries:
        state = execute(state, entry.payload.transaction_data, entry.context, operations)
    return state


@dataclass(frozen=True)
class _Orphan:
    block: Block
    verdict: Verdict  # judged alone: nothing broken, the rules about the parent waiting
    prev_hash: str
    arrival: int  # the tree's arrival counter when it came


# --- the tree -----------------------------------------------------------------


class BlockTree:
    """Every valid block a peer holds, its canonical chain, and the VM state of that chain.

    ``chain`` is a ``labkit.chain.Chain`` holding the canonical branch and
    its state; the tree changes it only through ``Chain.switch_branch``.
    """

    def __init__(
        self,
        network: Network,
        *,
        operations: dict[str, Operation] | None = None,
        max_orphans: int = MAX_ORPHANS,
        max_orphan_age: int = MAX_ORPHAN_AGE,
    ):
        self.network = network
        self.operations = operations
        self.chain = Chain(network, operations=operations)
        self.max_orphans = max_orphans
        self.max_orphan_age = max_orphan_age
        self._entries: dict[str, Entry] = {}
        self._joined: dict[str, int] = {}  # the order blocks joined the tree in (for display only)
        self._children: dict[str, list[str]] = {}
        self._states: OrderedDict[str, State] = OrderedDict()  # state after a block, most recent last
        self._orphans: OrderedDict[str, _Orphan] = OrderedDict()  # oldest first
        self._waiting: dict[str, list[str]] = {}  # parent hash -> orphans waiting for it
        self._refused: OrderedDict[str, Verdict] = OrderedDict()  # tokens refused for good
        # Records refused for now (a bad signature, a time ahead of the clock): another
        # record of the same token may yet be accepted, so blocks built on them wait too.
        self._refused_records: OrderedDict[str, Verdict] = OrderedDict()
        self._arrivals = 0

    every_rule = False  # judge asks every rule (a learner's node, which asks the learner after labkit)

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
    def state(self) -> State:
        """The VM state of the canonical chain."""
        return self.chain.state

    def digest(self) -> str:
        return self.chain.digest()

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

    def status(self, block_hash: str) -> BlockStatus:
        if block_hash in self._entries:
            return BlockStatus.CANONICAL if self.is_canonical(block_hash) else BlockStatus.SIDE
        if block_hash in self._orphans:
            return BlockStatus.ORPHAN
        if block_hash in self._refused:
            return BlockStatus.REFUSED
        return BlockStatus.UNKNOWN

    def waiting_for(self, block_hash: str) -> str | None:
        """The parent hash an orphan waits for (None if it is not an orphan)."""
        orphan = self._orphans.get(block_hash)
        return orphan.prev_hash if orphan else None

    def verdict(self, block_hash: str) -> Verdict | None:
        """The verdict the tree holds on a block: accepted, waiting (an orphan) or remembered as refused."""
        orphan = self._orphans.get(block_hash)
        if orphan is not None:
            return orphan.verdict
        return self._refused.get(block_hash)

    def rejection(self, block_hash: str) -> InvalidBlock | None:
        """Why a block was refused, if the tree remembers it."""
        found = self._refused.get(block_hash)
        return found.error if found else None

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
        """The last block of every branch, best first: most work, then the smaller hash."""
        tips = [e for h, e in self._entries.items() if not self._children.get(h)]
        return sorted(tips, key=_entry_rank)

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
            state = execute(state, entry.payload.transaction_data, entry.context, self.operations)
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

    def blocks_frame(self) -> "pd.DataFrame":
        """Every valid block: index, hash, parent, signer, work, total work, canonical or side."""
        import pandas as pd

        rows = [{"index": e.index, "hash": e.hash[:12], "prev_hash": e.prev_hash[:12],
                 "signer": self.network.name_of(e.signer), "actions": actions_text(e.payload.transaction_data),
                 "work": e.work, "total_work": e.total_work, "status": self.status(e.hash).value}
                for e in sorted(self._entries.values(), key=lambda e: (e.index, self._joined[e.hash]))]
        columns = ["index", "hash", "prev_hash", "signer", "actions", "work", "total_work", "status"]
        return pd.DataFrame(rows, columns=columns)

    def __repr__(self) -> str:
        return (f"BlockTree({len(self)} blocks, {len(self.tips())} branches, {len(self._orphans)} orphans, "
                f"canonical {len(self.chain)} blocks, work {self.chain.total_work})")

    # --- adding ----------------------------------------------------------------

    def judge(self, block: Block, *, now: dt.datetime | None = None) -> Verdict:
        """The verdict on a block on the parent it names, as ``add`` reaches it, without adding it."""
        now = now or utc_now()
        if not isinstance(block, Block):
            return self._numbered(judge(block, self.network, UNKNOWN_PARENT, now=now))
        held = self._entries.get(block.hash)
        parent = self._parent_of(block) if held is None else self.parent(held)
        if parent is not UNKNOWN_PARENT and parent is not None and not isinstance(parent, Entry):
            soft = self._refused_for_now(parent.hash)
            if soft is not None:
                return self._provisional(block, soft, now)
        parent_state = None
        if parent is None:
            parent_state = empty_state()
        elif isinstance(parent, Entry):
            parent_state = self.state_after(parent.hash)
        return self._numbered(judge(block, self.network, parent, state=parent_state, now=now,
                                    operations=self.operations, every_rule=self.every_rule))

    def _provisional(self, block: Block, soft: Verdict, now: dt.datetime) -> Verdict:
        """The verdict on a block whose parent's record was refused for now (another copy may pass).

        What does not depend on the parent is decided for good; the rest is
        judged on the parent's token (the same in every copy) and refused by
        ``ancestry`` for now, never remembered: when a good copy of the parent
        comes, the block is judged again.
        """
        alone = judge(block, self.network, UNKNOWN_PARENT, now=now, operations=self.operations)
        if alone.broken is not None:
            return alone
        declared = alone.index  # the height it declares, -1 if none
        stand_in = Link(declared - 1 if declared > 0 else -1, soft.hash, soft.time, 0,
                        soft.link.refused)
        return replace(judge(block, self.network, stand_in, now=now, operations=self.operations),
                       remembered=False, provisional=True)
    def add(self, block: Block, *, now: dt.datetime | None = None) -> TreeUpdate:
        """Add a block; raise InvalidBlock (and change nothing) if it is refused.

        A block whose parent is unknown is not an error: it waits as an orphan.
        Orphans freed by this block are judged in turn; those refused are
        listed in ``TreeUpdate.rejected`` rather than raised.
        """
        self._arrivals += 1
        now = now or utc_now()
        update = self._add(block, now)
        dropped = self._expire_orphans()
        if dropped:
            update = replace(update, dropped=update.dropped + dropped)
        return update

    def _add(self, block: Block, now: dt.datetime) -> TreeUpdate:
        if isinstance(block, Block):
            block_hash = block.hash
            held = self._entries.get(block_hash)
            if held is not None and _same_record(held.block, block):
                return TreeUpdate(block_hash, self.status(block_hash), known=True)
            orphan = self._orphans.get(block_hash)
            if orphan is not None and _same_record(orphan.block, block):
                return TreeUpdate(block_hash, BlockStatus.ORPHAN, known=True)
            remembered = self._refused.get(block_hash)
            if remembered is not None:  # the token itself was refused: any record of it is
                self._refused.move_to_end(block_hash)
                raise remembered.error
        verdict = self.judge(block, now=now)
        if verdict.broken is not None:
            if verdict.hash is None:
                raise verdict.error
            if self._builds_on_a_refused_record(block, verdict):
                self._add_orphan(block, verdict)  # refused for now; it waits for a good copy of its parent
            elif verdict.remembered:
                self._remember_refused(verdict)
                self._free_orphans(verdict.hash, now)  # orphans waiting for it are refused with it
            else:
                self._remember(self._refused_records, verdict)
            raise verdict.error
        if block.hash in self._entries or block.hash in self._orphans:
            # Another record of a token held already that passes every rule: the same block.
            return TreeUpdate(block.hash, self.status(block.hash), known=True)
        if verdict.waiting:
            dropped = self._add_orphan(block, verdict)
            return TreeUpdate(block.hash, BlockStatus.ORPHAN, dropped=dropped)
        entry = self._join(verdict)
        connected, rejected = self._free_orphans(entry.hash, now)
        change = self._choose((entry, *connected))
        return TreeUpdate(block.hash, self.status(block.hash), False, (entry, *connected),
                          tuple(rejected), (), change)

    # --- the steps of add -----------------------------------------------------------

    def _numbered(self, verdict: Verdict) -> Verdict:
        """A record that cannot be read at all is numbered as the next block of the canonical chain."""
        if verdict.rule == "record" and verdict.index < 0:
            return replace(verdict, index=len(self.chain))
        return verdict

    def _parent_of(self, block: Block) -> Link | Entry | None:
        """The parent the block names (read without checking the MAC: the verdict checks it)."""
        try:
            claims = loads_strict(b64url_decode(block.token.split(".")[1]))
            prev_hash = claims["prev_hash"]
        except (IndexError, ValueError, StrictJSONError, KeyError, TypeError):
            return UNKNOWN_PARENT
        if not isinstance(prev_hash, str):
            return UNKNOWN_PARENT
        if prev_hash == GENESIS_HASH or claims.get("index") == 0:  # a first block links to genesis
            return None
        if prev_hash in self._entries:
            return self._entries[prev_hash]
        if prev_hash in self._refused:
            return self._refused[prev_hash].link
        refused_for_now = self._refused_for_now(prev_hash)
        if refused_for_now is not None:
            return refused_for_now.link
        return UNKNOWN_PARENT

    def _refused_for_now(self, block_hash: str) -> Verdict | None:
        """A refused record (another copy of its token may pass), or a block waiting on one."""
        found = self._refused_records.get(block_hash)
        if found is None and block_hash in self._orphans:
            found = self._orphans[block_hash].verdict
        return found if found is not None and found.broken is not None else None

    def _builds_on_a_refused_record(self, block: Block, verdict: Verdict) -> bool:
        """Refused only on a parent refused for now: it waits for a good copy of that parent."""
        return verdict.provisional

    def _join(self, verdict: Verdict) -> Entry:
        entry = verdict.entry
        self._refused_records.pop(entry.hash, None)
        self._entries[entry.hash] = entry
        self._joined[entry.hash] = len(self._joined)
        self._children.setdefault(entry.prev_hash, []).append(entry.hash)
        self._remember_state(entry.hash, verdict.state)
        return entry

    def _free_orphans(self, block_hash: str, now: dt.datetime) -> tuple[list[Entry], list[BlockReport]]:
        """Judge the orphans waiting for a block, and theirs, breadth first in arrival order."""
        connected: list[Entry] = []
        rejected: list[BlockReport] = []
        queue = deque([block_hash])
        while queue:
            parent_hash = queue.popleft()
            for orphan_hash in self._waiting.pop(parent_hash, []):
                orphan = self._orphans.pop(orphan_hash)
                verdict = self.judge(orphan.block, now=now)
                if verdict.broken is not None and self._builds_on_a_refused_record(orphan.block, verdict):
                    self._add_orphan(orphan.block, verdict)  # still waiting for a good copy of its parent
                    continue
                if verdict.broken is not None:
                    rejected.append(verdict.report())
                    if verdict.remembered:
                        self._remember_refused(verdict)
                        queue.append(orphan_hash)  # its own orphans are refused in turn
                    continue
                connected.append(self._join(verdict))
                queue.append(orphan_hash)
        return connected, rejected

    def _choose(self, candidates: tuple[Entry, ...]) -> Reorg | None:
        """Make the best candidate canonical if it beats the tip: more work, or as much and a smaller hash."""
        best = self.chain.tip
        for entry in candidates:
            if best is None or _entry_rank(entry) < _entry_rank(best):
                best = entry
        return self.switch_to(best)

    def switch_to(self, best: Entry | None) -> Reorg | None:
        """Make ``best`` (a block the tree holds) the canonical tip; the Reorg, or None if it is the tip already.

        ``_choose`` calls it with the tip of most work; a learner's node (labkit.node.rules)
        with the tip the learner's fork choice picked.
        """
        if best is None or best is self.chain.tip:
            return None
        new_branch = []
        entry: Entry | None = best
        while entry is not None and not self.is_canonical(entry.hash):
            new_branch.append(entry)
            entry = self.parent(entry)
        fork_index = entry.index if entry is not None else -1
        old_work = self.chain.total_work
        applied = tuple(reversed(new_branch))
        rolled_back = self.chain.switch_branch(fork_index, applied, self.state_after(best.hash))
        return Reorg(fork_index, rolled_back, applied, old_work, best.total_work)

    def _add_orphan(self, block: Block, verdict: Verdict) -> tuple[Dropped, ...]:
        if block.hash in self._orphans:  # another record of a waiting token: the first one waits
            return ()
        dropped = []
        while len(self._orphans) >= self.max_orphans:
            oldest = next(iter(self._orphans))
            dropped.append(self._drop_orphan(
                oldest, f"the orphan pool is full ({self.max_orphans} blocks): the oldest makes room"))
        prev_hash = _claimed_prev_hash(block)
        self._orphans[block.hash] = _Orphan(block, verdict, prev_hash, self._arrivals)
        self._waiting.setdefault(prev_hash, []).append(block.hash)
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
                             f"{oldest.prev_hash[:12]}…: too old"))
        return tuple(dropped)

    def _drop_orphan(self, block_hash: str, reason: str) -> Dropped:
        orphan = self._orphans.pop(block_hash)
        waiting = self._waiting.get(orphan.prev_hash, [])
        if block_hash in waiting:
            waiting.remove(block_hash)
        if not waiting:
            self._waiting.pop(orphan.prev_hash, None)
        declared = orphan.verdict.index
        return Dropped(block_hash, None if declared < 0 else declared, reason)

    def _remember_refused(self, verdict: Verdict) -> None:
        self._refused_records.pop(verdict.hash, None)
        self._remember(self._refused, verdict)

    @staticmethod
    def _remember(memory: OrderedDict, verdict: Verdict) -> None:
        memory[verdict.hash] = verdict
        memory.move_to_end(verdict.hash)
        while len(memory) > MAX_REMEMBERED_INVALID:
            memory.popitem(last=False)

    # --- states ------------------------------------------------------------------

    def _known_state(self, block_hash: str) -> State | None:
        tip = self.chain.tip
        if tip is not None and tip.hash == block_hash:
            return self.chain.state
        state = self._states.get(block_hash)
        if state is not None:
            self._states.move_to_end(block_hash)
        return state

    def _remember_state(self, block_hash: str, state: State) -> None:
        self._states[block_hash] = state
        self._states.move_to_end(block_hash)
        while len(self._states) > STATE_CACHE:
            self._states.popitem(last=False)


def rank(total_work: int, tip_hash: str) -> tuple[int, str]:
    """The fork choice, as a sort key of tips (smaller is better): the most total work, then the smaller hash.

    Never the arrival order, so peers holding the same blocks choose the same
    tip. ``min(tips, key=...)`` is the canonical tip; a tip beats another when
    its rank is smaller. The tree, the live node (which compares a member's
    pointer with its own tip) and the course's reference all decide with it.
    """
    return (-total_work, tip_hash)


def _entry_rank(entry: Entry) -> tuple[int, str]:
    return rank(entry.total_work, entry.hash)


def _claimed_prev_hash(block: Block) -> str:
    """The prev_hash an orphan names (it passed the payload rule, so its claims read)."""
    return loads_strict(b64url_decode(block.token.split(".")[1]))["prev_hash"]


def _same_record(a: Block, b: Block) -> bool:
    """Same token and signature; a record without signer matches one naming the only member."""
    return a.token == b.token and a.signature == b.signature and (
        a.signer == b.signer or a.signer is None or b.signer is None)
