"""How a node fetches another member's chain: starting from the blocks it holds, giving up on silence.

Two things make a live network's fetches cheap and its nodes responsive:

- :func:`place_known_blocks`: chains grow at the end, and the same blocks are the
  same bytes (labkit.blocksfile writes one canonical line per block), so every piece
  of the new chain file that lies within the blocks this node already holds hashes
  the same. The node puts its own chain file where libtorrent downloads the new one;
  libtorrent checks the file it finds, keeps those pieces and downloads only the rest:
  the new blocks, and the piece where the old end was.
- :func:`wait_for_chain`: a fetch in which nothing happens for STALL_SECONDS gives up,
  because the publisher has moved on to a newer chain or cannot be reached (a
  partition); the node goes on with the other pointers and tries again later,
  from the pieces it has (:func:`prune_partials` keeps the newest few).
  It says how the fetch ended as a :class:`Fetch` (an :class:`Outcome` and a reason),
  so the node decides on the outcome, never on the words of the reason.
- :func:`usable_peers`: a pointer's peer addresses are input from another member. Each
  passes the session's own address policy (labkit.sharing.addresses), the one a user's
  address passes, and never widens it (in LAN mode a user's address outside the private
  ranges is let through; a pointer's is dropped). An unusable peer is dropped from that
  fetch only.
"""

from __future__ import annotations

import enum
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import TorrentError
from .folder import CHAIN_FILE
from .threats import MAX_FETCH_BYTES

__all__ = ["CHAIN_FILE", "STALL_SECONDS", "KEEP_PARTIALS", "Outcome", "Fetch", "usable_peers",
           "place_known_blocks", "prune_partials", "wait_for_chain"]

Address = tuple[str, int]

STALL_SECONDS = 4.0  # a fetch in which nothing happens for this long gives up
KEEP_PARTIALS = 4  # unfinished chains kept to go on with later (the newest)


class Outcome(enum.Enum):
    """How a fetch ended."""

    ARRIVED = "arrived"
    STALLED = "stalled"  # nothing moved for STALL_SECONDS: the publisher moved on, or cannot be reached
    TIMED_OUT = "timed out"  # still moving when the time-out ran out
    FAILED = "failed"  # libtorrent reported an error for the transfer
    TOO_LARGE = "too large"  # the torrent says its file is larger than a blocks file may be

    @property
    def final(self) -> bool:
        """Whether fetching the same info-hash again must end the same way (its size is part of it)."""
        return self is Outcome.TOO_LARGE


@dataclass(frozen=True)
class Fetch:
    """How one fetch ended, and why (for people: the node decides on ``outcome``)."""

    outcome: Outcome
    reason: str = ""

    @property
    def arrived(self) -> bool:
        return self.outcome is Outcome.ARRIVED


def usable_peers(session: Any, peers: Iterable[Any]) -> tuple[list[Address], list[str]]:
    """The peers a pointer names that the session's policy lets it contact, and why each other was dropped.

    The check is the session's :class:`~labkit.sharing.addresses.AddressPolicy` on a copy,
    so nothing a pointer says can widen what the session may contact.
    """
    from ..sharing.addresses import AddressPolicy

    good: list[Address] = []
    dropped: list[str] = []
    for peer in peers:
        if peer is None:
            continue
        probe = AddressPolicy(lan=session.policy.lan)
        probe.explicit = set(session.policy.explicit)
        try:
            address = probe.allow(peer)
        except TorrentError as exc:
            dropped.append(str(exc))
            continue
        if probe.explicit != session.policy.explicit:
            dropped.append(f"{address[0]}:{address[1]} is outside the classroom's private ranges and no one "
                           f"named it here; a member's pointer does not widen them")
            continue
        if address not in good:
            good.append(address)
    return good, dropped


def place_known_blocks(own_chain: Path, dest: Path, info_hash: str, name: str) -> bool:
    """Copy ``own_chain`` to where a fetch of ``info_hash`` into ``dest`` downloads file ``name``.

    Returns False (and leaves nothing) when there is nothing to offer, a partial
    download is already there to resume, or the copy cannot be made.
    """
    from ..sharing.metainfo import PARTIAL_DIR

    staging = dest / PARTIAL_DIR / info_hash
    if not own_chain.is_file() or (staging / name).exists():
        return False
    try:
        staging.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(own_chain, staging / name)
    except OSError:
        shutil.rmtree(dest, ignore_errors=True)  # a plain download then
        return False
    return True


def prune_partials(folder: Path, keep: Path) -> None:
    """Remove all but the KEEP_PARTIALS newest unfinished chains in ``folder`` (never ``keep``)."""
    if not folder.is_dir():
        return
    partials = sorted((p for p in folder.iterdir() if p.is_dir() and p != keep),
                      key=lambda p: p.stat().st_mtime, reverse=True)
    for old in partials[KEEP_PARTIALS - 1:]:
        shutil.rmtree(old, ignore_errors=True)


def wait_for_chain(session, transfer, timeout: float) -> Fetch:
    """Drive a fetch until it completes or gives up; how it ended.

    Progress is a first peer connecting (or one more than ever before), the metadata
    arriving, or bytes arriving; a peer count that goes up and down again as attempts to
    unreachable addresses fail is not. Only a fetch in which nothing moves for
    STALL_SECONDS gives up early (on a loaded machine connecting alone can take a second or two).
    """
    deadline = time.monotonic() + timeout
    stall, last, most_peers = time.monotonic() + STALL_SECONDS, None, 0
    tried = lambda: ", ".join(transfer.peers_tried) or "no one"  # noqa: E731
    while not transfer.complete:
        session.poll(0.05)
        status = transfer.status()
        now = (status.state, status.downloaded, max(most_peers, status.peers))
        most_peers = now[2]
        if now != last:
            stall, last = time.monotonic() + STALL_SECONDS, now
        elif time.monotonic() > stall:
            return Fetch(Outcome.STALLED, f"nothing arrived for {STALL_SECONDS:g} s from {tried()}: "
                                          f"the publisher no longer seeds it, or cannot be reached")
        if transfer.error is not None:
            return Fetch(Outcome.FAILED, f"its chain could not be fetched: {transfer.error}")
        if transfer.torrent is not None and transfer.torrent.size > MAX_FETCH_BYTES:
            return Fetch(Outcome.TOO_LARGE, f"its chain is {transfer.torrent.size:,} bytes, larger than a "
                                            f"blocks file may be ({MAX_FETCH_BYTES:,})")
        if time.monotonic() > deadline:
            status = transfer.status()
            return Fetch(Outcome.TIMED_OUT, f"its chain did not arrive within {timeout:g} s "
                                            f"({status.progress:.0%}, {status.peers} peers, from {tried()})")
    return Fetch(Outcome.ARRIVED)
