"""Bencoding (BEP 3): the serialisation BitTorrent uses for .torrent files, DHT messages and BEP 44 items.

Four kinds of value: integers ``i42e``, byte strings ``4:spam``, lists ``l...e``
and dicts ``d...e`` whose keys are byte strings in sorted order. Every value has
exactly one spelling, which is what lets a signature cover "the bencoded value"
(BEP 44): a reader that accepted ``i042e`` or unsorted keys would let two byte
strings stand for one item.

- ``encode(value) -> bytes``: ints (not bools), bytes, str (as UTF-8), lists and
  tuples, dicts with bytes or str keys.
- ``decode(data) -> value``: the inverse, strict: it refuses any other spelling
  (leading zeros, ``-0``, unsorted or repeated keys, bytes after the value) with
  :class:`~labkit.errors.BencodeError`. Strings come back as bytes, dicts with bytes keys.

References: BEP 3 (https://www.bittorrent.org/beps/bep_0003.html), "bencoding".
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import BencodeError

__all__ = ["encode", "decode", "MAX_DEPTH"]

MAX_DEPTH = 32  # nesting a reader accepts: DHT messages need 3, and a deep value must not exhaust the stack
_INT = re.compile(rb"i(0|-?[1-9][0-9]*)e")
_LENGTH = re.compile(rb"(0|[1-9][0-9]*):")


def encode(value: Any) -> bytes:
    """The bencoding of ``value``; TypeError for a value bencoding has no form for (float, None, bool)."""
    out: list[bytes] = []
    _encode(value, out)
    return b"".join(out)


def _encode(value: Any, out: list[bytes]) -> None:
    if isinstance(value, bool) or value is None:
        raise TypeError(f"bencoding has no {type(value).__name__}")
    if isinstance(value, int):
        out.append(b"i%de" % value)
    elif isinstance(value, (bytes, bytearray, str)):
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        out.append(b"%d:%s" % (len(data), data))
    elif isinstance(value, (list, tuple)):
        out.append(b"l")
        for item in value:
            _encode(item, out)
        out.append(b"e")
    elif isinstance(value, dict):
        keys = {(k.encode("utf-8") if isinstance(k, str) else k): v for k, v in value.items()}
        if not all(isinstance(k, (bytes, bytearray)) for k in keys) or len(keys) != len(value):
            raise TypeError("a bencoded dict's keys are distinct strings")
        out.append(b"d")
        for key in sorted(keys):
            _encode(bytes(key), out)
            _encode(keys[key], out)
        out.append(b"e")
    else:
        raise TypeError(f"bencoding has no {type(value).__name__}")


def decode(data: bytes) -> Any:
    """The value ``data`` is the one canonical bencoding of; BencodeError for anything else."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"bencoded data is bytes, not {type(data).__name__}")
    data = bytes(data)
    value, at = _decode(data, 0, 0)
    if at != len(data):
        raise BencodeError(f"{len(data) - at} bytes after the value", at)
    return value


def _decode(data: bytes, at: int, depth: int) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise BencodeError(f"nested deeper than {MAX_DEPTH}", at)
    kind = data[at:at + 1]
    if kind == b"i":
        match = _INT.match(data, at)
        if not match:
            raise BencodeError("bad integer (a leading zero, -0, or no digits)", at)
        return int(match.group(1)), match.end()
    if kind.isdigit():
        return _string(data, at)
    if kind == b"l":
        items, at = [], at + 1
        while data[at:at + 1] != b"e":
            if at >= len(data):
                raise BencodeError("truncated: the list is not closed", at)
            item, at = _decode(data, at, depth + 1)
            items.append(item)
        return items, at + 1
    if kind == b"d":
        fields: dict[bytes, Any] = {}
        last, at = None, at + 1
        while data[at:at + 1] != b"e":
            if at >= len(data):
                raise BencodeError("truncated: the dict is not closed", at)
            if not data[at:at + 1].isdigit():
                raise BencodeError("a dict key must be a string", at)
            start = at
            key, at = _string(data, at)
            if last is not None and key <= last:
                raise BencodeError(f"key {key[:20]!r} is out of order or repeated", start)
            fields[key], at = _decode(data, at, depth + 1)
            last = key
        return fields, at + 1
    if at >= len(data):
        raise BencodeError("truncated: a value is missing", at)
    raise BencodeError(f"{kind!r} starts no bencoded value", at)


def _string(data: bytes, at: int) -> tuple[bytes, int]:
    match = _LENGTH.match(data, at)
    if not match:
        raise BencodeError("bad string length (a leading zero, or no colon)", at)
    start = match.end()
    end = start + int(match.group(1))
    if end > len(data):
        raise BencodeError("truncated string", at)
    return data[start:end], end
