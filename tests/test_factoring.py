"""Factoring tiny RSA keys: Pollard's rho, reproducible weak keys, and key recovery."""

from __future__ import annotations

import math

import pytest
import rsa

from labkit.lessons.factoring import factoring_records_frame, pollard_rho, recover_private_key, time_factoring, tiny_key


@pytest.mark.parametrize("n, factors", [
    (8051, {83, 97}), (10403, {101, 103}), (3233, {61, 53}), (2**4 * 3, {2}), (1_000_036_000_099, {1_000_003, 1_000_033}),
])
def test_pollard_rho_finds_a_factor(n, factors):
    factor = pollard_rho(n)
    assert 1 < factor < n and n % factor == 0
    assert factor in factors or n // factor in factors


def test_pollard_rho_on_a_perfect_square():
    assert pollard_rho(10007**2) == 10007


@pytest.mark.parametrize("n", [0, 1, 3, 7, 65537, 2**61 - 1])
def test_pollard_rho_refuses_primes_and_tiny_numbers(n):
    with pytest.raises(ValueError):
        pollard_rho(n)


@pytest.mark.parametrize("bits", [16, 32, 48, 64])
def test_tiny_key_is_a_consistent_rsa_key(bits):
    key = tiny_key(bits, seed=bits)
    assert key.n.bit_length() == bits and key.p * key.q == key.n and key.p != key.q
    assert (key.e * key.d) % ((key.p - 1) * (key.q - 1)) == 1
    # The rsa package's own arithmetic agrees.
    message = 12345 % key.n
    assert rsa.core.decrypt_int(rsa.core.encrypt_int(message, key.e, key.n), key.d, key.n) == message


def test_tiny_key_is_reproducible():
    assert tiny_key(48, seed=1) == tiny_key(48, seed=1)
    assert tiny_key(48, seed=1).n != tiny_key(48, seed=2).n


@pytest.mark.parametrize("bits", [15, 10, 17])
def test_tiny_key_sizes(bits):
    with pytest.raises(ValueError):
        tiny_key(bits)


@pytest.mark.parametrize("seed", range(5))
def test_recover_private_key(seed):
    key = tiny_key(56, seed=seed)
    found = recover_private_key(rsa.PublicKey(key.n, key.e))
    assert found == key


def test_time_factoring():
    frame = time_factoring((24, 32), seed=0)
    assert list(frame.index) == [24, 32]
    assert frame["recovered d"].all()
    assert (frame["p"] * frame["q"] == frame["n"]).all()
    assert (frame["seconds"] >= 0).all()


def test_factoring_records():
    records = factoring_records_frame()
    assert records.index.is_monotonic_increasing
    assert 512 in set(records["bits"]) and records["bits"].max() < 1024
    assert math.isclose(records.loc[1999, "bits"], 512)
