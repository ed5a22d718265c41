"""Seed compatibility, both ways.

The code below that plays the seed is written afresh for these tests, in the
seed's manner (a 512-bit ``rsa.newkeys`` key, a short string secret, naive
ISO timestamps, pyjwt's ``encode``/``decode`` and a dict-based VM); it is not
the seed's code and not labkit's.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import jwt
import pytest
import rsa

from labkit.__main__ import main
from labkit.blocksfile import save_blocks
from labkit.errors import ConfigError, InvalidKey
from labkit.network import Member, Network
from labkit.peer import Peer
from labkit.wallet import load_public_key
from makers import NOW

SEED_SECRET = "your-secret-key"
SEED_DIFFICULTY = 2


# --- the seed's way of doing things, rewritten for the tests ------------------------------------------


def seed_mine(prev_hash: str, timestamp: str, contract: dict) -> tuple[str, str]:
    """Re-encode the JWT for every nonce until sha256(token) starts with enough zeros."""
    nonce = 0
    while True:
        claims = {"prev_hash": prev_hash, "timestamp": timestamp, "transaction_data": contract, "nonce": nonce}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyjwt warns that the seed's secret is short
            token = jwt.encode(claims, SEED_SECRET, algorithm="HS256")
        digest = hashlib.sha256(token.encode()).hexdigest()
        if digest[:SEED_DIFFICULTY] == "0" * SEED_DIFFICULTY:
            return token, digest
        nonce += 1


def seed_write_blocks(path, contracts: list[dict], private_key: rsa.PrivateKey) -> None:
    """The seed's records: only token and hex signature, one JSON line each."""
    prev_hash = "0" * 64
    records = []
    for i, contract in enumerate(contracts):
        timestamp = f"2024-11-23T12:{i:02d}:00.{123456 + i}"  # as datetime.utcnow().isoformat() writes them
        token, prev_hash = seed_mine(prev_hash, timestamp, contract)
        signature = rsa.sign(token.encode(), private_key, "SHA-256")
        records.append({"token": token, "signature": signature.hex()})
    with open(path, "w") as f:
        for record in records:
            f.write(f"{json.dumps(record)}\n")


class SeedVM:
    """The seed's VM: a dict of tables, operations registered by name."""

    def __init__(self):
        self.state = {"students": {}, "courses": {}, "proposals": {}, "nfts": {}}
        self.operations = {}

    def register_operation(self, name, function):
        self.operations[name] = function

    def execute_smart_contract(self, actions):
        for instruction in actions:
            self.operations[instruction["action"]](self, instruction)


def _seed_vm() -> SeedVM:
    vm = SeedVM()

    def store(table, key):
        return lambda vm, instruction: vm.state[table].__setitem__(instruction[key]["id"], instruction[key])

    def vote(vm, instruction):
        proposal = dict(instruction["proposal"])
        current = vm.state["proposals"].setdefault(proposal["id"], {**proposal, "votes": 0})
        current["votes"] += 1

    vm.register_operation("register_student", store("students", "student"))
    vm.register_operation("add_course", store("courses", "course"))
    vm.register_operation("vote_proposal", vote)
    vm.register_operation("generate_nft", store("nfts", "nft"))
    return vm


def seed_verify_and_execute(path, author_keys: dict, secret) -> SeedVM:
    """The seed's peer loop, with the author's key instead of the peer's own."""
    vm = _seed_vm()
    with open(path) as f:
        blocks = [json.loads(line.strip()) for line in f]
    for block in blocks:
        token = block["token"]
        signature = bytes.fromhex(block["signature"])
        rsa.verify(token.encode(), signature, author_keys[block["signer"]])  # raises VerificationError
        payload = jwt.decode(token, secret, algorithms=["HS256"])
        # The seed looked for payload["transaction_data"]["contract"], a key its own
        # writer never put there, so it executed nothing; the contract *is* transaction_data.
        vm.execute_smart_contract(payload["transaction_data"]["actions"])
    return vm


def _any_wallet():
    """A peer's own wallet: it plays no part in what the peer accepts."""
    from labkit.lessons.data import demo_wallets

    return demo_wallets()[1]


# --- (a) a file the seed wrote, read by labkit --------------------------------------------------------


@pytest.fixture(scope="module")
def seed_key():
    public, private = rsa.newkeys(512)
    return public, private


@pytest.fixture
def seed_file(tmp_path, seed_key, contracts):
    path = tmp_path / "blocks.txt"
    seed_write_blocks(path, contracts, seed_key[1])
    return path


@pytest.fixture
def seed_network(seed_key):
    return Network.for_seed_file(Member("seed", seed_key[0]), SEED_SECRET.encode(), SEED_DIFFICULTY)


def test_seed_records_have_no_labkit_fields(seed_file):
    for line in seed_file.read_text().splitlines():
        record = json.loads(line)
        assert set(record) == {"token", "signature"}
        claims = jwt.decode(record["token"], options={"verify_signature": False})
        assert set(claims) == {"prev_hash", "timestamp", "transaction_data", "nonce"}


def test_labkit_verifies_and_executes_a_seed_file(seed_file, seed_network, seed_key):
    before = seed_file.read_bytes()
    peer = Peer("reader", seed_network)
    reports = peer.receive(seed_file, now=NOW)
    assert [(r.index, r.accepted) for r in reports] == [(0, True), (1, True), (2, True), (3, True)]
    author = seed_network.members[0].address
    state = peer.state
    assert state["students"]["S001"]["name"] == "John Doe"
    assert state["courses"]["C001"]["name"] == "Blockchain Technology"
    assert state["proposals"]["P001"]["votes"] == 1 and state["proposals"]["P001"]["voters"] == [author]
    assert state["nfts"]["NFT001"]["owner"] == author
    assert peer.chain[0].payload.time.tzinfo is not None  # the naive timestamp was read as UTC
    assert seed_file.read_bytes() == before


def test_seed_file_through_the_command_line(seed_file, seed_key, tmp_path, capsys):
    key_file = tmp_path / "seed_public.pem"
    key_file.write_bytes(seed_key[0].save_pkcs1())
    seed_args = ["--signer-key", str(key_file), "--difficulty", str(SEED_DIFFICULTY)]
    assert main(["verify", str(seed_file), "--seed-secret", SEED_SECRET, *seed_args]) == 0
    assert "4 accepted, 0 rejected" in capsys.readouterr().out
    assert main(["verify", str(seed_file), "--seed-secret", "another-secret", *seed_args]) == 1
    assert "REJECTED [mac]" in capsys.readouterr().out


def test_seed_file_with_the_wrong_signer_key(seed_file, seed_network):
    other_public, _ = rsa.newkeys(512)
    network = Network.for_seed_file(Member("other", other_public), SEED_SECRET.encode(), SEED_DIFFICULTY)
    reports = Peer("reader", network).receive(seed_file, now=NOW)
    assert (reports[0].accepted, reports[0].rule) == (False, "signature")


def test_seed_file_tampered_is_refused(seed_file, seed_network):
    lines = seed_file.read_text().splitlines()
    record = json.loads(lines[1])
    record["token"] = seed_mine("0" * 64, "2024-11-23T12:01:00", {"actions": []})[0]  # re-mined, not re-signed
    lines[1] = json.dumps(record)
    seed_file.write_text("\n".join(lines) + "\n")
    reports = Peer("reader", seed_network).receive(seed_file, now=NOW)
    assert [r.accepted for r in reports] == [True, False, False, False]
    assert reports[1].rule == "signature"


def test_the_seeds_weak_choices_are_refused_outside_a_lesson(seed_key):
    with pytest.raises(ConfigError, match="at least 32 bytes"):
        Network("seed", SEED_SECRET.encode(), SEED_DIFFICULTY, (Member("seed", seed_key[0]),))
    with pytest.raises(InvalidKey, match="512-bit key refused"):
        load_public_key(seed_key[0].save_pkcs1())


# --- (b) a file labkit wrote, read by the seed's loop ---------------------------------------------------


@pytest.fixture
def labkit_file(tmp_path, small_blocks):
    return save_blocks(tmp_path / "blocks.jsonl", small_blocks)


def test_seed_loop_reads_a_labkit_file(labkit_file, wallets, net1, small_chain):
    author_keys = {w.address: w.public_key for w in wallets}
    seed_vm = seed_verify_and_execute(labkit_file, author_keys, net1.secret)
    peer = Peer("alice", net1, wallet=wallets[0])
    assert all(r.accepted for r in peer.receive(labkit_file, now=NOW))
    labkit_state = peer.state
    assert seed_vm.state["students"] == labkit_state["students"]
    assert seed_vm.state["courses"] == labkit_state["courses"]
    assert {k: p["votes"] for k, p in seed_vm.state["proposals"].items()} == \
           {k: p["votes"] for k, p in labkit_state["proposals"].items()}
    assert {k: (n["name"], n["metadata"]) for k, n in seed_vm.state["nfts"].items()} == \
           {k: (n["name"], n["metadata"]) for k, n in labkit_state["nfts"].items()}


def test_seed_loop_decodes_labkit_claims(labkit_file, net1, small_chain):
    for line, entry in zip(labkit_file.read_text().splitlines(), small_chain):
        claims = jwt.decode(json.loads(line)["token"], net1.secret, algorithms=["HS256"])
        assert claims == entry.payload.to_claims()


def test_the_seeds_own_key_bug(labkit_file, wallets):
    # The seed checked every block with the *peer's own* key, so only the
    # author's peer could accept a block: bob's key refuses alice's block.
    first = json.loads(labkit_file.read_text().splitlines()[0])
    with pytest.raises(rsa.VerificationError):
        rsa.verify(first["token"].encode(), bytes.fromhex(first["signature"]), wallets[1].public_key)
    assert rsa.verify(first["token"].encode(), bytes.fromhex(first["signature"]), wallets[0].public_key) == "SHA-256"


def test_seed_loop_refuses_a_tampered_labkit_file(labkit_file, wallets, net1):
    lines = labkit_file.read_text().splitlines()
    record = json.loads(lines[2])
    record["signature"] = json.loads(lines[1])["signature"]
    lines[2] = json.dumps(record)
    labkit_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(rsa.VerificationError):
        seed_verify_and_execute(labkit_file, {w.address: w.public_key for w in wallets}, net1.secret)
