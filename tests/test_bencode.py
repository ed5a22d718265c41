"""labkit.sharing.bencode: the one bencoder, byte for byte libtorrent's, and a decoder that reads one spelling only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.course import cases
from labkit.errors import InvalidBencode
from labkit.sharing.bencode import MAX_DEPTH, decode, encode, encoded_length

libtorrent = pytest.importorskip("libtorrent")

values = st.recursive(
    st.integers(-2**63, 2**63 - 1) | st.binary(max_size=20),  # libtorrent's integers are 64-bit
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.binary(max_size=6), inner, max_size=4),
    max_leaves=20)


def as_bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, list):
        return [as_bytes(v) for v in value]
    if isinstance(value, dict):
        return {as_bytes(k): as_bytes(v) for k, v in value.items()}
    return value


@given(values)
def test_encode_is_libtorrents_bencode_and_decode_reads_it_back(value):
    data = encode(value)
    assert data == bytes(libtorrent.bencode(value))
    assert decode(data) == value
    assert encoded_length(data + b"tail") == len(data)


def test_encode_agrees_with_libtorrent_on_the_exercise_cases():
    for (value,) in cases.bencode_cases()[:-2]:  # the last two are a bool and a float, which it refuses
        assert encode(value) == bytes(libtorrent.bencode(as_bytes(value)))


@pytest.mark.parametrize("value", [True, 1.5, None, {1: 2}, {"a": 1, b"a": 2}, object()])
def test_encode_refuses_what_bencoding_cannot_spell(value):
    with pytest.raises(TypeError):
        encode(value)


@pytest.mark.parametrize("data", [
    b"", b"i01e", b"i-0e", b"ie", b"i1", b"01:a", b"2:a", b"l", b"d1:ai1e", b"d1:bi1e1:ai2ee",
    b"d1:ai1e1:ai2ee", b"di1ei2ee", b"i1ei2e", b"x", b"1:ae", b"l" * (MAX_DEPTH + 1) + b"e" * (MAX_DEPTH + 1),
])
def test_decode_refuses_anything_but_one_value_in_its_one_spelling(data):
    with pytest.raises(InvalidBencode):
        decode(data)


def test_integers_beyond_64_bits_round_trip():
    assert decode(encode([2**100, -2**100])) == [2**100, -2**100]


def test_decode_limits_integer_digits():
    assert decode(b"i" + b"9" * 100 + b"e") == int("9" * 100)
    with pytest.raises(InvalidBencode, match="bad integer"):
        decode(b"i" + b"9" * 101 + b"e")


@pytest.mark.parametrize("data", [b"", b"e", b"i1", b"5:ab", b"l", b"x"])
def test_encoded_length_refuses_what_is_not_one_value(data):
    with pytest.raises(InvalidBencode):
        encoded_length(data)


def test_encoded_length_reads_a_million_nested_lists_without_recursion():
    assert encoded_length(b"l" * 10**6 + b"e" * 10**6) == 2 * 10**6
