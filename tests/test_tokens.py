"""labkit.tokens: the block payload, its JWT encoding and strict decoding."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import warnings

import jwt
import pytest

from labkit.encoding import b64url_decode, b64url_encode, loads_strict
from labkit.errors import InvalidToken
from labkit.tokens import (
    GENESIS_HASH,
    MAX_TOKEN_BYTES,
    Payload,
    decode_token,
    encode_token,
    format_timestamp,
    parse_timestamp,
    utc_now,
)
from makers import HS256_HEADER, claims, compact, raw_token

SECRET = bytes(range(32))
CONTRACT = {"actions": [{"action": "register_student",
                         "student": {"id": "S001", "name": "John Doe", "department": "CS"}}]}
PAYLOAD = Payload(prev_hash="ab" * 32, timestamp="2024-11-23T12:00:00+00:00",
                  transaction_data=CONTRACT, nonce=42, index=3, difficulty=2)

# RFC 7515 appendix A.1: a JWS using HMAC SHA-256, and its JWK key "k".
RFC7515_A1_TOKEN = (
    "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9"
    ".eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
    ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)
RFC7515_A1_K = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
RFC7515_A1_HEADER = b'{"typ":"JWT",\r\n "alg":"HS256"}'
RFC7515_A1_PAYLOAD = b'{"iss":"joe",\r\n "exp":1300819380,\r\n "http://example.com/is_root":true}'


def good_claims(nonce=7, **extra):
    return claims("ab" * 32, contract=CONTRACT, nonce=nonce, **extra)


def rejected(token, secret=SECRET) -> InvalidToken:
    with pytest.raises(InvalidToken) as info:
        decode_token(token, secret)
    return info.value


# --- round trips ---------------------------------------------------------------------


def test_payload_claims_round_trip():
    assert Payload.from_claims(PAYLOAD.to_claims()) == PAYLOAD


def test_payload_without_optional_fields_round_trip():
    bare = Payload(GENESIS_HASH, "2024-11-23T12:00:00", {"actions": []})
    assert "index" not in bare.to_claims() and "difficulty" not in bare.to_claims()
    assert Payload.from_claims(bare.to_claims()) == bare


def test_token_round_trip():
    assert decode_token(encode_token(PAYLOAD, SECRET), SECRET) == PAYLOAD


def test_claims_are_in_wire_order_with_nonce_last():
    assert list(PAYLOAD.to_claims()) == ["prev_hash", "timestamp", "transaction_data",
                                         "index", "difficulty", "nonce"]
    body = b64url_decode(encode_token(PAYLOAD, SECRET).split(".")[1])
    assert body.endswith(b'"nonce":42}')  # the fast miner relies on this


def test_with_nonce_changes_only_the_nonce():
    assert PAYLOAD.with_nonce(9) == Payload(**{**PAYLOAD.__dict__, "nonce": 9})


def test_timestamps():
    when = dt.datetime(2024, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
    assert format_timestamp(when) == "2024-11-23T12:00:00+00:00"
    assert parse_timestamp("2024-11-23T12:00:00+00:00") == when
    assert parse_timestamp("2024-11-23T13:00:00+01:00") == when
    assert parse_timestamp("2024-11-23T12:00:00") == when  # the seed's naive utcnow() is UTC
    assert PAYLOAD.time == when
    assert utc_now().tzinfo is not None and utc_now().microsecond == 0
    with pytest.raises(ValueError, match="timezone-aware"):
        format_timestamp(dt.datetime(2024, 11, 23))


# --- a second implementation: pyjwt reads labkit's tokens ------------------------------------


def test_pyjwt_decodes_labkit_tokens_to_the_claims():
    token = encode_token(PAYLOAD, SECRET)
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == PAYLOAD.to_claims()
    assert jwt.get_unverified_header(token) == HS256_HEADER


def test_labkit_decodes_tokens_pyjwt_made():
    token = jwt.encode(good_claims(), SECRET, algorithm="HS256")
    assert decode_token(token, SECRET).nonce == 7


def test_mac_is_hmac_sha256_of_the_signing_input():
    head, body, mac = encode_token(PAYLOAD, SECRET).split(".")
    expected = hmac.new(SECRET, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert b64url_decode(mac) == expected


# --- known answer: RFC 7515 appendix A.1 ------------------------------------------------------


def test_rfc7515_a1_key_and_parts_decode_strictly():
    key = b64url_decode(RFC7515_A1_K)
    assert len(key) == 64
    head, body, mac = RFC7515_A1_TOKEN.split(".")
    assert b64url_decode(head) == RFC7515_A1_HEADER
    assert b64url_decode(body) == RFC7515_A1_PAYLOAD
    # labkit's strict JSON reads the \r\n whitespace of the published header and payload
    assert loads_strict(b64url_decode(head)) == {"typ": "JWT", "alg": "HS256"}
    assert loads_strict(b64url_decode(body)) == {
        "iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}


def test_rfc7515_a1_mac_matches_the_published_signature():
    key = b64url_decode(RFC7515_A1_K)
    head, body, mac = RFC7515_A1_TOKEN.split(".")
    assert hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest() == b64url_decode(mac)
    assert jwt.PyJWS().decode(RFC7515_A1_TOKEN, key, algorithms=["HS256"]) == RFC7515_A1_PAYLOAD


def test_rfc7515_a1_passes_the_mac_check_but_is_not_a_block():
    # decode_token checks the MAC before the schema, so failing on "payload"
    # means the published token's MAC was accepted with the published key.
    error = rejected(RFC7515_A1_TOKEN, b64url_decode(RFC7515_A1_K))
    assert error.rule == "payload"
    assert "'exp'" in error.reason and "blocks never expire" in error.reason
    assert "'iss'" in error.reason


def test_rfc7515_a1_with_another_key_fails_the_mac():
    assert rejected(RFC7515_A1_TOKEN, b"x" * 64).rule == "mac"


# --- header rejections (check "token") ----------------------------------------------------------


@pytest.mark.parametrize("header, words", [
    ({"alg": "none", "typ": "JWT"}, "'none' is not allowed"),
    ({"alg": "RS256", "typ": "JWT"}, "'RS256' is not allowed"),
    ({"alg": "HS512", "typ": "JWT"}, "'HS512' is not allowed"),
    ({"alg": "hs256", "typ": "JWT"}, "'hs256' is not allowed"),
    ({"typ": "JWT"}, "None is not allowed"),
    ({"alg": "HS256", "typ": "JWT", "kid": "1"}, "unexpected header field(s) 'kid'"),
    ({"alg": "HS256", "crit": ["b64"], "b64": False}, "unexpected header field(s)"),
    ({"alg": "HS256", "typ": "JOSE"}, "typ 'JOSE' is not 'JWT'"),
])
def test_header_rejections(header, words):
    error = rejected(raw_token(header, good_claims(), SECRET))
    assert error.rule == "token"
    assert words in error.reason


def test_alg_none_with_empty_signature():
    token = raw_token({"alg": "none"}, good_claims(), SECRET, mac=b"")
    assert token.endswith(".")
    error = rejected(token)
    assert error.rule == "token" and "'none'" in error.reason


def test_rs256_confusion_with_a_public_key_as_hmac_secret(alice):
    # The classic attack: MAC with the RSA public key and claim RS256.
    pem = alice.public_key.save_pkcs1()
    error = rejected(raw_token({"alg": "RS256", "typ": "JWT"}, good_claims(), pem), pem)
    assert error.rule == "token"


@pytest.mark.parametrize("header", [
    b'{"alg":"HS256","alg":"HS256"}',  # duplicate key
    b'["HS256"]',
    b"not json",
    b'{"alg":"HS256"',
])
def test_header_not_a_strict_json_object(header):
    assert rejected(raw_token(header, good_claims(), SECRET)).rule == "token"


# --- shape, size and encoding (check "token") -----------------------------------------------------


def test_wrong_secret_fails_the_mac():
    error = rejected(encode_token(PAYLOAD, SECRET), b"another secret of 32 bytes......")
    assert error.rule == "mac"
    assert error.reason == "MAC does not match the network secret"


def test_changed_mac_fails_the_mac():
    head, body, mac = encode_token(PAYLOAD, SECRET).split(".")
    other = b64url_encode(bytes(32))
    assert rejected(f"{head}.{body}.{other}").rule == "mac"


def test_changed_payload_fails_the_mac():
    head, _, mac = encode_token(PAYLOAD, SECRET).split(".")
    body = b64url_encode(compact(PAYLOAD.with_nonce(43).to_claims()))
    assert rejected(f"{head}.{body}.{mac}").rule == "mac"


def _non_canonical(segment: str) -> str:
    """The same bytes spelled with stray low bits set in the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    position = alphabet.index(segment[-1])
    return segment[:-1] + alphabet[position + 1]


def _token_with_ragged_parts() -> list[str]:
    """A valid token whose three parts all end in a partial base64 group."""
    header = b'{"alg": "HS256"}'  # 16 bytes: 22 characters, 2 stray bits
    for nonce in range(10):
        pieces = raw_token(header, good_claims(nonce=nonce), SECRET).split(".")
        if all(len(p) % 4 for p in pieces):
            decode_token(".".join(pieces), SECRET)  # valid as it stands
            return pieces
    raise AssertionError("no nonce gives a ragged payload")


@pytest.mark.parametrize("part", [0, 1, 2])
def test_non_canonical_base64(part):
    pieces = _token_with_ragged_parts()
    pieces[part] = _non_canonical(pieces[part])
    error = rejected(".".join(pieces))
    assert error.rule == "token" and "non-canonical" in error.reason


@pytest.mark.parametrize("part", [0, 1, 2])
@pytest.mark.parametrize("make", ["labkit", "ragged"])
def test_padding_refused(part, make):
    pieces = encode_token(PAYLOAD, SECRET).split(".") if make == "labkit" else _token_with_ragged_parts()
    pieces[part] += "=" * (-len(pieces[part]) % 4 or 4)
    error = rejected(".".join(pieces))
    assert error.rule == "token" and "not base64url" in error.reason


def test_standard_base64_alphabet_refused():
    token = encode_token(PAYLOAD, SECRET)
    head, body, mac = token.split(".")
    error = rejected(f"{head}.{body}.{mac.replace('-', '+').replace('_', '/')}a")
    assert error.rule == "token"


@pytest.mark.parametrize("token, words", [
    ("a.b", "3 dot-separated parts, this one has 2"),
    ("a.b.c.d", "this one has 4"),
    ("", "this one has 1"),
    ("eyJhbGciOiJIUzI1NiJ9.e30.é", "non-ASCII"),
    (b"eyJ.e30.abc", "must be a string, not bytes"),
    (None, "must be a string, not NoneType"),
])
def test_malformed_tokens(token, words):
    error = rejected(token)
    assert error.rule == "token" and words in error.reason


def test_too_long_token_is_refused_before_decoding():
    huge = claims(contract={"actions": [], "pad": "x" * MAX_TOKEN_BYTES})
    token = raw_token(HS256_HEADER, huge, SECRET)
    error = rejected(token)
    assert error.rule == "token" and "the limit is" in error.reason


# --- payload rejections (check "payload", after the MAC) ------------------------------------------


def bad_payload(body: bytes | dict) -> InvalidToken:
    error = rejected(raw_token(HS256_HEADER, body, SECRET))
    assert error.rule == "payload"
    return error


@pytest.mark.parametrize("body, words", [
    (b'{"prev_hash":"' + b"0" * 64 + b'","prev_hash":"' + b"0" * 64 + b'"}', "duplicate key 'prev_hash'"),
    (b'{"nonce": NaN}', "NaN"),
    (b'{"nonce": Infinity}', "Infinity"),
    (b'{"nonce": 1' + b"0" * 40 + b"}", "too large"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[1, 2]", "not a JSON object"),
    (b'"just a string"', "not a JSON object"),
    (b"{", "not valid JSON"),
    (b'{"prev_hash": "\\ud800"}', "lone surrogate"),
])
def test_payload_not_strict_json(body, words):
    assert words in bad_payload(body).reason


@pytest.mark.parametrize("field", ["exp", "nbf", "iat"])
def test_registered_time_claims_refused(field):
    error = bad_payload(good_claims(**{field: 2_000_000_000}))
    assert f"'{field}'" in error.reason and "blocks never expire" in error.reason


def test_unknown_claim_refused():
    error = bad_payload(good_claims(miner="eve"))
    assert "unknown field(s) 'miner'" in error.reason and "expire" not in error.reason


@pytest.mark.parametrize("field", ["prev_hash", "timestamp", "transaction_data", "nonce"])
def test_missing_field(field):
    body = good_claims()
    del body[field]
    assert f"missing field(s) '{field}'" in bad_payload(body).reason


@pytest.mark.parametrize("field, value, words", [
    ("prev_hash", "AB" * 32, "64 lowercase hex"),
    ("prev_hash", "ab" * 31, "64 lowercase hex"),
    ("prev_hash", 0, "64 lowercase hex"),
    ("timestamp", 1732363200, "timestamp must be a string"),
    ("timestamp", "yesterday", "is not YYYY-MM-DD"),
    ("timestamp", "9999-12-31T23:59:59-23:59", "out of range in UTC"),  # past the last datetime in UTC
    ("timestamp", "0001-01-01T00:00:00+23:59", "out of range in UTC"),  # before the first
    ("transaction_data", [], "must be a JSON object"),
    ("transaction_data", "actions", "must be a JSON object"),
    ("nonce", "7", "non-negative integer"),
    ("nonce", -1, "non-negative integer"),
    ("nonce", 7.0, "non-negative integer"),
    ("nonce", True, "non-negative integer"),
    ("nonce", None, "non-negative integer"),
    ("index", -1, "index must be a non-negative integer"),
    ("index", False, "index must be a non-negative integer"),
    ("index", "0", "index must be a non-negative integer"),
    ("difficulty", 9, "difficulty must be an integer from 0 to 8"),
    ("difficulty", -1, "difficulty must be an integer from 0 to 8"),
    ("difficulty", True, "difficulty must be an integer from 0 to 8"),
    ("difficulty", 2.0, "difficulty must be an integer from 0 to 8"),
])
def test_wrong_types(field, value, words):
    body = good_claims()
    body[field] = value
    assert words in bad_payload(body).reason


def test_from_claims_refuses_non_dicts():
    with pytest.raises(InvalidToken) as info:
        Payload.from_claims([("nonce", 1)])
    assert info.value.rule == "payload"


def test_huge_but_bounded_nonce_is_accepted():
    assert decode_token(raw_token(HS256_HEADER, good_claims(nonce=2 ** 64), SECRET), SECRET).nonce == 2 ** 64


def test_short_secret_is_the_callers_choice():
    # The seed's own secret is 15 bytes; decoding a token made with it must work (pyjwt only warns).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        token = jwt.encode(good_claims(), "your-secret-key", algorithm="HS256")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_token(token, b"your-secret-key").nonce == 7


def test_json_whitespace_in_payload_is_read():
    body = json.dumps(good_claims(), indent=2).encode()
    assert decode_token(raw_token(HS256_HEADER, body, SECRET), SECRET).nonce == 7
