"""Every exercise of the course, defined once: the one table the rest of the course machinery reads.

Each row names the function the learner writes (the name the check reports,
the name it is saved and graded under), its notebook, labkit's reference and
the generator of the cases it is checked on, its points, whether its passing
code is saved for the capstone, and what the capstone's verifier does with
it. Derived from this table, never kept beside it: ``saved.KEPT`` (the
functions saved for the capstone), ``capstone.PARTS`` (the verifier's parts),
the hint lookup of ``Exercises`` (the tiers are the text of
:mod:`labkit.course.hints`, under the same name), the table of
:mod:`labkit.course.saved`'s docstring and the README's exercise table.
``tests/test_layout.py`` fails when a notebook checks an exercise this table
lacks, or this table names one that no notebook checks.

References and case generators are written ``"module:function"`` (imported
when :meth:`Exercise.reference_function` or :meth:`Exercise.case_function`
asks), so reading the table imports nothing heavy. An exercise with a
reference but no generator is checked against labkit's answer on cases its
notebook builds from what the lesson just showed (block 100,000's
transactions, a room's made-up logs); one with neither, on the known answers
its cell writes out (``ex.check``).

Points, by difficulty:

- 1: one idea, a line or two (a hash, a comparison, a formula);
- 2: a loop or several steps that must all be right, most checked on generated cases;
- 3: an algorithm or a rule with edge cases that a few examples do not catch
  (extended Euclid, a block's three rules, bencode, the fork choice, Nakamoto's sum,
  the propagation log).
"""

from __future__ import annotations

import importlib
import textwrap
from dataclasses import dataclass
from typing import Callable

from .hints import tiers

__all__ = ["Exercise", "EXERCISES", "BY_NAME", "POINTS", "exercise", "in_notebook", "kept_list",
           "exercises_table"]

POINTS = {1: "one idea, a line or two", 2: "a loop or several steps", 3: "an algorithm or a rule with edge cases"}


@dataclass(frozen=True)
class Exercise:
    """One exercise: what the learner writes, where, how it is checked, and what it is worth."""

    name: str  # the learner's function, e.g. "mine_nonce": the check's, the saved file's and the grade's name
    notebook: str  # the notebook's file stem, e.g. "03-proof-of-work"
    points: int  # 1 to 3, by difficulty (POINTS)
    reference: str = ""  # labkit's answer, "module:function"; "" when the notebook gives the answers
    cases: str = ""  # the case generator, "module:function"; "" when the notebook writes its cases
    kept: bool = False  # its passing code is saved (labkit.course.saved) for the capstone
    capstone: str = ""  # what it does in the capstone's verifier; "" when the verifier does not use it
    signature: str = ""  # the saved function's signature and contract (kept exercises)

    @property
    def hints(self) -> tuple[str, ...]:
        """Its hint tiers, a nudge first (labkit.course.hints); () if it has none."""
        return tiers(self.name)

    @property
    def number(self) -> str:
        """The notebook's number, e.g. "03"."""
        return self.notebook[:2]

    def reference_function(self) -> Callable | None:
        return _resolve(self.reference)

    def case_function(self) -> Callable | None:
        return _resolve(self.cases)


def _resolve(where: str) -> Callable | None:
    if not where:
        return None
    module, _, name = where.partition(":")
    return getattr(importlib.import_module(module), name)


_CASES = "labkit.course.cases"
_CAPSTONE = "labkit.course.capstone"
_BATTLE = "labkit.battle.scoreboard"

# In course order: notebook by notebook, in the order each notebook checks them.
EXERCISES: tuple[Exercise, ...] = (
    Exercise("sha256_hex", "00-welcome", 1),
    Exercise("canonical_json", "00-welcome", 1),
    Exercise("hash_chain", "00-welcome", 2, f"{_CASES}:hash_chain_reference", f"{_CASES}:hash_chain_cases",
             kept=True, signature="``hash_chain(lines: list[str]) -> list[str]``: h0 = 64 zeros, "
             "h(i+1) = sha256_hex(h(i) + line(i)), one per line"),
    Exercise("modular_inverse", "01-wallets", 3, f"{_CASES}:modular_inverse_reference",
             f"{_CASES}:modular_inverse_cases", kept=True,
             signature="``modular_inverse(e: int, phi: int) -> int``: d with e * d = 1 modulo phi"),
    Exercise("textbook_verify", "01-wallets", 1),
    Exercise("break_key", "01-wallets", 2),
    Exercise("address", "01-wallets", 1),
    Exercise("b64url_encode", "02-jwt-blocks", 1),
    Exercise("hs256", "02-jwt-blocks", 1),
    Exercise("make_block", "02-jwt-blocks", 2),
    Exercise("verify_hs256", "02-jwt-blocks", 2, f"{_CASES}:verify_hs256_reference", f"{_CASES}:verify_hs256_cases",
             kept=True, capstone="checks each token's MAC (rule mac)",
             signature="``verify_hs256(token: str, secret: bytes) -> bool``: the token's HS256 MAC is right "
             "(False, never an error, for a token that does not split into three base64url parts)"),
    Exercise("leading_zeros", "03-proof-of-work", 1),
    Exercise("chance_within", "03-proof-of-work", 1),
    Exercise("difficulty_for", "03-proof-of-work", 1),
    Exercise("mine_nonce", "03-proof-of-work", 2, f"{_CASES}:mine_nonce_reference", f"{_CASES}:mine_nonce_cases",
             kept=True, capstone="re-mines blocks to repair a tampered chain",
             signature="``mine_nonce(template: tokens.Payload, secret: bytes, difficulty: int) -> int``: the "
             "first nonce from ``template.nonce`` up whose token's sha256 meets difficulty"),
    Exercise("is_valid_chain", "04-the-chain", 1),
    Exercise("broken_links", "04-the-chain", 2),
    Exercise("rewrite_attempts", "04-the-chain", 1),
    Exercise("check_block", "04-the-chain", 3, f"{_CASES}:check_block_reference", f"{_CASES}:check_block_cases",
             kept=True, capstone="checks index, link and proof of work (rules index, link, pow)",
             signature="``check_block(block: Block, parent: Entry | None, network: Network) -> str | None``: "
             'the first of the rules "index", "link", "pow" (in that order) the block breaks, None if it '
             "breaks none of them (other rules not asked)"),
    Exercise("bencode", "05-torrent-sharing", 3, f"{_CASES}:bencode_reference", f"{_CASES}:bencode_cases",
             kept=True, signature="``bencode(value: int | str | bytes | list | dict) -> bytes``: BEP 3's "
             "encoding, str as UTF-8, dict keys sorted as bytes; TypeError for anything else"),
    Exercise("piece_ok", "05-torrent-sharing", 1),
    Exercise("one_server_seconds", "05-torrent-sharing", 1),
    Exercise("student_contract", "06-contracts-and-the-vm", 1),
    Exercise("transfer_nft", "06-contracts-and-the-vm", 2, f"{_CASES}:transfer_nft_reference",
             f"{_CASES}:transfer_nft_cases", kept=True, capstone="runs transfer_nft contracts in the VM "
             "(rule contract)", signature="``transfer_nft(state: dict, instruction: dict, context: "
             'operations.Context) -> None``: a VM operation, changes ``state["nfts"]`` or raises ContractError'),
    Exercise("failing_action", "06-contracts-and-the-vm", 1),
    Exercise("verify_and_run", "07-peers-end-to-end", 2),
    Exercise("dissenters", "07-peers-end-to-end", 1),
    Exercise("fork_choice", "07-peers-end-to-end", 3, f"{_CASES}:fork_choice_reference", f"{_CASES}:fork_choice_cases",
             kept=True, capstone="picks the tip with the most work among branches",
             signature="``fork_choice(blocks: dict[str, tuple[str | None, int]]) -> str``: blocks maps a "
             "block's hash to (its parent's hash or None, its work); the tip with the most total work, "
             "a tie going to the smaller hash (labkit.forks.rank)"),
    Exercise("attacker_success", "08-attacks", 3, "labkit.lessons.race:nakamoto_probability",
             f"{_CASES}:attacker_success_cases", kept=True,
             signature="``attacker_success(q: float, z: int) -> float``: the chance an attacker with share q "
             "of the hash power ever catches up from z blocks behind (Nakamoto, section 11)"),
    Exercise("heaviest_branch", "08-attacks", 1),
    Exercise("fork_rate", "09-the-classroom-network", 2, f"{_CASES}:fork_rate_reference", f"{_CASES}:fork_rate_cases"),
    Exercise("propagation_seconds", "09-the-classroom-network", 3, f"{_CASES}:propagation_seconds_reference"),
    Exercise("merkle_root", "10-open-networks", 2, "labkit.merkle:merkle_root"),
    Exercise("root_from_proof", "10-open-networks", 2, f"{_CASES}:root_from_proof_reference"),
    Exercise("select_transactions", "10-open-networks", 2, "labkit.lessons.mempool:select_transactions"),
    Exercise("spend", "10-open-networks", 2, f"{_CASES}:spend_reference", f"{_CASES}:spend_cases"),
    Exercise("first_broken", "11-your-own-verifier", 1, f"{_CAPSTONE}:first_broken",
             f"{_CAPSTONE}:first_broken_cases"),
    Exercise("disagreements", "11-your-own-verifier", 1, f"{_CAPSTONE}:disagreements",
             f"{_CAPSTONE}:disagreements_cases"),
    Exercise("fooled_by", "12-defend-the-chain", 1, f"{_BATTLE}:fooled_by", f"{_BATTLE}:fooled_by_cases"),
    Exercise("to_fix", "12-defend-the-chain", 1, f"{_BATTLE}:to_fix", f"{_BATTLE}:to_fix_cases"),
)

BY_NAME: dict[str, Exercise] = {e.name: e for e in EXERCISES}


def exercise(name: str) -> Exercise | None:
    """The registry's row for ``name``, or None (an exercise a test or a notebook made up)."""
    return BY_NAME.get(name)


def in_notebook(notebook: str) -> tuple[Exercise, ...]:
    """The exercises of one notebook (its file stem, e.g. "03-proof-of-work"), in the order it checks them."""
    return tuple(e for e in EXERCISES if e.notebook == notebook)


def kept_list() -> str:
    """The list in labkit.course.saved's docstring: each kept exercise, its signature, labkit's answer."""
    items = [f"- {e.name} ({e.number}): {e.signature}; labkit's answer: ``{e.reference.replace(':', '.')}``"
             for e in EXERCISES if e.kept]
    return "\n".join(textwrap.fill(item, 100, subsequent_indent="  ", break_on_hyphens=False) for item in items)


def exercises_table() -> str:
    """The README's table: every exercise, its notebook, its points, how it is checked, whether it is kept."""
    lines = ["| notebook | exercise | points | checked on | saved for the capstone |", "| --- | --- | --- | --- | --- |"]
    for e in EXERCISES:
        checked = ("labkit's answer on generated cases" if e.cases else
                   "labkit's answer on cases the notebook builds" if e.reference else "answers written in the cell")
        used = f"yes: {e.capstone}" if e.capstone else ("yes" if e.kept else "")
        lines.append(f"| {e.number} | `{e.name}` | {e.points} | {checked} | {used} |")
    total = sum(e.points for e in EXERCISES)
    lines.append(f"| | {len(EXERCISES)} exercises | {total} | | |")
    return "\n".join(lines)
