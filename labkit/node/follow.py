"""How a node follows the other members: one pointer at a time, each member's failures kept to it.

Every pointer is input from a member that may be hostile (labkit.node.threats). A
:class:`Following` keeps, for its node, the newest pointer acted on per member, the
chains refused for good, and a :class:`Followed` record per member (back-off, side
blocks, what was logged); :meth:`Following.consider` acts on one pointer:

1. a pointer that is no news, goes backwards, or names a chain refused for good is
   ignored (logged once);
2. one that names a better tip than the node's is fetched (labkit.node.fetch: its peers
   through the session's address policy), unless the member is backed off or has spent
   its side-block budget;
3. the chain file is read (its limits: lines, bytes, well-formed lines) and its new
   blocks go through ``Peer.receive``, in slices that keep the member within its budget;
4. what it came to (:class:`Taken`) decides what is remembered: only a final refusal is
   remembered by info-hash; anything else backs the member off and the pointer is looked
   at again later. No failure leaves :meth:`Following.consider`.
"""

from __future__ import annotations

import enum
import errno
import shutil
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..blocksfile import load_blocks
from ..errors import LabkitError, TorrentError
from ..forks import rank
from ..sharing.dht import Pointer
from ..reorg import BlockStatus
from .fetch import CHAIN_FILE, place_known_blocks, prune_partials, usable_peers, wait_for_chain
from .threats import MAX_LOGGED_PER_MEMBER, MAX_REMEMBERED_CHAINS, MAX_SIDE_BLOCKS_PER_MEMBER, backoff_seconds

if TYPE_CHECKING:  # pragma: no cover
    from .live import Node

__all__ = ["Taken", "Followed", "Following"]


class Taken(enum.Enum):
    """What following a member's pointer came to."""

    JUDGED = "judged"  # its chain arrived and every block was judged (accepted, or refused for good)
    REFUSED = "refused"  # refused for good: the same info-hash can only be refused again
    LATER = "later"  # not fetched, or refused for now (a block ahead of the clock): try again after a back-off


@dataclass
class Followed:
    """What a node keeps about one member it follows; every part bounded (labkit.node.threats)."""

    failures: int = 0  # failed tries in a row
    next_try: float = 0.0  # time.monotonic() before which its pointers are left alone
    side_blocks: int = 0  # valid blocks its chains left on side branches
    logged: OrderedDict = field(default_factory=OrderedDict)  # (seq, why) logged already, newest last

    def failed(self) -> float:
        """Count a failure; return the seconds the member is now left alone."""
        self.failures += 1
        wait = backoff_seconds(self.failures)
        self.next_try = time.monotonic() + wait
        return wait

    def succeeded(self) -> None:
        self.failures, self.next_try = 0, 0.0


class Following:
    """What a node keeps about the members it follows, and how it acts on their pointers."""

    def __init__(self, node: "Node"):
        self.node = node
        self.pointers: dict[str, Pointer] = {}  # the newest pointer acted on, by member name
        # info-hash -> why its chain was refused for good (never a refusal for now), oldest first
        self.refused_chains: OrderedDict[str, str] = OrderedDict()
        self.members: dict[str, Followed] = {}  # what is kept about each member followed

    def consider(self, name: str, pointer: Pointer) -> Taken | None:
        """Act on the pointer member ``name`` published: fetch its chain if it names more work than the tip.

        Whatever the pointer and its chain hold, this returns: a failure is logged, contained to
        this member and backed off (labkit.node.threats), and only a final refusal is remembered.
        Returns what the fetch came to, or None when nothing was fetched.
        """
        last = self.pointers.get(name)
        if last is not None and pointer.seq <= last.seq:
            return  # nothing new, or an older copy a DHT node still held: not the member's doing
        if last is not None and pointer.total_work < last.total_work:
            self.ignore(name, pointer.seq, f"goes backwards: seq {pointer.seq} with work {pointer.total_work} "
                                            f"after seq {last.seq} with work {last.total_work}")
            return
        self.pointers[name] = pointer
        if pointer.info_hash in self.refused_chains:
            why = self.refused_chains[pointer.info_hash]
            self.ignore(name, pointer.seq, f"its chain was refused before ({why})")
            return
        if not self._better(pointer):
            return  # this node's tip is as good already
        member = self.members.setdefault(name, Followed())
        if time.monotonic() < member.next_try:
            del self.pointers[name]
            return  # it failed a moment ago: the other members first
        if member.side_blocks >= MAX_SIDE_BLOCKS_PER_MEMBER:
            self.ignore(name, pointer.seq, f"its chains left {member.side_blocks} blocks on side branches, "
                                            f"the most a member may ({MAX_SIDE_BLOCKS_PER_MEMBER})")
            return
        try:
            taken = self._fetch_and_receive(name, pointer, member)
        except (LabkitError, OSError) as exc:  # anything this member's chain makes go wrong stays with it
            self.ignore(name, pointer.seq, f"following it failed: {exc}", info_hash=pointer.info_hash)
            taken = Taken.LATER
        if taken is Taken.LATER:
            del self.pointers[name]  # not judged for good: this pointer is looked at again after the back-off
            member.failed()
        elif taken is Taken.REFUSED:
            member.failed()
        else:
            member.succeeded()
        return taken

    def _refuse_chain(self, info_hash: str, why: str) -> Taken:
        """Remember a chain refused for good (the oldest forgotten past MAX_REMEMBERED_CHAINS)."""
        self.refused_chains[info_hash] = why
        self.refused_chains.move_to_end(info_hash)
        while len(self.refused_chains) > MAX_REMEMBERED_CHAINS:
            self.refused_chains.popitem(last=False)
        return Taken.REFUSED

    def _better(self, pointer: Pointer) -> bool:
        """Does the pointer name a better tip than this node's, by the tree's own rule?

        Most work wins; at equal work the smaller tip hash (labkit.forks), so that
        nodes that mined at the same moment all settle on the same one. A block this
        node already holds is no news.
        """
        if pointer.tip is not None and pointer.tip in self.node.peer.tree:
            return False
        if pointer.tip is None or self.node.tip is None:  # no tip to break a tie with: more work only
            return pointer.total_work > self.node.total_work
        return rank(pointer.total_work, pointer.tip) < rank(self.node.total_work, self.node.tip.hash)

    def _fetch_and_receive(self, name: str, pointer: Pointer, member: Followed) -> Taken:
        """Fetch the chain a pointer names and give its blocks to the peer; what that came to."""
        from ..sharing.metainfo import Magnet

        session = self.node.live()
        dest = self.node.folder / "fetched" / pointer.info_hash
        start = time.monotonic()
        # the publisher first; then every member seen: one that adopted the same chain seeds the same torrent.
        # Each address passes the session's policy, and one that does not is dropped from this fetch only.
        peers, dropped = usable_peers(session, [pointer.peer] + [p.peer for p in self.pointers.values()])
        if pointer.peer is not None and pointer.peer not in peers:
            self.ignore(name, pointer.seq, f"its peer address is not used: {dropped[0]}",
                        info_hash=pointer.info_hash)
        place_known_blocks(self.node.folder / CHAIN_FILE, dest, pointer.info_hash, CHAIN_FILE)
        try:
            transfer = session.add(Magnet(pointer.info_hash, peers=tuple(peers)), dest)
        except TorrentError as exc:
            self.ignore(name, pointer.seq, f"cannot fetch its chain: {exc}", info_hash=pointer.info_hash)
            return Taken.LATER
        fetch = wait_for_chain(session, transfer, self.node.fetch_timeout)
        if not fetch.arrived:
            transfer.cancel()  # its pieces stay in dest (with resume data): the next try goes on from them
            self.ignore(name, pointer.seq, fetch.reason, info_hash=pointer.info_hash)
            if fetch.outcome.final:
                shutil.rmtree(dest, ignore_errors=True)
                return self._refuse_chain(pointer.info_hash, fetch.reason)
            prune_partials(self.node.folder / "fetched", keep=dest)
            return Taken.LATER
        fetched = transfer.status().downloaded
        self.node.journal.log("fetched", member=name, info_hash=pointer.info_hash, height=pointer.height,
                         bytes=fetched, size=transfer.torrent.size, seconds=round(time.monotonic() - start, 3))
        try:
            return self._receive(name, pointer, member, Path(transfer.path))
        finally:
            session.remove(transfer)
            shutil.rmtree(dest, ignore_errors=True)

    def _receive(self, name: str, pointer: Pointer, member: Followed, path: Path) -> Taken:
        """Judge the blocks of a fetched chain file; bounded in the side blocks it may leave (per member)."""
        try:
            loaded = load_blocks(path)
        except OSError as exc:  # FileRefused: more lines or bytes than a blocks file may hold, or unreadable
            why = f"its chain file is refused: {getattr(exc, 'strerror', None) or exc}"
            self.ignore(name, pointer.seq, why, info_hash=pointer.info_hash)
            if getattr(exc, "errno", None) == errno.EFBIG:  # a limit of its fixed size: the same every time
                return self._refuse_chain(pointer.info_hash, why)
            return Taken.LATER
        if loaded.problems:  # a published chain is written by save_blocks: a bad line is no accident
            problem = loaded.problems[0]
            why = f"line {problem.line} of its chain file is not a block: {problem.reason}"
            self.node.journal.log("refused", member=name, info_hash=pointer.info_hash, rule="record",
                             reason=problem.reason, index=len(loaded.blocks), block=None, line=problem.line)
            return self._refuse_chain(pointer.info_hash, why)
        tree = self.node.peer.tree
        new = [block for block in loaded.blocks if not tree.holds(block)]
        before_tip, before_reorgs = self.node.tip, len(self.node.peer.reorgs)
        reports, side, at = [], 0, 0
        while at < len(new):
            # in slices no larger than what is left of the member's budget, so it is never overrun by more
            size = max(1, MAX_SIDE_BLOCKS_PER_MEMBER - member.side_blocks - side)
            batch = new[at:at + size]
            at += len(batch)
            reports += self.node.peer.receive(batch, now=self.node.clock())
            side = sum(1 for b in new[:at] if b.hash in tree and not tree.is_canonical(b.hash))
            if member.side_blocks + side > MAX_SIDE_BLOCKS_PER_MEMBER:
                break
        member.side_blocks += side
        self.node.after_change(before_tip, before_reorgs, source=name)
        refused = [r for r in reports if not r.accepted]
        if at < len(new):
            self.ignore(name, pointer.seq, f"its chain would leave more than {MAX_SIDE_BLOCKS_PER_MEMBER} blocks "
                                            f"on side branches; {len(new) - at} of its blocks were not judged",
                        info_hash=pointer.info_hash)
            return self._refuse_chain(pointer.info_hash, "it leaves too many side blocks")
        if refused:
            first = refused[0]
            self.node.journal.log("refused", member=name, info_hash=pointer.info_hash, rule=first.rule,
                             reason=first.reason, index=first.index, block=first.hash, refused_blocks=len(refused))
            if any(not self._refused_for_good(r) for r in refused):
                return Taken.LATER  # a block ahead of the clock, or waiting on one: judged again later
            why = f"block {first.index} breaks rule {first.rule}: {first.reason}"
            return self._refuse_chain(pointer.info_hash, why)
        if self._better(pointer):
            why = f"claims work {pointer.total_work} and tip {(pointer.tip or '?')[:16]}, its chain holds neither"
            self.ignore(name, pointer.seq, why, info_hash=pointer.info_hash)
            return self._refuse_chain(pointer.info_hash, why)
        return Taken.JUDGED

    def _refused_for_good(self, report) -> bool:
        """Does the rules' verdict on this refused block hold for good (the tree remembers it as refused)?

        The tree remembers exactly the refusals the verdict marks as remembered; a block too
        far in the future (the clock will fix it), a block built on one, and a record refused
        for its signature are not. The last is refused again when fetched again, which the
        member's back-off keeps rare.
        """
        return report.hash is None or self.node.peer.tree.status(report.hash) is BlockStatus.REFUSED

    def ignore(self, who: str, seq: int, why: str, **detail: Any) -> None:
        """Log an ignored pointer once (a pointer seen again each round is not logged again).

        The node remembers the last MAX_LOGGED_PER_MEMBER reasons per member, so a member that
        changes its pointer every second cannot grow this memory.
        """
        logged = self.members.setdefault(who, Followed()).logged
        if (seq, why) in logged:
            logged.move_to_end((seq, why))
            return
        logged[(seq, why)] = None
        while len(logged) > MAX_LOGGED_PER_MEMBER:
            logged.popitem(last=False)
        self.node.journal.log("ignored", member=who, seq=seq, reason=why, **detail)
