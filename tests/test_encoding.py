"""labkit.encoding: strict JSON and canonical base64url."""

from __future__ import annotations

import base64

import pytest

from labkit.encoding import (
    MAX_INT_DIGITS,
    StrictJSONError,
    b64url_decode,
    b64url_encode,
    dumps_canonical,
    loads_strict,
)

# --- round trips -----------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", b"ab", b"abc", bytes(range(256))])
def test_b64url_round_trip(data):
    assert b64url_decode(b64url_encode(data)) == data


@pytest.mark.parametrize("value", [
    {}, [], 0, -1, 10 ** 39, 1.5, "", "café ✓", None, True,
    {"b": [1, {"a": None}], "a": "x"},
])
def test_json_round_trip(value):
    assert loads_strict(dumps_canonical(value)) == value


# --- known answers -----------------------------------------------------------------


def test_b64url_rfc7515_appendix_c():
    # RFC 7515 appendix C: the octets [3, 236, 255, 224, 193] encode as "A-z_4ME".
    assert b64url_encode(bytes([3, 236, 255, 224, 193])) == "A-z_4ME"
    assert b64url_decode("A-z_4ME") == bytes([3, 236, 255, 224, 193])


def test_b64url_agrees_with_base64_module():
    data = bytes(range(200))
    assert b64url_encode(data) == base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_dumps_canonical_is_sorted_compact_utf8():
    assert dumps_canonical({"b": 1, "a": [1, 2], "é": "ü"}) == '{"a":[1,2],"b":1,"é":"ü"}'.encode("utf-8")


def test_dumps_canonical_same_value_same_bytes():
    assert dumps_canonical({"a": 1, "b": 2}) == dumps_canonical({"b": 2, "a": 1})


def test_loads_strict_accepts_bytes_and_surrogate_pairs():
    assert loads_strict(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    assert loads_strict('"\\ud83d\\ude00"') == "\U0001F600"  # a valid pair is one character


def test_largest_integer_allowed():
    assert loads_strict("9" * MAX_INT_DIGITS) == int("9" * MAX_INT_DIGITS)
    assert loads_strict("-" + "9" * MAX_INT_DIGITS) == -int("9" * MAX_INT_DIGITS)


# --- rejections ----------------------------------------------------------------------


@pytest.mark.parametrize("text, words", [
    ('{"a": 1, "a": 2}', "duplicate key 'a'"),
    ('{"x": {"a": 1, "a": 1}}', "duplicate key 'a'"),
    ("NaN", "NaN"),
    ("Infinity", "Infinity"),
    ("-Infinity", "-Infinity"),
    ('{"n": NaN}', "NaN"),
    ("1e400", "overflows"),
    ("-1e400", "overflows"),
    ("1" * (MAX_INT_DIGITS + 1), "too large"),
    ("-" + "1" * (MAX_INT_DIGITS + 1), "too large"),
    ("[" * 100_000 + "]" * 100_000, "nested more than 32 deep"),
    ("[" * 33 + "]" * 33, "nested more than 32 deep"),
    ("{'a': 1}", "not valid JSON"),
    ("", "not valid JSON"),
    ("[1,]", "not valid JSON"),
    ('"\\ud800"', "surrogate"),
    ('{"\\udc00": 1}', "surrogate"),
])
def test_loads_strict_refuses(text, words):
    with pytest.raises(StrictJSONError) as info:
        loads_strict(text)
    assert words in str(info.value)


def test_loads_strict_refuses_non_utf8():
    with pytest.raises(StrictJSONError, match="not UTF-8"):
        loads_strict(b'{"a": "\xff"}')


def test_strict_json_error_is_a_value_error():
    assert issubclass(StrictJSONError, ValueError)


def test_dumps_canonical_refuses_nan():
    with pytest.raises(ValueError):
        dumps_canonical({"x": float("nan")})


@pytest.mark.parametrize("text, why", [
    ("YQ==", "padding"),
    ("YQ=", "padding"),
    ("a+b/", "standard alphabet"),
    ("YQ Y", "space"),
    ("Y", "length 1 mod 4"),
    ("YR", "stray bits: 'YQ' is the canonical spelling of b'a'"),
    ("YWJ", "stray bits: 'YWI' is the canonical spelling of b'ab'"),
    ("é", "non-ASCII"),
])
def test_b64url_decode_refuses(text, why):
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_stray_bits_decode_to_the_same_bytes_under_lenient_base64():
    # Why the canonical check matters: a lenient decoder maps both spellings to b"a".
    assert base64.urlsafe_b64decode("YR==") == base64.urlsafe_b64decode("YQ==") == b"a"
