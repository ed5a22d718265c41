"""labkit.lessons.sybil: identities are free, blocks follow hash power."""

from __future__ import annotations

import pytest

from labkit.lessons.sybil import blocks_won, make_identities, vote_by_identity


def test_identities_are_distinct_addresses():
    ids = make_identities(200)
    assert len(set(ids)) == 200 and all(len(a) == 64 and int(a, 16) >= 0 for a in ids)


def test_a_thousand_identities_outvote_a_room():
    room = {f"member{i}": "keep the rules" for i in range(30)}
    fakes = {identity: "pay mallory" for identity in make_identities(1_000)}
    assert vote_by_identity(room).most_common(1) == [("keep the rules", 30)]
    assert vote_by_identity({**room, **fakes}).most_common(1) == [("pay mallory", 1_000)]


def test_blocks_follow_hash_power_not_names():
    honest = {"honest": 70.0}
    one = blocks_won({**honest, "mallory": 30.0}, 20_000, seed=1)
    split = blocks_won({**honest, **{f"mallory{i}": 30.0 / 1_000 for i in range(1_000)}}, 20_000, seed=1)
    mallory_split = sum(n for miner, n in split.items() if miner.startswith("mallory"))
    assert abs(one["mallory"] / 20_000 - 0.3) < 0.02
    assert abs(mallory_split / 20_000 - 0.3) < 0.02  # a thousand names, the same share
    assert sum(one.values()) == sum(split.values()) == 20_000


def test_a_miner_without_hashing_wins_nothing_and_is_listed():
    won = blocks_won({"a": 1.0, "idle": 0.0}, 500)
    assert won["idle"] == 0 and "idle" in won and won["a"] == 500


@pytest.mark.parametrize("rates", [{}, {"a": -1.0, "b": 2.0}, {"a": 0.0}])
def test_bad_hash_rates_refused(rates):
    with pytest.raises(ValueError, match="hash_rates must name"):
        blocks_won(rates, 10)
