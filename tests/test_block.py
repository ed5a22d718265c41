"""labkit.block: the block record, one JSON line per block."""

from __future__ import annotations

import json

import pytest

from labkit.block import MAX_LINE_BYTES, Block
from labkit.errors import InvalidRecord
from labkit.pow import token_hash
from labkit.wallet import verify


@pytest.fixture(scope="module")
def block(small_blocks):
    return small_blocks[0]


@pytest.fixture
def record(block) -> dict:
    return block.to_dict()


def refused(line) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as info:
        Block.from_line(line)
    assert info.value.line is None
    return info.value


# --- round trips ------------------------------------------------------------------------------


def test_line_round_trip(small_blocks):
    for block in small_blocks:
        assert Block.from_line(block.to_line()) == block
        assert Block.from_line(block.to_line().encode("ascii")) == block
        assert Block.from_dict(block.to_dict()) == block


def test_record_without_signer_round_trip(block):
    seedlike = Block(block.token, block.signature)
    assert "signer" not in seedlike.to_line()
    assert Block.from_line(seedlike.to_line()) == seedlike


def test_line_is_the_seeds_record_plus_signer(block):
    line = block.to_line()
    assert "\n" not in line
    assert json.loads(line) == {"token": block.token, "signature": block.signature.hex(), "signer": block.signer}
    assert line.startswith('{"token": ')  # json.dumps's default spacing, as the seed wrote


def test_create_signs_the_token(alice, block):
    made = Block.create(block.token, alice)
    assert made.signer == alice.address
    verify(alice.public_key, block.token.encode("ascii"), made.signature)


def test_hash_is_sha256_of_the_token(block):
    assert block.hash == token_hash(block.token)


def test_payload_decodes_the_token(block, net1):
    assert block.payload(net1.secret).index == 0


# --- rejections -------------------------------------------------------------------------------------


def test_unknown_field(record):
    record["nonce"] = 1
    assert refused(json.dumps(record)).reason == "unknown field(s) 'nonce'"


@pytest.mark.parametrize("field", ["token", "signature"])
def test_missing_field(record, field):
    del record[field]
    assert refused(json.dumps(record)).reason == f"missing field {field!r}"


@pytest.mark.parametrize("signature", [
    "ABCDEF",  # upper case: a second spelling of the same bytes
    "abc",  # odd number of digits
    "",
    "zz",
    "0x00ff",
    " 00ff",
    12,
    None,
])
def test_bad_signature_hex(record, signature):
    record["signature"] = signature
    assert "lowercase hex with an even number of digits" in refused(json.dumps(record)).reason


def test_uppercase_version_of_a_real_signature(record):
    record["signature"] = record["signature"].upper()
    refused(json.dumps(record))


@pytest.mark.parametrize("token, words", [
    (None, "token must be a string"),
    (12, "token must be a string"),
    ("", "non-empty string"),
    ("eyJ.é.x", "must be ASCII"),
    ("x" * (64 * 1024 + 1), "the limit is"),
])
def test_bad_token(record, token, words):
    record["token"] = token
    assert words in refused(json.dumps(record)).reason


@pytest.mark.parametrize("signer", [
    "alice",
    "E" * 64,  # upper case
    "e" * 63,
    "e" * 65,
    12,
    ["e" * 64],
])
def test_signer_not_an_address(record, signer):
    record["signer"] = signer
    assert "signer must be an address" in refused(json.dumps(record)).reason


def test_huge_line(record):
    line = json.dumps(record) + " " * MAX_LINE_BYTES
    assert "the limit is" in refused(line).reason
    assert "the limit is" in refused(line.encode()).reason


@pytest.mark.parametrize("line, words", [
    (b'{"token": "\xff"}', "not UTF-8"),
    (b"\xef\xbb\xbf{}", "not valid JSON"),  # a byte order mark
    ("[]", "a block record is a JSON object"),
    ('"token"', "a block record is a JSON object"),
    ("{", "not valid JSON"),
    ('{"token": "a", "token": "b", "signature": "00"}', "duplicate key 'token'"),
    ('{"token": "a", "signature": NaN}', "NaN"),
])
def test_not_a_record(line, words):
    assert words in refused(line).reason


def test_constructor_checks_fields(block):
    with pytest.raises(InvalidRecord, match="signature must be non-empty bytes"):
        Block(block.token, block.signature.hex())  # type: ignore[arg-type]
    with pytest.raises(InvalidRecord, match="signature must be non-empty bytes"):
        Block(block.token, b"")
    with pytest.raises(InvalidRecord, match="signer must be an address"):
        Block(block.token, block.signature, "alice")


def test_invalid_record_is_a_value_error():
    assert issubclass(InvalidRecord, ValueError)
    assert str(InvalidRecord("bad", line=3)) == "line 3: bad"
