"""The battle's rounds: each a chain built to fool one mistake, made with the attack lab's own tools.

A round is built on the teacher's chain (the honest chain every node holds when the round
starts) by a :class:`~labkit.lessons.lab.Lab` holding that chain: the catalogue's attacks
(:mod:`labkit.lessons.attacks`) are run against a lab whose ``offer`` keeps what the
attacker would send instead of offering it (:func:`captured`); the rounds the catalogue
has no attack for (a forged MAC that meets the difficulty, a private branch hiding it, a
heavier branch, an NFT sold, spent twice) are a few lines of the lab's own ``mine``,
``branch``, ``template`` and ``miner``.

The tip a correct node ends on is never written down: :func:`correct_tip` asks a labkit
peer (``labkit.chain.judge``, with labkit's own ``transfer_nft`` in the VM, as the course
defines it) what it makes of the teacher's chain and the round's blocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from ..block import Block
from ..chain import Entry, Link, mine_block
from ..course.capstone import labkit_operations
from ..lessons import attacks
from ..lessons.data import DEMO_START, seed_contracts
from ..lessons.lab import HONEST_DIFFICULTY, Lab, mine_branch, registration
from ..network import Network
from ..peer import Peer
from ..pow import expected_attempts
from ..tokens import read_claims, split_token, utc_now
from ..wallet import Wallet

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PUPPETS", "Round", "ROUNDS", "BattleLab", "captured", "teacher_chain", "extend_teacher",
           "chain_file", "claimed_work", "correct_tip", "make_referee", "rounds_frame"]

PUPPETS = ("alice", "bob", "carol")  # the members whose keys the battle signs with (the lab's names)
FORGED_SECRET = b"a guess at the network's secret.."  # 32 bytes, not the network's


class BattleLab(Lab):
    """A lab on the teacher's chain whose ``offer`` keeps the blocks instead of offering them."""

    captured: list[Block] | None = None

    def offer(self, blocks) -> None:
        self.captured = [blocks] if isinstance(blocks, Block) else list(blocks)

    def offer_file(self, path) -> None:  # no round sends a malformed file: the nodes read whole chains
        raise NotImplementedError("the battle publishes chains, not files of broken lines")


def captured(attack: Callable[[Lab], object], lab: BattleLab) -> list[Block]:
    """The blocks a catalogue attack would offer the lab's peers."""
    lab.captured = None
    attack(lab)
    if lab.captured is None:
        raise RuntimeError(f"{attack.__name__} offered nothing")
    return lab.captured


def _link(block: Block, network: Network, index: int) -> Link:
    return Link(index, block.hash, read_claims(split_token(block.token)).time)


# --- the rounds ------------------------------------------------------------------------------


def forged_signature(lab: BattleLab) -> list[Block]:
    """bob's block on the tip, mined, signed by him, its HS256 signature (MAC) made with a guessed secret."""
    template = lab.template("bob", registration("S300", "Forged"))
    mined = lab.miner(template, FORGED_SECRET, lab.honest_difficulty)
    return [attacks.sign_record(mined.token, lab.wallets["bob"])]


def double_spend(lab: BattleLab) -> list[Block]:
    """alice sells NFT001 to bob and, in the same contract, to carol."""
    sell = [{"action": "transfer_nft", "nft": {"id": "NFT001", "to": lab.wallets[to].address}} for to in ("bob", "carol")]
    return [lab.mine("alice", {"actions": sell})]


def _difficulty_beating(work: int, blocks: int) -> int:
    """The fewest hex zeros at which ``blocks`` blocks declare more work than ``work``."""
    difficulty = HONEST_DIFFICULTY
    while blocks * expected_attempts(difficulty) <= work:
        difficulty += 1
    return difficulty


def private_branch(lab: BattleLab) -> list[Block]:
    """Three blocks from the tip's parent: more work than the tip, the first MACed with a guessed secret."""
    chain = lab.peers[0].chain
    fork = chain[len(chain) - 2]
    difficulty = _difficulty_beating(chain.tip.work, 3)
    template = lab.template("bob", registration("S301", "Hidden"), parent=fork, difficulty=difficulty)
    mined = lab.miner(template, FORGED_SECRET, difficulty)
    forged = attacks.sign_record(mined.token, lab.wallets["bob"])
    rest = lab.branch([("bob", registration(f"S30{i}", "Hidden")) for i in (2, 3)],
                      parent=_link(forged, lab.network, fork.index + 1), difficulty=difficulty)
    return [forged, *rest]


def heavier_branch(lab: BattleLab) -> list[Block]:
    """carol's one block from the tip's grandparent, with more work than the two it replaces: fewer blocks."""
    chain = lab.peers[0].chain
    fork = chain[len(chain) - 3]
    difficulty = _difficulty_beating(chain.tip.total_work - fork.total_work, 1)
    return [lab.mine("carol", registration("S310", "Heavy"), parent=fork, difficulty=difficulty)]


def sold(lab: BattleLab) -> list[Block]:
    """alice sells NFT001, which she owns, to bob: a valid transfer every correct node accepts."""
    return [lab.mine("alice", {"actions": [{"action": "transfer_nft",
                                            "nft": {"id": "NFT001", "to": lab.wallets["bob"].address}}]})]


def future(lab: BattleLab) -> list[Block]:
    lab.now = utc_now()  # the catalogue dates the block an hour after the lab's clock: the nodes' clock here
    return captured(attacks.future_timestamp, lab)


@dataclass(frozen=True)
class Round:
    """One round: the chain an adversary publishes, the mistake it tests, whose function makes that mistake."""

    name: str
    mistake: str  # what a node gets wrong if it ends anywhere but on the correct tip
    targets: str | None  # the learner's function it tests (None: a rule only labkit's code answers)
    build: Callable[[BattleLab], list[Block]]
    member: bool = True  # published under a member's node key (False: a stranger's)


ROUNDS: tuple[Round, ...] = (
    Round("forged signature", "accepts a block whose HS256 signature was made without the network's secret",
          "verify_hs256", forged_signature),
    Round("double spend", "runs a contract that sells one NFT twice", "transfer_nft", double_spend),
    Round("duplicate id", "runs a contract that registers student S001 again", None,
          lambda lab: captured(attacks.duplicate_id, lab)),
    Round("private branch", "adopts a branch with more work that hides a forged block", "verify_hs256",
          private_branch),
    Round("longer chain, less work", "takes the chain with more blocks for the one with more work", "fork_choice",
          lambda lab: captured(attacks.longer_chain_less_work, lab)),
    Round("heavier branch", "stays on its tip when a valid branch with more work (and fewer blocks) arrives",
          "fork_choice", heavier_branch),
    Round("NFT sold", "refuses a valid transfer of an NFT by its owner", "transfer_nft", sold),
    Round("lower difficulty", "accepts a block that declares less difficulty than the network's", "check_block",
          lambda lab: captured(attacks.lower_difficulty, lab)),
    Round("future timestamp", "accepts a block dated an hour ahead of its clock", None, future),
    Round("re-signed block", "accepts alice's block signed by bob as his own", None,
          lambda lab: captured(attacks.resign_as_member, lab)),
    Round("non-member", "follows a pointer, and a block, of someone who is not a member", None,
          lambda lab: captured(attacks.non_member, lab), member=False),
)


# --- the teacher's chain ------------------------------------------------------------------------


def teacher_chain(network: Network, wallets: dict[str, Wallet], *, miner=None) -> list[Block]:
    """The seed's four contracts (a student, a course, a vote, alice's NFT001), mined as the lab mines them."""
    signers = [wallets[name] for name in ("alice", "bob", "carol", "alice")]
    times = [DEMO_START + dt.timedelta(minutes=i) for i in range(len(signers))]
    return mine_branch(network.with_difficulty(HONEST_DIFFICULTY), zip(signers, seed_contracts(), times), miner=miner)


def claimed_work(blocks: Sequence[Block], network: Network) -> int:
    """The total work the blocks declare (16^difficulty each), whatever their proofs are worth."""
    total = 0
    for block in blocks:
        declared = read_claims(split_token(block.token)).difficulty
        total += expected_attempts(network.difficulty if declared is None else declared)
    return total


def extend_teacher(chain: list[Block], network: Network, wallets: dict[str, Wallet], *, longer_than: int,
                   more_work_than: int, tag: str, miner=None) -> list[Block]:
    """The teacher's chain with new blocks, until it has more blocks and more work than any chain seen."""
    blocks = list(chain)
    work = claimed_work(blocks, network)
    count = max(1, longer_than + 1 - len(blocks))
    difficulty = HONEST_DIFFICULTY
    while work + expected_attempts(difficulty) + (count - 1) * expected_attempts(HONEST_DIFFICULTY) <= more_work_than:
        difficulty += 1
    last = blocks[-1]
    claims = read_claims(split_token(last.token))
    parent: Entry | Link = Link(len(blocks) - 1, last.hash, claims.time)
    for i in range(count):
        signer = wallets[PUPPETS[(len(blocks)) % len(PUPPETS)]]
        when = claims.time + dt.timedelta(minutes=i + 1)
        block = mine_block(network.with_difficulty(difficulty if i == 0 else HONEST_DIFFICULTY), signer,
                           registration(f"T{tag}{i:02d}", f"teacher's block {tag}.{i}"), parent=parent,
                           timestamp=when, miner=miner)
        parent = Link(len(blocks), block.hash, when)
        blocks.append(block)
    return blocks


def chain_file(teacher: Sequence[Block], attack: Sequence[Block], network: Network) -> list[Block]:
    """The chain an adversary publishes: the teacher's blocks up to the attack's fork, then the attack's."""
    first = read_claims(split_token(attack[0].token)).prev_hash
    hashes = [b.hash for b in teacher]
    prefix = list(teacher[: hashes.index(first) + 1]) if first in hashes else []
    return prefix + list(attack)


def correct_tip(referee: Peer, blocks: Sequence[Block], *, now: dt.datetime | None = None) -> str:
    """The tip labkit's rules end on once ``referee`` (a labkit peer) has judged ``blocks``."""
    referee.receive(list(blocks), now=now or utc_now())
    return referee.chain.tip.hash


def make_referee(network: Network) -> Peer:
    """A labkit peer with labkit's own transfer_nft in its VM: the course's one verdict on every round."""
    return Peer("referee", network, operations=labkit_operations())


def rounds_frame(rounds: Sequence[Round] = ROUNDS) -> "pd.DataFrame":
    """One row per round: its name, the function of yours it tests, the mistake it is built to fool."""
    import pandas as pd

    return pd.DataFrame([{"round": r.name, "tests": r.targets or "labkit's rules", "fools a node that": r.mistake}
                         for r in rounds], columns=["round", "tests", "fools a node that"])
