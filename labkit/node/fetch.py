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
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ..blocksfile import MAX_FILE_BYTES

__all__ = ["STALL_SECONDS", "KEEP_PARTIALS", "place_known_blocks", "prune_partials", "wait_for_chain"]

STALL_SECONDS = 4.0  # a fetch in which nothing happens for this long gives up
KEEP_PARTIALS = 4  # unfinished chains kept to go on with later (the newest)


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


def wait_for_chain(session, transfer, timeout: float) -> str | None:
    """Drive a fetch until it completes; the reason it did not, or None.

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
            return (f"nothing arrived for {STALL_SECONDS:g} s from {tried()}: "
                    f"the publisher no longer seeds it, or cannot be reached")
        if transfer.error is not None:
            return f"its chain could not be fetched: {transfer.error}"
        if transfer.torrent is not None and transfer.torrent.size > MAX_FILE_BYTES:
            return (f"its chain is {transfer.torrent.size:,} bytes, larger than a blocks file may be "
                    f"({MAX_FILE_BYTES:,})")
        if time.monotonic() > deadline:
            status = transfer.status()
            return (f"its chain did not arrive within {timeout:g} s "
                    f"({status.progress:.0%}, {status.peers} peers, from {tried()})")
    return None
