"""Fuzzing: mutate a valid chain (bytes, fields, order) and check that no mutation changes its meaning.

An attacker without the members' private keys edits a valid blocks file at
random. Whatever a fresh peer then accepts must be the original chain or a
prefix of it, byte for byte, with the state of that prefix; a crash is a
failure too. A second property gives the attacker a member's key and the
network secret: blocks he re-MACs, re-mines and re-signs may be valid, but the
peer must never crash and its state must stay the replay of its chain.

The number of examples per property comes from LABKIT_FUZZ_EXAMPLES: 300
in ``make test``, 10,000 in ``make fuzz`` (the re-signing property, which
signs and mines in every example, runs half as many).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import NOW
from labkit.block import Block
from labkit.chain import Chain
from labkit.encoding import b64url_decode, b64url_encode
from labkit.errors import InvalidBlock
from labkit.fastmine import mine as fast_mine
from labkit.files import ScratchFolder
from labkit.forks import replay
from labkit.peer import Peer
from labkit.lessons.data import DEMO_START, demo_network, demo_wallets, seed_contracts
from labkit.vm import state_digest

EXAMPLES = int(os.environ.get("LABKIT_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

NET = demo_network(1)
WALLETS = demo_wallets()
ALICE, BOB, CAROL = WALLETS


def _chain() -> Chain:
    chain = Chain(NET)
    contracts = seed_contracts() + [{"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]}]
    for i, (contract, wallet) in enumerate(zip(contracts, (ALICE, BOB, CAROL, ALICE, BOB))):
        chain.mine(wallet, contract, timestamp=DEMO_START + dt.timedelta(minutes=i), miner=fast_mine)
    return chain


CHAIN = _chain()
BLOCKS = CHAIN.blocks
LINES = [b.to_line().encode() for b in BLOCKS]
FILE = b"".join(line + b"\n" for line in LINES)
PREFIX_DIGESTS = [state_digest(replay(CHAIN.entries[:k])) for k in range(len(BLOCKS) + 1)]
WORKDIR = ScratchFolder("labkit-fuzz-")  # removed when the test session ends


def receive_bytes(data: bytes) -> Peer:
    path = WORKDIR / "mutated.jsonl"
    path.write_bytes(data)
    peer = Peer("fuzz", NET, wallet=CAROL)
    reports = peer.receive(path, now=NOW)
    assert path.read_bytes() == data  # the source file is only read
    for report in reports:
        if report.accepted:
            assert report.hash in {b.hash for b in BLOCKS}
    return peer


def assert_meaning_kept(peer: Peer) -> None:
    accepted = peer.chain.blocks
    assert accepted == BLOCKS[: len(accepted)], "an accepted chain is not a prefix of the original"
    assert peer.digest() == PREFIX_DIGESTS[len(accepted)]
    assert {e.block for e in peer.tree} <= set(BLOCKS), "a mutated block was kept on a side branch"


# --- mutations without keys ---------------------------------------------------------------------

byte_edits = st.lists(
    st.tuples(st.sampled_from(["flip", "set", "insert", "delete"]), st.integers(0, len(FILE) - 1),
              st.integers(0, 255), st.integers(1, 8)),
    min_size=1, max_size=4)


@FUZZ
@given(byte_edits)
def test_byte_mutations_never_change_the_meaning(edits):
    data = bytearray(FILE)
    for op, position, value, length in edits:
        position = min(position, max(len(data) - 1, 0))
        if op == "flip" and data:
            data[position] ^= 1 << (value % 8)
        elif op == "set" and data:
            data[position] = value
        elif op == "insert":
            data[position:position] = bytes([value]) * length
        elif op == "delete":
            del data[position: position + length]
    assert_meaning_kept(receive_bytes(bytes(data)))


def _mac(header: str, body: str, secret: bytes) -> str:
    return b64url_encode(hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest())


@st.composite
def field_edit(draw, record: dict) -> dict:
    """One change to a record's fields, as an attacker without private keys could make it."""
    record = dict(record)
    header, body, mac = record["token"].split(".")
    claims = json.loads(b64url_decode(body))
    kind = draw(st.sampled_from(["signature", "signer", "token part", "claim", "claim re-MACed", "drop field",
                                 "extra field", "other record's signature"]))
    if kind == "signature":
        sig = bytearray(bytes.fromhex(record["signature"]))
        sig[draw(st.integers(0, len(sig) - 1))] ^= draw(st.integers(1, 255))
        record["signature"] = sig.hex()
    elif kind == "signer":
        record["signer"] = draw(st.sampled_from([w.address for w in WALLETS] + ["ab" * 32]))
    elif kind == "token part":
        other = draw(st.sampled_from(BLOCKS)).token.split(".")
        parts = [header, body, mac]
        which = draw(st.integers(0, 2))
        parts[which] = other[which]
        record["token"] = ".".join(parts)
    elif kind in ("claim", "claim re-MACed"):
        key = draw(st.sampled_from(["prev_hash", "timestamp", "transaction_data", "index", "difficulty",
                                    "signer", "nonce", "exp"]))
        if draw(st.booleans()) and key in claims:
            del claims[key]
        else:
            claims[key] = draw(st.one_of(st.none(), st.booleans(), st.integers(-2, 10 ** 6), st.text(max_size=8),
                                         st.sampled_from([b.hash for b in BLOCKS] + [w.address for w in WALLETS])))
        new_body = b64url_encode(json.dumps(claims).encode())
        new_mac = _mac(header, new_body, NET.secret) if kind == "claim re-MACed" else mac
        record["token"] = ".".join([header, new_body, new_mac])
    elif kind == "drop field":
        record.pop(draw(st.sampled_from(sorted(record))))
    elif kind == "extra field":
        record[draw(st.sampled_from(["extra", "token2", "Signature"]))] = draw(st.integers())
    else:
        record["signature"] = draw(st.sampled_from(BLOCKS)).signature.hex()
    return record


@st.composite
def field_mutations(draw):
    lines = [json.loads(line) for line in LINES]
    for i in draw(st.lists(st.integers(0, len(lines) - 1), min_size=1, max_size=3, unique=True)):
        lines[i] = draw(field_edit(lines[i]))
    return b"".join(json.dumps(r).encode() + b"\n" for r in lines)


@FUZZ
@given(field_mutations())
def test_field_mutations_never_change_the_meaning(data):
    assert_meaning_kept(receive_bytes(data))


@FUZZ
@given(st.lists(st.integers(0, len(LINES) - 1), max_size=2 * len(LINES)))
def test_reordered_dropped_and_repeated_lines_never_change_the_meaning(order):
    peer = receive_bytes(b"".join(LINES[i] + b"\n" for i in order))
    assert_meaning_kept(peer)
    # Links, not the order of lines, fix the order: every block whose ancestors all came is accepted.
    present = set(order)
    expected = 0
    while expected in present:
        expected += 1
    assert len(peer.chain) == expected


# --- a member re-signs what he mutates ------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-10, 10 ** 12) | st.floats(allow_nan=True)
                    | st.text(max_size=12),
                    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children,
                                                                                      max_size=3),
                    max_leaves=8)


def _remine(claims: dict) -> str:
    """bob's token for these claims: MACed with the secret and, if the nonce allows, mined at difficulty 1."""
    header = b64url_encode(b'{"alg":"HS256","typ":"JWT"}')
    nonces = range(64) if isinstance(claims.get("nonce"), int) and not isinstance(claims["nonce"], bool) else [None]
    token = ""
    for nonce in nonces:
        if nonce is not None:
            claims["nonce"] = nonce
        body = b64url_encode(json.dumps(claims).encode())
        token = f"{header}.{body}.{_mac(header, body, NET.secret)}"
        if hashlib.sha256(token.encode()).hexdigest().startswith("0"):
            break
    return token


@st.composite
def resigned_blocks(draw):
    """A block bob builds on a random block of the chain with one or two claims set to random JSON."""
    parent = draw(st.integers(-1, len(BLOCKS) - 1))
    claims = {"prev_hash": BLOCKS[parent].hash if parent >= 0 else "0" * 64,
              "timestamp": (DEMO_START + dt.timedelta(minutes=10)).isoformat(),
              "transaction_data": {"actions": [{"action": "register_student",
                                                "student": {"id": "F1", "name": "Fuzz", "department": "QA"}}]},
              "index": parent + 1, "difficulty": 1, "signer": BOB.address, "nonce": 0}
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from(sorted(claims) + ["exp", "nbf"]))
        where = draw(st.sampled_from(["claim", "contract", "student"]))
        value = draw(JSON)
        if where == "claim":
            claims[key] = value
        elif where == "contract":
            claims["transaction_data"] = value if draw(st.booleans()) else {"actions": value}
        else:
            claims["transaction_data"] = {"actions": [{"action": draw(st.sampled_from(
                ["register_student", "add_course", "vote_proposal", "generate_nft"])), key: value}]}
    token = _remine(claims)
    return Block(token, BOB.sign(token.encode()), BOB.address)


@settings(FUZZ, max_examples=max(50, EXAMPLES // 2))  # each example signs and mines: half the budget
@given(st.lists(resigned_blocks(), min_size=1, max_size=3))
def test_member_resigned_mutations_never_crash_a_peer(extra):
    peer = Peer("fuzz", NET, wallet=CAROL)
    peer.receive(BLOCKS, now=NOW)
    for block in extra:
        try:
            peer.receive_block(block, now=NOW)
        except InvalidBlock:
            pass
    assert peer.digest() == state_digest(replay(peer.chain))
    assert Chain(NET, peer.chain.blocks).total_work == peer.chain.total_work
    assert peer.chain.blocks[: len(BLOCKS)] == BLOCKS or peer.chain.total_work >= CHAIN.total_work  # ties: the smaller hash
