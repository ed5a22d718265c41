"""The attacks: what a class tries against a blockchain, one function per attack, each refused.

Each attack is a function of a lab (``labkit.lessons.lab.make_lab()``: three
honest peers) that builds what a cheater would send, offers it to every peer
through ``Lab.attempt`` and returns an ``AttackResult``: what was tried,
whether it was accepted, the rule that refused it and why, and whether any
honest peer's state or files changed. ``ATTACKS`` names them all, in the order
notebook 08 shows them; ``run_all`` runs every one.

Most attackers here are *members*: bob holds a signing key and the
network's HS256 secret, like every member, so he can write valid MACs and
valid signatures of his own. What he cannot do is sign as alice, redo the
proof of work of a whole branch for free, or make a peer run a contract twice.
The attack that succeeds, out-mining the honest peers with most of the
hashpower, is in ``labkit.lessons.race``.

References: RFC 8725 (JWT best current practices: "none", algorithm
confusion); T. McLean, "Critical vulnerabilities in JSON Web Token libraries" (2015).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import random
from dataclasses import replace
from typing import Any, Callable

from ..block import MAX_LINE_BYTES, Block
from ..encoding import b64url_decode, b64url_encode
from ..pow import meets_difficulty, token_hash
from ..tokens import decode_token, encode_token
from ..wallet import Wallet, public_key_pem
from .lab import AttackResult, Lab, registration

__all__ = [
    "ATTACKS",
    "run_all",
    # forging tokens and records
    "jws", "sign_record", "mallory",
    # one function per attack
    "tamper_payload", "tamper_signature", "tamper_signer", "non_member", "resign_as_member",
    "alg_none", "algorithm_confusion", "other_algorithm", "expiring_token", "shared_secret",
    "replay_old_block", "reorder_block", "resubmit_contract", "double_vote", "duplicate_id",
    "lower_difficulty", "change_nonce", "future_timestamp", "longer_chain_less_work", "malformed",
    "MALFORMED",
]


# --- forging tokens and records ---------------------------------------------------


def _compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def jws(header: dict | bytes, claims: dict | bytes, key: bytes | None, digest=hashlib.sha256) -> str:
    """A JWS compact token from raw parts, MACed with HMAC(``digest``) under ``key`` (no MAC if None)."""
    header_bytes = header if isinstance(header, bytes) else _compact(header)
    claims_bytes = claims if isinstance(claims, bytes) else _compact(claims)
    signing_input = b64url_encode(header_bytes) + "." + b64url_encode(claims_bytes)
    mac = b"" if key is None else hmac.new(key, signing_input.encode("ascii"), digest).digest()
    return signing_input + "." + b64url_encode(mac)


def _hs256(claims: dict | bytes, secret: bytes) -> str:
    return jws({"alg": "HS256", "typ": "JWT"}, claims, secret)


def _edit_claims(token: str, secret: bytes | None, edit: Callable[[dict], None]) -> str:
    """The token with its claims edited; re-MACed with ``secret``, or keeping the old MAC if None."""
    header, body, mac = token.split(".")
    claims = json.loads(b64url_decode(body))
    edit(claims)
    new_body = b64url_encode(_compact(claims))
    if secret is None:
        return f"{header}.{new_body}.{mac}"
    signing_input = f"{header}.{new_body}".encode("ascii")
    return f"{header}.{new_body}." + b64url_encode(hmac.new(secret, signing_input, hashlib.sha256).digest())


def sign_record(token: str, wallet: Wallet, signer: str | None = None) -> Block:
    """A record of ``token`` signed by ``wallet``, naming ``signer`` (the wallet's address by default)."""
    return Block(token, wallet.sign(token.encode("ascii")), signer or wallet.address)


# --- tampering ---------------------------------------------------------------------------------


def tamper_payload(lab: Lab) -> AttackResult:
    victim = lab.victim()

    def rename(claims: dict) -> None:
        claims["transaction_data"]["actions"][0]["student"]["name"] = "Mallory"

    token = _edit_claims(victim.token, None, rename)
    forged = Block(token, victim.signature, victim.signer)
    return lab.attempt("tamper payload", "edit the student's name in alice's block, keep her MAC and signature",
                       lambda: lab.offer(forged))


def tamper_signature(lab: Lab) -> AttackResult:
    victim = lab.victim()
    forged = Block(victim.token, bytes([victim.signature[0] ^ 1]) + victim.signature[1:], victim.signer)
    return lab.attempt("tamper signature", "flip one bit of alice's RSA signature", lambda: lab.offer(forged))


def tamper_signer(lab: Lab) -> AttackResult:
    victim = lab.victim()
    forged = Block(victim.token, victim.signature, lab.wallets["bob"].address)
    return lab.attempt("tamper signer", "change the record's signer from alice to bob, keep her signature",
                       lambda: lab.offer(forged))


@functools.cache
def mallory() -> Wallet:
    """A fresh 2048-bit wallet that is not a member, made on the first call and the same afterwards."""
    return Wallet.generate(name="mallory")


def non_member(lab: Lab) -> AttackResult:
    outsider = mallory()
    block = lab.mine(outsider, registration("S666", "Mallory"))
    return lab.attempt("non-member", "mallory, who is not a member, mines and signs a block with her own key",
                       lambda: lab.offer(block))


def resign_as_member(lab: Lab) -> AttackResult:
    victim = lab.victim()
    stolen = sign_record(victim.token, lab.wallets["bob"])
    return lab.attempt("re-signed by another member", "bob signs alice's freshly mined block as his own",
                       lambda: lab.offer(stolen))


# --- tokens ----------------------------------------------------------------------------------------


def alg_none(lab: Lab) -> AttackResult:
    claims = lab.template("bob", registration("S100", "Bob Jr")).to_claims()
    token = jws({"alg": "none", "typ": "JWT"}, claims, None)
    return lab.attempt('alg "none"', 'a token whose header says alg "none", with no MAC at all',
                       lambda: lab.offer(sign_record(token, lab.wallets["bob"])))


def algorithm_confusion(lab: Lab) -> AttackResult:
    claims = lab.template("bob", registration("S101", "Bob Jr")).to_claims()
    public_pem = public_key_pem(lab.wallets["alice"].public_key).encode("ascii")
    token = jws({"alg": "HS256", "typ": "JWT"}, claims, public_pem)
    return lab.attempt("algorithm confusion", "an HS256 token MACed with alice's public key PEM as the secret",
                       lambda: lab.offer(sign_record(token, lab.wallets["bob"])))


def other_algorithm(lab: Lab, alg: str = "HS512") -> AttackResult:
    """A token signed with HS512 (with the real secret) or RS256 (with bob's key)."""
    bob = lab.wallets["bob"]
    claims = lab.template(bob, registration("S102", "Bob Jr")).to_claims()
    if alg == "RS256":
        signing_input = b64url_encode(_compact({"alg": "RS256", "typ": "JWT"})) + "." + b64url_encode(_compact(claims))
        token = signing_input + "." + b64url_encode(bob.sign(signing_input.encode("ascii")))
    else:
        digest = {"HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        token = jws({"alg": alg, "typ": "JWT"}, claims, lab.network.secret, digest)
    return lab.attempt(f"algorithm {alg}", f"a token with alg {alg} instead of HS256",
                       lambda: lab.offer(sign_record(token, bob)))


def expiring_token(lab: Lab, claim: str = "exp") -> AttackResult:
    """A correctly MACed token that carries ``exp`` (already past) or ``nbf`` (in the future)."""
    claims = lab.template("bob", registration("S103", "Bob Jr")).to_claims()
    seconds = int(lab.now.timestamp())
    claims[claim] = seconds - 3600 if claim == "exp" else seconds + 86400
    token = _hs256(claims, lab.network.secret)
    when = "an exp an hour ago" if claim == "exp" else "an nbf a day ahead"
    return lab.attempt(f"token with {claim}", f"a correctly MACed token carrying {when}",
                       lambda: lab.offer(sign_record(token, lab.wallets["bob"])))


def shared_secret(lab: Lab) -> AttackResult:
    """bob knows the HS256 secret, so he can mint a perfect token in alice's name; only her RSA key signs as her."""
    template = lab.template("alice", {"actions": [{"action": "generate_nft", "nft": {
        "id": "NFT-ALICE-2", "name": "Alice's second piece"}}]})
    mined = lab.miner(template, lab.network.secret, lab.honest_difficulty)
    mac_ok = decode_token(mined.token, lab.network.secret).signer == lab.wallets["alice"].address
    forged = Block(mined.token, lab.wallets["bob"].sign(mined.token.encode("ascii")), lab.wallets["alice"].address)
    return lab.attempt("shared secret", "bob mints and mines a token naming alice (the MAC is valid) "
                       "and signs the record with his own key", lambda: lab.offer(forged),
                       mac_valid=mac_ok)


# --- replay -----------------------------------------------------------------------------------------


def replay_old_block(lab: Lab) -> AttackResult:
    old = lab.honest[1]
    return lab.attempt("replay old block", "send block 1 again, after the tip", lambda: lab.offer(old))


def reorder_block(lab: Lab) -> AttackResult:
    """bob moves alice's NFT block (3) before the vote (2): new prev_hash and index, re-MACed and re-mined."""
    target, before = lab.honest[3], lab.peers[0].chain[1]
    # alice's own payload, re-linked after block 1 (the attacker can edit it, not sign it)
    moved = replace(target.payload(lab.network.secret), prev_hash=before.hash, index=before.index + 1, nonce=0)
    mined = lab.miner(moved, lab.network.secret, lab.honest_difficulty)
    forged = Block(mined.token, target.signature, target.signer)
    return lab.attempt("reorder", "move alice's NFT block before the vote: re-link, re-MAC and re-mine it, "
                       "keep her signature", lambda: lab.offer(forged))


def resubmit_contract(lab: Lab) -> AttackResult:
    contract = lab.honest[1].payload(lab.network.secret).transaction_data
    block = lab.mine("bob", contract)
    return lab.attempt("re-submit contract", "bob mines block 1's contract (add course C001) again in a new block",
                       lambda: lab.offer(block))


# --- contracts ----------------------------------------------------------------------------------------


def double_vote(lab: Lab) -> AttackResult:
    vote = {"actions": [{"action": "vote_proposal", "proposal": {"id": "P001"}}]}
    block = lab.mine("carol", vote)  # carol signed block 2, which voted on P001
    return lab.attempt("double vote", "carol, who voted on P001 in block 2, votes again in a new block",
                       lambda: lab.offer(block))


def duplicate_id(lab: Lab, table: str = "students") -> AttackResult:
    contract = {"students": registration("S001", "Not John"),
                "nfts": {"actions": [{"action": "generate_nft", "nft": {"id": "NFT001", "name": "Copy"}}]},
                }[table]
    block = lab.mine("bob", contract)
    what = {"students": "register student S001 again", "nfts": "mint NFT001 again, to himself"}[table]
    return lab.attempt(f"duplicate id ({table})", f"bob tries to {what}", lambda: lab.offer(block))


# --- proof of work and time --------------------------------------------------------------------------


def lower_difficulty(lab: Lab) -> AttackResult:
    block = lab.mine("bob", registration("S104", "Lazy Bob"), difficulty=0)
    return lab.attempt("lower difficulty", f"bob's block declares difficulty 0, below the network's "
                       f"{lab.network.difficulty}", lambda: lab.offer(block))


def change_nonce(lab: Lab) -> AttackResult:
    """bob changes the nonce of his own mined block, re-MACs and re-signs it, but does not re-mine."""
    bob = lab.wallets["bob"]
    mined = lab.mine(bob, registration("S105", "Bob Again"))
    payload = mined.payload(lab.network.secret)
    nonce = payload.nonce + 1
    while True:  # the first nonce after the mined one whose hash misses the target (15 in 16 do)
        token = encode_token(payload.with_nonce(nonce), lab.network.secret)
        if not meets_difficulty(token_hash(token), lab.network.difficulty):
            break
        nonce += 1
    return lab.attempt("change nonce", "bob sets another nonce in his mined block and re-signs it, "
                       "without re-mining", lambda: lab.offer(sign_record(token, bob)))


def future_timestamp(lab: Lab) -> AttackResult:
    block = lab.mine("bob", registration("S106", "Time Traveller"), timestamp=lab.now + dt.timedelta(hours=1))
    return lab.attempt("future timestamp", "bob dates his block an hour ahead of the peers' clocks",
                       lambda: lab.offer(block))


# --- work, not length ---------------------------------------------------------------------------------------


def longer_chain_less_work(lab: Lab) -> AttackResult:
    """bob mines a branch from genesis with one block more than the honest chain, at the minimum difficulty."""
    friends = [("bob", registration(f"S9{i:02d}", f"Bob's friend {i}")) for i in range(len(lab.honest) + 1)]
    blocks = lab.branch(friends, parent=None, difficulty=lab.network.difficulty)
    return lab.attempt("longer chain, less work",
                       f"bob sends a branch of {len(blocks)} blocks at difficulty {lab.network.difficulty}; "
                       f"the honest chain has {len(lab.honest)} at {lab.honest_difficulty}",
                       lambda: lab.offer(blocks), attacker_blocks=len(blocks))


# --- malformed input -------------------------------------------------------------------------------------


def _bob_token_body(lab: Lab, body: bytes) -> bytes:
    """A record line whose token carries ``body`` as its claims, MACed and signed by bob."""
    token = _hs256(body, lab.network.secret)
    return sign_record(token, lab.wallets["bob"]).to_line().encode()


def _claims_bytes(lab: Lab, **changes: Any) -> bytes:
    claims = lab.template("bob", registration("S107", "Bob")).to_claims()
    claims.update(changes)
    return _compact(claims)


def _victim_line(lab: Lab) -> bytes:
    return lab.victim().to_line().encode()


# Each kind of malformed line: what it is, and how to make it in a lab.
_MALFORMED_LINES: dict[str, tuple[str, Callable[[Lab], bytes]]] = {
    "truncated line": ("the last line is cut in half", lambda lab: _victim_line(lab)[: len(_victim_line(lab)) // 2]),
    "garbage line": ("a line of random bytes", lambda lab: bytes(random.Random(8).randrange(32, 127)
                                                                 for _ in range(200))),
    "huge line": (f"a line of {MAX_LINE_BYTES + 1:,} bytes", lambda lab: b'{"token": "' + b"A" * MAX_LINE_BYTES + b'"}'),
    "non-UTF-8": ("a line with bytes that are not UTF-8", lambda lab: b'{"token": "\xff\xfe", "signature": "00"}'),
    "NaN in payload": ("bob's token carries nonce NaN",
                       lambda lab: _bob_token_body(lab, _claims_bytes(lab).replace(b'"nonce":0', b'"nonce":NaN'))),
    "huge number in payload": ("bob's token carries a 60-digit nonce",
                               lambda lab: _bob_token_body(lab, _claims_bytes(lab, nonce=10 ** 60))),
    "huge float in payload": ("bob's token carries nonce 1e999",
                              lambda lab: _bob_token_body(lab, _claims_bytes(lab).replace(b'"nonce":0',
                                                                                          b'"nonce":1e999'))),
    "duplicate keys in payload": ("bob's token names prev_hash twice",
                                  lambda lab: _bob_token_body(lab, _claims_bytes(lab).replace(
                                      b'{"prev_hash"', b'{"prev_hash":"' + b"0" * 64 + b'","prev_hash"'))),
    "duplicate keys in record": ("a record with two signature fields",
                                 lambda lab: _victim_line(lab).replace(b'"signature"',
                                                                       b'"signature": "00", "signature"')),
    "wrong type in payload": ('bob\'s token has index "5", a string',
                              lambda lab: _bob_token_body(lab, _claims_bytes(lab, index=str(lab.tip.index + 1)))),
    "wrong type in record": ("a record whose signature is a number",
                             lambda lab: json.dumps({"token": lab.victim().token, "signature": 12}).encode()),
    "empty file": ("an empty blocks file", lambda lab: b""),
}
MALFORMED = tuple(_MALFORMED_LINES)  # the kinds, in order


def malformed(lab: Lab, kind: str) -> AttackResult:
    """The honest chain's file with one malformed line appended (or an empty file); see ``MALFORMED``."""
    tried, make = _MALFORMED_LINES[kind]
    line = make(lab)
    honest = "".join(b.to_line() + "\n" for b in lab.honest).encode()
    content = b"" if kind == "empty file" else honest + line + b"\n"
    path = lab.write(kind.replace(" ", "-") + ".jsonl", content)
    return lab.attempt(kind, tried, lambda: lab.offer_file(path))


# --- all of them --------------------------------------------------------------------------------------


ATTACKS: dict[str, Callable[[Lab], AttackResult]] = {
    "tamper payload": tamper_payload,
    "tamper signature": tamper_signature,
    "tamper signer": tamper_signer,
    "non-member": non_member,
    "re-signed by another member": resign_as_member,
    'alg "none"': alg_none,
    "algorithm confusion": algorithm_confusion,
    "algorithm HS512": lambda lab: other_algorithm(lab, "HS512"),
    "algorithm RS256": lambda lab: other_algorithm(lab, "RS256"),
    "token with exp": lambda lab: expiring_token(lab, "exp"),
    "token with nbf": lambda lab: expiring_token(lab, "nbf"),
    "shared secret": shared_secret,
    "replay old block": replay_old_block,
    "reorder": reorder_block,
    "re-submit contract": resubmit_contract,
    "double vote": double_vote,
    "duplicate id (students)": duplicate_id,
    "duplicate id (nfts)": lambda lab: duplicate_id(lab, "nfts"),
    "lower difficulty": lower_difficulty,
    "change nonce": change_nonce,
    "future timestamp": future_timestamp,
    "longer chain, less work": longer_chain_less_work,
    **{kind: (lambda lab, kind=kind: malformed(lab, kind)) for kind in MALFORMED},
}


def run_all(lab: Lab) -> list[AttackResult]:
    """Every attack in ``ATTACKS`` against one lab, in order."""
    return [attack(lab) for attack in ATTACKS.values()]
