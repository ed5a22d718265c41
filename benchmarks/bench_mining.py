"""Mining: the seed's loop, the reference miner and the fast miner, side by side in one run.

Attempts per second are measured at difficulty 8 (no block is expected),
stopped with ``cancel`` after a second, in interleaved rounds keeping each
miner's best round, so that a busy moment on the machine favours no one.
Times to a block are medians over blocks with different prev_hash and
timestamps. The attempts a block needs are random (geometric, median about
ln 2 * 16**d), so the seed's figure is its expected median computed from its
rate, not measured (one difficulty-5 block would take it most of a minute).
The fast miner finds the same nonce with any number of workers, so its
1-core and all-core times are for the very same blocks.

Run alone with ``python benchmarks/bench_mining.py [--quick]``; ``run()`` returns the rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import sys
import threading
import time

import jwt

from labkit import fastmine, pow
from labkit.errors import MiningCancelled
from labkit.tokens import Payload, format_timestamp

try:
    from .common import median, row
except ImportError:
    from common import median, row

SECRET = bytes(range(32))  # 32 bytes like a labkit network secret (a short key would also slow pyjwt down with warnings)
START = dt.datetime(2024, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
# The seed's largest contract, so the seed's loop pays for its JSON as it did.
NFT = {"actions": [{"action": "generate_nft", "nft": {
    "id": "NFT001", "name": "RareArt",
    "metadata": {"artist": "Alice", "creation_date": "2024-11-23", "description": "A rare piece of digital art."}}}]}


def template(i: int) -> Payload:
    """Block i of the benchmark: its own prev_hash and timestamp, the same contract."""
    return Payload(prev_hash=hashlib.sha256(b"bench block %d" % i).hexdigest(),
                   timestamp=format_timestamp(START + dt.timedelta(minutes=i)),
                   transaction_data=NFT, index=i, difficulty=4)


def seed_rate(payload: Payload, seconds: float) -> float:
    """The seed's proof_of_work, written afresh: build the claims, jwt.encode, sha256 hexdigest, per nonce."""
    difficulty = 8
    nonce, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        claims = {"prev_hash": payload.prev_hash, "timestamp": payload.timestamp,
                  "transaction_data": payload.transaction_data, "index": payload.index,
                  "difficulty": payload.difficulty, "nonce": nonce}
        token = jwt.encode(claims, SECRET, algorithm="HS256")
        hash_result = hashlib.sha256(token.encode()).hexdigest()
        if hash_result[:difficulty] == "0" * difficulty:
            break
        nonce += 1
        if time.perf_counter() >= deadline:
            break
    return (nonce + 1) / (time.perf_counter() - start)


def miner_rate(miner, payload: Payload, seconds: float, **options) -> float:
    """Attempts per second of a labkit miner, stopped by ``cancel`` after ``seconds``."""
    cancel = threading.Event()
    timer = threading.Timer(seconds, cancel.set)
    start = time.perf_counter()
    timer.start()
    try:
        result = miner(payload, SECRET, 8, cancel=cancel, **options)
        attempts = result.attempts  # a lucky block: 1 chance in thousands
    except MiningCancelled as stopped:
        attempts = stopped.attempts
    finally:
        timer.cancel()
    return attempts / (time.perf_counter() - start)


def block_time(difficulty: int, blocks: int, workers: int | None) -> float:
    """Median seconds to mine one block, over ``blocks`` different blocks."""
    times = []
    for i in range(blocks):
        start = time.perf_counter()
        fastmine.mine(template(100 * difficulty + i), SECRET, difficulty, workers=workers)
        times.append(time.perf_counter() - start)
    return median(times)


def run(quick: bool = False) -> list[dict]:
    seconds, rounds = (0.5, 2) if quick else (1.0, 4)
    cores = fastmine.available_cores()
    payload = template(0)
    # Rates are measured in interleaved slices and the best slice of each is kept,
    # so that another program busy for a while slows every miner or none.
    measures = {
        "seed": lambda: seed_rate(payload, seconds),
        "reference": lambda: miner_rate(pow.mine, payload, seconds),
        "one": lambda: miner_rate(fastmine.mine, payload, seconds, workers=1),
        "every": lambda: miner_rate(fastmine.mine, payload, seconds, workers=cores),
    }
    best = dict.fromkeys(measures, 0.0)
    for _ in range(rounds):
        for name, measure in measures.items():
            best[name] = max(best[name], measure())
    seed, reference, one, every = best["seed"], best["reference"], best["one"], best["every"]

    rows = []
    seed_name = "seed loop, 1 core"
    rows.append(row("mining", "seed loop (jwt.encode + sha256 hexdigest per nonce), 1 core", seed, "attempts/s"))
    rows.append(row("mining", "reference miner labkit.pow.mine, 1 core", reference, "attempts/s",
                    baseline=seed, baseline_name=seed_name))
    rows.append(row("mining", "fast miner, 1 core", one, "attempts/s", baseline=seed, baseline_name=seed_name,
                    target=">= 30x the seed", met=one >= 30 * seed))
    rows.append(row("mining", f"fast miner, {cores} cores", every, "attempts/s",
                    baseline=seed, baseline_name=seed_name))
    if cores > 1:
        rows.append(row("mining", f"fast miner, {cores} cores against 1 core", every, "attempts/s",
                        baseline=one, baseline_name="fast miner, 1 core",
                        target=">= 1.7x on 2 cores", met=every >= 1.7 * one))

    for difficulty, blocks in ((4, 5 if quick else 15), (5, 3 if quick else 9)):
        expected = math.log(2) * 16**difficulty / seed  # the seed's expected median, from its rate
        seed_label = "seed, expected median"
        for workers in (1, cores):
            label = "1 core" if workers == 1 else f"{cores} cores"
            secs = block_time(difficulty, blocks, workers)
            rows.append(row("mining", f"one block at difficulty {difficulty}, median of {blocks}, fast miner, {label}",
                            secs, "s", baseline=expected, baseline_name=seed_label))
    return rows


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def table(rows: list[dict]) -> str:
    """The rows as markdown; ratios to 3 digits, since times to a block are small fractions of the seed's."""
    lines = ["| measure | value | unit | baseline | ratio |", "| --- | ---: | --- | --- | ---: |"]
    for r in rows:
        value = _number(r["value"])
        baseline = f"{_number(r['baseline'])} ({r['baseline_name']})" if r["baseline"] is not None else ""
        ratio = f"{r['ratio']:.3g}x" if r["ratio"] is not None else ""
        lines.append(f"| {r['measure']} | {value} | {r['unit']} | {baseline} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run(quick="--quick" in sys.argv[1:])))
