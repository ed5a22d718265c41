"""Helpers the tests use to make good and deliberately bad tokens and blocks.

Bad blocks are built from their parts (header bytes, payload bytes, HMAC key,
signing wallet) so each test can break exactly one rule and leave the others
intact; good ones go through labkit's own Payload, encoder and signer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
from typing import Any, Callable

from labkit.block import Block
from labkit.chain import Entry, Link
from labkit.encoding import b64url_encode
from labkit.pow import meets_difficulty, token_hash
from labkit.tokens import GENESIS_HASH, Payload, encode_token, format_timestamp
from labkit.wallet import Wallet

HS256_HEADER = {"alg": "HS256", "typ": "JWT"}

# A verifier's clock for deterministic validation: a day after the demo blocks.
NOW = dt.datetime(2024, 11, 24, 12, 0, tzinfo=dt.timezone.utc)


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def raw_token(header: bytes | dict, payload: bytes | dict, secret: bytes, *, mac: bytes | None = None) -> str:
    """A JWS compact token from raw parts, MACed with HMAC-SHA256 unless ``mac`` is given."""
    header = compact(header) if isinstance(header, dict) else header
    payload = compact(payload) if isinstance(payload, dict) else payload
    signing_input = b64url_encode(header) + "." + b64url_encode(payload)
    if mac is None:
        mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + b64url_encode(mac)


def claims(prev_hash: str = GENESIS_HASH, *, timestamp: str = "2024-11-23T12:00:00+00:00",
           contract: dict | None = None, nonce: int = 0, **extra: Any) -> dict:
    """Claims in wire order (nonce last); ``extra`` may add or override fields."""
    out = {"prev_hash": prev_hash, "timestamp": timestamp,
           "transaction_data": contract if contract is not None else {"actions": []}}
    out.update(extra)
    out["nonce"] = nonce
    return out


def signed(token: str, wallet: Wallet, signer: str | None = "author") -> Block:
    """A record of ``token`` signed by ``wallet``; signer defaults to the wallet's address."""
    return Block(token, wallet.sign(token.encode("ascii")), wallet.address if signer == "author" else signer)


def _parent_fields(parent: Entry | Link | None) -> tuple[str, int]:
    if parent is None:
        return GENESIS_HASH, 0
    return parent.hash, parent.index + 1


def filler_contract(parent_hash: str, when: dt.datetime, wallet: Wallet) -> dict:
    """A contract that applies on any branch: a student whose id no other made-up block shares."""
    tag = hashlib.sha256(f"{parent_hash}{when.isoformat()}{wallet.address}".encode()).hexdigest()[:12]
    return {"actions": [{"action": "register_student",
                         "student": {"id": f"T-{tag}", "name": "Test Student", "department": "QA"}}]}


def forge(
    secret: bytes,
    wallet: Wallet,
    *,
    parent: Entry | Link | None = None,
    contract: dict | None = None,
    when: dt.datetime,
    difficulty: int,
    declared: int | None | str = "same",
    index: int | None | str = "next",
    prev_hash: str | None = None,
    meet: bool = True,
    accept: Callable[[str], bool] | None = None,
    author: str | None = "wallet",
    signer: str | None = "author",
) -> Block:
    """A well-formed block whose fields a test may bend one at a time.

    The nonce is searched so the hash meets ``difficulty`` (or, with
    ``meet=False``, so that it does not; or so that ``accept(hash)`` holds).
    ``author`` is the token's signer claim: the wallet's address by default,
    as labkit's miner writes it; None leaves it out, as the seed did.
    """
    if author == "wallet":
        author = wallet.address
    parent_hash, next_index = _parent_fields(parent)
    template = Payload(
        prev_hash=prev_hash if prev_hash is not None else parent_hash,
        timestamp=format_timestamp(when),
        transaction_data=contract if contract is not None else filler_contract(parent_hash, when, wallet),
        index=next_index if index == "next" else index,
        difficulty=difficulty if declared == "same" else declared,
        signer=author,
    )
    if accept is None:
        def accept(digest: str) -> bool:
            return meets_difficulty(digest, difficulty) == meet
    for nonce in itertools.count():
        token = encode_token(template.with_nonce(nonce), secret)
        if accept(token_hash(token)):
            return signed(token, wallet, signer)
    raise AssertionError("unreachable")
