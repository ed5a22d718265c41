"""A peer: a wallet, a tree of blocks, its canonical chain and a VM, kept in step.

Given blocks (records or a blocks file), a peer checks each one by every
rule of labkit.chain, runs its contract on the VM, and keeps it only if
both succeed. It returns one report per block, so a notebook can show
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
from .forks import MAX_ORPHANS, BlockTree, Reorg, TreeUpdate
from .network import Network
from .vm import OISC
from .wallet import Wallet

__all__ = ["Peer"]


class Peer:
    """One participant: its wallet, its block tree (canonical ``chain`` and ``vm``) and its reorgs."""

    def __init__(self, name: str, wallet: Wallet, network: Network, *, max_orphans: int = MAX_ORPHANS):
        self.name = name
        self.wallet = wallet
        self.network = network
        self.tree = BlockTree(network, max_orphans=max_orphans)
        self.reorgs: list[Reorg] = []  # every switch to another branch, oldest first

    @property
    def chain(self) -> Chain:
        """The canonical chain: the branch with the most work."""
        return self.tree.chain

    @property
    def vm(self) -> OISC:
        """The VM, whose state is that of the canonical chain."""
        return self.tree.vm

    @property
    def address(self) -> str:
        return self.wallet.address

    def digest(self) -> str:
        return self.vm.digest()

    def receive_block(self, block: Block, *, now: dt.datetime | None = None) -> TreeUpdate:
        """Add one block to the tree; raises InvalidBlock if it is refused (nothing changes then)."""
        update = self.tree.add(block, now=now)
        if update.reorg is not None:
            self.reorgs.append(update.reorg)
        return update

    def receive(self, source: Iterable[Block] | str | os.PathLike, *, now: dt.datetime | None = None) -> list[BlockReport]:
        """Verify and execute blocks; one report per block, in the order given.

        ``source`` is a sequence of Blocks or the path of a blocks file (read,
        never rewritten). Blocks the peer already holds are skipped. A block
        is reported accepted when it is valid and kept, on the canonical
        chain or on a competing branch; a block whose parent has not arrived
        is reported as failing ``link`` (it waits as an orphan), and one built
        on a refused block as failing ``ancestry``.
        """
        problems: list[BlockReport] = []
        lines: list[int | None]
        if isinstance(source, (str, os.PathLike)):
            loaded = load_blocks(Path(source))
            blocks, lines = loaded.blocks, list(loaded.lines)
            problems = [BlockReport(len(blocks) + i, None, False, "record", p.reason, line=p.line)
                        for i, p in enumerate(loaded.problems)]  # a bad line is numbered where it stood
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
        errors: dict[int, InvalidBlock] = {}
        later: dict[str, BlockReport] = {}  # orphans refused once their parent came
        refused: dict[str, int] = {}  # hash -> index of blocks refused in this batch
        fresh: list[int] = []
        for position, block in enumerate(blocks):
            if isinstance(block, Block) and self.tree.holds(block):
                continue
            fresh.append(position)
            try:
                update = self.receive_block(block, now=now)
            except InvalidBlock as exc:
                errors[position] = exc
                if isinstance(block, Block):
                    refused[block.hash] = exc.index
                continue
            for report in update.rejected:
                later[report.hash] = report  # type: ignore[index]
                refused[report.hash] = report.index  # type: ignore[index]
        reports = []
        for position in fresh:
            report = self._report(position, blocks[position], lines[position], errors, later, refused)
            if not report.accepted and report.check != "link" and report.hash is not None:
                refused.setdefault(report.hash, report.index)  # its descendants fail "ancestry" too
            reports.append(report)
        return reports + problems

    def _report(self, position: int, block: Block, line: int | None, errors: dict[int, InvalidBlock],
                later: dict[str, BlockReport], refused: dict[str, int]) -> BlockReport:
        """The final verdict on one block of a batch, after every block of it has arrived."""
        if position in errors:
            return BlockReport.rejected(errors[position], block if isinstance(block, Block) else None, line)
        status = self.tree.status(block.hash)
        if status in ("canonical", "side"):
            entry = self.tree.entry(block.hash)
            return BlockReport(entry.index, entry.hash, True, signer=entry.signer, line=line)
        if block.hash in later:
            report = later[block.hash]
            return BlockReport(report.index, report.hash, False, report.check, report.reason, report.signer, line)
        if status == "invalid":  # a waiting orphan refused together with a block that came after it
            return BlockReport.rejected(self.tree.rejection(block.hash), block, line)  # type: ignore[arg-type]
        payload = block.payload(self.network.secret)  # it passed its own checks to be held as an orphan
        index = -1 if payload.index is None else payload.index
        if payload.prev_hash in refused:
            return BlockReport(index, block.hash, False, "ancestry",
                               f"builds on rejected block {refused[payload.prev_hash]}", block.signer, line)
        where = "waits in the orphan pool" if status == "orphan" else "was dropped from the orphan pool"
        return BlockReport(index, block.hash, False, "link",
                           f"its parent {payload.prev_hash[:12]}… has not arrived; the block {where}",
                           block.signer, line)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the canonical chain as a blocks file, atomically."""
        return save_blocks(path, self.chain.blocks)

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, {len(self.chain)} blocks, digest={self.digest()[:12]}…)"
