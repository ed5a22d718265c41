"""The classroom network: real ``node run`` processes on this machine (labkit.node.classroom).

For 2, 4, 8 and 16 nodes: 20 blocks mined one after another by the members in
turn; for each, the seconds from the "mined" event to the last node's "adopted"
event (median and 95th percentile), and the chain bytes each follower
downloaded per new block. Then the time to converge after a partition heals
(tests/faults.py's scenario: two halves on either side of a veth pair), and the
fork rate at two block intervals (contracts submitted to random nodes as a
Poisson process), beside the fork-rate model calibrated with the measured
propagation. Every room runs in a private loopback-only network namespace
where the machine allows it.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from .common import row
except ImportError:
    from common import row

HERE = Path(__file__).resolve().parent
SIZES = (2, 4, 8, 16)
BLOCKS = 20
PIECE = 16384  # the piece size labkit's torrents use for files this small


def room_of(folder: Path, size: int, difficulty: int = 2):
    from labkit.node.classroom import Classroom

    room = Classroom.create(folder, [f"m{i:02d}" for i in range(size)], difficulty=difficulty)
    room.isolate()
    return room


def propagation_run(folder: Path, size: int, blocks: int = BLOCKS) -> dict:
    from labkit.node.classroom import student_contracts
    from labkit.node.measure import bytes_per_block, propagation

    room = room_of(folder, size)
    names = list(room.nodes)
    with room:
        room.start()
        for i in range(blocks):
            miner = names[i % size]
            room.submit(miner, student_contracts(f"{miner}x{i}", 1)[0])
            room.wait_until(lambda: room.converged() and room.status(miner)["height"] == i, 60,
                            f"block {i} to reach all {size} nodes")
        events = room.events()
        result = propagation(events, names)
        fetched = [e for e in events if e["event"] == "fetched"]
    return {"median": result.median, "p95": result.p95, "measured": len(result.seconds),
            "skipped": result.skipped, "bytes_per_block": bytes_per_block(events),
            "last_fetch_bytes": max((e["bytes"] for e in fetched if e["height"] == blocks - 1), default=0),
            "seconds": list(result.seconds)}


def fork_run(folder: Path, interval: float, blocks: int, size: int = 4, seed: int = 1) -> dict:
    """Contracts arrive at random nodes every ``interval`` s on average; how many blocks end stale?"""
    from labkit.blocksfile import load_blocks
    from labkit.node.classroom import student_contracts
    from labkit.node.measure import stale_blocks

    rng = random.Random(seed)
    room = room_of(folder, size)
    names = list(room.nodes)
    with room:
        room.start()
        for i in range(blocks):
            room.submit(rng.choice(names), student_contracts(f"f{i}", 1)[0])
            time.sleep(rng.expovariate(1 / interval))
        room.wait_until(lambda: room.converged() and all(not s["queued"] for s in room.statuses().values()),
                        90, "every contract mined and every node agreeing")
        events = room.events()
        chain = [b.hash for b in load_blocks(room.nodes[names[0]].data / "chain.jsonl").blocks]
    mined = [e for e in events if e["event"] == "mined"]
    stale = stale_blocks(events, chain)
    return {"mined": len(mined), "stale": len(stale), "rate": len(stale) / max(len(mined), 1),
            "chain": len(chain)}


def partition_run(folder: Path) -> float:
    """Seconds from healing to all four nodes agreeing (tests/faults.py partition, in its own namespaces)."""
    cmd = ["unshare", "-n", "-m", "sh", "-c", 'mount --make-rprivate / && ip link set lo up && exec "$@"', "sh",
           sys.executable, str(HERE.parent / "tests" / "faults.py"), "partition", str(folder)]
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    child = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    if child.returncode != 0:
        raise RuntimeError(f"the partition scenario failed:\n{child.stderr[-2000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])["converged_s"]


def run(quick: bool = False) -> list[dict]:
    from labkit.lessons.forkrate import expected_fork_rate

    rows, delays = [], []
    sizes = SIZES[:2] if quick else SIZES
    with tempfile.TemporaryDirectory(prefix="labkit-bench-net-") as tmp:
        root = Path(tmp)
        for size in sizes:
            r = propagation_run(root / f"prop{size}", size, 8 if quick else BLOCKS)
            if size == 4:
                delays = r["seconds"]
            group = f"network, {size} nodes"
            rows.append(row(group, f"propagation p50 ({r['measured']} blocks, {r['skipped']} left out)",
                            r["median"], "s"))
            rows.append(row(group, "propagation p95", r["p95"], "s",
                            target="< 2 s at 8 nodes" if size == 8 else "",
                            met=(r["p95"] < 2.0) if size == 8 else None))
            rows.append(row(group, "chain bytes downloaded per new block per node", r["bytes_per_block"], "B",
                            target=f"< 3 pieces ({3 * PIECE:,} B) + metadata", met=r["bytes_per_block"] < 3 * PIECE))
        healed = partition_run(root / "partition")
        rows.append(row("network, partition 2+2", "convergence after healing", healed, "s",
                        target="< 5 s", met=healed < 5.0))
        for interval in ((1.0,) if quick else (2.0, 0.3)):
            f = fork_run(root / f"forks{interval}", interval, 12 if quick else 40)
            model = expected_fork_rate(interval=interval, delay=delays, nodes=4) if delays else None
            rows.append(row(f"network, forks at {interval:g} s blocks", f"fork rate ({f['stale']} of {f['mined']} "
                            f"blocks stale)", f["rate"], "", baseline=model, baseline_name="model from p50/p95"))
    return rows
