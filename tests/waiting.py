"""Waiting in tests: poll until a condition holds, with a time-out that names what was awaited.

A test never sleeps a fixed time hoping something happened: it calls
``wait_until(predicate, timeout=..., what=...)``, which calls the predicate
until it returns a true value (and returns that value), and on time-out fails
the test with ``timed out after 30 s waiting for <what>``.

Every time-out a test waits on goes through ``scaled``: on a slow or busy
machine ``LABKIT_TIMEOUT_FACTOR=3 make test`` gives every wait three times as
long, as bitcoin's functional test framework does with ``--timeout-factor``.
conftest.py scales each test's own time limit (pytest-timeout's) by the same factor.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, TypeVar

__all__ = ["FACTOR_ENV", "WaitTimeout", "scaled", "timeout_factor", "wait_until"]

FACTOR_ENV = "LABKIT_TIMEOUT_FACTOR"

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """A condition a test waited for did not hold in time (an assertion: the test fails, it does not error)."""


def timeout_factor() -> float:
    """The factor every time-out is multiplied by: LABKIT_TIMEOUT_FACTOR, 1 when unset."""
    text = os.environ.get(FACTOR_ENV, "").strip()
    if not text:
        return 1.0
    try:
        factor = float(text)
    except ValueError:
        raise ValueError(f"{FACTOR_ENV}={text!r} is not a number (say {FACTOR_ENV}=2 for twice as long)") from None
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"{FACTOR_ENV}={text!r} must be a positive number (1 is the default)")
    return factor


def scaled(seconds: float) -> float:
    """``seconds`` times the time-out factor: what a test passes wherever it gives a time-out to a library."""
    return seconds * timeout_factor()


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str | Callable[[], str],
               interval: float = 0.05, pause: Callable[[float], Any] | None = None) -> T:
    """Call ``predicate`` until it returns a true value, and return that value.

    ``timeout`` is in seconds before scaling. ``what`` says what is awaited (a callable is asked only on
    time-out, so it can report the latest state). Between calls ``pause(interval)`` runs: by default a sleep;
    a caller that must keep something moving passes its own (``lambda s: session.poll(s)``).
    """
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    wait = pause or time.sleep
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            awaited = what() if callable(what) else what
            factor = timeout_factor()
            note = f" ({timeout:g} s times {FACTOR_ENV}={factor:g})" if factor != 1 else ""
            raise WaitTimeout(f"timed out after {limit:g} s{note} waiting for {awaited}")
        wait(interval)
