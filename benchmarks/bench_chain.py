"""The chain: build and sign a 10,000-block chain, validate it, replay it into VM state."""

from __future__ import annotations

import datetime as dt
import time

from labkit.chain import Link, mine_block, validate_blocks
from labkit.peer import Peer
from labkit.lessons.data import demo_network, demo_wallets
from labkit.vm import OISC

try:
    from .common import row
except ImportError:
    from common import row

START = dt.datetime(2024, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def build_chain(count: int, difficulty: int = 1):
    """Mine and sign ``count`` blocks, each registering one student, with fixed timestamps."""
    network = demo_network(difficulty)
    wallets = demo_wallets()
    blocks, parent = [], None
    for i in range(count):
        contract = {"actions": [{"action": "register_student",
                                 "student": {"id": f"S{i:05d}", "name": f"Student {i}", "department": "CS"}}]}
        block = mine_block(network, wallets[i % 3], contract, parent=parent,
                           timestamp=START + dt.timedelta(seconds=i))
        payload = block.payload(network.secret)
        parent = Link(i, block.hash, payload.time)
        blocks.append(block)
    return network, blocks


def run(quick: bool = False) -> list[dict]:
    count = 1_000 if quick else 10_000
    start = time.perf_counter()
    network, blocks = build_chain(count)
    build = time.perf_counter() - start
    rows = [row("chain", f"build and sign {count:,} blocks (difficulty 1)", build, "s",
                target="< 60 s for 10,000", met=build < 60 * count / 10_000)]

    start = time.perf_counter()
    accepted = sum(report.accepted for report, _ in validate_blocks(network, blocks))
    secs = time.perf_counter() - start
    assert accepted == count, f"only {accepted} of {count} blocks validated"
    rows.append(row("chain", f"validation, {count:,} blocks, 2048-bit signatures", count / secs, "blocks/s",
                    target=">= 2,500 blocks/s", met=count / secs >= 2500))

    peer = Peer("replayer", network, wallet=demo_wallets()[0])
    start = time.perf_counter()
    reports = peer.receive(blocks)
    secs = time.perf_counter() - start
    assert all(r.accepted for r in reports)
    rows.append(row("chain", f"full replay (validate + execute), {count:,} blocks", count / secs, "blocks/s"))

    vm = OISC()
    payloads = [b.payload(network.secret) for b in blocks]
    start = time.perf_counter()
    for p in payloads:
        vm.execute_smart_contract(p.transaction_data)
    secs = time.perf_counter() - start
    rows.append(row("chain", f"VM only, {count:,} contracts", count / secs, "contracts/s"))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
