"""Generated cases for the exercises with substance, and labkit's answers to compare with.

Each generator returns a list of argument tuples, the same on every run
(its own ``random.Random(seed)``), for ``Exercises.check_against``::

    ex.check_against("bencode", bencode, cases.bencode_reference, cases.bencode_cases())

The cases are many (50-200) and varied, so a function that passes has done
the job, not matched a few examples; and the expected answers are computed,
not written beside the stub. Where labkit already owns the answer the
reference calls it (``pow.mine``, ``tokens.check_mac``, ``chain.judge``,
``race.nakamoto_probability``, ``sharing.bencode.encode``); where the exercise is
the only place it is computed (the hash chain of 00, the NFT transfer of 06,
the fork choice over a bare tree of 07) the reference is written here, short
enough to read.
"""

from __future__ import annotations

import copy
import hashlib
import math
import random
import string
from dataclasses import dataclass
from typing import Any, Iterator

__all__ = [
    "tip_totals",
    "Case",
    "hash_chain_cases", "hash_chain_reference",
    "modular_inverse_cases", "modular_inverse_reference",
    "verify_hs256_cases", "verify_hs256_reference",
    "mine_nonce_cases", "mine_nonce_reference",
    "check_block_cases", "check_block_reference", "CHECK_BLOCK_RULES",
    "bencode_cases", "bencode_reference",
    "transfer_nft_cases", "transfer_nft_reference", "state_after",
    "fork_choice_cases", "fork_choice_reference",
    "attacker_success_cases", "close",
    "fork_rate_cases", "fork_rate_reference", "propagation_seconds_reference",
    "root_from_proof_reference", "spend_cases", "spend_reference",
]

@dataclass(frozen=True)
class Case:
    """A case whose arguments are long (blocks, templates): the feedback shows its label instead.

    It unpacks like the tuple of its arguments: ``check_block(*case)``.
    """

    args: tuple
    label: str  # e.g. "case 17 of 60: a block declaring index 3, ..."

    def __iter__(self) -> Iterator[Any]:
        return iter(self.args)

    def __len__(self) -> int:
        return len(self.args)


def _numbered(found: list[tuple], describe: Any) -> list[Case]:
    return [Case(args, f"case {i} of {len(found)} (cases.{describe.__name__.removeprefix('_label_')}_cases()[{i}]): "
                       f"{describe(*args)}") for i, args in enumerate(found)]
_TEXT = string.ascii_letters + string.digits + " .,:-_{}\"'é€🙂"


def _text(rng: random.Random, longest: int = 12) -> str:
    return "".join(rng.choice(_TEXT) for _ in range(rng.randint(0, longest)))


# --- 00: a hash chain of strings ----------------------------------------------


def hash_chain_reference(lines: list[str]) -> list[str]:
    """h0 = 64 zeros; each next hash is sha256 hex of the previous hash followed by the line (UTF-8)."""
    from ..tokens import GENESIS_HASH

    hashes, previous = [], GENESIS_HASH
    for line in lines:
        previous = hashlib.sha256((previous + line).encode("utf-8")).hexdigest()
        hashes.append(previous)
    return hashes


def hash_chain_cases(count: int = 100, seed: int = 0) -> list[tuple]:
    rng = random.Random(seed)
    return [([],)] + [([_text(rng) for _ in range(rng.randint(1, 6))],) for _ in range(count - 1)]


# --- 01: the modular inverse ---------------------------------------------------


def modular_inverse_reference(e: int, phi: int) -> int:
    return pow(e, -1, phi)


def modular_inverse_cases(count: int = 150, seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)
    found: list[tuple] = [(17, 3120), (65537, 3120)]
    while len(found) < count:
        phi = rng.choice([rng.randint(3, 100), rng.randint(100, 10**6), rng.randint(10**6, 10**30)])
        e = rng.randint(2, phi - 1)
        if math.gcd(e, phi) == 1:
            found.append((e, phi))
    return found


# --- 02: checking an HS256 MAC by hand ------------------------------------------


def verify_hs256_reference(token: str, secret: bytes) -> bool:
    """labkit's own MAC check (tokens.check_mac after split_token): True unless it raises InvalidToken."""
    from ..errors import InvalidToken
    from ..tokens import check_mac, split_token

    try:
        check_mac(split_token(token), secret)
    except InvalidToken:
        return False
    return True


def _tamper(rng: random.Random, token: str, part: int) -> str:
    parts = token.split(".")
    text = parts[part]
    at = rng.randrange(len(text)) if text else 0
    alphabet = string.ascii_letters + string.digits + "-_"
    new = rng.choice([c for c in alphabet if c != text[at:at + 1]])
    parts[part] = text[:at] + new + text[at + 1:]
    return ".".join(parts)


def verify_hs256_cases(count: int = 80, seed: int = 2) -> list[tuple]:
    from ..tokens import Payload, encode_token

    rng = random.Random(seed)
    found: list[tuple] = []
    for i in range(count):
        secret = rng.randbytes(rng.choice([32, 48, 64]))
        payload = Payload(prev_hash=rng.randbytes(32).hex(), timestamp="2024-11-23T12:00:00+00:00",
                          transaction_data={"note": _text(rng)}, nonce=rng.randrange(10**6), index=i)
        token = encode_token(payload, secret)
        kind = i % 6
        if kind == 1:
            token = _tamper(rng, token, 1)  # a changed claim
        elif kind == 2:
            token = _tamper(rng, token, 2)  # a changed MAC
        elif kind == 3:
            secret = rng.randbytes(len(secret))  # another network's secret
        elif kind == 4:
            token = rng.choice([token.rsplit(".", 1)[0], token + ".x", ""])  # not three parts
        found.append((token, secret))
    return found


# --- 03: the miner's loop -------------------------------------------------------


def mine_nonce_reference(template: Any, secret: bytes, difficulty: int) -> int:
    from ..pow import mine

    return mine(template, secret, difficulty).nonce


def _label_mine_nonce(template: Any, secret: bytes, difficulty: int) -> str:
    return (f"a template with nonce {template.nonce} and index {template.index}, a {len(secret)}-byte secret, "
            f"difficulty {difficulty}")


def mine_nonce_cases(count: int = 40, seed: int = 3) -> list[Case]:
    from ..tokens import Payload

    rng = random.Random(seed)
    return _numbered([(Payload(prev_hash=rng.randbytes(32).hex(), timestamp="2024-11-23T12:00:00+00:00",
                     transaction_data={"actions": [], "note": _text(rng)}, nonce=rng.randrange(1000), index=i,
                     difficulty=difficulty),
             rng.randbytes(32), difficulty)
            for i, difficulty in enumerate(rng.choice([0, 1, 1, 2, 2, 2]) for _ in range(count))], _label_mine_nonce)


# --- 04: a block's place in the chain -----------------------------------------------

CHECK_BLOCK_RULES = ("index", "link", "pow")  # in the order labkit.rules asks them


def check_block_reference(block: Any, parent: Any, network: Any) -> str | None:
    """The rule labkit's judge refuses the block for, if it is one of CHECK_BLOCK_RULES, else None."""
    from ..chain import judge

    rule = judge(block, network, parent).rule
    return rule if rule in CHECK_BLOCK_RULES else None


def _label_check_block(block: Any, parent: Any, network: Any) -> str:
    claims = block.payload(network.secret)
    after = "no parent (a first block)" if parent is None else f"parent block {parent.index} (hash {parent.hash[:10]}…)"
    return (f"a block declaring index {claims.index}, prev_hash {claims.prev_hash[:10]}…, difficulty "
            f"{claims.difficulty}, its hash {block.hash[:10]}…; {after}; network difficulty {network.difficulty}")


def check_block_cases(count: int = 60, seed: int = 4) -> list[Case]:
    """Blocks signed and MACed right, with their parent or another, a wrong index or link, or too little work."""
    from ..block import Block
    from ..chain import Chain, mine_block
    from ..pow import meets_difficulty, token_hash
    from ..tokens import GENESIS_HASH, Payload, encode_token, format_timestamp
    from ..lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts

    rng = random.Random(seed)
    wallets = demo_wallets()
    network = demo_network(difficulty=1)
    times = demo_timestamps(6)
    chain = Chain(network)
    for i, contract in enumerate(seed_contracts()):
        chain.append(mine_block(network, wallets[i % 3], contract, parent=chain.tip, timestamp=times[i]))
    entries = list(chain.entries)

    def made(parent_hash: str, index: int, difficulty: int | None, weak: bool, signer: Any) -> Block:
        template = Payload(prev_hash=parent_hash, timestamp=format_timestamp(times[5]),
                           transaction_data={"actions": []}, index=index, difficulty=difficulty,
                           signer=signer.address)
        need = network.difficulty if difficulty is None else max(difficulty, network.difficulty)
        for nonce in range(10**6):  # the first nonce that meets (or, if weak, misses) what is needed
            token = encode_token(template.with_nonce(nonce), network.secret)
            if meets_difficulty(token_hash(token), need) != weak:
                return Block.create(token, signer)
        raise AssertionError("no nonce found")  # 16**2 tries suffice; a million never fail

    found: list[tuple] = [(entries[0].block, None, network)]
    found += [(e.block, p, network) for p, e in zip(entries, entries[1:])]
    while len(found) < count:
        parent = rng.choice([None, *entries])
        index = 0 if parent is None else parent.index + 1
        parent_hash = GENESIS_HASH if parent is None else parent.hash
        signer = rng.choice(wallets)
        kind = rng.randrange(6)
        if kind == 0:  # another block taken as the parent
            found.append((rng.choice(entries).block, parent, network))
        elif kind == 1:
            found.append((made(parent_hash, index + rng.choice([-1, 1, 2]), None, False, signer), parent, network))
        elif kind == 2:
            found.append((made(rng.randbytes(32).hex(), index, None, False, signer), parent, network))
        elif kind == 3:
            found.append((made(parent_hash, index, rng.choice([None, 1, 2]), True, signer), parent, network))
        elif kind == 4:  # declaring less work than the network asks, or perhaps too little
            found.append((made(parent_hash, index, rng.choice([None, 1]), False, signer), parent,
                          network.with_difficulty(2)))
        else:  # right
            found.append((made(parent_hash, index, rng.choice([None, 1, 2]), False, signer), parent, network))
    return _numbered(found, _label_check_block)


# --- 05: bencode ---------------------------------------------------------------------


def bencode_reference(value: Any) -> bytes:
    """labkit's bencoder (labkit.sharing.bencode; str is encoded as UTF-8, as BitTorrent strings are bytes)."""
    from ..sharing.bencode import encode

    if isinstance(value, bool) or not isinstance(value, (int, str, bytes, list, dict)):
        raise TypeError(f"bencode has no {type(value).__name__}")
    return encode(value)


def _bvalue(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(6 if depth < 3 else 3)
    if kind == 0:
        return rng.choice([0, -1, 7, rng.randint(-10**12, 10**12), rng.randint(-2**62, 2**62)])
    if kind == 1:
        return _text(rng)
    if kind == 2:
        return rng.randbytes(rng.randint(0, 8))
    if kind in (3, 4):
        return [_bvalue(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    return {_text(rng, 6): _bvalue(rng, depth + 1) for _ in range(rng.randint(0, 4))}


def bencode_cases(count: int = 150, seed: int = 5) -> list[tuple]:
    rng = random.Random(seed)
    return [(_bvalue(rng, 0),) for _ in range(count - 2)] + [(True,), (1.5,)]


# --- 06: a VM operation ------------------------------------------------------------------


def transfer_nft_reference(state: dict, instruction: dict, context: Any) -> None:
    """Move an NFT to a new owner: only its owner (the block's signer) may; a new record, not an edit."""
    from ..errors import ContractError

    nft = instruction.get("nft")
    if not isinstance(nft, dict) or "id" not in nft or "to" not in nft:
        raise ContractError("transfer_nft needs an 'nft' object with 'id' and 'to'")
    current = state["nfts"].get(nft["id"])
    if current is None:
        raise ContractError(f"NFT {nft['id']!r} does not exist")
    if current["owner"] != context.signer:
        raise ContractError(f"only the owner may transfer NFT {nft['id']!r}")
    state["nfts"][nft["id"]] = {**current, "owner": nft["to"]}


def state_after(operation: Any, state: dict, instruction: dict, context: Any) -> dict:
    """Run ``operation`` on a copy of ``state`` and return the copy (the case's own state is never changed)."""
    state = copy.deepcopy(state)
    operation(state, copy.deepcopy(instruction), context)
    return state


def transfer_nft_cases(count: int = 80, seed: int = 6) -> list[tuple]:
    from ..operations import Context, empty_state

    rng = random.Random(seed)
    people = [hashlib.sha256(name.encode()).hexdigest() for name in ("alice", "bob", "carol")]
    found = []
    for _ in range(count):
        state = empty_state()
        for n in range(rng.randint(0, 3)):
            state["nfts"][f"NFT{n:03d}"] = {"id": f"NFT{n:03d}", "name": _text(rng, 8), "owner": rng.choice(people),
                                             "metadata": {}}
        nft = {"id": f"NFT{rng.randint(0, 3):03d}", "to": rng.choice(people)}
        kind = rng.randrange(6)
        if kind == 0:
            instruction = {"action": "transfer_nft"}
        elif kind == 1:
            instruction = {"action": "transfer_nft", "nft": rng.choice(["NFT000", [nft], {"id": nft["id"]},
                                                                        {"to": nft["to"]}])}
        else:
            instruction = {"action": "transfer_nft", "nft": nft}
        signer = rng.choice(people)
        if kind >= 3 and state["nfts"]:  # an NFT that exists, most often moved by its owner
            nft["id"] = rng.choice(sorted(state["nfts"]))
            signer = state["nfts"][nft["id"]]["owner"] if kind >= 4 else signer
        found.append((state, instruction, Context(signer=signer, index=rng.randint(1, 9))))
    return found


# --- 07: the fork choice over a block tree --------------------------------------------------


def tip_totals(blocks: dict[str, tuple[str | None, int]]) -> dict[str, int]:
    """Each tip of a block tree given as ``{hash: (parent hash or None, work)}``, with its total work."""
    totals: dict[str, int] = {}

    def total(block_hash: str) -> int:
        if block_hash not in totals:
            parent, work = blocks[block_hash]
            totals[block_hash] = work + (total(parent) if parent is not None else 0)
        return totals[block_hash]

    parents = {parent for parent, _ in blocks.values()}
    return {h: total(h) for h in blocks if h not in parents}


def fork_choice_reference(blocks: dict[str, tuple[str | None, int]]) -> str:
    """The tip with the most total work, a tie to the smaller hash: labkit.forks.rank, as the block tree decides."""
    from ..forks import rank

    totals = tip_totals(blocks)
    return min(totals, key=lambda h: rank(totals[h], h))


def fork_choice_cases(count: int = 120, seed: int = 7) -> list[tuple]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        blocks: dict[str, tuple[str | None, int]] = {}
        for _ in range(rng.randint(1, 12)):
            block_hash = rng.randbytes(4).hex()
            parent = None if not blocks or rng.random() < 0.05 else rng.choice(list(blocks))
            blocks[block_hash] = (parent, 16 ** rng.choice([1, 1, 1, 2]))
        found.append((dict(rng.sample(sorted(blocks.items()), len(blocks))),))  # in no particular order
    return found


# --- 08: the attacker's chance ------------------------------------------------------------------


def attacker_success_cases(count: int = 120, seed: int = 8) -> list[tuple]:
    rng = random.Random(seed)
    return [(0.1, 0), (0.5, 3), (0.6, 3)] + [(round(rng.uniform(0.01, 0.55), 3), rng.randint(0, 40))
                                              for _ in range(count - 3)]


def close(got: Any, expected: float) -> bool:
    """Equal to about nine digits (floating point sums in another order differ in the last ones)."""
    return isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12)


# --- 09: the fork rate, and propagation from a room's log ---------------------------------------


def fork_rate_reference(interval: float, delays: list[float], nodes: int) -> float:
    """labkit's formula (lessons.forkrate.expected_fork_rate), with ``nodes`` passed as the exercise passes it."""
    from ..lessons.forkrate import expected_fork_rate

    return expected_fork_rate(interval, delays, nodes=nodes)


def fork_rate_cases(count: int = 150, seed: int = 9) -> list[tuple]:
    """(interval, delays, nodes): a block every 1 s to 10 min, one to eight log-normal delays, 2 to 30 miners."""
    rng = random.Random(seed)

    def some_delays() -> list[float]:
        return [round(rng.lognormvariate(0, 1), 3) for _ in range(rng.randint(1, 8))]  # seconds

    return [(rng.choice([1, 2, 5, 10, 60, 600]), some_delays(), rng.randint(2, 30)) for _ in range(count)]


def propagation_seconds_reference(events: list[dict], nodes: list[str]) -> list[float]:
    """labkit's measurement (node.measure.propagation): per canonical block, the last other node's delay."""
    from ..node.measure import propagation

    return list(propagation(events, nodes).seconds)


# --- 10: a Merkle proof, and the double spend -------------------------------------------------------


def root_from_proof_reference(leaf: bytes, index: int, siblings: list[bytes]) -> bytes:
    """The root labkit's InclusionProof leads to."""
    from ..merkle import InclusionProof

    return InclusionProof(leaf, index, tuple(siblings)).root()


SPEND_ACCOUNTS = ("ana", "ben", "cy", "dee", "eve")


def spend_reference(balances: dict[str, int], sender: str, to: str, amount: int) -> dict[str, int]:
    """labkit's transfer operation on a state holding ``balances``: the balances after it, or ContractError."""
    from ..operations import OPERATIONS, Context

    state = {"students": {a: {"id": a} for a in SPEND_ACCOUNTS},
             "balances": {a: {"account": a, "balance": n} for a, n in balances.items()}}
    instruction = {"action": "transfer", "transfer": {"to": to, "amount": amount}}
    OPERATIONS["transfer"](state, instruction, Context(sender))
    return {account: record["balance"] for account, record in state["balances"].items()}


def spend_cases(count: int = 100, seed: int = 4) -> list[tuple]:
    """(balances, sender, to, amount): most senders hold tokens, some too few, some none at all."""
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        ledger = {a: rng.randint(0, 100) for a in rng.sample(SPEND_ACCOUNTS, rng.randint(0, 4))}
        sender = rng.choice(list(ledger)) if ledger and rng.random() < 0.8 else rng.choice(SPEND_ACCOUNTS)
        found.append((ledger, sender, rng.choice([a for a in SPEND_ACCOUNTS if a != sender]), rng.randint(1, 100)))
    return found
