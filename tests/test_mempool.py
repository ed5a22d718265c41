"""labkit.lessons.mempool: the greedy choice by fee rate, against an exhaustive search."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.lessons.mempool import (
    Tx,
    best_fees,
    block_fees,
    fee_rate_order,
    mempool_frame,
    random_mempool,
    select_transactions,
)


def test_greedy_takes_the_best_rate_first_and_skips_what_does_not_fit():
    mempool = [Tx("a", 400, 400), Tx("b", 300, 900), Tx("c", 500, 1_000), Tx("d", 200, 100)]
    chosen = select_transactions(mempool, 1_000)
    assert [tx.txid for tx in chosen] == ["b", "c", "d"]  # rates 3, 2, then a (1) does not fit, d (0.5) does
    assert block_fees(chosen) == 2_000 and sum(tx.size for tx in chosen) == 1_000


def test_greedy_can_leave_fees_on_the_table():
    # one small transaction with the best rate crowds out a large one that pays more in total
    mempool = [Tx("small", 100, 300), Tx("large", 1_000, 2_000)]
    assert block_fees(select_transactions(mempool, 1_000)) == 300
    assert best_fees(mempool, 1_000) == 2_000


def test_equal_rates_are_ordered_by_txid():
    mempool = [Tx("z", 200, 400), Tx("a", 100, 200), Tx("m", 300, 600)]
    assert [tx.txid for tx in sorted(mempool, key=fee_rate_order)] == ["a", "m", "z"]
    assert Tx("x", 3, 1).fee_rate == Fraction(1, 3)


def test_random_mempool_is_reproducible():
    assert random_mempool(20, seed=7) == random_mempool(20, seed=7) != random_mempool(20, seed=8)
    assert all(150 <= tx.size <= 1_000 and 0 <= tx.fee <= 5_000 for tx in random_mempool(50, seed=1))


def test_mempool_frame_marks_the_chosen():
    mempool = random_mempool(8, seed=3)
    chosen = select_transactions(mempool, 1_500)
    frame = mempool_frame(mempool, chosen)
    assert list(frame.index) == [tx.txid for tx in sorted(mempool, key=fee_rate_order)]
    assert set(frame.index[frame["in the block"]]) == {tx.txid for tx in chosen}


@pytest.mark.parametrize("size, fee, words", [
    (0, 1, "size must be a positive number of bytes, not 0"),
    (True, 1, "size must be a positive number of bytes, not True"),
    (100, -1, "fee must be a whole number of tokens, not -1"),
    (100, 1.5, "fee must be a whole number of tokens, not 1.5"),
])
def test_bad_transactions_refused(size, fee, words):
    with pytest.raises(ValueError, match=words):
        Tx("t", size, fee)


mempools = st.lists(st.builds(Tx, st.uuids().map(str), st.integers(1, 60), st.integers(0, 100)), max_size=9)


@settings(max_examples=200, deadline=None)
@given(mempools, st.integers(0, 200))
def test_greedy_fits_and_never_beats_the_best(mempool, max_bytes):
    chosen = select_transactions(mempool, max_bytes)
    assert sum(tx.size for tx in chosen) <= max_bytes
    assert len({tx.txid for tx in chosen}) == len(chosen)
    best = max(block_fees(combo) for n in range(len(mempool) + 1) for combo in itertools.combinations(mempool, n)
               if sum(tx.size for tx in combo) <= max_bytes)
    assert best_fees(mempool, max_bytes) == best >= block_fees(chosen)


@settings(max_examples=200, deadline=None)
@given(mempools, st.integers(0, 200))
def test_nothing_left_out_would_still_fit(mempool, max_bytes):
    chosen = select_transactions(mempool, max_bytes)
    room = max_bytes - sum(tx.size for tx in chosen)
    left = [tx for tx in mempool if tx not in chosen]
    assert all(tx.size > room for tx in left)
