"""Strict JSON and base64url: one accepted spelling for every value.

A blockchain hashes bytes, so two spellings of the same value are two
different blocks. These helpers refuse what a lenient parser would let
through: duplicate keys, NaN and Infinity, numbers too large to be sensible,
and base64 with padding or stray bits.
References: RFC 8259 (JSON), RFC 7515 section 2 and appendix C (base64url without padding).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .errors import StrictJSONError

__all__ = ["loads_strict", "dumps_canonical", "b64url_encode", "b64url_decode"]

# Integers beyond this many digits are refused: nothing in a block needs them
# and Python would happily spend seconds on a million-digit nonce.
MAX_INT_DIGITS = 40
# Nesting deeper than this is refused before parsing: how deep json.loads can go before
# RecursionError depends on the Python version (3.12 changed the C recursion limit), and a
# verdict must not.
MAX_DEPTH = 32

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj: dict = {}
    for key, value in pairs:
        if key in obj:
            raise StrictJSONError(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise StrictJSONError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise StrictJSONError(f"integer with {len(text)} digits is too large")
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise StrictJSONError(f"number {text[:20]} overflows")
    return value


def _check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse arrays and objects nested more than ``max_depth`` deep (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= max_depth:
        return
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > max_depth:
                raise StrictJSONError(f"nested more than {max_depth} deep")
        elif char in "]}":
            depth -= 1


def loads_strict(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON, refusing duplicate keys, NaN/Infinity, huge numbers, deep nesting and lone surrogates.

    ``max_depth`` is for a file that wraps values read with the default (a node's queue holds
    contracts a few levels down); a verdict always uses the default.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StrictJSONError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from None
    _check_depth(text, max_depth)
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constant,
            parse_int=_bounded_int,
            parse_float=_finite_float,
        )
    except StrictJSONError:
        raise
    except RecursionError:
        raise StrictJSONError("nested too deeply") from None
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        raise StrictJSONError(f"not valid JSON ({exc})") from None
    if "\\u" in text or not text.isascii():
        # json turns "\ud800" into a lone surrogate: not a character, and it
        # cannot be written back as UTF-8 (dumps_canonical would fail later).
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise StrictJSONError("string holds a lone surrogate (\\ud800-\\udfff)") from None
        except RecursionError:
            raise StrictJSONError("nested too deeply") from None
    return value


def dumps_canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same bytes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def b64url_encode(data: bytes) -> str:
    """base64url without padding (RFC 7515 appendix C)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url without padding, accepting only the canonical spelling."""
    if not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if b64url_encode(data) != text:  # unused low bits set: a second spelling
        raise ValueError("non-canonical base64url (stray bits in the last character)")
    return data
