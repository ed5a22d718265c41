"""A node's main loop: take submitted contracts, follow the others, mine, publish; until told to stop.

``python -m labkit node run`` is this loop around one :class:`~labkit.node.live.Node`.
Each round (a few per second):

1. take the contracts ``node submit`` left in the inbox (saved in ``queue.json``);
2. follow: look up the pointers of the members this node follows (a bounded number, labkit.node.gossip)
   at once, fetch and judge any chain with more work. Rounds of look-ups come every 0.5 s while
   something changes (a followed pointer names another chain, the tip moves, a contract waits)
   and for 5 s after; then twice as far apart after each round that saw nothing new, up to every 4 s;
3. mining runs in a thread, on the tip as it was when it started. If the tip has
   changed since (another member's block arrived, or a reorganisation), the search
   is cancelled and starts again on the new tip: work on an old tip can only make a
   fork. A contract another member's block already carries is not mined again;
4. a block found is added to the tree and, if it is the new tip, published;
5. a changed tip is published (a node whose folder cannot be written says so in its
   status and tries again two seconds later); a put the DHT did not confirm is made
   again two seconds later, and every pointer is put again each 30 s.

The loop stops on SIGTERM, SIGINT (Ctrl-C) or when ``stop`` is set, cancels its mining
and closes the session. A node killed outright (SIGKILL, power cut) loses nothing it
had written: the chain file, ``queue.json`` and the inbox are each replaced atomically,
and a download in progress resumes from its partial file.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..block import Block
from ..errors import MiningCancelled
from .gossip import FASTEST, SLOWEST, Pace
from .live import Node
from .queue import contract_key

__all__ = ["ROUND_SECONDS", "RETRY_SECONDS", "REBOOTSTRAP_BATCH", "Runner", "lookup_news"]

ROUND_SECONDS = 0.2  # pause between rounds when nothing happened
RETRY_SECONDS = 2.0  # between attempts to publish when the folder cannot be written
FOLLOW_SECONDS = FASTEST  # at most two rounds of look-ups a second, fewer while nothing changes
REFRESH_SECONDS = 30.0  # a confirmed pointer is put again this often
REBOOTSTRAP_SECONDS = 5.0  # how often bootstrap nodes are named to the DHT again
REBOOTSTRAP_BATCH = 4  # this many each time, in turn: each costs a DHT request, and a room gives every node N - 1


@dataclass
class _Search:
    """One mining search in its thread: the contract, the tip it builds on, its result."""

    contract: dict
    parent: str | None  # hash of the tip it mines on
    cancel: threading.Event = field(default_factory=threading.Event)
    block: Block | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


class Runner:
    """Run a node: rounds of inbox, follow, mine and publish until stopped.

    ``watch`` are node public keys to look up besides the members' (a classroom
    board's list): one no member has is logged as ignored. ``follow_every`` is the
    shortest interval between rounds of look-ups, ``follow_slowest`` the longest
    (labkit.node.gossip.Pace). ``on_event`` gets each event as it is logged (``node
    run`` prints them).
    """

    def __init__(self, node: Node, *, watch: tuple[bytes, ...] = (), interval: float = ROUND_SECONDS,
                 follow_every: float = FOLLOW_SECONDS, follow_slowest: float = SLOWEST,
                 on_event: Callable[[Any], None] | None = None):
        self.node = node
        self.watch = tuple(bytes(k) for k in watch)
        self.interval = interval
        self.pace = Pace(follow_every, max(follow_every, follow_slowest))
        self._follow_at = 0.0
        self._seen: tuple | None = None  # what the last round of look-ups left: the tip and the pointers
        self._rebootstrapped = 0  # where the next batch of bootstrap nodes starts
        self.on_event = on_event
        self.stop_event = threading.Event()
        self._search: _Search | None = None
        self._retry_at = 0.0
        self._rebootstrap_at = time.monotonic() + REBOOTSTRAP_SECONDS
        self._printed = 0

    def run(self, *, duration: float | None = None, handle_signals: bool = False) -> None:
        """Start the node and run rounds until stopped (``duration`` seconds at most)."""
        if handle_signals:
            for number in (signal.SIGTERM, signal.SIGINT):
                signal.signal(number, lambda *_: self.stop_event.set())
        end = None if duration is None else time.monotonic() + duration
        self.node.start()
        try:
            while not self.stop_event.is_set() and (end is None or time.monotonic() < end):
                busy = self.round()
                self._report()
                if not busy:
                    self.node.session.poll(self.interval)
        finally:
            self._cancel_search()
            self.node.stop()
            self._report()

    def round(self) -> bool:
        """One round; True if something happened (so the next round comes at once)."""
        node = self.node
        before = node.journal.count
        if node.take_inbox():
            self.quicken()  # a contract to mine: a block is coming, its rivals and successors too
        if time.monotonic() >= self._rebootstrap_at:
            self.rebootstrap_step()
            self._rebootstrap_at = time.monotonic() + REBOOTSTRAP_SECONDS
        if self._seen is not None and self._seen[0] != self._tip_hash():
            self.quicken()  # this node mined: the room is busy
        if time.monotonic() >= self._follow_at:
            node.follow(self.watch)
            seen, self._seen = self._seen, self._state()
            # a contract still waiting keeps the room busy: its block, and its rivals, are coming
            news = lookup_news(seen, self._seen) or bool(node.queue)
            self._follow_at = time.monotonic() + self.pace.after(news=news)
        self.mine_step()
        tip, now = node.tip, time.monotonic()
        changed = tip is not None and tip.hash != node.published_tip
        # A put the DHT did not confirm (some nodes did not answer, or two puts overlapped and the
        # second lost) is made again, and every pointer is refreshed now and then: a follower that
        # missed one must not wait for the next block to hear of this tip.
        stale = tip is not None and not changed and (
            (not node.confirmed and now - node.published_at >= RETRY_SECONDS)
            or now - node.published_at >= REFRESH_SECONDS)
        if (changed or stale) and now >= self._retry_at:
            if node.publish() is None:
                self._retry_at = time.monotonic() + RETRY_SECONDS
        node.session.poll(0)
        return node.journal.count != before

    # --- the pace of look-ups -----------------------------------------------------------

    def _tip_hash(self) -> str | None:
        return None if self.node.tip is None else self.node.tip.hash

    def _state(self) -> tuple:
        """What a round of look-ups can change: the tip, and the chain each followed member's pointer names.

        A pointer put again with the same chain (the 30 s refresh) is not news: only its seq moved.
        Nor is what the sweep finds, unless the tip moves: after a busy spell it finds a new
        pointer at nearly every member, all naming chains this node has.
        """
        node = self.node
        followed = {m.name for m in node.network.members if m.node_key in set(node.followed_keys())}
        pointers = {name: (p.info_hash, p.total_work, p.tip) for name, p in node.pointers.items() if name in followed}
        return self._tip_hash(), pointers

    def quicken(self) -> None:
        """Something changed: the next round of look-ups comes soon, and the pace starts over."""
        self.pace.after(news=True)
        self._follow_at = min(self._follow_at, time.monotonic() + self.pace.fastest)
        self._seen = None

    def rebootstrap_step(self) -> None:
        """Name the next REBOOTSTRAP_BATCH bootstrap nodes to the DHT again, in turn."""
        nodes = self.node.bootstrap_nodes
        if not nodes:
            return
        start = self._rebootstrapped % len(nodes)
        batch = (nodes[start:] + nodes[:start])[:REBOOTSTRAP_BATCH]
        self._rebootstrapped = start + len(batch)
        self.node.rebootstrap(batch)

    # --- mining in a thread ----------------------------------------------------------------

    def mine_step(self) -> None:
        """Start, watch or finish the mining search (one round's share of mining)."""
        node, search = self.node, self._search
        if search is not None and search.done:
            self._search = None
            if search.block is not None:
                node.add_mined(search.block, search.contract, publish=True)
            elif search.error is not None and not isinstance(search.error, MiningCancelled):
                # a contract the miner cannot mine would fail again at every round: it is refused
                node.refuse_contract(search.contract, "mine", f"mining it failed: {search.error}")
            search = None
        tip = node.tip
        tip_hash = None if tip is None else tip.hash
        if search is not None:
            carried = contract_key(search.contract) in {contract_key(c) for c in node.queue.waiting}
            if search.parent != tip_hash or not carried:
                why = "a better tip arrived" if carried else "another member's block carries the contract"
                node.journal.log("interrupted", reason=why, was_on=search.parent, tip=tip_hash)
                self._cancel_search()
            return
        contract = node.queue.first
        if contract is None:
            return
        search = _Search(contract, tip_hash)

        def work() -> None:
            try:
                search.block = node.mine(contract, cancel=search.cancel)
            except BaseException as exc:  # reported by the loop, never lost in the thread
                search.error = exc

        search.thread = threading.Thread(target=work, name=f"mining for {node.name}", daemon=True)
        self._search = search
        search.thread.start()

    @property
    def searching(self):
        """The search in progress (contract, parent tip, thread), or None."""
        return self._search

    def stop_search(self) -> None:
        """Cancel the search in progress, if any (the contract stays queued)."""
        self._cancel_search()

    def _cancel_search(self) -> None:
        search, self._search = self._search, None
        if search is not None:
            search.cancel.set()
            search.thread.join()

    def _report(self) -> None:
        if self.on_event is None:
            return
        for event in self.node.journal.since(self._printed):
            self.on_event(event)
        self._printed = self.node.journal.count


def lookup_news(before: tuple | None, after: tuple) -> bool:
    """Did a round of look-ups bring news: the tip moved, or a member followed then and now names another chain?
    (A member that starts or stops being followed, a recent miner's 30 s running out, is not news.)"""
    if before is None or before[0] != after[0]:
        return True
    return any(before[1].get(name, chain) != chain for name, chain in after[1].items())
