"""labkit.lessons.signatures: key and signature sizes of RSA-2048, ECDSA secp256k1 and Ed25519, and timings."""

from __future__ import annotations

import pytest

from labkit.lessons.data import demo_wallets
from labkit.lessons.signatures import measure_schemes, schemes_frame


@pytest.fixture(scope="module")
def measurements():
    return measure_schemes(rounds=3)


def test_sizes_are_the_schemes_sizes(measurements):
    rsa, ecdsa, ed = measurements
    assert (rsa.scheme, rsa.public_key_bytes, rsa.signature_bytes) == ("RSA-2048", 256, 256)
    assert (ecdsa.scheme, ecdsa.public_key_bytes) == ("ECDSA secp256k1", 33)  # compressed point: 0x02/0x03 and x
    assert 68 <= ecdsa.signature_bytes <= 72  # DER of two 256-bit integers
    assert (ed.scheme, ed.public_key_bytes, ed.signature_bytes) == ("Ed25519", 32, 64)
    assert [m.security_bits for m in measurements] == [112, 128, 128]


def test_timings_are_measured(measurements):
    assert all(m.sign_us > 0 and m.verify_us > 0 for m in measurements)


def test_frame_and_another_wallet(measurements):
    frame = schemes_frame(measurements)
    assert list(frame.index) == ["RSA-2048", "ECDSA secp256k1", "Ed25519"]
    assert list(frame.columns) == ["public key (bytes)", "signature (bytes)", "sign (µs)", "verify (µs)",
                                   "security (bits)"]
    bob = measure_schemes(demo_wallets()[1], rounds=1)[0]
    assert bob.public_key_bytes == 256


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="rounds must be at least 1, not 0"):
        measure_schemes(rounds=0)
