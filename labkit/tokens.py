"""Blocks as JSON Web Tokens: the payload, its encoding and strict decoding.

A block's body is a JWT (RFC 7519) in JWS compact form (RFC 7515), MACed
with HS256 and the network's shared secret, exactly as in the seed. The
payload carries ``prev_hash``, ``timestamp``, ``transaction_data`` (the
contract) and ``nonce``, plus the optional ``index``, ``difficulty`` and
``signer`` labkit adds so a verifier can check order, work and authorship. Claims are laid out in a fixed
order with the nonce last, so everything before the nonce stays fixed while
mining (the fast miner relies on it).

A MAC only proves that someone holding the secret made the token; every
member holds it. Authorship comes from the RSA signature on the record
(see ``labkit.block``); the ``signer`` claim ties that author to the token,
so a member cannot re-sign someone else's mined block as their own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field, replace
from typing import Any

import jwt

from .encoding import b64url_decode, loads_strict
from .errors import InvalidToken, StrictJSONError

__all__ = [
    "ALGORITHM",
    "GENESIS_HASH",
    "MAX_TOKEN_BYTES",
    "Payload",
    "TokenParts",
    "encode_token",
    "decode_token",
    "split_token",
    "check_mac",
    "read_claims",
    "utc_now",
    "format_timestamp",
    "parse_timestamp",
]

ALGORITHM = "HS256"
GENESIS_HASH = "0" * 64  # prev_hash of the first block
MAX_TOKEN_BYTES = 64 * 1024  # a block is a few hundred bytes; refuse megabyte tokens early
MAX_DIFFICULTY = 8  # hex digits

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CLAIMS = ("prev_hash", "timestamp", "transaction_data", "index", "difficulty", "signer", "nonce")
_REQUIRED = ("prev_hash", "timestamp", "transaction_data", "nonce")


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC, to the second."""
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def format_timestamp(when: dt.datetime) -> str:
    """RFC 3339 in UTC with an explicit offset, e.g. 2024-11-23T12:00:00+00:00 (what labkit's miner writes)."""
    if when.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware (use datetime.timezone.utc)")
    return when.astimezone(dt.timezone.utc).isoformat()


# labkit's own timestamp grammar, the same on every Python (datetime.fromisoformat
# accepts more forms on 3.11+ than on 3.10, so it cannot decide what a block may say):
#
#   YYYY-MM-DD "T" HH:MM:SS [ "." 1-6 digits ] [ "Z" | ("+" | "-") HH:MM ]
#
# * RFC 3339 section 5.6 "date-time", restricted: upper-case "T" and "Z" only (RFC 3339
#   also allows "t", "z" and a space); seconds 00-59 (no leap second 60, which datetime
#   cannot hold); at most 6 fraction digits (microseconds); offsets -23:59 to +23:59.
# * No offset at all is the one form outside RFC 3339: the seed wrote naive UTC times
#   (datetime.utcnow().isoformat()), so a time without an offset is read as UTC.
# * Digits are ASCII 0-9 only. The date must exist (2023-02-29 does not), the year is
#   0001-9999, and the instant must stay within years 1-9999 once moved to UTC.
# Refused, among others: basic format (20241123T120000Z), week and ordinal dates,
# a date without a time, hours without seconds, ",5" fractions, "+0100" or "+01" offsets.
_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})"
    r"(?:\.(?P<fraction>[0-9]{1,6}))?"
    r"(?P<offset>Z|[+-][0-9]{2}:[0-9]{2})?"
)


def parse_timestamp(text: str) -> dt.datetime:
    """Read a block's timestamp by labkit's grammar (above) as an aware UTC datetime; raises ValueError."""
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) and text.isascii() else None
    if match is None:
        raise ValueError(f"timestamp {str(text)[:40]!r} is not YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]")
    year, month, day = (int(part) for part in match["date"].split("-"))
    hour, minute, second = int(match["hour"]), int(match["minute"]), int(match["second"])
    micro = int((match["fraction"] or "").ljust(6, "0"))
    try:
        when = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.timezone.utc)
    except ValueError:  # month 13, 31 April, hour 24, year 0 (datetime's own wording varies by version)
        raise ValueError(f"timestamp {text!r} names no real date and time") from None
    offset = match["offset"]
    if offset and offset != "Z":
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"timestamp {text!r} has an offset beyond ±23:59")
        shift = dt.timedelta(hours=hours, minutes=minutes)
        try:
            when = when - shift if offset[0] == "+" else when + shift
        except OverflowError:  # e.g. 9999-12-31T23:59:59-01:00 is in the year 10000 in UTC
            raise ValueError(f"timestamp {text!r} is out of range in UTC") from None
    return when


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Payload:
    """The claims of a block's JWT, in their wire order (nonce last)."""

    prev_hash: str  # hex sha256 of the previous block's token, 64 zeros for the first
    timestamp: str  # RFC 3339 (see parse_timestamp), e.g. "2024-11-23T12:00:00+00:00"
    transaction_data: dict = field(hash=False)  # the contract: {"actions": [...]}
    nonce: int = 0
    index: int | None = None  # position in the chain, 0 for the first block
    difficulty: int | None = None  # hex zeros the author claims; the network decides
    # The author's address. The record's RSA signature is not part of the hash,
    # so without this claim anyone could re-sign a mined block as their own.
    signer: str | None = None

    def with_nonce(self, nonce: int) -> "Payload":
        return replace(self, nonce=nonce)

    @property
    def time(self) -> dt.datetime:
        return parse_timestamp(self.timestamp)

    def to_claims(self) -> dict:
        """The claims as an ordered dict, nonce last, optional fields left out when None."""
        claims = {"prev_hash": self.prev_hash, "timestamp": self.timestamp,
                  "transaction_data": self.transaction_data}
        if self.index is not None:
            claims["index"] = self.index
        if self.difficulty is not None:
            claims["difficulty"] = self.difficulty
        if self.signer is not None:
            claims["signer"] = self.signer
        claims["nonce"] = self.nonce
        return claims

    @classmethod
    def from_claims(cls, claims: Any) -> "Payload":
        """Check the schema of decoded claims; raises InvalidToken(rule="payload")."""
        def bad(reason: str) -> InvalidToken:
            return InvalidToken(reason, rule="payload")

        if not isinstance(claims, dict):
            raise bad("payload is not a JSON object")
        unknown = [k for k in claims if k not in _CLAIMS]
        if unknown:
            extra = " (blocks never expire)" if {"exp", "nbf", "iat"} & set(unknown) else ""
            raise bad(f"unknown field(s) {', '.join(map(repr, unknown))}{extra}")
        missing = [k for k in _REQUIRED if k not in claims]
        if missing:
            raise bad(f"missing field(s) {', '.join(map(repr, missing))}")
        prev_hash, timestamp = claims["prev_hash"], claims["timestamp"]
        if not isinstance(prev_hash, str) or not _HEX64.fullmatch(prev_hash):
            raise bad("prev_hash must be 64 lowercase hex digits")
        if not isinstance(timestamp, str):
            raise bad("timestamp must be a string")
        try:
            parse_timestamp(timestamp)
        except ValueError as exc:
            raise bad(str(exc)) from None
        if not isinstance(claims["transaction_data"], dict):
            raise bad("transaction_data must be a JSON object")
        nonce = claims["nonce"]
        if not _is_int(nonce) or nonce < 0:
            raise bad("nonce must be a non-negative integer")
        index = claims.get("index")
        if index is not None and (not _is_int(index) or index < 0):
            raise bad("index must be a non-negative integer")
        difficulty = claims.get("difficulty")
        if difficulty is not None and (not _is_int(difficulty) or not 0 <= difficulty <= MAX_DIFFICULTY):
            raise bad(f"difficulty must be an integer from 0 to {MAX_DIFFICULTY}")
        signer = claims.get("signer")
        if signer is not None and (not isinstance(signer, str) or not _HEX64.fullmatch(signer)):
            raise bad("signer must be an address: 64 lowercase hex digits")
        return cls(prev_hash=prev_hash, timestamp=timestamp,
                   transaction_data=claims["transaction_data"], nonce=nonce,
                   index=index, difficulty=difficulty, signer=signer)


def encode_token(payload: Payload, secret: bytes) -> str:
    """The block's JWT: HS256 over the claims in wire order (pyjwt does the encoding)."""
    return jwt.encode(payload.to_claims(), secret, algorithm=ALGORITHM)


def _header(raw: bytes) -> dict:
    try:
        header = loads_strict(raw)
    except (ValueError, StrictJSONError) as exc:
        raise InvalidToken(f"header is not base64url JSON ({exc})") from None
    if not isinstance(header, dict):
        raise InvalidToken("header is not a JSON object")
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise InvalidToken(f"algorithm {alg!r} is not allowed; blocks use {ALGORITHM} only")
    extra = set(header) - {"alg", "typ"}
    if extra:
        raise InvalidToken(f"unexpected header field(s) {', '.join(sorted(map(repr, extra)))}")
    if header.get("typ", "JWT") != "JWT":
        raise InvalidToken(f"header typ {header['typ']!r} is not 'JWT'")
    return header


@dataclass(frozen=True)
class TokenParts:
    """A JWT whose shape and header are right: what its MAC covers, its claims as JSON, and its MAC."""

    signing_input: bytes  # "<header>.<payload>", base64url as ASCII: what the MAC is computed over
    body: bytes  # the payload part decoded: the claims as JSON text
    mac: bytes  # the third part decoded: HMAC-SHA256(secret, signing_input) if the token is genuine


def split_token(token: Any) -> TokenParts:
    """The "token" check: size, three canonical base64url parts, an HS256 header; raises InvalidToken."""
    if not isinstance(token, str):
        raise InvalidToken(f"token must be a string, not {type(token).__name__}")
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"token is {len(token):,} bytes; the limit is {MAX_TOKEN_BYTES:,}")
    if not token.isascii():
        raise InvalidToken("token contains non-ASCII characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken(f"a JWT has 3 dot-separated parts, this one has {len(parts)}")
    decoded = []
    for name, part in zip(("header", "payload", "signature"), parts):
        try:
            decoded.append(b64url_decode(part))
        except ValueError as exc:
            raise InvalidToken(f"{name} part: {exc}") from None
    _header(decoded[0])
    return TokenParts(f"{parts[0]}.{parts[1]}".encode("ascii"), decoded[1], decoded[2])


def check_mac(parts: TokenParts, secret: bytes) -> None:
    """The "mac" check: the token was MACed with ``secret``; raises InvalidToken(rule="mac")."""
    # The MAC is checked by hand (RFC 7515 section 5.2 with HS256): pyjwt's own
    # decoder would do the same work twice over after the strict checks of split_token.
    # tests/test_tokens.py checks that jwt.decode agrees on every token.
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    expected = hmac.new(secret, parts.signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, parts.mac):
        raise InvalidToken("MAC does not match the network secret", rule="mac")


def read_claims(parts: TokenParts) -> Payload:
    """The "payload" check: the claims are strict JSON with the right fields and types.

    It trusts nothing: on its own (without ``check_mac``) it reads the claims
    of a token whose MAC is wrong, to show what a forger wrote.
    """
    try:
        claims = loads_strict(parts.body)
    except StrictJSONError as exc:
        raise InvalidToken(f"payload: {exc}", rule="payload") from None
    return Payload.from_claims(claims)


def decode_token(token: Any, secret: bytes) -> Payload:
    """Decode and check a block's JWT; raises InvalidToken naming the failed check.

    Checks, in order: size and shape, canonical base64url, the header (HS256
    only: no "none", no RS256/HS256 confusion), the HMAC-SHA256 MAC with
    ``secret``, then the payload schema (strict JSON, no
    unknown, missing or mistyped fields, no exp/nbf/iat).
    """
    parts = split_token(token)
    check_mac(parts, secret)
    return read_claims(parts)
