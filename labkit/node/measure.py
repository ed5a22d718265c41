"""What a classroom's event logs say about the network: propagation, bytes per block, forks.

Every node logs when it mined a block and when it adopted a tip (labkit.node.journal),
with the UTC time to the millisecond; nodes on one machine share its clock, so the
logs of a room (``Classroom.events()``) can be read side by side:

- :func:`propagation`: for each mined block, the seconds until every other node had
  adopted it as its tip (blocks that every node adopted directly; a block that some
  node only ever saw beneath a later one is left out, and counted in ``skipped``);
- :func:`bytes_per_block`: the chain bytes each follower downloaded, per new block;
- :func:`stale_blocks`: blocks mined that did not end in the common chain (forks lost).
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Iterable

__all__ = ["Propagation", "propagation", "bytes_per_block", "stale_blocks", "percentile"]


def _time(event: dict) -> float:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0-1) of ``values`` by linear interpolation (numpy's default)."""
    data = sorted(values)
    if not data:
        raise ValueError("no values")
    k = (len(data) - 1) * q
    low = int(k)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (k - low)


@dataclass(frozen=True)
class Propagation:
    """Seconds from each block mined to the last node adopting it."""

    seconds: tuple[float, ...]  # one per block measured, in the order mined
    skipped: int  # blocks some node never adopted as its tip directly

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def p95(self) -> float:
        return percentile(self.seconds, 0.95)


def propagation(events: list[dict], nodes: Iterable[str]) -> Propagation:
    """Read a room's merged events (each with ``node``): how long each mined block took to reach all."""
    nodes = set(nodes)
    adopted: dict[tuple[str, str], float] = {}
    for e in events:
        if e["event"] == "adopted":
            adopted.setdefault((e["node"], e["tip"]), _time(e))
    seconds, skipped = [], 0
    for e in events:
        if e["event"] != "mined" or e.get("canonical") != "canonical":
            continue
        others = nodes - {e["node"]}
        times = [adopted.get((n, e["block"])) for n in others]
        if not others or None in times:
            skipped += 1
            continue
        seconds.append(round(max(times) - _time(e), 3))
    return Propagation(tuple(seconds), skipped)


def bytes_per_block(events: list[dict]) -> float:
    """Chain bytes downloaded by followers, per block a follower adopted (0 if none was fetched)."""
    fetched = [e for e in events if e["event"] == "fetched"]
    if not fetched:
        return 0.0
    by_node: dict[str, list[dict]] = {}
    for e in fetched:
        by_node.setdefault(e["node"], []).append(e)
    total_bytes = sum(e["bytes"] for e in fetched)
    total_blocks = 0
    for items in by_node.values():
        height = -1
        for e in sorted(items, key=_time):
            total_blocks += max(e["height"] - height, 1)
            height = max(height, e["height"])
    return total_bytes / max(total_blocks, 1)


def stale_blocks(events: list[dict], chain_hashes: Iterable[str]) -> list[str]:
    """Hashes of blocks that were mined but are not in the final chain ``chain_hashes``."""
    final = set(chain_hashes)
    return [e["block"] for e in events if e["event"] == "mined" and e["block"] not in final]
