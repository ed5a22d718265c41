"""What a block's arrival did to a peer's tree: where the block stands, and how the chain changed.

``labkit.forks.BlockTree.add`` returns a ``TreeUpdate``: the block's
``BlockStatus``, the blocks that joined the tree with it, the orphans it
let in or that were refused or dropped, and the ``Reorg`` when the
canonical chain changed (a plain extension is a Reorg with nothing rolled
back).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .chain import BlockReport, Entry
from .network import Network

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["BlockStatus", "Dropped", "Reorg", "TreeUpdate", "actions_text"]


class BlockStatus(enum.Enum):
    """Where a block stands in a peer's tree."""

    CANONICAL = "canonical"  # on the branch with the most work
    SIDE = "side"  # valid, on another branch
    ORPHAN = "orphan"  # waiting for its parent
    REFUSED = "refused"  # remembered as refused
    UNKNOWN = "unknown"  # never seen, forgotten, or dropped from the orphan pool

    def __str__(self) -> str:
        return self.value


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
        return self.changes_frame().to_html(index=False)

    def changes_frame(self, network: Network | None = None) -> "pd.DataFrame":
        """One row per block rolled back or applied."""
        import pandas as pd

        def name(entry: Entry) -> str:
            return network.name_of(entry.signer) if network else entry.signer[:10]

        rows = [{"change": change, "index": e.index, "hash": e.hash[:12], "signer": name(e),
                 "actions": actions_text(e.payload.transaction_data), "work": e.work}
                for change, entries in (("rolled back", self.rolled_back), ("applied", self.applied))
                for e in entries]
        return pd.DataFrame(rows, columns=["change", "index", "hash", "signer", "actions", "work"])


@dataclass(frozen=True)
class TreeUpdate:
    """What adding one block did to the tree."""

    hash: str
    status: BlockStatus  # where the block stands now: CANONICAL, SIDE or ORPHAN
    known: bool = False  # the tree held this block already; nothing changed
    connected: tuple[Entry, ...] = ()  # blocks that joined the tree: this one and orphans it freed
    rejected: tuple[BlockReport, ...] = ()  # waiting orphans refused once their parent arrived
    dropped: tuple[Dropped, ...] = ()  # orphans that stopped waiting
    change: Reorg | None = None  # how the canonical chain changed, if it did

    @property
    def reorg(self) -> Reorg | None:
        """The change, when it rolled blocks back (not a plain extension)."""
        return self.change if self.change is not None and self.change.rolled_back else None



def actions_text(contract: object) -> str:
    """The action names of a contract, for tables ("?" for what is not one)."""
    if isinstance(contract, dict) and isinstance(contract.get("actions"), list):
        return ", ".join(str(a.get("action", "?")) if isinstance(a, dict) else "?" for a in contract["actions"])
    return "?"
