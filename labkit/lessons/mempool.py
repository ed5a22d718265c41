"""A mempool and the miner's choice: which waiting transactions go into a block of limited size (10).

An open network has no one to decide whose transaction goes next. Each
transaction offers a fee; a miner, paid the block reward plus the fees of
the transactions it includes, fills its block with those that pay the most
*per byte*, since the block's size, not the number of transactions, is the
limit (Bitcoin: 4 million weight units, about 1 to 2 MB).

``select_transactions`` is the greedy choice Bitcoin Core made for years
(by fee rate, skipping what does not fit; today it also weighs a
transaction's unconfirmed parents). Greedy is not always best: ``best_fees``
finds the best total by trying every combination's worth (a knapsack), so a
notebook can show a mempool where greedy leaves fees on the table.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Tx", "fee_rate_order", "select_transactions", "block_fees", "best_fees", "random_mempool",
           "mempool_frame"]


@dataclass(frozen=True)
class Tx:
    """A transaction waiting in the mempool, as a miner sees it."""

    txid: str
    size: int  # bytes
    fee: int  # tokens offered to whoever includes it

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"transaction {self.txid!r}: size must be a positive number of bytes, not {self.size!r}")
        if isinstance(self.fee, bool) or not isinstance(self.fee, int) or self.fee < 0:
            raise ValueError(f"transaction {self.txid!r}: fee must be a whole number of tokens, not {self.fee!r}")

    @property
    def fee_rate(self) -> Fraction:
        """Tokens per byte, exactly (a Fraction, so two equal rates compare equal)."""
        return Fraction(self.fee, self.size)


def fee_rate_order(tx: Tx) -> tuple:
    """Sort key: the highest fee per byte first; equal rates by txid, so every miner orders them alike."""
    return (-tx.fee_rate, tx.txid)


def select_transactions(mempool: Iterable[Tx], max_bytes: int) -> list[Tx]:
    """The greedy choice: by fee rate, highest first, each transaction that still fits, in that order."""
    chosen, used = [], 0
    for tx in sorted(mempool, key=fee_rate_order):
        if used + tx.size <= max_bytes:
            chosen.append(tx)
            used += tx.size
    return chosen


def block_fees(transactions: Iterable[Tx]) -> int:
    return sum(tx.fee for tx in transactions)


def best_fees(mempool: Sequence[Tx], max_bytes: int) -> int:
    """The most fees any set of transactions within ``max_bytes`` pays (0/1 knapsack, O(n * max_bytes))."""
    best = [0] * (max_bytes + 1)  # best[b]: the most fees within b bytes, using the transactions seen so far
    for tx in mempool:
        for room in range(max_bytes, tx.size - 1, -1):
            best[room] = max(best[room], best[room - tx.size] + tx.fee)
    return best[max_bytes]


def random_mempool(count: int, seed: int, *, sizes: tuple[int, int] = (150, 1_000),
                   fees: tuple[int, int] = (0, 5_000)) -> list[Tx]:
    """``count`` transactions with sizes and fees drawn uniformly (reproducible for a seed)."""
    rng = random.Random(seed)
    return [Tx(f"tx{seed}-{i:03d}", rng.randint(*sizes), rng.randint(*fees)) for i in range(count)]


def mempool_frame(mempool: Iterable[Tx], chosen: Iterable[Tx] = ()) -> "pd.DataFrame":
    """The mempool as a table, best fee rate first, with whether each transaction made it into the block."""
    import pandas as pd

    picked = {tx.txid for tx in chosen}
    rows = [{"txid": tx.txid, "size (bytes)": tx.size, "fee": tx.fee, "fee per byte": round(float(tx.fee_rate), 2),
             "in the block": tx.txid in picked} for tx in sorted(mempool, key=fee_rate_order)]
    return pd.DataFrame(rows, columns=["txid", "size (bytes)", "fee", "fee per byte", "in the block"]).set_index("txid")
