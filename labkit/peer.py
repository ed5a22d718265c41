"""A peer: a tree of blocks, its canonical chain and that chain's state, kept in step.

Given blocks (records or a blocks file), a peer has each one judged by the
rules of labkit.rules (``labkit.chain.judge``, contract included) and keeps
it only if it is accepted. A peer needs no wallet to verify: ``wallet`` is
only for mining its own blocks. It returns one report per block, so a notebook can show
which block was refused and why. Peers fed the same blocks end with the
same state digest.

Blocks are kept in a ``labkit.forks.BlockTree``: a block that builds on an
earlier block starts a competing branch, a block whose parent has not arrived
waits as an orphan, and the branch with the most work is the peer's ``chain``;
``vm`` always holds the state of that chain. For a file that simply extends
the chain this is exactly a list of blocks checked in order.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Iterable

from .block import Block
from .blocksfile import load_blocks, save_blocks
from .chain import BlockReport, Chain
from .errors import InvalidBlock
from .forks import MAX_ORPHANS, BlockTree
from .reorg import BlockStatus, Reorg, TreeUpdate
from .network import Network
from .operations import Operation
from .vm import State
from .wallet import Wallet

__all__ = ["Peer"]


class Peer:
    """One participant: its block tree (canonical ``chain`` and its ``state``) and its reorgs."""

    def __init__(self, name: str, network: Network, *, wallet: Wallet | None = None,
                 operations: dict[str, Operation] | None = None, max_orphans: int = MAX_ORPHANS):
        self.name = name
        self.wallet = wallet  # only to mine blocks of its own; verifying needs none
        self.network = network
        self.tree = BlockTree(network, operations=operations, max_orphans=max_orphans)
        self.reorgs: list[Reorg] = []  # every switch to another branch, oldest first

    @property
    def chain(self) -> Chain:
        """The canonical chain: the branch with the most work."""
        return self.tree.chain

    @property
    def state(self) -> State:
        """The VM state of the canonical chain (do not edit it)."""
        return self.tree.state

    @property
    def address(self) -> str | None:
        return None if self.wallet is None else self.wallet.address

    def digest(self) -> str:
        return self.tree.digest()

    def receive_block(self, block: Block, *, now: dt.datetime | None = None) -> TreeUpdate:
        """Add one block to the tree; raises InvalidBlock if it is refused (nothing changes then)."""
        update = self.tree.add(block, now=now)
        if update.reorg is not None:
            self.reorgs.append(update.reorg)
        return update

    def receive(self, source: Iterable[Block] | str | os.PathLike, *, now: dt.datetime | None = None) -> list[BlockReport]:
        """Verify and execute blocks; one report per block, in the order given.

        ``source`` is a sequence of Blocks or the path of a blocks file (read,
        never rewritten). Blocks the peer held before this call are skipped;
        a block given twice is reported twice. A block is reported accepted
        when it is valid and kept, on the canonical chain or on a competing
        branch; a block whose parent has not arrived is reported as failing
        ``link`` (it waits as an orphan), and one built on a refused block as
        failing ``ancestry``. Each report is the tree's verdict once every
        block of the batch has arrived.
        """
        problems: list[BlockReport] = []
        lines: list[int | None]
        if isinstance(source, (str, os.PathLike)):
            loaded = load_blocks(Path(source))
            blocks, lines = loaded.blocks, list(loaded.lines)
            bad = [(line, p.reason) for p in loaded.problems for line in range(p.line, p.last + 1)]
            problems = [BlockReport(len(blocks) + i, None, False, "record", reason, line=line)
                        for i, (line, reason) in enumerate(bad)]  # every bad line, numbered where it stood
            if loaded.problems:
                first_bad = loaded.problems[0].line
                problems += [BlockReport(len(blocks), block.hash, False, "ancestry",
                                         f"comes after bad line {first_bad}; only the lines before it are read",
                                         block.signer, line)
                             for line, block in loaded.after_problem]
                problems.sort(key=lambda report: report.line)
        else:
            blocks = list(source)
            lines = [None] * len(blocks)
        held_before = {block.hash for block in blocks if isinstance(block, Block) and self.tree.holds(block)}
        errors: dict[int, InvalidBlock] = {}
        later: dict[str, BlockReport] = {}  # orphans refused once their parent came
        fresh: list[int] = []
        for position, block in enumerate(blocks):
            if isinstance(block, Block) and block.hash in held_before:
                continue
            fresh.append(position)
            try:
                update = self.receive_block(block, now=now)
            except InvalidBlock as exc:
                errors[position] = exc
                continue
            for report in update.rejected:
                later[report.hash] = report  # type: ignore[index]
        reports = [self._report(position, blocks[position], lines[position], errors, later) for position in fresh]
        return reports + problems

    def _report(self, position: int, block: Block, line: int | None, errors: dict[int, InvalidBlock],
                later: dict[str, BlockReport]) -> BlockReport:
        """The final verdict on one block of a batch, after every block of it has arrived."""
        status = self.tree.status(block.hash) if isinstance(block, Block) else BlockStatus.UNKNOWN
        held = status in (BlockStatus.CANONICAL, BlockStatus.SIDE)
        if held and (self.tree.holds(block) or position not in errors):  # this record, perhaps let in later
            entry = self.tree.entry(block.hash)
            return BlockReport(entry.index, entry.hash, True, signer=entry.signer, line=line)
        if status is BlockStatus.REFUSED:  # refused for good, perhaps only once a later block came
            return self.tree.verdict(block.hash).report(line)
        if isinstance(block, Block) and block.hash in later:  # an orphan refused for its record once its parent came
            return later[block.hash].at_line(line)
        if position in errors:  # e.g. another member's signature on a token the tree holds
            return BlockReport.rejected(errors[position], block if isinstance(block, Block) else None, line)
        waiting = self.tree.verdict(block.hash) if status is BlockStatus.ORPHAN else None
        if waiting is not None and waiting.broken is not None:  # built on a record refused for now
            return waiting.report(line)
        index = -1 if waiting is None else waiting.index
        where = "waits in the orphan pool" if status is BlockStatus.ORPHAN else "was dropped from the orphan pool"
        parent = self.tree.waiting_for(block.hash)
        parent_text = f"its parent {parent[:12]}…" if parent else "its parent"
        return BlockReport(index, block.hash, False, "link", f"{parent_text} has not arrived; the block {where}",
                           block.signer, line)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the canonical chain as a blocks file, atomically."""
        return save_blocks(path, self.chain.blocks)

    def _repr_html_(self) -> str:
        tip = self.chain.tip
        tip_text = "no blocks" if tip is None else f"{len(self.chain)} blocks, tip <code>{tip.hash[:12]}…</code>"
        return (f"<b>Peer {self.name}</b>: {tip_text}, work {self.chain.total_work:,}, "
                f"state digest <code>{self.digest()[:12]}…</code>")

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, {len(self.chain)} blocks, digest={self.digest()[:12]}…)"
