"""Laws that hold for all inputs, checked with hypothesis.

The central one: change any byte of any line of a valid blocks file, and
validation fails at that block or earlier (or the line no longer parses);
no change ever yields an accepted state the original chain did not have.
"""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from labkit.blocksfile import parse_lines
from labkit.encoding import b64url_decode, b64url_encode, dumps_canonical, loads_strict
from labkit.errors import InvalidToken, StrictJSONError
from labkit.peer import Peer
from labkit.tokens import Payload, decode_token, encode_token
from labkit.vm import OISC
from makers import NOW

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRET = bytes(range(32))

json_scalars = (st.none() | st.booleans() | st.integers(-(10 ** 40) + 1, 10 ** 40 - 1)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
json_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
# bytes that matter in a JSON line, and any byte at all
byte_values = st.sampled_from(b' \t\r\n"\\{}[]:,.0aAfF=-_\x00\x80\xff') | st.integers(0, 255)


# --- any changed byte of a valid chain is caught --------------------------------------------------------


def _peer_state(net1, wallet, blocks) -> Peer:
    peer = Peer("verifier", net1, wallet=wallet)
    peer.receive(blocks, now=NOW)
    return peer


@SETTINGS
@given(data=st.data())
def test_any_changed_byte_fails_at_or_before_its_block(net1, wallets, small_blocks, small_bytes,
                                                       prefix_digests, data):
    position = data.draw(st.integers(0, len(small_bytes) - 1), label="position")
    new = data.draw(byte_values.filter(lambda b: b != small_bytes[position]), label="new byte")
    mutated = small_bytes[:position] + bytes([new]) + small_bytes[position + 1:]
    line = small_bytes.count(b"\n", 0, position)  # 0-based; a line's newline belongs to it

    loaded = parse_lines(mutated)
    peer = _peer_state(net1, wallets[0], loaded.blocks)
    kept = len(peer.chain)
    # what is accepted is always a prefix of the original chain, with its state
    assert peer.chain.blocks == list(small_blocks[:kept])
    assert peer.digest() == prefix_digests[kept]
    if kept > line:
        # accepted past the changed line only if the change did not change the block
        # (JSON whitespace between fields, or the file's final newline)
        assert loaded.blocks[line] == small_blocks[line]


@SETTINGS
@given(order=st.lists(st.integers(0, 3), max_size=8))
def test_any_selection_or_order_of_blocks_gives_a_prefix_state(net1, wallets, small_blocks, prefix_digests, order):
    peer = _peer_state(net1, wallets[1], [small_blocks[i] for i in order])
    kept = len(peer.chain)
    assert peer.chain.blocks == list(small_blocks[:kept])
    assert peer.digest() == prefix_digests[kept]


# --- encodings ---------------------------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=200))
def test_b64url_round_trip(data):
    assert b64url_decode(b64url_encode(data)) == data


@SETTINGS
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ ", max_size=24))
def test_b64url_accepts_only_the_canonical_spelling(text):
    try:
        data = b64url_decode(text)
    except ValueError:
        return
    assert b64url_encode(data) == text


@SETTINGS
@given(json_values)
def test_strict_json_round_trip(value):
    assert loads_strict(dumps_canonical(value)) == value
    assert dumps_canonical(loads_strict(dumps_canonical(value))) == dumps_canonical(value)


@SETTINGS
@given(key=st.text(max_size=10), first=json_values, second=json_values, ascii_second=st.booleans(),
       nest=st.booleans())
def test_strict_json_refuses_duplicate_keys(key, first, second, ascii_second, nest):
    # the second spelling of the key may differ (\u escapes) and still name the same key
    members = f"{json.dumps(key, ensure_ascii=False)}: {json.dumps(first)}, " \
              f"{json.dumps(key, ensure_ascii=ascii_second)}: {json.dumps(second)}"
    text = "{" + members + "}"
    if nest:
        text = '[1, {"outer": ' + text + "}]"
    with pytest.raises(StrictJSONError, match="duplicate key"):
        loads_strict(text)


# --- tokens ------------------------------------------------------------------------------------------


payloads = st.builds(
    Payload,
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    timestamp=st.datetimes(timezones=st.just(dt.timezone.utc)).map(
        lambda d: d.replace(microsecond=0).isoformat()),
    transaction_data=json_objects,
    nonce=st.integers(0, 2 ** 64),
    index=st.none() | st.integers(0, 10 ** 6),
    difficulty=st.none() | st.integers(0, 8),
)


@SETTINGS
@given(payloads)
def test_token_round_trip_and_pyjwt_agrees(payload):
    token = encode_token(payload, SECRET)
    assert decode_token(token, SECRET) == payload
    assert Payload.from_claims(payload.to_claims()) == payload
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == payload.to_claims()


@SETTINGS
@given(payload=payloads, data=st.data())
def test_labkit_never_accepts_a_token_pyjwt_refuses(payload, data):
    token = encode_token(payload, SECRET)
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    char = data.draw(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="),
                     label="char")
    assume(char != token[position])
    changed = token[:position] + char + token[position + 1:]
    try:
        mine = decode_token(changed, SECRET)
    except InvalidToken as error:
        if error.rule == "mac":  # labkit's hand-written MAC check agrees with pyjwt's
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.PyJWS().decode(changed, SECRET, algorithms=["HS256"])
        return
    assert jwt.decode(changed, SECRET, algorithms=["HS256"]) == mine.to_claims()


# --- the VM ------------------------------------------------------------------------------------------


@SETTINGS
@given(st.lists(st.text(alphabet="ABCDEFGHIJ0123456789", min_size=1, max_size=6), unique=True, max_size=8),
       st.randoms(use_true_random=False))
def test_state_digest_ignores_the_order_of_independent_contracts(ids, rng):
    def register(sid):
        return {"actions": [{"action": "register_student", "student": {"id": sid, "name": "n", "department": "d"}}]}

    one, two = OISC(), OISC()
    shuffled = list(ids)
    rng.shuffle(shuffled)
    for sid in ids:
        one.execute_smart_contract(register(sid))
    for sid in shuffled:
        two.execute_smart_contract(register(sid))
    assert one.digest() == two.digest()
