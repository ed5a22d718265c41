"""Bencoding (BEP 3), BitTorrent's encoding: labkit's one bencoder, for the DHT pointers and the .torrent checks.

Four kinds of value: an integer ``i42e``, a byte string ``4:spam``, a list
``l...e`` and a dictionary ``d...e`` whose keys are byte strings in sorted
order. Each value has exactly one spelling (no leading zeros, no ``-0``, keys
sorted and never repeated), so equal values give equal bytes and a signature
over the bytes is a signature over the value:

- ``encode(value)``: int (not bool), bytes, str (as UTF-8), list or tuple, and
  dict with str or bytes keys; the same bytes as libtorrent's ``bencode``;
- ``decode(data)``: the value of bytes spelled the one canonical way, and
  nothing after it; anything else raises InvalidBencode, saying where;
- ``encoded_length(data)``: how many bytes the first value takes, without
  building it (a .torrent's metainfo must fill the file).

libtorrent has its own bencoder, which labkit uses only on what libtorrent
made or reads itself (a torrent it generates, a .torrent it parses).
"""

from __future__ import annotations

import re
from typing import Any, Union

from ..errors import InvalidBencode

__all__ = ["Value", "MAX_DEPTH", "encode", "decode", "encoded_length"]

Value = Union[int, bytes, list, dict]  # what decode returns: dict keys are bytes
MAX_DEPTH = 64  # nested lists and dicts decode accepts
_INT = re.compile(rb"i(0|-?[1-9][0-9]*)e")
_LENGTH = re.compile(rb"(0|[1-9][0-9]*):")


def encode(value: Any) -> bytes:
    """The one bencoding of ``value``; TypeError for a type bencoding has no spelling for (bool, float, None...)."""
    if isinstance(value, bool) or not isinstance(value, (int, bytes, bytearray, str, list, tuple, dict)):
        raise TypeError(f"bencode has no {type(value).__name__}")
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, (bytes, bytearray)):
        return b"%d:%s" % (len(value), bytes(value))
    if isinstance(value, (list, tuple)):
        return b"l" + b"".join(encode(item) for item in value) + b"e"
    keys = {(k.encode("utf-8") if isinstance(k, str) else k): v for k, v in value.items()}
    if len(keys) != len(value) or not all(isinstance(k, (bytes, bytearray)) for k in keys):
        raise TypeError("bencode dict keys are distinct str or bytes")
    return b"d" + b"".join(encode(k) + encode(keys[k]) for k in sorted(keys)) + b"e"


def decode(data: bytes, *, max_int_digits: int = 100) -> Value:
    """The value ``data`` spells; InvalidBencode unless it is one value in its one spelling, and nothing else."""
    if not isinstance(data, (bytes, bytearray)):
        raise InvalidBencode(f"bencoded data is bytes, not {type(data).__name__}")
    data = bytes(data)
    value, end = _value(data, 0, 0, max_int_digits)
    if end != len(data):
        raise InvalidBencode(f"{len(data) - end} byte(s) after the value")
    return value


def _value(data: bytes, at: int, depth: int, max_int_digits: int) -> tuple[Value, int]:
    kind = data[at:at + 1]
    if kind == b"i":
        match = _INT.match(data, at)
        if not match or len(match.group(1).lstrip(b"-")) > max_int_digits:
            raise InvalidBencode(f"bad integer at byte {at}")
        return int(match.group(1)), match.end()
    if kind.isdigit():
        return _string(data, at)
    if kind not in (b"l", b"d"):
        raise InvalidBencode(f"no value at byte {at}" if kind else f"truncated at byte {at}")
    if depth >= MAX_DEPTH:
        raise InvalidBencode(f"nested deeper than {MAX_DEPTH} at byte {at}")
    items: list = []
    fields: dict[bytes, Value] = {}
    at += 1
    while data[at:at + 1] != b"e":
        if at >= len(data):
            raise InvalidBencode(f"truncated: the {'list' if kind == b'l' else 'dict'} is not closed")
        if kind == b"l":
            item, at = _value(data, at, depth + 1, max_int_digits)
            items.append(item)
            continue
        if not data[at:at + 1].isdigit():
            raise InvalidBencode(f"a dict key is a byte string, at byte {at}")
        key, at = _string(data, at)
        if fields and key <= list(fields)[-1]:
            raise InvalidBencode(f"key {key[:20]!r} is out of order or repeated")
        fields[key], at = _value(data, at, depth + 1, max_int_digits)
    return (items if kind == b"l" else fields), at + 1


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    match = _LENGTH.match(data, at, min(len(data), at + 21))
    if not match:
        raise InvalidBencode(f"bad string length at byte {at}")
    start = match.end()
    end = start + int(match.group(1))
    if end > len(data):
        raise InvalidBencode(f"truncated string at byte {at}")
    return data[start:end], end


def encoded_length(data: bytes) -> int:
    """How many bytes the first bencoded value of ``data`` takes (InvalidBencode if it is not one).

    Iterative, so a hostile file of a million nested lists cannot exhaust Python's stack.
    """
    pos, depth, n = 0, 0, len(data)
    while True:
        if pos >= n:
            raise InvalidBencode("the bencoding ends early")
        c = data[pos:pos + 1]
        if c in (b"d", b"l"):
            depth, pos = depth + 1, pos + 1
            continue
        if c == b"e":
            if depth == 0:
                raise InvalidBencode("an unexpected 'e'")
            depth, pos = depth - 1, pos + 1
        elif c == b"i":
            end = data.find(b"e", pos)
            if end < 0:
                raise InvalidBencode("an integer never ends")
            pos = end + 1
        elif c.isdigit():
            colon = data.find(b":", pos)
            if colon < 0 or not data[pos:colon].isdigit():
                raise InvalidBencode("a bad string length")
            pos = colon + 1 + int(data[pos:colon])
            if pos > n:
                raise InvalidBencode("a string runs past the end")
        else:
            raise InvalidBencode(f"unexpected byte {c!r} at offset {pos}")
        if depth == 0:
            return pos
