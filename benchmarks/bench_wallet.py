"""Wallets: 2048-bit key generation, and signing/verifying against the rsa package's pure-Python functions."""

from __future__ import annotations

import time

import rsa

from labkit.wallet import Wallet, verify

try:
    from .common import median, rate, row, timed
except ImportError:
    from common import median, rate, row, timed


def run(quick: bool = False) -> list[dict]:
    rows = []
    times = [timed(lambda: Wallet.generate()) for _ in range(5 if quick else 20)]
    med, worst = median(times), max(times)
    start = time.perf_counter()
    rsa.newkeys(2048)  # the seed's way, pure Python: once is enough to make the point
    pure = time.perf_counter() - start
    rows.append(row("wallet", "2048-bit generation, median", med, "s", baseline=pure,
                    baseline_name="rsa.newkeys(2048), one run", target="median < 0.3 s", met=med < 0.3))
    rows.append(row("wallet", "2048-bit generation, worst", worst, "s"))

    wallet = Wallet.generate()
    message = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.a-block-token"
    signature = wallet.sign(message)
    secs = 0.5 if quick else 1.5
    ours = rate(lambda: wallet.sign(message), secs)
    theirs = rate(lambda: rsa.sign(message, wallet.private_key, "SHA-256"), secs)
    rows.append(row("wallet", "sign (2048-bit)", ours, "/s", baseline=theirs, baseline_name="rsa.sign"))
    ours = rate(lambda: verify(wallet.public_key, message, signature), secs)
    theirs = rate(lambda: rsa.verify(message, signature, wallet.public_key), secs)
    rows.append(row("wallet", "verify (2048-bit)", ours, "/s", baseline=theirs, baseline_name="rsa.verify"))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
