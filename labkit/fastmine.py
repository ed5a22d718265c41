"""A fast miner: do once the work that does not change with the nonce.

While mining, only the nonce changes, and the nonce is the last claim of the
token (``labkit.tokens`` lays the claims out that way). So most of the token,
``B64(header) "." B64(claims up to "nonce":)``, is the same for every attempt:

* base64 turns every 3 bytes into 4 characters on their own, so the claims
  can be cut at a multiple of 3 bytes; the part before the cut is encoded once
  and only a short tail (a few prefix bytes, the nonce digits and ``}``) is
  encoded per attempt;
* SHA-256 reads its input in order, so a hash object that has already read
  the fixed part can be copied and fed only the tail. HMAC (RFC 2104) is two
  SHA-256 runs, ``H((K ^ opad) + H((K ^ ipad) + message))``, and both start
  from fixed bytes, so both are copied from saved states; so is the token hash.

The result is the very token ``labkit.pow.mine`` makes for the same nonce,
byte for byte, several dozen times faster on one core, and faster again on
every core with worker processes. Hardware miners win the same way: the
fixed work is done once and only the part that depends on the nonce is
repeated, in circuits instead of Python.

A hash meets difficulty ``d`` (``d`` leading hex zeros) exactly when, read as
a 256-bit number, it is below the *target* ``16 ** (64 - d)``; comparing the
digest bytes with the target's bytes is one comparison per attempt.

References: RFC 7515 (JWS compact form), RFC 4648 section 5 (base64url),
RFC 2104 (HMAC), FIPS 180-4 (SHA-256), Bitcoin's "target" for difficulty.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import os
import sys
import threading
import time
from typing import Any

from .encoding import b64url_decode
from .errors import MiningCancelled
from .pow import (
    PROGRESS_EVERY,
    MiningProgress,
    MiningResult,
    ProgressCallback,
    check_difficulty,
    token_hash,
)
from .tokens import Payload, encode_token

__all__ = ["PrefixHasher", "target", "meets_target", "available_cores", "mine"]

SINGLE_CORE_UP_TO = 3  # up to this difficulty, starting processes costs more than it saves
CHUNK = 10_000  # nonces per unit of work: cancel, progress and sharing happen between chunks

_BLOCK_SIZE = 64  # bytes per SHA-256 block, the size HMAC pads its key to
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def target(difficulty: int) -> bytes:
    """The bytes a sha256 digest must be below to have ``difficulty`` leading hex zeros."""
    check_difficulty(difficulty)
    if difficulty == 0:
        return b"\xff" * 33  # longer than any digest, so every 32-byte digest is below it
    return (16 ** (64 - difficulty)).to_bytes(32, "big")


def meets_target(digest: bytes, difficulty: int) -> bool:
    """Whether a 32-byte sha256 digest has ``difficulty`` leading hex zeros."""
    return digest < target(difficulty)


def _b64(data: bytes) -> bytes:
    """base64url without padding, as in JWS; binascii skips base64.py's Python layer."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE, b"=")


@functools.lru_cache(maxsize=None)
def _tails(digits: int) -> tuple[tuple[bytes, bytes], ...]:
    """For every ``digits``-digit string (zero-padded), B64(digits + "}") without and with ".".

    The same table serves every template and every block of nonces, since it
    only holds the last digits of the nonce and the closing brace.
    """
    pairs = []
    for low in range(10 ** digits):
        tail = _b64(b"%0*d}" % (digits, low))
        pairs.append((tail, tail + b"."))
    return tuple(pairs)


class PrefixHasher:
    """Tokens and token hashes of one template for any nonce, hashing the fixed part once.

    ``token(nonce)`` equals ``encode_token(template.with_nonce(nonce), secret)``
    and ``attempt(nonce)`` is the sha256 digest of that token's bytes.
    """

    def __init__(self, template: Payload, secret: bytes | str):
        # pyjwt encodes the template once; its bytes are the reference every
        # piece below is cut from, so the layout is pyjwt's by construction.
        reference = encode_token(template, secret)
        header64, claims64, _ = reference.encode("ascii").split(b".")
        claims = b64url_decode(claims64.decode("ascii"))
        ending = b'"nonce":%d}' % template.nonce
        if not claims.endswith(ending):
            raise RuntimeError("the claims do not end with the nonce; labkit.tokens must put it last")
        self.template = template
        self.prefix = claims[: len(claims) - len(ending) + len(b'"nonce":')]  # claims up to the nonce digits
        cut = len(self.prefix) - len(self.prefix) % 3
        self._leftover = self.prefix[cut:]  # 0-2 bytes that share a base64 group with the digits
        fixed = header64 + b"." + _b64(self.prefix[:cut])  # every token starts with these bytes

        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)  # as pyjwt does
        if len(key) > _BLOCK_SIZE:
            key = hashlib.sha256(key).digest()  # RFC 2104: long keys are hashed first
        key = key.ljust(_BLOCK_SIZE, b"\0")
        self._inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + fixed)
        self._outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
        self._token = hashlib.sha256(fixed)
        self._fixed = fixed
        if self.token(template.nonce) != reference:
            raise RuntimeError("PrefixHasher disagrees with pyjwt; its token layout has changed")

    def _pieces(self, nonce: int) -> tuple[bytes, bytes]:
        """B64 of the variable end of the claims, and B64 of the HMAC."""
        tail = _b64(self._leftover + b"%d}" % nonce)
        inner = self._inner.copy()
        inner.update(tail)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return tail, _b64(outer.digest())

    def token(self, nonce: int) -> str:
        """The block's JWT with this nonce."""
        tail, mac = self._pieces(nonce)
        return (self._fixed + tail + b"." + mac).decode("ascii")

    def attempt(self, nonce: int) -> bytes:
        """sha256 of the token with this nonce, as 32 bytes (hex() gives the block hash)."""
        tail, mac = self._pieces(nonce)
        h = self._token.copy()
        h.update(tail + b"." + mac)
        return h.digest()

    def search(self, start: int, stop: int, limit: bytes) -> int | None:
        """The first nonce in [start, stop) whose token hash is below ``limit``, or None."""
        nonce = start
        while nonce < stop:
            width = len(str(nonce))
            # Cut the digits so that the fixed part (prefix + high digits) is a whole
            # number of base64 groups; the low digits then come from a shared table.
            low_digits = 2 + (len(self.prefix) + width - 2) % 3
            if width <= low_digits:  # too few digits to split: one nonce at a time
                end = min(stop, 10 ** width)
                for n in range(nonce, end):
                    if self.attempt(n) < limit:
                        return n
                nonce = end
                continue
            size = 10 ** low_digits
            high, low = divmod(nonce, size)
            end = min(size, stop - high * size)
            found = self._search_block(high, low_digits, low, end, limit)
            if found is not None:
                return high * size + found
            nonce = (high + 1) * size
        return None

    def _search_block(self, high: int, low_digits: int, low: int, end: int, limit: bytes) -> int | None:
        """Nonces high·10^low_digits + [low, end): the hot loop, everything bound to locals."""
        fixed = _b64(self._leftover + b"%d" % high)  # whole base64 groups by choice of low_digits
        inner = self._inner.copy()
        inner.update(fixed)
        token = self._token.copy()
        token.update(fixed)
        inner_copy, outer_copy, token_copy = inner.copy, self._outer.copy, token.copy
        b2a, urlsafe = binascii.b2a_base64, _TO_URLSAFE
        for i, (tail, tail_dot) in enumerate(_tails(low_digits)[low:end], low):
            h = inner_copy()
            h.update(tail)
            o = outer_copy()
            o.update(h.digest())
            h = token_copy()
            h.update(tail_dot + b2a(o.digest(), newline=False).translate(urlsafe, b"="))
            if h.digest() < limit:
                return i
        return None
