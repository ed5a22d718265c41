"""The attack lab: cheat a network of honest peers, and watch each attempt refused.

``make_lab()`` starts three honest peers (alice, bob and carol, the demo
members), each holding the seed's chain and writing it to its own folder.
Each attack below is a function of the lab that builds what a cheater would
send, offers it to every peer, and returns an ``AttackResult``: what was
tried, whether it was accepted, the rule that refused it and why, and
whether any honest peer's state or files changed. ``results_frame`` puts a
list of results in one table.

Most attackers here are *members*: bob holds a signing key and the
network's HS256 secret, like every member, so he can write valid MACs and
valid signatures of his own. What he cannot do is sign as alice, redo the
proof of work of a whole branch for free, or make a peer run a contract twice.

The 51% lesson is in the last section: ``majority_attack`` lets an attacker
with most of the hashpower out-mine the honest branch for real, and
``confirmation_table`` gives the attacker's chance of catching up from ``z``
blocks behind: Nakamoto's formula (Bitcoin paper, section 11), the exact
negative-binomial value, and a simulation.

References: S. Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System"
(2008), section 11; M. Rosenfeld, "Analysis of hashrate-based double
spending" (2014); RFC 8725 (JWT best current practices: "none", algorithm
confusion); T. McLean, "Critical vulnerabilities in JSON Web Token libraries" (2015).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import math
import os
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..block import MAX_LINE_BYTES, Block
from ..blocksfile import save_blocks
from ..chain import Entry, Link, mine_block
from .data import DEMO_START, demo_network, demo_wallets, seed_contracts
from ..encoding import b64url_decode, b64url_encode
from ..errors import InvalidBlock, InvalidRecord, LabkitError
from ..forks import BlockStatus, Reorg
from ..network import Network
from ..peer import Peer
from ..pow import expected_attempts, meets_difficulty, token_hash
from ..tokens import GENESIS_HASH, Payload, decode_token, encode_token, format_timestamp
from ..wallet import Wallet, public_key_pem

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "NotAccepted",
    "AttackResult",
    "Lab",
    "make_lab",
    "results_frame",
    "ATTACKS",
    "run_all",
    # one function per attack
    "tamper_payload", "tamper_signature", "tamper_signer", "non_member", "resign_as_member",
    "alg_none", "algorithm_confusion", "other_algorithm", "expiring_token", "shared_secret",
    "replay_old_block", "reorder_block", "resubmit_contract", "double_vote", "duplicate_id",
    "lower_difficulty", "change_nonce", "future_timestamp", "longer_chain_less_work", "malformed",
    "MALFORMED",
    # the 51% lesson
    "jws", "sign_record", "mallory",
    "RaceResult", "majority_attack", "nakamoto_probability", "exact_probability",
    "simulate_catch_up", "confirmations_needed", "confirmation_table", "plot_confirmations",
]

LAB_DIFFICULTY = 1  # the network's minimum: blocks must have at least this many hex zeros
HONEST_DIFFICULTY = 2  # what the honest members mine at (a block may declare more than the minimum)
ATTACKER = "attacker"  # the attacker's folder in the lab


class NotAccepted(LabkitError):
    """A block that broke no rule but did not change the canonical chain (known, less work, or waiting)."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class AttackResult:
    """What an attack tried and what the honest peers made of it."""

    attack: str
    tried: str  # one sentence: what the attacker did
    accepted: bool  # the attacker's blocks ended up in the honest peers' chain
    rule: str | None  # the rule that refused it (see labkit.chain.CHECKS; "duplicate", "work", "orphan", "nothing new")
    reason: str | None
    state_changed: bool  # any honest peer's state digest changed
    files_changed: bool  # any honest peer's files changed on disk
    detail: dict = field(default_factory=dict, compare=False)

    @property
    def refused(self) -> bool:
        return not self.accepted

    @property
    def harmless(self) -> bool:
        """Refused, and nothing of the honest peers' changed."""
        return self.refused and not self.state_changed and not self.files_changed

    def row(self) -> dict:
        return {"attack": self.attack, "tried": self.tried, "accepted": self.accepted, "rule": self.rule or "",
                "reason": self.reason or "", "state changed": self.state_changed, "files changed": self.files_changed}

    def _repr_html_(self) -> str:
        return results_frame([self]).to_html(index=False)


def results_frame(results: Iterable[AttackResult]) -> "pd.DataFrame":
    """One row per attack: what was tried, accepted or refused, check, reason, what changed."""
    import pandas as pd

    rows = [r.row() for r in results]
    return pd.DataFrame(rows, columns=["attack", "tried", "accepted", "rule", "reason",
                                       "state changed", "files changed"])


# --- the lab ------------------------------------------------------------------------


def _default_miner():
    try:
        from ..fastmine import mine
    except ImportError:  # pragma: no cover  (before the fast miner existed)
        from ..pow import mine
    return mine


@dataclass(frozen=True)
class Fingerprint:
    digests: tuple[tuple[str, str], ...]  # (peer, state digest)
    files: tuple[tuple[str, str], ...]  # (path relative to the lab, sha256 of its bytes)


class Lab:
    """Three honest peers on this machine, each with its folder, and the tools to attack them.

    ``now`` is the peers' clock, fixed a day after the demo chain's first
    block, so results do not depend on when the lab runs.
    """

    def __init__(self, workdir: Path, network: Network, wallets: Sequence[Wallet], honest: Sequence[Block],
                 *, miner=None, honest_difficulty: int = HONEST_DIFFICULTY):
        self.workdir = workdir
        self.network = network
        self.wallets = {w.name: w for w in wallets}
        self.miner = miner or _default_miner()
        self.honest_difficulty = honest_difficulty
        self.now = DEMO_START + dt.timedelta(days=1)
        self._clock = len(honest)  # minutes after DEMO_START of the next block
        network.save(workdir / "network.json", overwrite=True)
        self.peers = [Peer(w.name, network, wallet=w) for w in wallets]
        first = self.peers[0]
        source = save_blocks(self.file_of(first), honest)  # alice publishes; bob and carol read her file
        for peer in self.peers:
            peer.receive(source, now=self.now)
            if peer is not first:
                peer.save(self.file_of(peer))
        if any(len(p.chain) != len(honest) for p in self.peers):
            raise RuntimeError("the honest chain did not validate; the lab cannot start")
        self.honest = list(honest)

    # --- looking ---------------------------------------------------------------

    def peer(self, name: str) -> Peer:
        return next(p for p in self.peers if p.name == name)

    def file_of(self, peer: Peer) -> Path:
        folder = self.workdir / peer.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder / "blocks.jsonl"

    @property
    def tip(self) -> Entry:
        """The honest peers' canonical tip (they all agree)."""
        return self.peers[0].chain.tip  # type: ignore[return-value]

    def fingerprint(self) -> Fingerprint:
        """Every peer's state digest and the bytes of every honest file (the attacker's folder excluded)."""
        files = []
        for path in sorted(self.workdir.rglob("*")):
            relative = path.relative_to(self.workdir)
            if path.is_file() and relative.parts[0] != ATTACKER:
                files.append((str(relative), hashlib.sha256(path.read_bytes()).hexdigest()))
        return Fingerprint(tuple((p.name, p.digest()) for p in self.peers), tuple(files))

    def tables(self, name: str = "alice") -> dict:
        from .tables import state_frames

        return state_frames(self.peer(name).state, self.network)

    # --- making blocks ---------------------------------------------------------------

    def next_time(self) -> dt.datetime:
        """A fresh block time, one minute after the last one handed out."""
        self._clock += 1
        return DEMO_START + dt.timedelta(minutes=self._clock)

    def mine(self, signer: str | Wallet, contract: dict, *, parent: Entry | Link | None | str = "tip",
             difficulty: int | None = None, timestamp: dt.datetime | None = None) -> Block:
        """A block mined on ``parent`` (the honest tip by default; None for a first block) and signed."""
        wallet = self.wallets[signer] if isinstance(signer, str) else signer
        parent = self.tip if parent == "tip" else parent
        network = self.network.with_difficulty(self.honest_difficulty if difficulty is None else difficulty)
        return mine_block(network, wallet, contract, parent=parent, timestamp=timestamp or self.next_time(),
                          miner=self.miner)

    def template(self, signer: str | Wallet, contract: dict, *, parent: Entry | None | str = "tip",
                 difficulty: int | None = None, **changes: Any) -> Payload:
        """The payload a block on ``parent`` would carry (before mining); ``changes`` override fields."""
        wallet = self.wallets[signer] if isinstance(signer, str) else signer
        parent = self.tip if parent == "tip" else parent
        fields = dict(prev_hash=GENESIS_HASH if parent is None else parent.hash,
                      timestamp=format_timestamp(self.next_time()), transaction_data=contract, nonce=0,
                      index=0 if parent is None else parent.index + 1,
                      difficulty=self.honest_difficulty if difficulty is None else difficulty,
                      signer=wallet.address)
        fields.update(changes)
        return Payload(**fields)

    def victim(self) -> Block:
        """alice's next honest block, registering student S002: what the attacker intercepts."""
        return self.mine("alice", _register("S002", "Jane Roe"))

    def write(self, name: str, content: bytes | Sequence[Block]) -> Path:
        """Write a file in the attacker's folder (never in an honest peer's)."""
        folder = self.workdir / ATTACKER
        folder.mkdir(parents=True, exist_ok=True)
        data = content if isinstance(content, bytes) else "".join(b.to_line() + "\n" for b in content).encode()
        path = folder / name
        path.write_bytes(data)
        return path

    # --- offering blocks to the peers ------------------------------------------------------

    def _save_if_changed(self, peer: Peer, tip_before: str | None) -> None:
        tip = peer.chain.tip
        if (tip.hash if tip else None) != tip_before:
            peer.save(self.file_of(peer))

    def offer(self, blocks: Block | Sequence[Block]) -> None:
        """Send blocks to every honest peer; raise unless every one ends on every peer's canonical chain.

        Raises the first refusal: InvalidBlock for a broken rule, NotAccepted
        for a block that broke none but changed nothing (held already, on a
        branch with less work, or waiting for its parent).
        """
        blocks = [blocks] if isinstance(blocks, Block) else list(blocks)
        failures: list[LabkitError] = []
        for peer in self.peers:
            tip_before = peer.chain.tip.hash if peer.chain.tip else None
            first: LabkitError | None = None
            for block in blocks:
                try:
                    update = peer.receive_block(block, now=self.now)
                except InvalidBlock as exc:
                    first = first or exc
                    continue
                if update.known:
                    entry = peer.tree.entry(block.hash)
                    first = first or NotAccepted(
                        "duplicate", f"block {block.hash[:12]}… is already held as block {entry.index}; "
                                     "a block is executed once")
            self._save_if_changed(peer, tip_before)
            if first is None:
                first = self._not_canonical(peer, blocks)
            if first is not None:
                failures.append(first)
        if failures:
            raise failures[0]

    def _not_canonical(self, peer: Peer, blocks: list[Block]) -> NotAccepted | None:
        for block in blocks:
            if peer.tree.status(block.hash) in (BlockStatus.ORPHAN, BlockStatus.UNKNOWN):
                return NotAccepted("orphan", f"block {block.hash[:12]}…'s parent is unknown; it waits, "
                                             "changing nothing")
        side = [peer.tree.entry(b.hash) for b in blocks if peer.tree.status(b.hash) is BlockStatus.SIDE]
        if not side:
            return None
        best = max(side, key=lambda e: e.total_work)
        tip = peer.chain.tip
        return NotAccepted("work", f"its branch ({best.index + 1} blocks, work {best.total_work:,}) has less work "
                                   f"than the canonical chain ({len(peer.chain)} blocks, work {tip.total_work:,}); "
                                   "the peers keep theirs")

    def offer_file(self, path: str | os.PathLike) -> None:
        """Every honest peer reads a blocks file; raise the first refusal (or NotAccepted if nothing new)."""
        failures: list[LabkitError] = []
        for peer in self.peers:
            tip_before = peer.chain.tip.hash if peer.chain.tip else None
            reports = peer.receive(path, now=self.now)
            self._save_if_changed(peer, tip_before)
            bad = [r for r in reports if not r.accepted]
            if bad:
                r = bad[0]
                failures.append(InvalidRecord(r.reason or "", line=r.line) if r.rule == "record"
                                else InvalidBlock(r.index, r.rule or "?", r.reason or ""))
            elif not reports:
                failures.append(NotAccepted("nothing new", "the file holds no block the peers do not hold"))
            else:
                side = self._not_canonical(peer, [peer.tree.entry(r.hash).block for r in reports if r.hash])
                if side is not None:
                    failures.append(side)
        if failures:
            raise failures[0]

    # --- running an attack -----------------------------------------------------------------

    def attempt(self, attack: str, tried: str, action: Callable[[], object], **detail: Any) -> AttackResult:
        """Run ``action`` (which offers something to the peers) and record what happened."""
        before = self.fingerprint()
        rule = reason = None
        try:
            action()
            accepted = True
        except (InvalidBlock, NotAccepted) as exc:
            accepted, rule, reason = False, exc.rule, exc.reason
        except InvalidRecord as exc:
            accepted, rule, reason = False, "record", exc.reason
        after = self.fingerprint()
        return AttackResult(attack, tried, accepted, rule, reason, before.digests != after.digests,
                            before.files != after.files, detail)

    def __repr__(self) -> str:
        return f"Lab({', '.join(p.name for p in self.peers)}; {len(self.honest)} honest blocks; {self.workdir})"


def make_lab(workdir: str | os.PathLike | None = None, *, difficulty: int = LAB_DIFFICULTY,
             honest_difficulty: int = HONEST_DIFFICULTY, miner=None) -> Lab:
    """Three honest peers holding the seed's four contracts, mined at ``honest_difficulty``.

    The network's minimum difficulty is ``difficulty``; the honest members
    mine above it, so that a chain with more blocks can have less work.
    ``workdir`` defaults to a new temporary folder.
    """
    workdir = Path(tempfile.mkdtemp(prefix="labkit-lab-") if workdir is None else workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    network = demo_network(difficulty)
    wallets = demo_wallets()
    miner = miner or _default_miner()
    mining_network = network.with_difficulty(max(difficulty, honest_difficulty))
    signers = [wallets[0], wallets[1], wallets[2], wallets[0]]  # alice, bob, carol, alice
    blocks, parent = [], None
    for i, (contract, wallet) in enumerate(zip(seed_contracts(), signers)):
        block = mine_block(mining_network, wallet, contract, parent=parent,
                           timestamp=DEMO_START + dt.timedelta(minutes=i), miner=miner)
        payload = block.payload(network.secret)
        parent = Link(i, block.hash, payload.time)
        blocks.append(block)
    return Lab(workdir, network, wallets, blocks, miner=miner, honest_difficulty=max(difficulty, honest_difficulty))


# --- helpers to forge tokens and records ---------------------------------------------------


def _register(student_id: str, name: str) -> dict:
    return {"actions": [{"action": "register_student",
                         "student": {"id": student_id, "name": name, "department": "Computer Science"}}]}


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


_MALLORY: list[Wallet] = []


def mallory() -> Wallet:
    """A fresh 2048-bit wallet that is not a member (made once per session)."""
    if not _MALLORY:
        _MALLORY.append(Wallet.generate(name="mallory"))
    return _MALLORY[0]


def non_member(lab: Lab) -> AttackResult:
    outsider = mallory()
    block = lab.mine(outsider, _register("S666", "Mallory"))
    return lab.attempt("non-member", "mallory, who is not a member, mines and signs a block with her own key",
                       lambda: lab.offer(block))


def resign_as_member(lab: Lab) -> AttackResult:
    victim = lab.victim()
    stolen = sign_record(victim.token, lab.wallets["bob"])
    return lab.attempt("re-signed by another member", "bob signs alice's freshly mined block as his own",
                       lambda: lab.offer(stolen))


# --- tokens ----------------------------------------------------------------------------------------


def alg_none(lab: Lab) -> AttackResult:
    claims = lab.template("bob", _register("S100", "Bob Jr")).to_claims()
    token = jws({"alg": "none", "typ": "JWT"}, claims, None)
    return lab.attempt('alg "none"', 'a token whose header says alg "none", with no MAC at all',
                       lambda: lab.offer(sign_record(token, lab.wallets["bob"])))


def algorithm_confusion(lab: Lab) -> AttackResult:
    claims = lab.template("bob", _register("S101", "Bob Jr")).to_claims()
    public_pem = public_key_pem(lab.wallets["alice"].public_key).encode("ascii")
    token = jws({"alg": "HS256", "typ": "JWT"}, claims, public_pem)
    return lab.attempt("algorithm confusion", "an HS256 token MACed with alice's public key PEM as the secret",
                       lambda: lab.offer(sign_record(token, lab.wallets["bob"])))


def other_algorithm(lab: Lab, alg: str = "HS512") -> AttackResult:
    """A token signed with HS512 (with the real secret) or RS256 (with bob's key)."""
    bob = lab.wallets["bob"]
    claims = lab.template(bob, _register("S102", "Bob Jr")).to_claims()
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
    claims = lab.template("bob", _register("S103", "Bob Jr")).to_claims()
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
    payload = target.payload(lab.network.secret)
    template = Payload(before.hash, payload.timestamp, payload.transaction_data, 0, 2,
                       payload.difficulty, payload.signer)
    mined = lab.miner(template, lab.network.secret, lab.honest_difficulty)
    moved = Block(mined.token, target.signature, target.signer)
    return lab.attempt("reorder", "move alice's NFT block before the vote: re-link, re-MAC and re-mine it, "
                       "keep her signature", lambda: lab.offer(moved))


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
    contract = {"students": _register("S001", "Not John"),
                "nfts": {"actions": [{"action": "generate_nft", "nft": {"id": "NFT001", "name": "Copy"}}]},
                }[table]
    block = lab.mine("bob", contract)
    what = {"students": "register student S001 again", "nfts": "mint NFT001 again, to himself"}[table]
    return lab.attempt(f"duplicate id ({table})", f"bob tries to {what}", lambda: lab.offer(block))


# --- proof of work and time --------------------------------------------------------------------------


def lower_difficulty(lab: Lab) -> AttackResult:
    block = lab.mine("bob", _register("S104", "Lazy Bob"), difficulty=0)
    return lab.attempt("lower difficulty", f"bob's block declares difficulty 0, below the network's "
                       f"{lab.network.difficulty}", lambda: lab.offer(block))


def change_nonce(lab: Lab) -> AttackResult:
    """bob changes the nonce of his own mined block, re-MACs and re-signs it, but does not re-mine."""
    bob = lab.wallets["bob"]
    mined = lab.mine(bob, _register("S105", "Bob Again"))
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
    block = lab.mine("bob", _register("S106", "Time Traveller"), timestamp=lab.now + dt.timedelta(hours=1))
    return lab.attempt("future timestamp", "bob dates his block an hour ahead of the peers' clocks",
                       lambda: lab.offer(block))


# --- work, not length ---------------------------------------------------------------------------------------


def longer_chain_less_work(lab: Lab) -> AttackResult:
    """bob mines a branch from genesis with one block more than the honest chain, at the minimum difficulty."""
    blocks, parent = [], None
    for i in range(len(lab.honest) + 1):
        block = lab.mine("bob", _register(f"S9{i:02d}", f"Bob's friend {i}"), parent=parent,
                         difficulty=lab.network.difficulty)
        payload = block.payload(lab.network.secret)
        parent = Link(i, block.hash, payload.time)
        blocks.append(block)
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
    claims = lab.template("bob", _register("S107", "Bob")).to_claims()
    claims.update(changes)
    return _compact(claims)


def _malformed_lines(lab: Lab) -> dict[str, tuple[str, Callable[[], bytes]]]:
    def victim_line() -> bytes:
        return lab.victim().to_line().encode()

    return {
        "truncated line": ("the last line is cut in half", lambda: victim_line()[: len(victim_line()) // 2]),
        "garbage line": ("a line of random bytes", lambda: bytes(random.Random(8).randrange(32, 127)
                                                                 for _ in range(200))),
        "huge line": (f"a line of {MAX_LINE_BYTES + 1:,} bytes", lambda: b'{"token": "' + b"A" * MAX_LINE_BYTES + b'"}'),
        "non-UTF-8": ("a line with bytes that are not UTF-8", lambda: b'{"token": "\xff\xfe", "signature": "00"}'),
        "NaN in payload": ("bob's token carries nonce NaN",
                           lambda: _bob_token_body(lab, _claims_bytes(lab).replace(b'"nonce":0', b'"nonce":NaN'))),
        "huge number in payload": ("bob's token carries a 60-digit nonce",
                                   lambda: _bob_token_body(lab, _claims_bytes(lab, nonce=10 ** 60))),
        "huge float in payload": ("bob's token carries nonce 1e999",
                                  lambda: _bob_token_body(lab, _claims_bytes(lab).replace(b'"nonce":0',
                                                                                          b'"nonce":1e999'))),
        "duplicate keys in payload": ("bob's token names prev_hash twice",
                                      lambda: _bob_token_body(lab, _claims_bytes(lab).replace(
                                          b'{"prev_hash"', b'{"prev_hash":"' + b"0" * 64 + b'","prev_hash"'))),
        "duplicate keys in record": ("a record with two signature fields",
                                     lambda: victim_line().replace(b'"signature"', b'"signature": "00", "signature"')),
        "wrong type in payload": ('bob\'s token has index "5", a string',
                                  lambda: _bob_token_body(lab, _claims_bytes(lab, index=str(lab.tip.index + 1)))),
        "wrong type in record": ("a record whose signature is a number",
                                 lambda: json.dumps({"token": lab.victim().token, "signature": 12}).encode()),
        "empty file": ("an empty blocks file", lambda: b""),
    }


MALFORMED = ("truncated line", "garbage line", "huge line", "non-UTF-8", "NaN in payload", "huge number in payload",
             "huge float in payload", "duplicate keys in payload", "duplicate keys in record",
             "wrong type in payload", "wrong type in record", "empty file")


def malformed(lab: Lab, kind: str) -> AttackResult:
    """The honest chain's file with one malformed line appended (or an empty file); see ``MALFORMED``."""
    tried, make = _malformed_lines(lab)[kind]
    line = make()
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


# --- the 51% lesson --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RaceResult:
    """A private branch racing the honest one, block by block."""

    share: float  # the attacker's share of the hashpower
    confirmations: int  # honest blocks on top of the payment the attacker wanted to undo
    finders: tuple[str, ...]  # who found each block, in order: "honest" or "attacker"
    honest_blocks: int  # blocks on the honest branch since the fork
    attacker_blocks: int
    won: bool  # the honest peers switched to the attacker's branch
    reorg: Reorg | None  # what the switch rolled back and applied
    nft_owner_before: str  # who owned the disputed NFT on the honest peers before the attacker published
    nft_owner_after: str

    def frame(self) -> "pd.DataFrame":
        import pandas as pd

        honest = attacker = 0
        rows = []
        for n, who in enumerate(self.finders, start=1):
            honest += who == "honest"
            attacker += who == "attacker"
            rows.append({"block": n, "found by": who, "honest branch": honest, "attacker branch": attacker})
        return pd.DataFrame(rows, columns=["block", "found by", "honest branch", "attacker branch"])


def majority_attack(lab: Lab, share: float = 0.6, *, confirmations: int = 2, seed: int = 1,
                    max_blocks: int = 60) -> RaceResult:
    """bob, with ``share`` of the hashpower, mines a private branch that gives NFT002 to himself.

    The honest branch starts with alice minting NFT002; merchants wait for
    ``confirmations`` more blocks. Each next block is found by the attacker
    with probability ``share`` (a seeded coin stands in for the race between
    miners; every block is really mined and signed). Once the honest branch
    has its confirmations and the private branch has more work, bob publishes
    it to the honest peers. He gives up after ``max_blocks`` blocks in all.
    """
    rng = random.Random(seed)
    fork = lab.tip
    # The same mint on both branches: an NFT's owner is whoever signs the block that mints it.
    mint = {"actions": [{"action": "generate_nft", "nft": {"id": "NFT002", "name": "Sunrise",
                                                           "metadata": {"artist": "alice"}}}]}
    honest_tip: Entry = fork
    private: list[Block] = []
    private_tip: Entry | Link = fork
    private_work = 0
    finders: list[str] = []
    honest_count = 0
    while len(finders) < max_blocks:
        if rng.random() < share:
            contract = mint if not private else _register(f"SB{len(private):03d}", "Bob's friend")
            block = lab.mine("bob", contract, parent=private_tip)
            payload = block.payload(lab.network.secret)
            private_tip = Link(private_tip.index + 1, block.hash, payload.time)
            private.append(block)
            private_work += expected_attempts(lab.honest_difficulty)
            finders.append("attacker")
        else:
            contract = mint if honest_count == 0 else _register(f"SH{honest_count:03d}", "Honest student")
            signer = ("alice", "carol")[honest_count % 2]
            block = lab.mine(signer, contract, parent=honest_tip)
            for peer in lab.peers:
                before = peer.chain.tip.hash
                peer.receive_block(block, now=lab.now)
                lab._save_if_changed(peer, before)
            honest_tip = lab.tip
            honest_count += 1
            finders.append("honest")
        honest_work = honest_tip.total_work - fork.total_work
        if honest_count >= 1 + confirmations and private_work > honest_work:
            break
    owner_before = _nft_owner(lab)
    honest_work = honest_tip.total_work - fork.total_work
    reorg = None
    if private_work > honest_work and honest_count >= 1 + confirmations:
        reorgs_before = len(lab.peers[0].reorgs)
        for peer in lab.peers:
            before = peer.chain.tip.hash
            peer.receive(private, now=lab.now)
            lab._save_if_changed(peer, before)
        reorgs = lab.peers[0].reorgs[reorgs_before:]
        reorg = reorgs[-1] if reorgs else None
    return RaceResult(share, confirmations, tuple(finders), honest_count, len(private), reorg is not None,
                      reorg, owner_before, _nft_owner(lab))


def _nft_owner(lab: Lab) -> str:
    nft = lab.peers[0].state["nfts"].get("NFT002")
    return lab.network.name_of(nft["owner"]) if nft else "nobody"


def nakamoto_probability(q: float, z: int) -> float:
    """The chance an attacker with hashpower share ``q`` ever catches up from ``z`` blocks behind.

    Nakamoto's formula (Bitcoin paper, section 11): the attacker's progress
    while the honest chain adds ``z`` blocks is taken as Poisson with mean
    z*q/p, and from ``k`` blocks behind he catches up with probability (q/p)^k.
    """
    _check_share(q, z)
    p = 1.0 - q
    if q >= p:
        return 1.0
    if q == 0.0:
        return 1.0 if z == 0 else 0.0
    lam = z * q / p
    total = 1.0
    for k in range(z + 1):
        poisson = math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) if lam else float(k == 0)
        total -= poisson * (1 - (q / p) ** (z - k))
    return max(total, 0.0)


def exact_probability(q: float, z: int) -> float:
    """The same chance without the Poisson approximation: the attacker's blocks are negative binomial.

    While the honest miners find ``z`` blocks the attacker finds ``k`` with
    probability C(k+z-1, k) p^z q^k (Rosenfeld 2014); from then on as above.
    """
    _check_share(q, z)
    p = 1.0 - q
    if q >= p or z == 0:
        return 1.0
    behind = sum(math.comb(k + z - 1, k) * p ** z * q ** k * (1 - (q / p) ** (z - k)) for k in range(z))
    return 1.0 - behind


def simulate_catch_up(q: float, z: int, *, trials: int = 2000, seed: int = 0, horizon: int = 400) -> float:
    """Estimate the same chance by playing the race ``trials`` times, block by block.

    Each block is the attacker's with probability ``q``. First the honest
    miners find ``z`` blocks; then the race goes on until the attacker has
    caught up or ``horizon`` more blocks have been found (a race that long
    is counted as lost: from far behind the attacker almost never returns).
    """
    import numpy as np

    _check_share(q, z)
    if z == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    attacker_blocks = rng.negative_binomial(z, 1.0 - q, size=trials)  # found while honest found z
    behind = z - attacker_blocks
    steps = np.where(rng.random((trials, horizon)) < q, -1, 1)
    lowest = behind[:, None] + np.minimum.accumulate(np.cumsum(steps, axis=1), axis=1)
    caught = (behind <= 0) | (lowest.min(axis=1) <= 0)
    return float(caught.mean())


def confirmations_needed(q: float, risk: float = 0.001, *, limit: int = 10_000) -> int | None:
    """The fewest confirmations that bring Nakamoto's probability below ``risk`` (None if none do)."""
    for z in range(limit + 1):
        if nakamoto_probability(q, z) < risk:
            return z
    return None


def confirmation_table(shares: Iterable[float] = (0.1, 0.2, 0.3, 0.4, 0.45),
                       confirmations: Iterable[int] = range(0, 11), *, trials: int = 2000,
                       seed: int = 0) -> "pd.DataFrame":
    """The attacker's chance of catching up, per hashpower share and confirmations: formula, exact, simulated."""
    import pandas as pd

    rows = []
    for q in shares:
        for z in confirmations:
            rows.append({"share": q, "confirmations": z, "nakamoto": nakamoto_probability(q, z),
                         "exact": exact_probability(q, z),
                         "simulated": simulate_catch_up(q, z, trials=trials, seed=seed)})
    return pd.DataFrame(rows, columns=["share", "confirmations", "nakamoto", "exact", "simulated"])


def plot_confirmations(frame: "pd.DataFrame", *, title: str | None = None) -> "Figure":
    """Nakamoto's formula (lines), the exact value (dashes) and the simulation (dots), a colour per share.

    Returns the Figure (closed in pyplot, so a notebook shows it once).
    """
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.2))
    plt.close(figure)
    for (q, group), color in zip(frame.groupby("share"), ("C0", "C1", "C2", "C3", "C4", "C5", "C6")):
        ax.plot(group["confirmations"], group["nakamoto"], color=color, label=f"attacker {q:.0%}")
        ax.plot(group["confirmations"], group["exact"], "--", color=color, alpha=0.7)
        ax.plot(group["confirmations"], group["simulated"], "o", color=color, markersize=4)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1.5)
    ax.set_xlabel("confirmations z (honest blocks after the payment)")
    ax.set_ylabel("chance the attacker catches up")
    ax.set_title(title or "Nakamoto's formula (lines), exact value (dashes), simulation (dots)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def _check_share(q: float, z: int) -> None:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"hashpower share must be between 0 and 1, not {q}")
    if isinstance(z, bool) or not isinstance(z, int) or z < 0:
        raise ValueError(f"confirmations must be a non-negative integer, not {z!r}")
