"""labkit.sharing.bencode: round trips, agreement with libtorrent's bencoder, and every refusal."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from labkit.errors import BencodeError
from labkit.sharing.bencode import MAX_DEPTH, decode, encode



def nested(integers):
    return st.recursive(
        integers | st.binary(max_size=40),
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.binary(max_size=8), inner, max_size=5),
        max_leaves=20,
    )


values = nested(st.integers(-(2**70), 2**70))  # bencoding's integers have no bound (total work is large)


@given(values)
def test_round_trip(value):
    assert decode(encode(value)) == value


@given(nested(st.integers(-(2**63), 2**63 - 1)))  # libtorrent's integers are 64-bit
def test_agrees_with_libtorrent(value):
    lt = pytest.importorskip("libtorrent")
    assert encode(value) == bytes(lt.bencode(value))


def test_known_answers():
    assert encode({"spam": [b"a", 42], b"cow": b"moo"}) == b"d3:cow3:moo4:spaml1:ai42eee"
    assert encode(-3) == b"i-3e" and encode(b"") == b"0:" and encode([]) == b"le"


@pytest.mark.parametrize("value", [True, None, 1.5, {1: 2}, {"a": 1, b"a": 2}, object()])
def test_encode_refuses_what_bencoding_has_no_form_for(value):
    with pytest.raises(TypeError):
        encode(value)


BAD = [  # (why, data)
    ("empty", b""), ("negative zero", b"i-0e"), ("leading zero", b"i03e"), ("empty integer", b"ie"),
    ("length with a leading zero", b"03:abc"), ("string past the end", b"5:abc"), ("no colon", b"3abc"),
    ("unclosed list", b"li1e"), ("unclosed dict", b"d1:ai1e"), ("unsorted keys", b"d1:bi1e1:ai2ee"),
    ("repeated key", b"d1:ai1e1:ai2ee"), ("integer key", b"di1ei2ee"), ("bytes after", b"i1ei2e"),
    ("unknown kind", b"x"), ("key without value", b"d1:ae"), ("too deep", b"l" * (MAX_DEPTH + 2) + b"e" * (MAX_DEPTH + 2)),
]


@pytest.mark.parametrize("why, data", BAD, ids=[why for why, _ in BAD])
def test_decode_refuses_any_other_spelling(why, data):
    with pytest.raises(BencodeError) as refused:
        decode(data)
    assert 0 <= refused.value.at <= len(data)


def test_decode_refuses_what_is_not_bytes():
    with pytest.raises(TypeError):
        decode("i1e")
