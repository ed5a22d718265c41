"""The attack lab: three honest peers to cheat, and a record of what each attempt changed.

``make_lab()`` starts three honest peers (alice, bob and carol, the demo
members), each holding the seed's chain and writing it to its own folder.
An attack (``labkit.lessons.attacks``) builds what a cheater would send and
hands it to ``Lab.attempt``, which offers it to every peer and returns an
``AttackResult``: what was tried, whether it was accepted, the rule that
refused it and why, and whether any honest peer's state or files changed.
``attacks_frame`` puts a list of results in one table.

The lab mines with ``labkit.chain.mine_block``, like everyone else: an
attacker's block differs from an honest one only in what it says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..block import Block
from ..blocksfile import save_blocks
from ..chain import Entry, Link, mine_block
from ..errors import InvalidBlock, InvalidRecord, LabkitError, NotAccepted
from ..reorg import BlockStatus
from ..network import Network
from ..peer import Peer
from ..fastmine import default_miner
from ..files import ScratchFolder
from ..pow import Miner
from ..tokens import Payload
from ..wallet import Wallet
from .data import DEMO_START, demo_network, demo_wallets, seed_contracts

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = [
    "LAB_DIFFICULTY",
    "HONEST_DIFFICULTY",
    "ATTACKER",
    "AttackResult",
    "attacks_frame",
    "attacks_table",
    "registration",
    "mine_branch",
    "Fingerprint",
    "Lab",
    "make_lab",
]

LAB_DIFFICULTY = 1  # the network's minimum: blocks must have at least this many hex zeros
HONEST_DIFFICULTY = 2  # what the honest members mine at (a block may declare more than the minimum)
ATTACKER = "attacker"  # the attacker's folder in the lab


@dataclass(frozen=True)
class AttackResult:
    """What an attack tried and what the honest peers made of it."""

    attack: str
    tried: str  # one sentence: what the attacker did
    accepted: bool  # the attacker's blocks ended up in the honest peers' chain
    rule: str | None  # the rule that refused it (see labkit.chain.CHECKS; "duplicate", "work", "orphan", "nothing new")
    reason: str | None
    state_changed: bool  # any honest peer's state digest changed
    files_changed: bool  # any honest peer's files changed on disk
    detail: dict = field(default_factory=dict, compare=False)

    @property
    def refused(self) -> bool:
        return not self.accepted

    @property
    def harmless(self) -> bool:
        """Refused, and nothing of the honest peers' changed."""
        return self.refused and not self.state_changed and not self.files_changed

    def row(self) -> dict:
        return {"attack": self.attack, "tried": self.tried, "accepted": self.accepted, "rule": self.rule or "",
                "reason": self.reason or "", "state changed": self.state_changed, "files changed": self.files_changed}

    def _repr_html_(self) -> str:
        return attacks_table([self]).to_html()


def attacks_frame(results: Iterable[AttackResult]) -> "pd.DataFrame":
    """One row per attack: what was tried, accepted or refused, the rule, the reason, what changed."""
    import pandas as pd

    rows = [r.row() for r in results]
    return pd.DataFrame(rows, columns=["attack", "tried", "accepted", "rule", "reason",
                                       "state changed", "files changed"])


def attacks_table(results: Iterable[AttackResult]) -> "Styler":
    """The attacks as a styled table: every reason in full, left-aligned, no row numbers."""
    from .display import frame_table

    return frame_table(attacks_frame(results))


# --- the lab ------------------------------------------------------------------------


def registration(student_id: str, name: str) -> dict:
    """A contract that registers one student: the lab's everyday block."""
    return {"actions": [{"action": "register_student",
                         "student": {"id": student_id, "name": name, "department": "Computer Science"}}]}


def mine_branch(network: Network, blocks: Iterable[tuple[Wallet, dict, dt.datetime]], *,
                parent: Entry | Link | None = None, miner: Miner | None = None) -> list[Block]:
    """Blocks mined one on another, from ``parent`` (None: from genesis), one per (wallet, contract, time).

    ``blocks`` is read one item at a time, as each block is mined.
    """
    branch: list[Block] = []
    for wallet, contract, timestamp in blocks:
        block = mine_block(network, wallet, contract, parent=parent, timestamp=timestamp, miner=miner)
        payload = block.payload(network.secret)
        parent = Link(payload.index, block.hash, payload.time)
        branch.append(block)
    return branch


@dataclass(frozen=True)
class Fingerprint:
    digests: tuple[tuple[str, str], ...]  # (peer, state digest)
    files: tuple[tuple[str, str], ...]  # (path relative to the lab, sha256 of its bytes)


class Lab:
    """Three honest peers on this machine, each with its folder, and the tools to attack them.

    ``now`` is the peers' clock, fixed a day after the demo chain's first
    block, so results do not depend on when the lab runs.
    """

    def __init__(self, workdir: Path, network: Network, wallets: Sequence[Wallet], honest: Sequence[Block],
                 *, miner=None, honest_difficulty: int = HONEST_DIFFICULTY):
        self.workdir = workdir
        self.scratch = None  # a labkit.files.ScratchFolder that make_lab made for it, removed with the lab
        self.network = network
        self.wallets = {w.name: w for w in wallets}
        self.miner = miner or default_miner()
        self.honest_difficulty = honest_difficulty
        self.now = DEMO_START + dt.timedelta(days=1)
        self._clock = len(honest)  # minutes after DEMO_START of the next block
        network.save(workdir / "network.json", overwrite=True)
        self.peers = [Peer(w.name, network, wallet=w) for w in wallets]
        first = self.peers[0]
        source = save_blocks(self.file_of(first), honest)  # alice publishes; bob and carol read her file
        for peer in self.peers:
            peer.receive(source, now=self.now)
            if peer is not first:
                peer.save(self.file_of(peer))
        if any(len(p.chain) != len(honest) for p in self.peers):
            raise RuntimeError("the honest chain did not validate; the lab cannot start")
        self.honest = list(honest)

    # --- looking ---------------------------------------------------------------

    def peer(self, name: str) -> Peer:
        return next(p for p in self.peers if p.name == name)

    def file_of(self, peer: Peer) -> Path:
        folder = self.workdir / peer.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "blocks.jsonl"

    @property
    def tip(self) -> Entry:
        """The honest peers' canonical tip (they all agree)."""
        return self.peers[0].chain.tip  # type: ignore[return-value]

    def fingerprint(self) -> Fingerprint:
        """Every peer's state digest and the bytes of every honest file (the attacker's folder excluded)."""
        files = []
        for path in sorted(self.workdir.rglob("*")):
            relative = path.relative_to(self.workdir)
            if path.is_file() and relative.parts[0] != ATTACKER:
                files.append((str(relative), hashlib.sha256(path.read_bytes()).hexdigest()))
        return Fingerprint(tuple((p.name, p.digest()) for p in self.peers), tuple(files))

    def state_frames(self, name: str = "alice") -> dict[str, "pd.DataFrame"]:
        """A peer's VM state as tables (``labkit.lessons.tables.state_frames``)."""
        from .tables import state_frames

        return state_frames(self.peer(name).state, self.network)

    # --- making blocks ---------------------------------------------------------------

    def next_time(self) -> dt.datetime:
        """A fresh block time, one minute after the last one handed out."""
        self._clock += 1
        return DEMO_START + dt.timedelta(minutes=self._clock)

    def mine(self, signer: str | Wallet, contract: dict, *, parent: Entry | Link | None | str = "tip",
             difficulty: int | None = None, timestamp: dt.datetime | None = None) -> Block:
        """A block mined on ``parent`` (the honest tip by default; None for a first block) and signed."""
        [block] = self.branch([(signer, contract)], parent=parent, difficulty=difficulty, timestamp=timestamp)
        return block

    def branch(self, blocks: Iterable[tuple[str | Wallet, dict]], *, parent: Entry | Link | None | str = "tip",
               difficulty: int | None = None, timestamp: dt.datetime | None = None) -> list[Block]:
        """Blocks mined one on another from ``parent``, one per (signer, contract), each at a fresh time.

        ``timestamp`` dates every block instead (for a single block dated on purpose).
        """
        network = self.network.with_difficulty(self.honest_difficulty if difficulty is None else difficulty)
        steps = ((self.wallet(signer), contract, timestamp or self.next_time()) for signer, contract in blocks)
        return mine_branch(network, steps, parent=self.tip if parent == "tip" else parent, miner=self.miner)

    def template(self, signer: str | Wallet, contract: dict, *, parent: Entry | None | str = "tip",
                 difficulty: int | None = None, **changes: Any) -> Payload:
        """The payload a block on ``parent`` would carry (before mining); ``changes`` override fields.

        It is ``mine_block``'s own payload: mined at difficulty 0, where nonce 0 is found at once.
        """
        [unmined] = self.branch([(signer, contract)], parent=parent, difficulty=0)
        payload = unmined.payload(self.network.secret)
        return replace(payload, difficulty=self.honest_difficulty if difficulty is None else difficulty, **changes)

    def wallet(self, signer: str | Wallet) -> Wallet:
        """A member's wallet by name (a Wallet is returned as it is)."""
        return self.wallets[signer] if isinstance(signer, str) else signer

    def victim(self) -> Block:
        """alice's next honest block, registering student S002: what the attacker intercepts."""
        return self.mine("alice", registration("S002", "Jane Roe"))

    def write(self, name: str, content: bytes | Sequence[Block]) -> Path:
        """Write a file in the attacker's folder (never in an honest peer's)."""
        folder = self.workdir / ATTACKER
        folder.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else "".join(b.to_line() + "\n" for b in content).encode()
        path = folder / name
        path.write_bytes(data)
        return path

    # --- offering blocks to the peers ------------------------------------------------------

    def _save_if_changed(self, peer: Peer, tip_before: str | None) -> None:
        tip = peer.chain.tip
        if (tip.hash if tip else None) != tip_before:
            peer.save(self.file_of(peer))

    def broadcast(self, blocks: Sequence[Block]) -> None:
        """Every honest peer receives ``blocks`` and saves its file if its tip moved (nothing is raised)."""
        for peer in self.peers:
            tip_before = peer.chain.tip.hash if peer.chain.tip else None
            peer.receive(list(blocks), now=self.now)
            self._save_if_changed(peer, tip_before)

    def offer(self, blocks: Block | Sequence[Block]) -> None:
        """Send blocks to every honest peer; raise unless every one ends on every peer's canonical chain.

        Raises the first refusal: InvalidBlock for a broken rule, NotAccepted
        for a block that broke none but changed nothing (held already, on a
        branch with less work, or waiting for its parent).
        """
        blocks = [blocks] if isinstance(blocks, Block) else list(blocks)
        failures: list[LabkitError] = []
        for peer in self.peers:
            tip_before = peer.chain.tip.hash if peer.chain.tip else None
            first: LabkitError | None = None
            for block in blocks:
                try:
                    update = peer.receive_block(block, now=self.now)
                except InvalidBlock as exc:
                    first = first or exc
                    continue
                if update.known:
                    entry = peer.tree.entry(block.hash)
                    first = first or NotAccepted(
                        "duplicate", f"block {block.hash[:12]}… is already held as block {entry.index}; "
                                     "a block is executed once")
            self._save_if_changed(peer, tip_before)
            if first is None:
                first = self._not_canonical(peer, blocks)
            if first is not None:
                failures.append(first)
        if failures:
            raise failures[0]

    def _not_canonical(self, peer: Peer, blocks: list[Block]) -> NotAccepted | None:
        for block in blocks:
            if peer.tree.status(block.hash) in (BlockStatus.ORPHAN, BlockStatus.UNKNOWN):
                return NotAccepted("orphan", f"block {block.hash[:12]}…'s parent is unknown; it waits, "
                                             "changing nothing")
        side = [peer.tree.entry(b.hash) for b in blocks if peer.tree.status(b.hash) is BlockStatus.SIDE]
        if not side:
            return None
        best = max(side, key=lambda e: e.total_work)
        tip = peer.chain.tip
        return NotAccepted("work", f"its branch ({best.index + 1} blocks, work {best.total_work:,}) has less work "
                                   f"than the canonical chain ({len(peer.chain)} blocks, work {tip.total_work:,}); "
                                   "the peers keep theirs")

    def offer_file(self, path: str | os.PathLike) -> None:
        """Every honest peer reads a blocks file; raise the first refusal (or NotAccepted if nothing new)."""
        failures: list[LabkitError] = []
        for peer in self.peers:
            tip_before = peer.chain.tip.hash if peer.chain.tip else None
            reports = peer.receive(path, now=self.now)
            self._save_if_changed(peer, tip_before)
            bad = [r for r in reports if not r.accepted]
            if bad:
                r = bad[0]
                failures.append(InvalidRecord(r.reason or "", line=r.line) if r.rule == "record"
                                else InvalidBlock(r.index, r.rule or "?", r.reason or ""))
            elif not reports:
                failures.append(NotAccepted("nothing new", "the file holds no block the peers do not hold"))
            else:
                side = self._not_canonical(peer, [peer.tree.entry(r.hash).block for r in reports if r.hash])
                if side is not None:
                    failures.append(side)
        if failures:
            raise failures[0]

    # --- running an attack -----------------------------------------------------------------

    def attempt(self, attack: str, tried: str, action: Callable[[], object], **detail: Any) -> AttackResult:
        """Run ``action`` (which offers something to the peers) and record what happened."""
        before = self.fingerprint()
        rule = reason = None
        try:
            action()
            accepted = True
        except (InvalidBlock, NotAccepted) as exc:
            accepted, rule, reason = False, exc.rule, exc.reason
        except InvalidRecord as exc:
            accepted, rule, reason = False, "record", exc.reason
        after = self.fingerprint()
        return AttackResult(attack, tried, accepted, rule, reason, before.digests != after.digests,
                            before.files != after.files, detail)

    def __repr__(self) -> str:
        return f"Lab({', '.join(p.name for p in self.peers)}; {len(self.honest)} honest blocks; {self.workdir})"


def make_lab(workdir: str | os.PathLike | None = None, *, difficulty: int = LAB_DIFFICULTY,
             honest_difficulty: int = HONEST_DIFFICULTY, miner=None) -> Lab:
    """Three honest peers holding the seed's four contracts, mined at ``honest_difficulty``.

    The network's minimum difficulty is ``difficulty``; the honest members
    mine above it, so that a chain with more blocks can have less work.
    ``workdir`` defaults to a new temporary folder.
    """
    # a folder of its own unless given one: removed with the lab (or at exit), so no run leaves it behind
    scratch = ScratchFolder("labkit-lab-") if workdir is None else None
    workdir = scratch.path if scratch is not None else Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    network = demo_network(difficulty)
    wallets = demo_wallets()
    miner = miner or default_miner()
    mining_network = network.with_difficulty(max(difficulty, honest_difficulty))
    signers = [wallets[0], wallets[1], wallets[2], wallets[0]]  # alice, bob, carol, alice
    times = [DEMO_START + dt.timedelta(minutes=i) for i in range(len(signers))]
    blocks = mine_branch(mining_network, zip(signers, seed_contracts(), times), miner=miner)
    lab = Lab(workdir, network, wallets, blocks, miner=miner, honest_difficulty=max(difficulty, honest_difficulty))
    lab.scratch = scratch  # the folder lives as long as the lab
    return lab
