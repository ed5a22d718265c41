"""Write tests/vectors/consensus.json: block records and the verdict every honest peer must reach.

Run from the repository root: ``python tests/vectors/make_consensus.py``. Each
case below states its expected verdict by hand (accepted, or the rule that
refuses it); the script builds the record, then checks that labkit agrees
before it writes anything, so the file never holds a verdict nobody chose.
The vectors are then run by tests/test_consensus_vectors.py on every
supported Python (see .ci/run).

The keys are the public demo keys of data/ (never use them for anything of
value); proof of work is at difficulty 1 so the file is quick to remake.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from labkit.chain import UNKNOWN_PARENT, Link, judge, mine_block  # noqa: E402
from labkit.encoding import b64url_encode  # noqa: E402
from labkit.network import Member, Network  # noqa: E402
from labkit.pow import meets_difficulty, token_hash  # noqa: E402
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts  # noqa: E402
from labkit.tokens import GENESIS_HASH, parse_timestamp  # noqa: E402
from labkit.vm import state_digest  # noqa: E402
from labkit.wallet import public_key_pem  # noqa: E402

OUT = Path(__file__).with_name("consensus.json")
NOW = "2024-11-24T12:00:00+00:00"
HS256 = {"alg": "HS256", "typ": "JWT"}
OUTSIDER = hashlib.sha256(b"mallory, who is not a member").hexdigest()

ALICE, BOB, CAROL = demo_wallets()
NET = demo_network(1)
SEED_NET = Network.for_seed_file(Member("alice", ALICE.public_key), NET.secret, 1)
SOLO_NET = NET.with_members([ALICE])  # one member, but not a seed file


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def token_of(claims: dict | bytes, *, header: dict | bytes = HS256, secret: bytes = NET.secret,
             difficulty: int = 1, meet: bool = True, mac: bytes | None = None, accept=None) -> str:
    """A JWS token of raw parts whose nonce (the last claim) is searched so its hash meets (or misses) ``difficulty``."""
    head = b64url_encode(header if isinstance(header, bytes) else compact(header))
    for nonce in range(1_000_000):
        if isinstance(claims, bytes):
            body = claims
        else:
            body = compact({**claims, "nonce": nonce} if "nonce" in claims else claims)
        signing_input = head + "." + b64url_encode(body)
        tag = mac if mac is not None else hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        token = signing_input + "." + b64url_encode(tag)
        ok = accept(token_hash(token)) if accept else meets_difficulty(token_hash(token), difficulty) == meet
        if ok or isinstance(claims, bytes):
            return token
    raise AssertionError("no nonce found")


def record(token: str, wallet=BOB, *, signer: str | None | bool = True, signature: bytes | None = None) -> dict:
    out = {"token": token, "signature": (signature if signature is not None else wallet.sign(token.encode())).hex()}
    if signer is True:
        out["signer"] = wallet.address
    elif signer:
        out["signer"] = signer
    return out


# --- the parents the vectors build on -----------------------------------------------------------

CHAIN_BLOCKS = []
parent = None
state = None
for contract, when, wallet in zip(seed_contracts()[:3], demo_timestamps(3), (ALICE, BOB, CAROL)):
    block = mine_block(NET, wallet, contract, parent=parent, timestamp=when)
    verdict = judge(block, NET, parent, state=state, now=parse_timestamp(NOW))
    assert verdict.accepted, verdict.error
    parent, state = verdict.entry, verdict.state
    CHAIN_BLOCKS.append(block)
TIP, TIP_STATE = parent, state
T_NEXT = demo_timestamps(4)[3].isoformat()


def claims(*, prev_hash: str = TIP.hash, timestamp: str = T_NEXT, contract: Any = None, index: Any = 3,
           difficulty: Any = 1, author: Any = "bob", **extra: Any) -> dict:
    out = {"prev_hash": prev_hash, "timestamp": timestamp,
           "transaction_data": contract if contract is not None else student("S100")}
    for key, value in (("index", index), ("difficulty", difficulty)):
        if value is not None:
            out[key] = value
    if author is not None:
        out["signer"] = {"alice": ALICE.address, "bob": BOB.address, "carol": CAROL.address}.get(author, author)
    out.update(extra)
    out["nonce"] = 0
    return out


def student(student_id: str, name: str = "Ada") -> dict:
    return {"actions": [{"action": "register_student", "student": {"id": student_id, "name": name, "department": "CS"}}]}


def first(**changes) -> dict:
    """Claims of a first block (on genesis) by bob."""
    return claims(**{"prev_hash": GENESIS_HASH, "index": 0, "timestamp": "2024-11-23T12:00:00+00:00", **changes})


PARENTS = {
    "genesis": None,
    "tip": {"index": TIP.index, "hash": TIP.hash, "time": TIP.payload.timestamp, "total_work": TIP.total_work,
            "refused": None},
    "refused record": {"index": TIP.index, "hash": TIP.hash, "time": TIP.payload.timestamp, "total_work": 0,
                       "refused": "builds on rejected block 2"},
    "unknown": "unknown",
}
STATES = {"empty": None, "after tip": TIP_STATE}
NETWORKS = {"demo": NET, "seed file": SEED_NET, "solo": SOLO_NET}

VECTORS: list[dict] = []


def case(name: str, rec: Any, expect: str, *, parent: str = "tip", network: str = "demo", reason: str = "",
         now: str = NOW, state: str | None = None) -> None:
    state = state or ("after tip" if parent == "tip" else "empty")
    VECTORS.append({"name": name, "network": network, "parent": parent, "state": state, "now": now,
                    "record": rec, "expect": expect, **({"reason": reason} if reason else {})})


def on_tip(name: str, expect: str = "accepted", *, wallet=BOB, reason: str = "", **changes) -> None:
    case(name, record(token_of(claims(**changes)), wallet), expect, reason=reason)


def at_genesis(name: str, expect: str = "accepted", *, reason: str = "", **changes) -> None:
    case(name, record(token_of(first(**changes))), expect, parent="genesis", reason=reason)


# --- accepted ---------------------------------------------------------------------------------------

for i, block in enumerate(CHAIN_BLOCKS):  # the chain itself, each block on its parent
    VECTORS.append({"name": f"seed contract {i + 1} on its parent", "network": "demo",
                    "parent": "genesis" if i == 0 else f"block {i - 1}", "state": "empty" if i == 0 else f"after block {i - 1}",
                    "now": NOW, "record": block.to_dict(), "expect": "accepted"})
on_tip("fourth seed contract on the tip", contract=seed_contracts()[3])
on_tip("no index declared", index=None)
on_tip("no difficulty declared", difficulty=None)
case("declared difficulty 2 met", record(token_of(claims(difficulty=2), difficulty=2)), "accepted")
on_tip("same time as the parent", timestamp=TIP.payload.timestamp)
on_tip("exactly the clock skew ahead", timestamp="2024-11-24T12:05:00+00:00")
on_tip("a vote by another member on an existing proposal",
       contract={"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]})
on_tip("an NFT with metadata",
       contract={"actions": [{"action": "generate_nft", "nft": {"id": "NFT009", "name": "Rocket 🚀",
                                                                 "metadata": {"a": [1, 2.5, None, True, "x"]}}}]})
on_tip("an id in decomposed form is stored composed", contract=student("Cafe\u0301"))
on_tip("two actions in one contract",
       contract={"actions": [student("S101")["actions"][0], student("S102")["actions"][0]]})
on_tip("carol mines on the tip", wallet=CAROL, author="carol")
case("a seed record: no signer, no author, naive time", record(token_of(
    {"prev_hash": GENESIS_HASH, "timestamp": "2024-11-23T12:00:00.123456", "transaction_data": student("S001"),
     "nonce": 0}), ALICE, signer=None), "accepted", parent="genesis", network="seed file")
case("a seed file may still name its signer", record(token_of(first(author="alice")), ALICE),
     "accepted", parent="genesis", network="seed file")

ACCEPTED_TIMES = [
    "2024-11-23T12:00:00Z", "2024-11-23T12:00:00+00:00", "2024-11-23T12:00:00-00:00", "2024-11-23T17:30:00+05:30",
    "2024-11-23T04:00:00-08:00", "2024-11-23T12:00:00.1Z", "2024-11-23T12:00:00.12Z", "2024-11-23T12:00:00.123Z",
    "2024-11-23T12:00:00.1234+00:00", "2024-11-23T12:00:00.12345Z", "2024-11-23T12:00:00.123456Z",
    "2024-11-23T12:00:00", "2024-02-29T23:59:59Z", "2000-02-29T00:00:00Z", "0001-01-01T00:00:00Z",
    "0001-01-01T23:59:00+23:59", "2024-11-24T23:59:00+23:59", "1999-12-31T23:59:59-23:59",
    "1970-01-01T00:00:00Z", "2024-11-24T12:04:59.999999Z",
]
for when in ACCEPTED_TIMES:
    at_genesis(f"timestamp {when}", timestamp=when)

# --- refused: record ---------------------------------------------------------------------------------

good = record(token_of(claims()))
case("record is a list", [good["token"], good["signature"]], "record")
case("record is a string", good["token"], "record")
case("record is null", None, "record")
case("record without token", {"signature": good["signature"], "signer": good["signer"]}, "record")
case("record without signature", {"token": good["token"], "signer": good["signer"]}, "record")
case("record with an extra field", {**good, "note": "hi"}, "record")
case("signature in upper-case hex", {**good, "signature": good["signature"].upper()}, "record")
case("signature of odd length", {**good, "signature": good["signature"][:-1]}, "record")
case("signature as a number", {**good, "signature": 12}, "record")
case("signer in upper case", {**good, "signer": good["signer"].upper()}, "record")
case("signer too short", {**good, "signer": good["signer"][:40]}, "record")
case("token not a string", {**good, "token": 5}, "record")

# --- refused: signer, signature, author ------------------------------------------------------------

case("signer not a member", {**good, "signer": OUTSIDER}, "signer", reason="not a member")
case("no signer in a network of three", {k: v for k, v in good.items() if k != "signer"}, "signer")
case("no signer in a one-member network that is not a seed file",
     {k: v for k, v in record(token_of(first(author="alice")), ALICE).items() if k != "signer"}, "signer",
     parent="genesis", network="solo")
case("bob's token signed by alice, naming bob", record(good["token"], ALICE, signer=BOB.address), "signature")
case("signature over another token", {**good, "signature": record(token_of(claims(index=None)))["signature"]},
     "signature")
sig = bytes.fromhex(good["signature"])
case("last bit of the signature flipped", {**good, "signature": (sig[:-1] + bytes([sig[-1] ^ 1])).hex()}, "signature")
case("signature one byte short", {**good, "signature": sig[1:].hex()}, "signature")
case("signature one byte long", {**good, "signature": (b"\x00" + sig).hex()}, "signature")
case("signature all zeros", {**good, "signature": bytes(len(sig)).hex()}, "signature")
case("signature equal to the modulus", {**good, "signature": BOB.public_key.n.to_bytes(256, "big").hex()},
     "signature")
case("empty signature", {**good, "signature": ""}, "record")
on_tip("token names alice, bob signs", "author", author="alice", reason="the token names alice")
on_tip("token names no author in a network of three", "author", author=None)
case("token names no author in a one-member network",
     record(token_of(first(author=None)), ALICE), "author", parent="genesis", network="solo")
on_tip("token names an outsider as author", "author", author=OUTSIDER)
case("a seed file's token naming someone else", record(token_of(first(author="bob")), ALICE),
     "author", parent="genesis", network="seed file")

# --- refused: token ----------------------------------------------------------------------------------

body = compact(claims())


for name, header in [("alg none", {"alg": "none", "typ": "JWT"}), ("alg HS512", {"alg": "HS512", "typ": "JWT"}),
                     ("alg RS256", {"alg": "RS256", "typ": "JWT"}), ("alg missing", {"typ": "JWT"}),
                     ("typ JWS", {"alg": "HS256", "typ": "JWS"}), ("extra kid header", {**HS256, "kid": "1"}),
                     ("header a list", ["HS256"])]:
    case(f"header: {name}", record(token_of(claims(), header=compact(header))), "token")
case("header not JSON", record(token_of(claims(), header=b"{alg:HS256}")), "token")
case("header with duplicate alg", record(token_of(claims(), header=b'{"alg":"HS256","alg":"HS256"}')), "token")
t = token_of(claims())
case("two parts", record(t.rsplit(".", 1)[0]), "token")
case("four parts", record(t + ".AAAA"), "token")
case("padding in base64url", record(t.split(".")[0] + "=." + ".".join(t.split(".")[1:])), "token")
case("standard base64 alphabet (+ for -)", record("+" + t[1:]), "token")
case("a space inside the token", record(t[:5] + " " + t[5:]), "token")
# 32 MAC bytes are 43 base64url characters; the last carries 4 unused bits that must be zero.
last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
stray = last[last.index(t[-1]) ^ 1]
case("stray bits in the last base64 character", record(t[:-1] + stray), "token")
case("non-ASCII in the token", record(t) | {"token": t[:-1] + "é"}, "record")
case("empty token", record(""), "record")
case("token over 64 KiB", record("a" * 70_000), "record")
case("token of one part", record("abc"), "token")

# --- refused: mac -------------------------------------------------------------------------------------

case("MAC with another secret", record(token_of(claims(), secret=b"\x01" * 32)), "mac")
case("MAC empty", record(token_of(claims(), mac=b"")), "mac")
case("MAC truncated to 16 bytes",
     record(t.rsplit(".", 1)[0] + "." + b64url_encode(hmac.new(NET.secret, t.rsplit(".", 1)[0].encode(),
                                                              hashlib.sha256).digest()[:16])), "mac")

# --- refused: payload ---------------------------------------------------------------------------------

for name, changes in [
    ("exp claim", {"exp": 2_000_000_000}), ("nbf claim", {"nbf": 0}), ("iat claim", {"iat": 0}),
    ("unknown claim", {"memo": "hi"}), ("prev_hash in upper case", {"prev_hash": TIP.hash.upper()}),
    ("prev_hash too short", {"prev_hash": TIP.hash[:63]}), ("prev_hash a number", {"prev_hash": 0}),
    ("index negative", {"index": -1}), ("index a boolean", {"index": True}), ("index a float", {"index": 3.0}),
    ("index a string", {"index": "3"}), ("difficulty 9", {"difficulty": 9}), ("difficulty a boolean", {"difficulty": True}),
    ("difficulty negative", {"difficulty": -1}), ("author not an address", {"author": "bob@example"}),
    ("transaction_data a list", {"contract": [1]}), ("transaction_data a string", {"contract": "pay"}),
    ("timestamp a number", {"timestamp": 1732363200}), ("timestamp null", {"timestamp": None}),
]:
    on_tip(name, "payload", **changes)
for missing in ("prev_hash", "timestamp", "transaction_data"):
    c = claims()
    del c[missing]
    case(f"missing {missing}", record(token_of(c)), "payload")
case("missing nonce", record(token_of({k: v for k, v in claims().items() if k != "nonce"})), "payload")
for name, text in [
    ("nonce negative", b'"nonce":-1}'), ("nonce a boolean", b'"nonce":true}'), ("nonce a float", b'"nonce":1.5}'),
    ("nonce with 41 digits", b'"nonce":' + b"1" * 41 + b"}"), ("nonce NaN", b'"nonce":NaN}'),
    ("nonce Infinity", b'"nonce":Infinity}'), ("nonce 1e400", b'"nonce":1e400}'),
]:
    prefix = compact(claims())[: compact(claims()).rindex(b'"nonce"')]
    case(name, record(token_of(prefix + text)), "payload")
c = compact(claims())
case("duplicate claim", record(token_of(c[:-1] + b',"nonce":1}')), "payload")
case("claims not JSON", record(token_of(b"{prev_hash}")), "payload")
case("claims a list", record(token_of(b"[]")), "payload")
case("claims not UTF-8", record(token_of(c.replace(b'"S100"', b'"S\xff00"'))), "payload")
case("lone surrogate in a string", record(token_of(c.replace(b'"S100"', b'"S\\ud800"'))), "payload")
deep = b"[" * 33 + b"]" * 33
case("contract nested 33 deep", record(token_of(c.replace(b'"S100"', deep))), "payload")
case("contract nested 32 deep is parsed, then refused by the VM", record(token_of(
    c.replace(b'"S100"', b"[" * 27 + b"]" * 27))), "contract")

REFUSED_TIMES = [
    "20241123T120000Z", "2024-W47-6T12:00:00Z", "2024-328T12:00:00Z", "2024-11-23 12:00:00Z",
    "2024-11-23t12:00:00Z", "2024-11-23T12:00:00z", "2024-11-23T12:00:00.1234567Z", "2024-11-23T12:00:00,5Z",
    "2024-11-23T12:00:00+0100", "2024-11-23T12:00:00+01", "2024-11-23T12Z", "2024-11-23T12:00Z",
    "2024-11-23T12:00:60Z", "2024-11-23T24:00:00Z", "2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z",
    "2023-02-29T00:00:00Z", "0000-01-01T00:00:00Z", "10000-01-01T00:00:00Z", "9999-12-31T23:59:59-00:01",
    "0001-01-01T00:00:00+00:01", "２024-11-23T12:00:00Z", "2024-11-23T12:00:00Z ", " 2024-11-23T12:00:00Z",
    "", "2024-11-23", "2024-11-23T12:00:00+24:00", "2024-11-23T12:00:00+01:60", "2024-11-23T12:00:00.Z",
    "2024-11-23T12:00:00UTC", "2024-11-23T12:00:00+01:00:00", "+2024-11-23T12:00:00Z",
]
for when in REFUSED_TIMES:
    at_genesis(f"timestamp {when!r}", "payload", timestamp=when)

# --- refused: index, link, pow, timestamp, ancestry -------------------------------------------------

on_tip("index skips one", "index", index=4)
on_tip("index repeats the parent's", "index", index=2)
at_genesis("first block declares index 1", "index", index=1)
on_tip("prev_hash names the grandparent", "link", prev_hash=CHAIN_BLOCKS[1].hash)
on_tip("prev_hash of 64 ones", "link", prev_hash="1" * 64)
at_genesis("first block not on genesis", "link", prev_hash="1" * 64)
on_tip("genesis hash after the first block", "link", prev_hash=GENESIS_HASH)
case("hash misses the difficulty", record(token_of(claims(), meet=False)), "pow")
on_tip("declares difficulty 0, below the network's", "pow", difficulty=0)
exactly_one = token_of(claims(difficulty=2), accept=lambda h: meets_difficulty(h, 1) and not meets_difficulty(h, 2))
case("declares difficulty 2, has only 1 zero", record(exactly_one), "pow")
on_tip("a second before the parent", "timestamp", timestamp="2024-11-23T12:01:59+00:00")
on_tip("the clock skew and a second ahead", "timestamp", timestamp="2024-11-24T12:05:01+00:00")
on_tip("a year ahead", "timestamp", timestamp="2025-11-24T12:00:00Z")
on_tip("an offset moves it before the parent", "timestamp", timestamp="2024-11-23T13:01:00+01:00")
case("valid, but its parent's record was refused", good, "ancestry", parent="refused record")
case("valid, on a parent refused for its token", good, "ancestry", parent="refused record",
     reason="builds on rejected block 2")

# --- refused: contract ------------------------------------------------------------------------------

for name, contract, why in [
    ("student id already registered", student("S001"), "already exists"),
    ("course id already added", {"actions": [{"action": "add_course", "course": {"id": "C001", "name": "X", "department": "CS"}}]}, "already exists"),
    ("unknown action", {"actions": [{"action": "mint_money"}]}, "unknown action"),
    ("empty actions", {"actions": []}, "non-empty list"),
    ("no actions field", {"do": []}, "unknown contract field"),
    ("101 actions", {"actions": [student(f"X{i}")["actions"][0] for i in range(101)]}, "at most 100"),
    ("missing department", {"actions": [{"action": "register_student", "student": {"id": "S5", "name": "A"}}]}, "missing"),
    ("id with a zero-width space", student("S100\u200b"), "invisible"),
    ("id with a bidi override", student("S\u202e100"), "invisible"),
    ("id with a bidi isolate added after Unicode 3.2", student("S\u2066100"), "invisible"),
    ("name with an escape sequence", student("S100", "Ada\x1b[2J"), "control"),
    ("id with a trailing space", student("S001 "), "space"),
    ("id composed the same as an existing one", student("S00\u0031"), "already exists"),
    ("id of 65 characters", student("S" * 65), "too long"),
    ("new proposal without description", {"actions": [{"action": "vote_proposal", "proposal": {"id": "P9"}}]}, "description"),
    ("NFT metadata nested too deeply", {"actions": [{"action": "generate_nft", "nft": {"id": "N1", "name": "D",
        "metadata": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}}]}, "nested"),
    ("half-good contract", {"actions": [student("S200")["actions"][0], student("S001")["actions"][0]]}, "already exists"),
]:
    on_tip(name, "contract", contract=contract, reason=why)
case("carol votes twice on P001", record(token_of(claims(author="carol", contract={"actions": [
    {"action": "vote_proposal", "proposal": {"id": "P001"}}]})), CAROL), "contract", reason="already voted")
case("alice mints the seed's NFT001, not minted on this chain yet", record(token_of(claims(
    author="alice", contract=seed_contracts()[3])), ALICE), "accepted")
on_tip("an id with a soft hyphen", "contract", contract=student("S1\u00ad00"), reason="invisible")
on_tip("an id with a zero-width space inside", "contract", contract=student("S1\u200b00"), reason="invisible")
# ids are compared in NFKC (labkit.names.check_id): a look-alike form of a registered id is that id
on_tip("a fullwidth id that looks like an existing one", "contract", contract=student("\uff33\uff10\uff10\uff11"),
       reason="student id 'S001' already exists")
on_tip("an id with a superscript one that looks like an existing one", "contract", contract=student("S00\u00b9"),
       reason="student id 'S001' already exists")
on_tip("a fullwidth id is stored in its compatibility form", contract=student("\uff33\uff11\uff10\uff11"))
on_tip("an id with a ligature is stored in its compatibility form", contract=student("\ufb01le"))
on_tip("a Cyrillic letter is not a form of a Latin one", contract=student("\u0421001"))
on_tip("a fullwidth course id that looks like an existing one", "contract", contract={"actions": [
    {"action": "add_course", "course": {"id": "\uff23\uff10\uff10\uff11", "name": "X", "department": "CS"}}]},
    reason="course id 'C001' already exists")

# --- the classroom token: mint (the block reward) and transfer -----------------------------------------

MINT = {"action": "mint"}


def pay(to: str, amount: Any) -> dict:
    return {"action": "transfer", "transfer": {"to": to, "amount": amount}}


on_tip("bob mints the block reward", contract={"actions": [MINT]})
on_tip("bob mints and pays S001 part of it in the same block", contract={"actions": [MINT, pay("S001", 20)]})
on_tip("bob mints and pays carol all of it", contract={"actions": [MINT, pay(CAROL.address, 50)]})
on_tip("bob spends the same reward twice: a double spend", "contract",
       contract={"actions": [MINT, pay("S001", 30), pay(CAROL.address, 30)]}, reason="double spend")
on_tip("bob spends tokens he never minted", "contract", contract={"actions": [pay("S001", 1)]},
       reason="holds 0 tokens")
on_tip("bob mints twice in one block", "contract", contract={"actions": [MINT, MINT]},
       reason="already paid its reward")
on_tip("bob chooses his own reward", "contract", contract={"actions": [{"action": "mint", "amount": 10 ** 6}]},
       reason="mint takes no field(s)")
on_tip("bob names alice as the sender", "contract",
       contract={"actions": [MINT, {"action": "transfer", "transfer": {"from": ALICE.address, "to": "S001",
                                                                      "amount": 5}}]},
       reason="tokens always leave the block's author")
on_tip("bob pays an unregistered student", "contract", contract={"actions": [MINT, pay("S404", 5)]},
       reason="neither a registered student nor an address")
on_tip("bob pays S001 named in fullwidth", contract={"actions": [MINT, pay("\uff33\uff10\uff10\uff11", 20)]})

# Bob's reward block on the tip; the blocks after it spend what he holds (the balance comes from the parent's state).
REWARDED = judge(mine_block(NET, BOB, {"actions": [MINT]}, parent=TIP, timestamp=parse_timestamp(T_NEXT)), NET, TIP,
                 state=TIP_STATE, now=parse_timestamp(NOW))
assert REWARDED.accepted, REWARDED.error
PARENTS["bob's reward"] = {"index": REWARDED.entry.index, "hash": REWARDED.entry.hash,
                           "time": REWARDED.entry.payload.timestamp, "total_work": REWARDED.entry.total_work,
                           "refused": None}
STATES["after bob's reward"] = REWARDED.state


def after_reward(name: str, expect: str = "accepted", *, wallet=BOB, reason: str = "", **changes) -> None:
    rec = record(token_of(claims(prev_hash=REWARDED.entry.hash, index=4, timestamp="2024-11-23T12:04:00+00:00",
                                 **changes)), wallet)
    case(name, rec, expect, parent="bob's reward", state="after bob's reward", reason=reason)


after_reward("bob spends 30 of the reward of the block before", contract={"actions": [pay("S001", 30)]})
after_reward("bob mints again in the next block", contract={"actions": [MINT, pay("S001", 100)]})
after_reward("bob spends 60, holding 50 from the block before", "contract",
             contract={"actions": [pay("S001", 60)]}, reason="holds 50 tokens and cannot send 60")
after_reward("carol spends bob's reward", "contract", wallet=CAROL, author="carol",
             contract={"actions": [pay("S001", 10)]}, reason="holds 0 tokens")


def resolve(vector: dict, states: dict, parents: dict) -> tuple:
    network = NETWORKS[vector["network"]]
    spec = parents[vector["parent"]]
    if spec == "unknown":
        parent = UNKNOWN_PARENT
    elif spec is None:
        parent = None
    else:
        parent = Link(spec["index"], spec["hash"], parse_timestamp(spec["time"]), spec["total_work"], spec["refused"])
    return network, parent, states[vector["state"]]


def main() -> None:
    parents = dict(PARENTS)
    states = dict(STATES)
    prev, state = None, None
    for i, block in enumerate(CHAIN_BLOCKS):
        entry_verdict = judge(block, NET, prev, state=state, now=parse_timestamp(NOW))
        prev, state = entry_verdict.entry, entry_verdict.state
        parents[f"block {i}"] = {"index": prev.index, "hash": prev.hash, "time": prev.payload.timestamp,
                                 "total_work": prev.total_work, "refused": None}
        states[f"after block {i}"] = state
    problems = []
    for vector in VECTORS:
        network, parent, state = resolve(vector, states, parents)
        verdict = judge(vector["record"], network, parent, state=state, now=parse_timestamp(vector["now"]))
        got = verdict.rule or "accepted"
        if got != vector["expect"] or vector.get("reason", "") not in (verdict.broken.detail if verdict.broken else ""):
            problems.append(f"{vector['name']}: expected {vector['expect']}, got {got}: "
                            f"{verdict.broken.detail if verdict.broken else ''}")
        if verdict.accepted:
            vector["state_digest_after"] = state_digest(verdict.state)
    if problems:
        raise SystemExit("labkit disagrees with the intended verdicts:\n" + "\n".join(problems))
    networks = {name: {"name": net.name, "secret_hex": net.secret.hex(), "difficulty": net.difficulty,
                       "max_clock_skew": net.max_clock_skew, "seed_file": net.seed_file,
                       "members": [{"name": m.name, "public_key_pem": public_key_pem(m.public_key)}
                                   for m in net.members]}
                for name, net in NETWORKS.items()}
    document = {
        "about": "labkit consensus vectors: a block record, what it is judged against (network, parent, "
                 "the VM state after the parent, the verifier's clock) and the verdict every honest peer must "
                 "reach: 'accepted' or the name of the first rule it breaks (labkit.rules.RULES). Made by "
                 "tests/vectors/make_consensus.py; run by tests/test_consensus_vectors.py. The keys are labkit's "
                 "public demo keys.",
        "networks": networks, "parents": parents, "states": states, "vectors": VECTORS,
    }
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=True) + "\n", "utf-8")
    counts: dict[str, int] = {}
    for vector in VECTORS:
        counts[vector["expect"]] = counts.get(vector["expect"], 0) + 1
    print(f"{len(VECTORS)} vectors written to {OUT}: {counts}")


if __name__ == "__main__":
    main()
