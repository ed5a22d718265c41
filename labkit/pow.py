"""Proof of work: a block counts only if sha256(token) starts with enough hex zeros.

``difficulty`` is a number of leading hex digits that must be "0", from 0 to 8;
each digit multiplies the expected work by 16. The reference miner here is
the seed's loop made readable: re-encode the whole JWT for every nonce and
hash it. ``labkit.fastmine`` does the same search far faster with the same
interface (``Miner``), so either can be passed wherever a miner is asked for;
``labkit.fastmine.default_miner()`` is the one used wherever none is given.

"Meets the difficulty" is decided here, once: :func:`meets_difficulty` on a
block's hash, and :func:`target`, the same rule for a raw digest (the fast
miner compares bytes), which the tests check agree on every digest.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from .errors import MiningCancelled
from .tokens import MAX_DIFFICULTY, Payload, encode_token

__all__ = [
    "MAX_DIFFICULTY",
    "MiningProgress",
    "MiningResult",
    "Miner",
    "token_hash",
    "meets_difficulty",
    "target",
    "check_difficulty",
    "expected_attempts",
    "mine",
]

PROGRESS_EVERY = 0.1  # seconds between progress reports


def token_hash(token: str) -> str:
    """The block's hash: sha256 of the token's ASCII bytes, as 64 hex digits."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def check_difficulty(difficulty: int) -> int:
    if isinstance(difficulty, bool) or not isinstance(difficulty, int):
        raise TypeError(f"difficulty must be an int, not {type(difficulty).__name__}")
    if not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty must be from 0 to {MAX_DIFFICULTY} hex digits, not {difficulty}")
    return difficulty


def meets_difficulty(hash_hex: str, difficulty: int) -> bool:
    """Whether a block's hash (hex) starts with ``difficulty`` zeros: the proof-of-work rule."""
    return hash_hex.startswith("0" * difficulty)


def target(difficulty: int) -> bytes:
    """The same rule for a raw sha256 digest: it meets ``difficulty`` exactly when it is below these bytes.

    ``d`` leading hex zeros means, read as a 256-bit number, below ``16 ** (64 - d)``
    (Bitcoin's *target*); comparing bytes is one comparison per attempt.
    """
    check_difficulty(difficulty)
    if difficulty == 0:
        return b"\xff" * 33  # longer than any digest, so every 32-byte digest is below it
    return (16 ** (64 - difficulty)).to_bytes(32, "big")


def expected_attempts(difficulty: int) -> int:
    """Each hex digit of a random hash is 0 with probability 1/16."""
    return 16 ** difficulty


@dataclass(frozen=True)
class MiningProgress:
    attempts: int  # nonces tried so far
    seconds: float  # wall time since mining started

    @property
    def rate(self) -> float:
        """Attempts per second."""
        return self.attempts / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class MiningResult:
    token: str
    nonce: int
    hash: str  # sha256 hex of token
    attempts: int  # nonces tried, the winning one included
    seconds: float

    @property
    def rate(self) -> float:
        return self.attempts / self.seconds if self.seconds > 0 else 0.0


ProgressCallback = Callable[[MiningProgress], None]


class Miner(Protocol):
    """What every miner looks like: find a nonce, starting from template.nonce."""

    def __call__(
        self,
        template: Payload,
        secret: bytes,
        difficulty: int,
        *,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> MiningResult: ...


def mine(
    template: Payload,
    secret: bytes,
    difficulty: int,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> MiningResult:
    """The reference miner: try nonces from template.nonce upwards, as the seed does.

    ``progress`` is called about every 0.1 s with a MiningProgress;
    setting ``cancel`` stops the search with MiningCancelled.
    """
    check_difficulty(difficulty)
    start = time.perf_counter()
    next_report = start + PROGRESS_EVERY
    attempts = 0
    for nonce in itertools.count(template.nonce):
        token = encode_token(template.with_nonce(nonce), secret)
        digest = token_hash(token)
        attempts += 1
        if meets_difficulty(digest, difficulty):
            return MiningResult(token, nonce, digest, attempts, time.perf_counter() - start)
        if attempts % 256 == 0:
            now = time.perf_counter()
            if cancel is not None and cancel.is_set():
                raise MiningCancelled(attempts)
            if progress is not None and now >= next_report:
                progress(MiningProgress(attempts, now - start))
                next_report = now + PROGRESS_EVERY
    raise AssertionError("unreachable")  # itertools.count never ends
