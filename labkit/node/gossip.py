"""Whom a node follows: a bounded number of members, so a room's cost per node does not grow with N (issue 20).

Looking up every member's pointer costs each node N - 1 DHT look-ups a round, and the
room N * (N - 1): at 32 laptops the look-ups alone saturated two cores. Instead each
node follows a few members, chosen so that a tip still reaches every node: every node
republishes the chain it adopts (and seeds its torrent), so a tip crosses the room
hop by hop, from each node to the nodes that follow it.

**The follow graph.** In a room of at most :data:`FOLLOW_ALL` (8) members every node
follows every other: 7 look-ups a round at most, what the ring costs at 128, and a tip
takes one hop. Beyond that, the members' node keys, sorted, are a ring of N places (every
member computes the same ring from the network file). The member at place ``i``
follows the members at ``i + 1, i + 2, i + 4, ... i + 2**k`` (mod N) for every
``2**k < N``: the fingers of Chord (Stoica et al., SIGCOMM 2001).

- *Cost per node*: it follows ``ceil(log2 N)`` members (:func:`out_degree`), and as
  many follow it: 4 at 16 nodes, 5 at 32, 6 at 64, 8 at 200; plus at most
  :data:`RECENT_MEMBERS` members that recently mined a tip it adopted and one member
  of the sweep (below). Each is one DHT look-up per round. Rounds come every
  :data:`FASTEST` seconds while the room is busy (news within :data:`BUSY_SECONDS`, or
  a contract of its own waiting) and slow down to :data:`SLOWEST` while nothing
  changes (:class:`Pace`), so an idle room costs each node about
  ``(ceil(log2 N) + 1) / SLOWEST`` look-ups a second, growing with log N only.
- *Hops*: a tip published at place ``j`` reaches place ``i`` along the binary digits of
  ``(j - i) mod N``, so in at most ``ceil(log2 N)`` hops (the diameter), about half
  that on average (:func:`hops`): 4 at 16 nodes, 5 at 32, 6 at 64. Each hop costs a
  look-up interval (0.5 s while the room is busy, up to ``SLOWEST`` after a quiet
  spell) and a fetch of the new pieces. The worst case is a tip found after a quiet
  spell: every hop waits up to ``SLOWEST``, ``ceil(log2 N) * SLOWEST`` in all; each
  node that adopts it quickens at once, and the recently-mined members below let
  the miner's next blocks skip the ring.
- *Members going away*: the graph stays strongly connected (every tip reaches every
  remaining node) after any one member leaves, since the steps 1 and 2 jump over
  the gap; tests/test_gossip.py checks it for every N from 1 to 300. More absences
  are survived as long as no member loses every member it follows and no place is
  cut off from all that follow it: any number up to 8 members (everyone follows
  everyone), any two from 5 members on (every pair checked up to N = 32), any three
  from 9 on (triples checked up to N = 300); at 9 the four a member follows may not
  all go. :func:`connected` says it for any set.
  A member whose laptop closes is still looked up, at the slow pace (its pointer
  simply does not change), and its chain is still served by every node that adopted it.
  A member that publishes but runs no node (a battle's teacher and its rounds'
  publishers) passes nothing on: only the few that follow it hear of it at once, so the
  nodes that must see its pointers watch its key (``node run --watch``, as
  labkit.battle does), and a watched key is looked up every round.

**Recently mined.** A node also follows, for :data:`RECENT_SECONDS`, the members
that mined the tips it adopted (at most :data:`RECENT_MEMBERS`, the newest kept):
the member mining now is likely to mine again, and following it directly saves the
hops of the ring.

**The sweep.** Each round a node also looks up one more member, the next in turn of
those it does not follow (:class:`Sweep`): one look-up a round, and every member is
looked up at least once every N rounds. It is what holds when more members go away
than the fingers survive, or when the room splits: in a partition a node whose
fingers all sit on the far side still hears of the blocks mined on its own side
within N - 1 - ``ceil(log2 N)`` rounds, and once it adopts one, their miner is
followed directly (recently mined). So a tip reaches every node it can reach at all.

References: Stoica, Morris, Karger, Kaashoek, Balakrishnan, "Chord: A Scalable
Peer-to-peer Lookup Service for Internet Applications" (2001), for the fingers at
distances ``2**k``; Demers et al., "Epidemic algorithms for replicated database
maintenance" (1987), for spreading an update hop by hop.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

__all__ = ["FOLLOW_ALL", "BUSY_SECONDS", "RECENT_MEMBERS", "RECENT_SECONDS", "FASTEST", "SLOWEST", "out_degree", "distances", "fingers", "follow_graph",
           "connected", "hops", "Recent", "Sweep", "Pace"]

FOLLOW_ALL = 8  # a room of at most this many: every node follows every other (7 look-ups, as the ring at 128)
RECENT_MEMBERS = 2  # members that recently mined an adopted tip, followed besides the fingers
RECENT_SECONDS = 30.0  # for this long after their last such tip
FASTEST = 0.5  # seconds between look-up rounds while something changes
SLOWEST = 4.0  # seconds between look-up rounds after a quiet spell (the interval doubles up to it)
BUSY_SECONDS = 5.0  # rounds stay at the fastest this long after the last news: a busy room's next block is near


def out_degree(n: int) -> int:
    """How many members a node of a room of ``n`` follows: every other one in a room of at most
    :data:`FOLLOW_ALL`, else ``ceil(log2 n)`` on the ring (0 alone)."""
    if n < 1:
        raise ValueError(f"a room has at least one member, not {n}")
    return n - 1 if n <= FOLLOW_ALL else (n - 1).bit_length()


def distances(n: int) -> tuple[int, ...]:
    """The places after its own that a node of a room of ``n`` follows: all of them up to
    :data:`FOLLOW_ALL` members, else ``1, 2, 4, ... 2**k`` for every ``2**k < n``."""
    if n <= FOLLOW_ALL:
        return tuple(range(1, n))
    return tuple(1 << k for k in range(out_degree(n)))


def fingers(ring: Sequence[bytes], me: bytes) -> tuple[bytes, ...]:
    """The keys the node ``me`` follows on the ``ring``, nearest place first (:func:`distances`).

    ``ring`` is every member's node key; ``me`` need not be one of them (a node that
    is not a member's follows from the place its key would take). Sorted here, so every
    node that reads the same network computes the same graph.
    """
    keys = sorted(set(ring) | {me})
    n, place = len(keys), keys.index(me)
    chosen = []
    for step in distances(n):
        key = keys[(place + step) % n]
        if key != me and key not in chosen:
            chosen.append(key)
    return tuple(chosen)


def follow_graph(n: int) -> list[tuple[int, ...]]:
    """The room's graph for places ``0 .. n-1``: ``graph[i]`` are the places ``i`` follows."""
    return [tuple(sorted({(i + step) % n for step in distances(n)} - {i})) for i in range(n)]


def _reach(graph: Sequence[Iterable[int]], start: int, gone: frozenset[int], reverse: bool = False) -> set[int]:
    edges = graph
    if reverse:
        back: list[list[int]] = [[] for _ in graph]
        for i, outs in enumerate(graph):
            for j in outs:
                back[j].append(i)
        edges = back
    seen, todo = {start}, [start]
    while todo:
        for j in edges[todo.pop()]:
            if j not in seen and j not in gone:
                seen.add(j)
                todo.append(j)
    return seen


def connected(graph: Sequence[Iterable[int]], gone: Iterable[int] = ()) -> bool:
    """Does every tip reach every node still there, once the places ``gone`` have left?

    True when the graph without them is strongly connected: from one node every other
    is reached both following the edges (it learns from them) and against them (they
    learn from it).
    """
    gone = frozenset(gone)
    left = [i for i in range(len(graph)) if i not in gone]
    if len(left) <= 1:
        return True
    return (len(_reach(graph, left[0], gone)) == len(left)
            and len(_reach(graph, left[0], gone, reverse=True)) == len(left))


def hops(graph: Sequence[Iterable[int]], source: int) -> list[int]:
    """For each place, how many hops a tip published at ``source`` takes to reach it (-1: never)."""
    back: list[list[int]] = [[] for _ in graph]
    for i, outs in enumerate(graph):
        for j in outs:
            back[j].append(i)  # i follows j: j's tip reaches i in one hop
    depth = [-1] * len(graph)
    depth[source], frontier = 0, [source]
    while frontier:
        nxt = []
        for j in frontier:
            for i in back[j]:
                if depth[i] < 0:
                    depth[i] = depth[j] + 1
                    nxt.append(i)
        frontier = nxt
    return depth


@dataclass
class Recent:
    """Members that recently mined a tip this node adopted: at most ``limit``, each for ``seconds``."""

    limit: int = RECENT_MEMBERS
    seconds: float = RECENT_SECONDS
    until: OrderedDict = field(default_factory=OrderedDict)  # key -> time.monotonic() it is dropped, newest last

    def saw(self, key: bytes, now: float | None = None) -> None:
        """``key``'s member mined a tip this node adopted: follow it for a while (the oldest dropped)."""
        now = time.monotonic() if now is None else now
        self.until[key] = now + self.seconds
        self.until.move_to_end(key)
        while len(self.until) > self.limit:
            self.until.popitem(last=False)

    def keys(self, now: float | None = None) -> tuple[bytes, ...]:
        """The members still followed for what they mined, newest last."""
        now = time.monotonic() if now is None else now
        for key in [k for k, t in self.until.items() if t <= now]:
            del self.until[key]
        return tuple(self.until)


class Sweep:
    """The members a node does not follow, one a round in turn, from the place after its own."""

    def __init__(self, ring: Sequence[bytes], me: bytes, followed: Iterable[bytes] = ()):
        keys = sorted(set(ring) | {me})
        place, skip = keys.index(me), set(followed) | {me}
        self.order = tuple(k for k in keys[place + 1:] + keys[:place] if k not in skip)
        self.turn = 0

    def next(self) -> tuple[bytes, ...]:
        """The member to look up this round (none when the node follows every other member)."""
        if not self.order:
            return ()
        key = self.order[self.turn % len(self.order)]
        self.turn += 1
        return (key,)


@dataclass
class Pace:
    """How long until the next round of look-ups: the fastest while the room is busy (news within
    ``busy`` seconds), then doubling each quiet round up to the slowest."""

    fastest: float = FASTEST
    slowest: float = SLOWEST
    busy: float = BUSY_SECONDS
    interval: float = FASTEST
    last_news: float = float("-inf")  # time.monotonic() of the last round with news

    def __post_init__(self) -> None:
        if not 0 < self.fastest <= self.slowest:
            raise ValueError(f"the fastest interval ({self.fastest}) must be positive and at most the slowest "
                             f"({self.slowest})")
        if self.busy < 0:
            raise ValueError(f"the busy spell ({self.busy}) cannot be negative")
        self.interval = self.fastest

    def after(self, news: bool, now: float | None = None) -> float:
        """The interval after a round that saw ``news`` (a changed pointer or tip) or nothing."""
        now = time.monotonic() if now is None else now
        if news:
            self.last_news = now
        if now - self.last_news < self.busy:
            self.interval = self.fastest
        else:
            self.interval = min(self.interval * 2, self.slowest)
        return self.interval
