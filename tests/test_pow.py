"""labkit.pow: the block hash, difficulty and the reference miner."""

from __future__ import annotations

import hashlib
import threading

import pytest
from cryptography_vectors import open_vector_file

import labkit.pow
from labkit.errors import MiningCancelled
from labkit.pow import (
    MiningProgress,
    MiningResult,
    check_difficulty,
    expected_attempts,
    meets_difficulty,
    mine,
    token_hash,
)
from labkit.tokens import GENESIS_HASH, Payload, decode_token, encode_token

SECRET = bytes(32)
TEMPLATE = Payload(GENESIS_HASH, "2024-11-23T12:00:00+00:00", {"actions": []}, index=0, difficulty=1)


def nist_vectors(name: str) -> list[tuple[bytes, str]]:
    """(message, digest hex) pairs from a NIST CAVS SHA-2 response file."""
    vectors, length, message = [], None, None
    with open_vector_file(f"hashes/SHA2/{name}", "r") as f:
        for line in f:
            key, _, value = (part.strip() for part in line.partition("="))
            if key == "Len":
                length = int(value)
            elif key == "Msg":
                message = bytes.fromhex(value)[: length // 8]  # Len = 0 is spelled "Msg = 00"
            elif key == "MD":
                vectors.append((message, value))
    return vectors


# --- known answers -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["SHA256ShortMsg.rsp", "SHA256LongMsg.rsp"])
def test_nist_sha256_vectors_agree_with_hashlib(name):
    vectors = nist_vectors(name)
    assert len(vectors) >= 64
    for message, digest in vectors:
        assert hashlib.sha256(message).hexdigest() == digest


def test_nist_sha256_vectors_through_token_hash():
    # token_hash takes a token (an ASCII str); read each vector's bytes as Latin-1
    # only where they are ASCII, which is the only kind of text a token can be.
    ascii_vectors = [(m, d) for m, d in nist_vectors("SHA256ShortMsg.rsp") if m.isascii()]
    assert ascii_vectors  # the empty message at least
    for message, digest in ascii_vectors:
        assert token_hash(message.decode("ascii")) == digest


@pytest.mark.parametrize("text, digest", [
    # FIPS 180-4 examples (NIST "SHA256.pdf"): one block and two blocks
    ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
])
def test_fips_180_examples(text, digest):
    assert token_hash(text) == digest


def test_token_hash_of_real_tokens_agrees_with_hashlib(small_blocks):
    for block in small_blocks:
        assert token_hash(block.token) == hashlib.sha256(block.token.encode()).hexdigest() == block.hash


def test_token_hash_refuses_non_ascii():
    with pytest.raises(UnicodeEncodeError):
        token_hash("é")


# --- difficulty ------------------------------------------------------------------------


def test_meets_difficulty():
    assert meets_difficulty("00ab", 2)
    assert not meets_difficulty("0ab0", 2)
    assert meets_difficulty("ffff", 0)


def test_expected_attempts():
    assert [expected_attempts(d) for d in range(4)] == [1, 16, 256, 4096]


@pytest.mark.parametrize("bad, error", [
    (-1, ValueError), (9, ValueError), (True, TypeError), ("2", TypeError), (2.0, TypeError), (None, TypeError),
])
def test_check_difficulty_refuses(bad, error):
    with pytest.raises(error):
        check_difficulty(bad)


def test_check_difficulty_accepts_0_to_8():
    assert [check_difficulty(d) for d in range(9)] == list(range(9))


# --- the reference miner -------------------------------------------------------------------


@pytest.mark.parametrize("difficulty", [0, 1, 2])
def test_mine_finds_a_valid_token(difficulty):
    result = mine(TEMPLATE, SECRET, difficulty)
    assert isinstance(result, MiningResult)
    assert result.hash == token_hash(result.token) == hashlib.sha256(result.token.encode()).hexdigest()
    assert result.hash.startswith("0" * difficulty)
    assert decode_token(result.token, SECRET) == TEMPLATE.with_nonce(result.nonce)
    assert result.token == encode_token(TEMPLATE.with_nonce(result.nonce), SECRET)
    assert result.attempts == result.nonce - TEMPLATE.nonce + 1
    assert result.rate >= 0


def test_mine_returns_the_first_nonce_that_works():
    result = mine(TEMPLATE, SECRET, 2)
    for nonce in range(result.nonce):
        assert not token_hash(encode_token(TEMPLATE.with_nonce(nonce), SECRET)).startswith("00")


def test_mine_starts_from_the_template_nonce():
    result = mine(TEMPLATE.with_nonce(1000), SECRET, 0)
    assert result.nonce == 1000 and result.attempts == 1


def test_mine_refuses_bad_difficulty():
    with pytest.raises(ValueError):
        mine(TEMPLATE, SECRET, 9)


def test_cancel_stops_mining():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(MiningCancelled) as info:
        mine(TEMPLATE, SECRET, 8, cancel=cancel)
    assert 1 <= info.value.attempts <= 10_000  # checked every few hundred attempts


def test_progress_reports_and_can_cancel(monkeypatch):
    monkeypatch.setattr(labkit.pow, "PROGRESS_EVERY", 0.0)  # report at every chance
    cancel = threading.Event()
    seen: list[MiningProgress] = []

    def progress(report: MiningProgress) -> None:
        seen.append(report)
        if len(seen) == 2:
            cancel.set()

    with pytest.raises(MiningCancelled) as info:
        mine(TEMPLATE, SECRET, 8, progress=progress, cancel=cancel)
    assert len(seen) == 2 and 0 < seen[0].attempts < seen[1].attempts <= info.value.attempts
    assert all(p.seconds >= 0 and p.rate >= 0 for p in seen)


def test_mining_progress_rate():
    assert MiningProgress(100, 2.0).rate == 50
    assert MiningProgress(100, 0.0).rate == 0.0


def test_one_default_miner_the_fast_one(monkeypatch):
    from labkit import fastmine
    from labkit.chain import mine_block
    from labkit.lessons.data import demo_network, demo_wallets

    assert fastmine.default_miner() is fastmine.mine
    used = []

    def spy(template, secret, difficulty, **kwargs):
        used.append(difficulty)
        return labkit.pow.mine(template, secret, difficulty, **kwargs)

    monkeypatch.setattr(fastmine, "default_miner", lambda: spy)  # mine_block asks fastmine when no miner is named
    mine_block(demo_network(1), demo_wallets()[0], {"actions": []})
    assert used == [1]
