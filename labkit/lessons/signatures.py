"""Why real chains sign with elliptic curves: RSA-2048 beside ECDSA on secp256k1 and Ed25519 (10).

Every transaction carries a public key (or its hash) and a signature, and
every node stores them for ever, so their size is paid by the whole network:
Bitcoin signs with ECDSA on secp256k1 (SEC 2; Schnorr signatures on the same
curve since BIP 340), Solana, Cardano and many others with Ed25519 (RFC 8032).
labkit's classroom wallets use RSA-2048, the seed's choice.

``measure_schemes`` signs and verifies with each scheme and times it on this
machine; ``schemes_frame`` returns the comparison as a table. The RSA row is
labkit's own wallet (``labkit.wallet``); the curves come from the
``cryptography`` package. The security levels are NIST SP 800-57's estimates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..wallet import Wallet

__all__ = ["SchemeMeasurement", "measure_schemes", "schemes_frame", "SECURITY_BITS"]

# Estimated strength against the best known attacks (NIST SP 800-57 part 1, table 2).
SECURITY_BITS = {"RSA-2048": 112, "ECDSA secp256k1": 128, "Ed25519": 128}


@dataclass(frozen=True)
class SchemeMeasurement:
    scheme: str
    public_key_bytes: int  # as a chain would store it (RSA: the modulus; secp256k1: a compressed point)
    signature_bytes: int  # ECDSA: DER-encoded, so 70 to 72 bytes; its raw (r, s) is 64
    sign_us: float  # median microseconds for one signature on this machine
    verify_us: float  # median microseconds for one verification
    security_bits: int

    def to_dict(self) -> dict:
        return {"scheme": self.scheme, "public key (bytes)": self.public_key_bytes,
                "signature (bytes)": self.signature_bytes, "sign (µs)": round(self.sign_us, 1),
                "verify (µs)": round(self.verify_us, 1), "security (bits)": self.security_bits}


def _median_us(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6


def _rsa(wallet: "Wallet", message: bytes, rounds: int) -> SchemeMeasurement:
    from ..wallet import verify

    signature = wallet.sign(message)
    verify(wallet.public_key, message, signature)  # raises if it does not verify
    return SchemeMeasurement(f"RSA-{wallet.bits}", (wallet.public_key.n.bit_length() + 7) // 8, len(signature),
                             _median_us(lambda: wallet.sign(message), rounds),
                             _median_us(lambda: verify(wallet.public_key, message, signature), rounds),
                             SECURITY_BITS.get(f"RSA-{wallet.bits}", 0))


def _secp256k1(message: bytes, rounds: int) -> SchemeMeasurement:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256K1())
    public = key.public_key()
    point = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    algorithm = ec.ECDSA(hashes.SHA256())
    signature = key.sign(message, algorithm)
    public.verify(signature, message, algorithm)
    return SchemeMeasurement("ECDSA secp256k1", len(point), len(signature),
                             _median_us(lambda: key.sign(message, algorithm), rounds),
                             _median_us(lambda: public.verify(signature, message, algorithm), rounds),
                             SECURITY_BITS["ECDSA secp256k1"])


def _ed25519(message: bytes, rounds: int) -> SchemeMeasurement:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    public = key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    signature = key.sign(message)
    public.verify(signature, message)
    return SchemeMeasurement("Ed25519", len(raw), len(signature), _median_us(lambda: key.sign(message), rounds),
                             _median_us(lambda: public.verify(signature, message), rounds),
                             SECURITY_BITS["Ed25519"])


def measure_schemes(wallet: "Wallet | None" = None, *, rounds: int = 50,
                    message: bytes = b"alice pays bob 5 tokens") -> list[SchemeMeasurement]:
    """Sign and verify ``message`` ``rounds`` times with each scheme; RSA with ``wallet`` (default: alice's demo key)."""
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, not {rounds}")
    if wallet is None:
        from .data import demo_wallets

        wallet = demo_wallets()[0]
    return [_rsa(wallet, message, rounds), _secp256k1(message, rounds), _ed25519(message, rounds)]


def schemes_frame(measurements: list[SchemeMeasurement] | None = None) -> "pd.DataFrame":
    """The comparison as a table, one row per scheme (measured now unless ``measurements`` are given)."""
    import pandas as pd

    rows = [m.to_dict() for m in (measurements if measurements is not None else measure_schemes())]
    return pd.DataFrame(rows).set_index("scheme")
