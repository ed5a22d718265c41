"""Why small RSA keys are unsafe: factor a tiny modulus live, and the public factoring records.

An RSA private key is only ``d = e^-1 mod (p-1)(q-1)``, and the public
key gives away ``n = p q``. Whoever factors ``n`` can compute ``d`` and
sign as the key's owner. ``pollard_rho`` (Pollard 1975) factors a 64-bit
modulus in a fraction of a second with ten lines of Python; its work grows
as the square root of the smaller prime, so it gets nowhere near 512 bits.
The general number field sieve does: the 512-bit RSA-155 fell in 1999, and
since 2015 a 512-bit key costs a few hours and about $75 of rented cloud
machines (Valenta et al., "Factoring as a Service"). The seed generated
512-bit wallets; labkit refuses anything under 2048 bits (NIST SP 800-131A).

References: J. M. Pollard, "A Monte Carlo method for factorization" (1975);
the RSA Factoring Challenge results; L. Valenta et al., "Factoring as a
Service", Financial Cryptography 2016; NIST SP 800-131A Rev. 2.
"""

from __future__ import annotations

import math
import random
import time
from typing import TYPE_CHECKING, Iterable

import rsa
from rsa.prime import is_prime

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["pollard_rho", "tiny_key", "recover_private_key", "time_factoring", "factoring_records_frame"]


def pollard_rho(n: int, c: int = 1) -> int:
    """A non-trivial factor of a composite ``n`` (Floyd's cycle finding on x -> x^2 + c mod n).

    The sequence x, x^2+c, ... mod n repeats; taken mod an unknown prime
    factor p it repeats much sooner, after about sqrt(p) steps, and when it
    does, gcd(x - y, n) reveals p.
    """
    if n < 4 or is_prime(n):
        raise ValueError(f"{n} is not a composite number")
    if n % 2 == 0:
        return 2
    while True:
        x = y = 2
        factor = 1
        while factor == 1:
            x = (x * x + c) % n  # the tortoise takes one step
            y = (y * y + c) % n  # the hare takes two
            y = (y * y + c) % n
            factor = math.gcd(abs(x - y), n)
        if factor != n:
            return factor
        c += 1  # the cycle closed mod n itself: try another polynomial


def _prime(bits: int, rng: random.Random) -> int:
    while True:
        candidate = rng.getrandbits(bits) | (0b11 << (bits - 2)) | 1  # top two bits set: p*q has 2*bits bits
        if is_prime(candidate):
            return candidate


def tiny_key(bits: int, *, seed: int = 0, e: int = 65537) -> rsa.PrivateKey:
    """A deliberately weak RSA key with an exactly ``bits``-bit modulus, the same for the same seed.

    For lessons only: keys this small are broken in seconds (that is the lesson).
    """
    if bits < 16 or bits % 2:
        raise ValueError("bits must be an even number of at least 16")
    rng = random.Random(seed)
    while True:
        p, q = _prime(bits // 2, rng), _prime(bits // 2, rng)
        phi = (p - 1) * (q - 1)
        if p != q and math.gcd(e, phi) == 1:
            return rsa.PrivateKey(p * q, e, pow(e, -1, phi), max(p, q), min(p, q))


def recover_private_key(public_key: rsa.PublicKey) -> rsa.PrivateKey:
    """The private key behind a public key whose modulus is small enough to factor."""
    n, e = public_key.n, public_key.e
    p = pollard_rho(n)
    q = n // p
    d = pow(e, -1, (p - 1) * (q - 1))
    return rsa.PrivateKey(n, e, d, max(p, q), min(p, q))


def time_factoring(sizes: Iterable[int] = (32, 40, 48, 56, 64), *, seed: int = 0) -> "pd.DataFrame":
    """Make a tiny key of each size, recover its private key with Pollard's rho, and time it."""
    import pandas as pd

    rows = []
    for bits in sizes:
        key = tiny_key(bits, seed=seed)
        start = time.perf_counter()
        found = recover_private_key(rsa.PublicKey(key.n, key.e))
        seconds = time.perf_counter() - start
        rows.append({"bits": bits, "n": key.n, "p": found.p, "q": found.q,
                     "recovered d": found.d == key.d, "seconds": seconds})
    return pd.DataFrame(rows).set_index("bits")


# Public factorisations of RSA moduli. Effort is as the teams reported it.
_RECORDS = [
    (1994, "RSA-129", 426, "quadratic sieve", "≈600 volunteers, 8 months"),
    (1999, "RSA-155", 512, "number field sieve", "≈8,000 MIPS-years"),
    (2009, "RSA-768", 768, "number field sieve", "≈2,000 core-years"),
    (2015, "any 512-bit key", 512, "number field sieve", "< 4 hours, ≈$75 of rented machines"),
    (2019, "RSA-240", 795, "number field sieve", "≈900 core-years"),
    (2020, "RSA-250", 829, "number field sieve", "≈2,700 core-years"),
]


def factoring_records_frame() -> "pd.DataFrame":
    """Landmark factorisations of RSA moduli, against the seed's 512 bits and labkit's 2048."""
    import pandas as pd

    frame = pd.DataFrame(_RECORDS, columns=["year", "modulus", "bits", "method", "effort"])
    return frame.set_index("year")
