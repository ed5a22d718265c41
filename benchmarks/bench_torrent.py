"""Torrent sharing: a 50 MB transfer between two loopback peers, and the swarm experiment.

The swarm experiment measures both sides for real: BitTorrent (peers trade
pieces) against one server (peers can only ask the seeder), same seeder
upload cap, N = 1, 2, 4, 8 peers.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

try:
    from .common import median, row
except ImportError:
    from common import median, row


def transfer_50mb(root: Path, size: int = 50 * 10**6) -> float:
    from labkit.sharing.metainfo import make_torrent
    from labkit.sharing.session import TorrentSession

    source = root / "seed" / "big.bin"
    source.parent.mkdir(parents=True)
    source.write_bytes(random.Random(1).randbytes(size))
    torrent = make_torrent(source)
    with TorrentSession() as seeder, TorrentSession() as getter:
        seeder.seed(source, torrent)
        start = time.perf_counter()
        fetched = getter.add(torrent, root / "got", peers=[seeder.address]).wait(timeout=300)
        seconds = time.perf_counter() - start
    if fetched.stat().st_size != size:
        raise RuntimeError("the 50 MB transfer came back with the wrong size")
    return seconds


def magnet_fetches(root: Path, count: int = 20, size: int = 24 * 1024) -> list[float]:
    """Seconds for each of ``count`` magnet fetches of a small file (a classroom chain's size) from a seed
    on loopback, one session pair for all: what a node's hop costs in fetching (labkit.node.fetch)."""
    from labkit.sharing.metainfo import Magnet, make_torrent
    from labkit.sharing.session import TorrentSession

    rng, seconds = random.Random(2), []
    with TorrentSession() as seeder, TorrentSession() as getter:
        for i in range(count):
            source = root / f"seed{i}" / "chain.jsonl"
            source.parent.mkdir(parents=True)
            source.write_bytes(rng.randbytes(size))
            torrent = make_torrent(source)
            seeder.seed(source, torrent)
            start = time.perf_counter()
            got = getter.add(Magnet(torrent.info_hash, "chain.jsonl"), root / f"got{i}", peers=[seeder.address])
            got.wait(timeout=60, interval=0.005)
            seconds.append(time.perf_counter() - start)
            getter.remove(got)
    return seconds


def run(quick: bool = False) -> list[dict]:
    from labkit.sharing.swarm import swarm_experiment

    rows = []
    size = (10 if quick else 50) * 10**6
    times = []
    for attempt in range(1 if quick else 3):
        with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
            times.append(transfer_50mb(Path(tmp), size))
    secs = median(times)
    rows.append(row("torrent", f"{size // 10**6} MB between two loopback peers, median of {len(times)}", secs, "s"))
    rows.append(row("torrent", f"{size // 10**6} MB throughput", size / secs / 10**6, "MB/s"))

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp:
        fetches = magnet_fetches(Path(tmp), 5 if quick else 20)
    rows.append(row("torrent", f"magnet fetch of a 24 KiB file from a seed, median of {len(fetches)}",
                    median(fetches), "s"))
    rows.append(row("torrent", "magnet fetch of a 24 KiB file, slowest", max(fetches), "s"))

    ns = (1, 2, 4) if quick else (1, 2, 4, 8)
    frame = swarm_experiment(ns=ns)
    cap = frame.attrs["upload_limit"] / 2**20
    size_mib = frame.attrs["file_size"] / 2**20
    for record in frame.to_dict("records"):
        n = int(record["peers"])
        share = record["bittorrent_s"] / record["one_server_s"]
        target, met = ("<= 0.35 of one server", share <= 0.35) if n == 8 else ("", None)
        rows.append(row("swarm", f"{n} peer(s), {size_mib:g} MiB, seeder capped at {cap:g} MiB/s, BitTorrent",
                        record["bittorrent_s"], "s", baseline=record["one_server_s"],
                        baseline_name="one server, measured", target=target, met=met))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
