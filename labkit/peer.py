"""A peer: a wallet, a copy of the chain and a VM, kept in step.

Given blocks (records or a blocks file), a peer checks each one by every
rule of labkit.chain, runs its contract on the VM, and keeps it only if
both succeed. It returns one report per block, so a notebook can show
which block was refused and why. Peers fed the same blocks end with the
same state digest.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Iterable

from .block import Block
from .chain import BlockReport, Chain, Entry, load_blocks, validate_blocks
from .errors import ContractError, InvalidBlock
from .network import Network
from .operations import Context
from .vm import OISC
from .wallet import Wallet

__all__ = ["Peer"]


class Peer:
    """One participant: its wallet, its chain and its VM."""

    def __init__(self, name: str, wallet: Wallet, network: Network):
        self.name = name
        self.wallet = wallet
        self.network = network
        self.chain = Chain(network)
        self.vm = OISC()

    @property
    def address(self) -> str:
        return self.wallet.address

    def digest(self) -> str:
        return self.vm.digest()

    def _execute(self, entry: Entry) -> None:
        context = Context(signer=entry.signer, index=entry.index, block_hash=entry.hash)
        try:
            self.vm.execute_smart_contract(entry.payload.transaction_data, context)
        except ContractError as exc:
            raise InvalidBlock(entry.index, "contract", str(exc)) from None
        self.chain._entries.append(entry)  # verified above, and the VM has applied it

    def receive(self, source: Iterable[Block] | str | os.PathLike, *, now: dt.datetime | None = None) -> list[BlockReport]:
        """Verify and execute blocks that extend this peer's chain; one report per block.

        ``source`` is a sequence of Blocks or the path of a blocks file (read,
        never rewritten). Blocks the peer already holds at the same height are
        skipped; the first bad block and every block after it are refused.
        """
        reports: list[BlockReport] = []
        lines: list[int | None]
        if isinstance(source, (str, os.PathLike)):
            loaded = load_blocks(Path(source))
            blocks, lines = loaded.blocks, list(loaded.lines)
            first_problem = loaded.problems[0].line if loaded.problems else None
            for problem in loaded.problems:
                reports.append(BlockReport(-1, None, False, "record", problem.reason, line=problem.line))
        else:
            blocks = list(source)
            lines = [None] * len(blocks)
            first_problem = None
        held = 0
        while held < min(len(blocks), len(self.chain)) and blocks[held].hash == self.chain[held].hash:
            held += 1
        new_reports = []
        for (report, _), line in zip(
            validate_blocks(self.network, blocks[held:], parent=self.chain.tip, now=now, on_entry=self._execute),
            lines[held:],
        ):
            new_reports.append(BlockReport(report.index, report.hash, report.accepted, report.check,
                                           report.reason, report.signer, line))
        if first_problem is not None:
            for i, problem_report in enumerate(reports):  # a bad line is numbered where it stood
                reports[i] = BlockReport(held + len(new_reports) + i, None, False, problem_report.check,
                                         problem_report.reason, line=problem_report.line)
        return new_reports + reports

    def __repr__(self) -> str:
        return f"Peer({self.name!r}, {len(self.chain)} blocks, digest={self.digest()[:12]}…)"
