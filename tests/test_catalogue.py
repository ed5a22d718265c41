"""The bad-input catalogue: one table of everything a peer, a key file or a config must refuse.

Each row is something a careless or hostile member could hand to labkit, the
exception it must raise (exactly that class) and the check or words of the
reason. Most rows are offered to the three honest peers of an attack lab
(labkit.lessons.lab); every row then asserts that no peer's state digest and no
file on disk changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import pytest

from labkit.block import MAX_LINE_BYTES, Block
from labkit.chain import Link
from labkit.encoding import b64url_decode, loads_strict
from labkit.errors import NotAccepted, StrictJSONError
from labkit.errors import (
    ConfigError,
    InvalidBlock,
    InvalidKey,
    InvalidRecord,
    InvalidSignature,
    InvalidToken,
    KeyFileExists,
)
from labkit.network import Network
from labkit.lessons.attacks import jws, mallory, sign_record
from labkit.lessons.lab import make_lab
from labkit.tokens import decode_token
from labkit.wallet import Wallet, verify

HS256 = {"alg": "HS256", "typ": "JWT"}


@dataclass(frozen=True)
class Case:
    name: str
    attempt: Callable  # attempt(lab) must raise ``error``
    error: type[Exception]
    rule: str | None  # the error's .rule, for errors that name one
    reason: str  # words the error's message must contain

    def __str__(self) -> str:
        return self.name


# --- makers --------------------------------------------------------------------------------------


def student(student_id: str) -> dict:
    return {"actions": [{"action": "register_student",
                         "student": {"id": student_id, "name": "Eve", "department": "CS"}}]}


def bob_claims(lab, **changes) -> dict:
    """Claims of a block bob could put on the tip; ``changes`` set (or with None, remove) fields."""
    claims = lab.template("bob", student("S900")).to_claims()
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def bob_token(lab, header: dict | bytes = HS256, key: bytes | str | None = "secret", **changes) -> Block:
    """A record signed by bob whose token is built by hand (not mined: these fail before proof of work)."""
    claims = bob_claims(lab, **changes)
    token = jws(header, claims, lab.network.secret if key == "secret" else key)
    return sign_record(token, lab.wallets["bob"])


def bob_mined(lab, contract: dict | None = None, *, wallet: str = "bob", **changes) -> Block:
    """A block mined on the tip with a template whose fields ``changes`` override, signed by ``wallet``."""
    template = lab.template(wallet, contract or student("S901"), **changes)
    mined = lab.miner(template, lab.network.secret, lab.honest_difficulty)
    return sign_record(mined.token, lab.wallets[wallet])


def edited(block: Block, **fields) -> Block:
    record = {"token": block.token, "signature": block.signature, "signer": block.signer, **fields}
    return Block(record["token"], record["signature"], record["signer"])


def offer(make: Callable) -> Callable:
    return lambda lab: lab.offer(make(lab))


def offer_line(make: Callable[..., bytes]) -> Callable:
    """The honest file with one more line, offered to every peer."""
    def attempt(lab):
        honest = b"".join(b.to_line().encode() + b"\n" for b in lab.honest)
        return lab.offer_file(lab.write("bad.jsonl", honest + make(lab) + b"\n"))
    return attempt


def victim_line(lab) -> bytes:
    return lab.victim().to_line().encode()


def victim_record(lab, **changes) -> bytes:
    record = lab.victim().to_dict()
    record.update(changes)
    return json.dumps(record).encode()


def flip_payload(lab) -> Block:
    victim = lab.victim()
    header, body, mac = victim.token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["transaction_data"]["actions"][0]["student"]["name"] = "Mallory"
    from labkit.encoding import b64url_encode

    token = ".".join([header, b64url_encode(json.dumps(claims).encode()), mac])
    return Block(token, victim.signature, victim.signer)


def on_refused_parent(lab) -> list[Block]:
    bad = bob_mined(lab, student("S001"))  # S001 exists: refused (contract)
    payload = bad.payload(lab.network.secret)
    child = lab.mine("carol", student("S902"), parent=Link(payload.index, bad.hash, payload.time))
    return [bad, child]


def rival_branch(lab) -> list[Block]:
    blocks, parent = [], None
    for i in range(5):
        block = lab.mine("bob", student(f"S95{i}"), parent=parent, difficulty=lab.network.difficulty)
        payload = block.payload(lab.network.secret)
        parent = Link(i, block.hash, payload.time)
        blocks.append(block)
    return blocks


def child_of_refused(lab) -> None:
    """The peers refuse a block, then get a good block built on it."""
    bad, child = on_refused_parent(lab)
    with pytest.raises(InvalidBlock):
        lab.offer(bad)
    lab.offer(child)


def unmined(lab) -> Block:
    """bob's block with the first nonce whose hash does not meet the declared difficulty 2."""
    for nonce in range(100):
        block = bob_token(lab, nonce=nonce)
        if not block.hash.startswith("00"):
            return block
    raise AssertionError("unreachable")


def contract_block(contract: dict, wallet: str = "bob") -> Callable:
    return lambda lab: lab.offer(lab.mine(wallet, contract))


def wallet_file(lab):
    return lab.workdir / "alice" / "alice.pem"


def weak_key_file(lab):
    return lab.workdir / "alice" / "weak.pem"


# --- the catalogue ---------------------------------------------------------------------------------

CASES = [
    # lines of a blocks file
    Case("truncated line", offer_line(lambda lab: victim_line(lab)[:300]), InvalidRecord, None, "not valid JSON"),
    Case("garbage line", offer_line(lambda lab: b"\x00\x01 not json {{{"), InvalidRecord, None, "not valid JSON"),
    Case("huge line", offer_line(lambda lab: b'{"token": "' + b"A" * MAX_LINE_BYTES + b'"}'), InvalidRecord,
         None, f"the limit is {MAX_LINE_BYTES:,}"),
    Case("non-UTF-8 bytes", offer_line(lambda lab: b'{"token": "\xc3\x28"}'), InvalidRecord, None, "not UTF-8"),
    Case("empty line", offer_line(lambda lab: b"   "), InvalidRecord, None, "empty line"),
    Case("record is a list", offer_line(lambda lab: b'["token", "signature"]'), InvalidRecord, None,
         "a block record is a JSON object"),
    Case("record nested too deeply", offer_line(lambda lab: b"[" * 50_000), InvalidRecord, None, "nested more than"),
    Case("duplicate keys in record",
         offer_line(lambda lab: victim_line(lab).replace(b'"signer"', b'"signer": "00", "signer"')),
         InvalidRecord, None, "duplicate key 'signer'"),
    Case("unknown field in record", offer_line(lambda lab: victim_record(lab, extra=1)), InvalidRecord, None,
         "unknown field(s) 'extra'"),
    Case("missing token", offer_line(lambda lab: json.dumps({"signature": "00"}).encode()), InvalidRecord, None,
         "missing field 'token'"),
    Case("signature in upper-case hex",
         offer_line(lambda lab: victim_record(lab, signature=lab.victim().signature.hex().upper())),
         InvalidRecord, None, "lowercase hex"),
    Case("signature is a number", offer_line(lambda lab: victim_record(lab, signature=12)), InvalidRecord, None,
         "lowercase hex"),
    Case("token is a number", offer_line(lambda lab: victim_record(lab, token=12)), InvalidRecord, None,
         "token must be a string"),
    Case("token is empty", offer_line(lambda lab: victim_record(lab, token="")), InvalidRecord, None,
         "non-empty string"),
    Case("token not ASCII", offer_line(lambda lab: victim_record(lab, token="é.é.é")), InvalidRecord, None,
         "must be ASCII"),
    Case("signer not an address", offer_line(lambda lab: victim_record(lab, signer="alice")), InvalidRecord, None,
         "signer must be an address"),
    Case("NaN in record", offer_line(lambda lab: b'{"token": NaN, "signature": "00"}'), InvalidRecord, None,
         "NaN is not a JSON number"),
    Case("empty file", lambda lab: lab.offer_file(lab.write("empty.jsonl", b"")), NotAccepted, "nothing new",
         "no block"),
    # the record: who signed it
    Case("payload edited, old signature", offer(flip_payload), InvalidBlock, "signature", "not signed by alice"),
    Case("signature bit flipped",
         offer(lambda lab: edited(v := lab.victim(), signature=bytes([v.signature[0] ^ 1]) + v.signature[1:])),
         InvalidBlock, "signature", "not signed by alice"),
    Case("signature one byte short", offer(lambda lab: edited(v := lab.victim(), signature=v.signature[1:])),
         InvalidBlock, "signature", "is 255 bytes"),
    Case("signer field changed to bob", offer(lambda lab: edited(lab.victim(), signer=lab.wallets["bob"].address)),
         InvalidBlock, "signature", "not signed by bob"),
    Case("signer is not a member", offer(lambda lab: lab.mine(mallory(), student("S903"))), InvalidBlock, "signer",
         "is not a member"),
    Case("re-signed by another member", offer(lambda lab: sign_record(lab.victim().token, lab.wallets["carol"])),
         InvalidBlock, "author", "the token names alice"),
    Case("held block re-signed by another member",
         offer(lambda lab: sign_record(lab.honest[1].token, lab.wallets["carol"])), InvalidBlock, "author",
         "the token names bob"),
    Case("no signer in a three-member network", offer(lambda lab: edited(lab.victim(), signer=None)), InvalidBlock,
         "signer", "names no signer"),
    # the token
    Case('alg "none"', offer(lambda lab: bob_token(lab, {"alg": "none", "typ": "JWT"}, None)), InvalidBlock, "token",
         "algorithm 'none' is not allowed"),
    Case("alg HS512", offer(lambda lab: bob_token(lab, {"alg": "HS512", "typ": "JWT"}, key=None)), InvalidBlock,
         "token", "algorithm 'HS512' is not allowed"),
    Case("alg RS256", offer(lambda lab: bob_token(lab, {"alg": "RS256", "typ": "JWT"}, key=None)), InvalidBlock,
         "token", "algorithm 'RS256' is not allowed"),
    Case("header kid", offer(lambda lab: bob_token(lab, {**HS256, "kid": "x"})), InvalidBlock, "token",
         "unexpected header field(s) 'kid'"),
    Case("header typ JWS", offer(lambda lab: bob_token(lab, {"alg": "HS256", "typ": "JWS"})), InvalidBlock, "token",
         "typ 'JWS' is not 'JWT'"),
    Case("token with two parts", offer(lambda lab: sign_record(lab.victim().token.rsplit(".", 1)[0],
                                                               lab.wallets["bob"])),
         InvalidBlock, "token", "3 dot-separated parts"),
    Case("token with base64 padding", offer(lambda lab: sign_record(lab.victim().token + "=", lab.wallets["bob"])),
         InvalidBlock, "token", "not base64url"),
    Case("algorithm confusion: public key as MAC secret",
         offer(lambda lab: bob_token(lab, key=lab.wallets["alice"].public_key.save_pkcs1("PEM"))),
         InvalidBlock, "mac", "MAC does not match"),
    Case("MAC with another secret", offer(lambda lab: bob_token(lab, key=b"x" * 32)), InvalidBlock, "mac",
         "MAC does not match"),
    # the payload
    Case("exp claim", offer(lambda lab: bob_token(lab, exp=1)), InvalidBlock, "payload", "blocks never expire"),
    Case("nbf in the future", offer(lambda lab: bob_token(lab, nbf=4_000_000_000)), InvalidBlock, "payload",
         "blocks never expire"),
    Case("iat claim", offer(lambda lab: bob_token(lab, iat=1)), InvalidBlock, "payload", "blocks never expire"),
    Case("nonce missing", offer(lambda lab: bob_token(lab, nonce=None)), InvalidBlock, "payload",
         "missing field(s) 'nonce'"),
    Case("negative nonce", offer(lambda lab: bob_token(lab, nonce=-1)), InvalidBlock, "payload",
         "nonce must be a non-negative integer"),
    Case("huge nonce", offer(lambda lab: bob_token(lab, nonce=10 ** 60)), InvalidBlock, "payload",
         "integer with 61 digits is too large"),
    Case("NaN nonce", offer(lambda lab: sign_record(
        jws(HS256, json.dumps(bob_claims(lab)).replace('"nonce": 0', '"nonce": NaN').encode(), lab.network.secret),
        lab.wallets["bob"])), InvalidBlock, "payload", "NaN is not a JSON number"),
    Case("duplicate claim", offer(lambda lab: sign_record(
        jws(HS256, b'{"nonce":1,' + json.dumps(bob_claims(lab)).encode()[1:], lab.network.secret),
        lab.wallets["bob"])), InvalidBlock, "payload", "duplicate key 'nonce'"),
    Case("index is a string", offer(lambda lab: bob_token(lab, index="4")), InvalidBlock, "payload",
         "index must be a non-negative integer"),
    Case("index is true", offer(lambda lab: bob_token(lab, index=True)), InvalidBlock, "payload",
         "index must be a non-negative integer"),
    Case("difficulty 9", offer(lambda lab: bob_token(lab, difficulty=9)), InvalidBlock, "payload",
         "difficulty must be an integer from 0 to 8"),
    Case("prev_hash in upper case", offer(lambda lab: bob_token(lab, prev_hash=lab.tip.hash.upper())), InvalidBlock,
         "payload", "prev_hash must be 64 lowercase hex digits"),
    Case("timestamp not RFC 3339", offer(lambda lab: bob_token(lab, timestamp="yesterday")), InvalidBlock, "payload",
         "is not YYYY-MM-DDTHH:MM:SS"),
    Case("timestamp beyond year 9999 in UTC", offer(lambda lab: bob_token(lab, timestamp="9999-12-31T23:59:59-01:00")),
         InvalidBlock, "payload", "out of range in UTC"),
    Case("contract is a list", offer(lambda lab: bob_token(lab, transaction_data=[1])), InvalidBlock, "payload",
         "transaction_data must be a JSON object"),
    Case("signer claim not an address", offer(lambda lab: bob_token(lab, signer="bob")), InvalidBlock, "payload",
         "signer must be an address"),
    # place in the chain, work and time
    Case("wrong index", offer(lambda lab: bob_mined(lab, index=9)), InvalidBlock, "index",
         "declares index 9 but follows block 3"),
    Case("index 0 not at genesis", offer(lambda lab: bob_mined(lab, index=0, prev_hash="ab" * 32)), InvalidBlock, "link",
         "is not the genesis hash"),
    Case("declares a lower difficulty", offer(lambda lab: lab.mine("bob", student("S904"), difficulty=0)),
         InvalidBlock, "pow", "declares difficulty 0, below the network's 1"),
    Case("not mined", offer(unmined), InvalidBlock, "pow", "does not start with 2 zeros"),
    Case("timestamp before the parent's",
         offer(lambda lab: lab.mine("bob", student("S905"), timestamp=lab.tip.payload.time - dt.timedelta(hours=1))),
         InvalidBlock, "timestamp", "is earlier than block 3's"),
    Case("timestamp in the future", offer(lambda lab: lab.mine("bob", student("S906"),
                                                               timestamp=lab.now + dt.timedelta(hours=2))),
         InvalidBlock, "timestamp", "in the future"),
    # contracts
    Case("no actions", contract_block({"actions": []}), InvalidBlock, "contract", "non-empty list of 'actions'"),
    Case("101 actions", contract_block({"actions": [student(f"Z{i}")["actions"][0] for i in range(101)]}),
         InvalidBlock, "contract", "at most 100 actions"),
    Case("unknown action", contract_block({"actions": [{"action": "mint_money", "amount": 10 ** 6}]}), InvalidBlock,
         "contract", "unknown action 'mint_money'"),
    Case("unknown contract field", contract_block({"actions": student("S907")["actions"], "gas": 1}),
         InvalidBlock, "contract", "unknown contract field(s) 'gas'"),
    Case("student name is a number", contract_block({"actions": [{"action": "register_student", "student": {
        "id": "S908", "name": 7, "department": "CS"}}]}), InvalidBlock, "contract", "must be a non-empty string"),
    Case("duplicate student id", contract_block(student("S001")), InvalidBlock, "contract",
         "student id 'S001' already exists"),
    Case("duplicate NFT id", contract_block({"actions": [{"action": "generate_nft", "nft": {
        "id": "NFT001", "name": "Copy"}}]}), InvalidBlock, "contract", "NFT id 'NFT001' already exists"),
    Case("double vote", contract_block({"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]},
                                       "carol"), InvalidBlock, "contract", "already voted on proposal 'P001'"),
    Case("two votes in one contract", contract_block({"actions": [
        {"action": "vote_proposal", "proposal": {"id": "P001"}},
        {"action": "vote_proposal", "proposal": {"id": "P001"}}]}), InvalidBlock, "contract",
         "action 1 (vote_proposal)"),
    Case("new proposal without description", contract_block({"actions": [
        {"action": "vote_proposal", "proposal": {"id": "P777"}}]}), InvalidBlock, "contract",
         "needs a 'description'"),
    Case("NFT metadata nested too deeply", contract_block({"actions": [{"action": "generate_nft", "nft": {
        "id": "N5", "name": "Deep", "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}}]}),
         InvalidBlock, "contract", "nested too deeply"),
    Case("double spend: the reward sent twice", contract_block({"actions": [
        {"action": "mint"}, {"action": "transfer", "transfer": {"to": "S001", "amount": 30}},
        {"action": "transfer", "transfer": {"to": "S001", "amount": 30}}]}), InvalidBlock, "contract",
         "holds 20 tokens and cannot send 30"),
    Case("spending tokens never minted", contract_block({"actions": [
        {"action": "transfer", "transfer": {"to": "S001", "amount": 1}}]}), InvalidBlock, "contract",
         "holds 0 tokens"),
    Case("two block rewards in one block", contract_block({"actions": [{"action": "mint"}, {"action": "mint"}]}),
         InvalidBlock, "contract", "already paid its reward"),
    Case("a reward of the miner's choosing", contract_block({"actions": [{"action": "mint", "amount": 10 ** 6}]}),
         InvalidBlock, "contract", "mint takes no field(s)"),
    Case("half-good contract is not half-applied", contract_block({"actions": [
        student("S909")["actions"][0], student("S001")["actions"][0]]}), InvalidBlock, "contract",
         "action 1 (register_student)"),
    Case("refused block sent with its child", lambda lab: lab.offer(on_refused_parent(lab)), InvalidBlock, "contract",
         "student id 'S001' already exists"),
    Case("child of a refused block", child_of_refused, InvalidBlock, "ancestry", "builds on rejected block 4"),
    # fork choice and replays
    Case("old block sent again", offer(lambda lab: lab.honest[1]), NotAccepted, "duplicate", "already held as block 1"),
    Case("longer branch with less work", lambda lab: lab.offer(rival_branch(lab)), NotAccepted, "work",
         "(5 blocks, work 80) has less work"),
    Case("parent unknown", offer(lambda lab: lab.mine("bob", student("S910"), parent=Link(7, "ab" * 32, None))),
         NotAccepted, "orphan", "parent is unknown"),
    # keys, configuration, raw layers
    Case("key file exists", lambda lab: lab.wallets["alice"].save(wallet_file(lab)), KeyFileExists, None,
         "already exists"),
    Case("512-bit key", lambda lab: Wallet.load(weak_key_file(lab)), InvalidKey, None, "512-bit key refused"),
    Case("network config exists", lambda lab: lab.network.save(lab.workdir / "network.json"), ConfigError, None,
         "already exists"),
    Case("network secret too short",
         lambda lab: Network.from_json(lab.network.to_json().replace(lab.network.secret.hex(), "00" * 8)),
         ConfigError, None, "at least 32 bytes"),
    Case("network config with duplicate keys",
         lambda lab: Network.from_json(lab.network.to_json().replace('"name"', '"difficulty": 0, "name"', 1)),
         ConfigError, None, "duplicate key"),
    Case("signature over other data", lambda lab: verify(lab.wallets["alice"].public_key, b"other",
                                                         lab.honest[0].signature), InvalidSignature, None,
         "does not match"),
    Case("token with the wrong secret", lambda lab: decode_token(lab.honest[0].token, b"y" * 32), InvalidToken, "mac",
         "MAC does not match"),
    Case("strict JSON duplicate keys", lambda lab: loads_strict('{"a": 1, "a": 2}'), StrictJSONError, None,
         "duplicate key 'a'"),
    Case("base64url with stray bits", lambda lab: b64url_decode("AB"), ValueError, None, "non-canonical"),
]


def test_the_catalogue_has_at_least_forty_rows():
    assert len(CASES) >= 40
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = make_lab(tmp_path_factory.mktemp("catalogue"))
    lab.wallets["alice"].save(wallet_file(lab))
    weak = Wallet.generate(512, teaching=True)
    weak_key_file(lab).write_text(weak.to_pem())
    return lab


def snapshot(lab) -> tuple:
    """State digests, the canonical chains, and every file's bytes (mode and mtime too) outside the attacker's folder."""
    files = []
    for path in sorted(lab.workdir.rglob("*")):
        if path.is_file() and path.relative_to(lab.workdir).parts[0] != "attacker":
            stat = path.stat()
            files.append((str(path), hashlib.sha256(path.read_bytes()).hexdigest(), stat.st_mode, stat.st_mtime_ns))
    chains = tuple(tuple(e.hash for e in peer.chain) for peer in lab.peers)
    return lab.fingerprint().digests, chains, tuple(files)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_is_refused_and_changes_nothing(lab, case):
    before = snapshot(lab)
    with pytest.raises(case.error) as info:
        case.attempt(lab)
    error = info.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    if case.rule is not None:
        assert error.rule == case.rule, str(error)
    assert case.reason in str(error), str(error)
    assert snapshot(lab) == before
