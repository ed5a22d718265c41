"""The capstone (notebook 11): the learner's own functions, assembled into a verifier, judged against labkit's.

Each function exercise of notebooks 00-08 that passed its check was saved
(:mod:`labkit.course.saved`). ``assemble()`` loads the ones the verifier
uses and, where the learner has not passed one yet (or its saved file does
not run), takes labkit's reference instead and says so:

- ``verify_hs256`` (02) answers the ``mac`` rule;
- ``check_block`` (04) answers ``index``, ``link`` and ``pow``;
- ``transfer_nft`` (06) runs inside labkit's VM, beside the seed's operations;
- ``mine_nonce`` (03) re-mines a tampered chain (:func:`remine`);
- ``fork_choice`` (07) picks the tip of a block tree with competing branches.

``verify_chain`` walks a blocks file as ``labkit.chain.validate_blocks``
does, asking the rules in labkit's order: the learner's functions for the
rules they cover, labkit's rules (``judge``) for the others (the signature,
the member, the timestamp, the contract...). ``compare_frame`` puts each
block's verdict beside labkit's own (``validate_blocks``, which never calls
the learner's code) with ✓ where they agree.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..block import Block
from ..chain import CHECKS, Entry, Link, Outcome, judge, mine_block, validate_blocks
from ..errors import ContractError, SavedCodeError
from ..network import Network
from ..operations import OPERATIONS
from ..pow import MiningResult, token_hash
from ..tokens import encode_token
from ..wallet import Wallet
from . import cases, saved
from .registry import EXERCISES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..forks import BlockTree

__all__ = ["PARTS", "COVERED", "Part", "Decision", "assemble", "ask", "decide", "part_miner", "parts_frame",
           "operations_with", "labkit_operations", "verify_chain",
           "labkit_verdicts", "compare_frame", "remine", "fork_choice_input", "fork_frame", "first_broken",
           "first_broken_cases", "disagreements", "disagreements_cases"]

# name: (notebook, what it does in the verifier, labkit's reference): the registry's capstone rows.
PARTS: dict[str, tuple[str, str, Callable]] = {e.name: (e.number, e.capstone, e.reference_function())
                                               for e in EXERCISES if e.capstone}
COVERED = {"mac": "verify_hs256", "index": "check_block", "link": "check_block", "pow": "check_block"}
YOURS, LABKITS = "yours", "labkit's"


@dataclass(frozen=True)
class Part:
    """One function of the verifier: the learner's own, or labkit's reference standing in for it."""

    name: str
    notebook: str
    role: str
    function: Callable
    whose: str  # "yours" or "labkit's"
    note: str = ""  # why labkit's stands in

    @property
    def label(self) -> str:
        return f"{self.whose} {self.name}"


def assemble(loader: Callable[[str], Callable | None] = saved.load) -> dict[str, Part]:
    """The verifier's parts: each saved function of the learner, else labkit's reference (with the reason)."""
    parts = {}
    for name, (notebook, role, reference) in PARTS.items():
        try:
            function, note = loader(name), f"not passed yet in notebook {notebook}"
        except SavedCodeError as exc:
            function, note = None, f"the saved file does not load ({exc.reason})"
        if function is None:
            parts[name] = Part(name, notebook, role, reference, LABKITS, note)
        else:
            parts[name] = Part(name, notebook, role, function, YOURS)
    return parts


def parts_frame(parts: dict[str, Part]) -> "pd.DataFrame":
    """One row per part: the function, its notebook, what it does here, whose it is."""
    import pandas as pd

    return pd.DataFrame([{"function": p.name, "notebook": p.notebook, "in the verifier": p.role, "whose": p.whose,
                          "note": p.note} for p in parts.values()])


def operations_with(parts: dict[str, Part]) -> dict[str, Callable]:
    """labkit's operations with the verifier's transfer_nft added to the dispatch table.

    The VM refuses a contract whose operation raises ContractError; anything
    else the learner's operation raises is turned into one that names it, so
    the contract is refused with the reason instead of the verifier crashing.
    """
    part = parts["transfer_nft"]

    def transfer_nft(state, instruction, context) -> None:
        try:
            part.function(state, instruction, context)
        except (ContractError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # the learner's code may raise anything, SystemExit too
            raise ContractError(f"{part.label} raised {type(exc).__name__}: {exc}") from exc

    return {**OPERATIONS, "transfer_nft": transfer_nft}


# --- the verifier -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """The learner's verifier on one block: the first rule it breaks (None: accepted) and who decided."""

    index: int  # position in the blocks file
    rule: str | None
    by: str  # "yours check_block", "labkit's rule signature", ...
    detail: str = ""

    @property
    def accepted(self) -> bool:
        return self.rule is None


def ask(part: Part, *args: Any) -> tuple[Any, str]:
    """(what the learner's function returned, "") or (None, what it raised)."""
    try:
        return part.function(*args), ""
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the learner's code may raise anything, sys.exit() too: reported, not crashed on
        return None, f"{part.label} raised {type(exc).__name__}: {exc}"


def decide(block: Block, parent: Entry | Link | None, network: Network, parts: dict[str, Part],
            outcomes: dict[str, Any], index: int) -> Decision:
    """The first rule broken, in labkit's order; the learner's parts answer the rules they cover."""
    answered: dict[str, Any] = {}
    for rule in CHECKS:
        owner = COVERED.get(rule)
        if owner is None:
            outcome = outcomes.get(rule)
            if outcome is not None and outcome.outcome is Outcome.BROKEN:
                by = f"labkit's rule {rule}"
                if rule == "contract":  # the VM ran the verifier's dispatch table
                    by += f" ({parts['transfer_nft'].label} in the VM)"
                return Decision(index, rule, by, outcome.detail)
            continue
        if owner not in answered:
            args = (block.token, network.secret) if owner == "verify_hs256" else (block, parent, network)
            answered[owner] = ask(parts[owner], *args)
        value, raised = answered[owner]
        if raised:
            return Decision(index, rule, parts[owner].label, raised)
        if owner == "verify_hs256" and value is not True:
            return Decision(index, rule, parts[owner].label, f"returned {value!r}")
        if owner == "check_block" and value == rule:
            return Decision(index, rule, parts[owner].label, f"returned {value!r}")
        if owner == "check_block" and value not in (None, "index", "link", "pow"):
            return Decision(index, rule, parts[owner].label, f"returned {value!r}, not a rule it checks")
    return Decision(index, None, "every rule passed", "")


def verify_chain(blocks: Sequence[Block], network: Network, parts: dict[str, Part], *,
                 now: dt.datetime | None = None) -> list[Decision]:
    """The learner's verifier on a blocks file, block after block, each on the one before it.

    As in validate_blocks, a block is judged on the block before it in the
    file, accepted or not: after a refused block the next breaks ``link`` (it
    names the refused block's parent) or ``ancestry`` (it builds on a refused
    block). Contracts run in labkit's VM with the verifier's transfer_nft.
    """
    operations = operations_with(parts)
    decisions: list[Decision] = []
    parent: Entry | Link | None = None
    state = None
    for index, block in enumerate(blocks):
        seen = judge(block, network, parent, state=state, now=now, operations=operations, every_rule=True)
        decision = decide(block, parent, network, parts, {o.rule: o for o in seen.outcomes}, index)
        decisions.append(decision)
        at = parent.index + 1 if parent is not None else 0
        if decision.accepted and seen.entry is not None:
            parent, state = seen.entry, seen.state
        elif decision.accepted:  # the learner accepts what labkit refuses: go on from this block, state unchanged
            parent = Link(at, block.hash, seen.time, parent.total_work if parent is not None else 0)
        else:  # refused by the learner's verifier: what is built on it breaks ancestry, as labkit says why
            parent = seen.refused_link
    return decisions


def labkit_operations() -> dict[str, Callable]:
    """labkit's operations with labkit's own transfer_nft (06): the VM labkit's verdicts run on."""
    return {**OPERATIONS, "transfer_nft": cases.transfer_nft_reference}


def labkit_verdicts(blocks: Sequence[Block], network: Network, *, now: dt.datetime | None = None) -> list[str | None]:
    """labkit's own verdict on each block (validate_blocks, never the learner's code): the rule broken or None."""
    return [report.rule for report, _ in validate_blocks(network, blocks, now=now, operations=labkit_operations())]


def _verdict_text(rule: str | None) -> str:
    return "accepted" if rule is None else f"refused: {rule}"


def compare_frame(blocks: Sequence[Block], network: Network, parts: dict[str, Part], *,
                  now: dt.datetime | None = None) -> "pd.DataFrame":
    """One row per block: the learner's verdict, who decided it, labkit's verdict, and ✓ where they agree."""
    import pandas as pd

    theirs = labkit_verdicts(blocks, network, now=now)
    rows = [{"block": d.index, "your verdict": _verdict_text(d.rule), "decided by": d.by,
             "labkit's verdict": _verdict_text(rule), "agree": "✓" if d.rule == rule else "✗"}
            for d, rule in zip(verify_chain(blocks, network, parts, now=now), theirs)]
    return pd.DataFrame(rows, columns=["block", "your verdict", "decided by", "labkit's verdict", "agree"])


# --- the miner: repairing a tampered chain ---------------------------------------------------


def part_miner(part: Part) -> Callable[..., MiningResult]:
    """A labkit Miner (see labkit.pow) that asks the verifier's mine_nonce for the nonce."""

    def miner(template, secret, difficulty, *, progress=None, cancel=None) -> MiningResult:
        started = time.perf_counter()
        nonce = part.function(template, secret, difficulty)
        token = encode_token(template.with_nonce(nonce), secret)
        return MiningResult(token, nonce, token_hash(token), nonce - template.nonce + 1,
                            time.perf_counter() - started)

    return miner


def remine(network: Network, wallet: Wallet, parts: dict[str, Part], kept: Sequence[Block],
           contracts: Iterable[tuple[dict, dt.datetime]]) -> list[Block]:
    """``kept`` followed by a new block for each (contract, time), mined on the one before and signed by ``wallet``.

    The nonces come from the verifier's mine_nonce (through labkit's
    mine_block, which builds each block's claims); the kept blocks must be
    accepted, as labkit judges them.
    """
    blocks = list(kept)
    parent: Entry | Link | None = None
    for report, entry in validate_blocks(network, blocks):
        parent = entry
    miner = part_miner(parts["mine_nonce"])
    for contract, when in contracts:
        new = mine_block(network, wallet, contract, parent=parent, timestamp=when, miner=miner)
        blocks.append(new)
        parent = Link(parent.index + 1 if parent is not None else 0, new.hash, when)
    return blocks


# --- the fork choice -----------------------------------------------------------------------------


def fork_choice_input(tree: "BlockTree") -> dict[str, tuple[str | None, int]]:
    """The block tree as the fork_choice exercise takes it: hash -> (parent's hash or None, work)."""
    return {entry.hash: (entry.prev_hash if entry.index > 0 else None, entry.work) for entry in tree}


def fork_frame(trees: Iterable[tuple[str, "BlockTree"]], parts: dict[str, Part]) -> "pd.DataFrame":
    """For each named block tree: the tip the verifier's fork_choice picks, labkit's tip, and ✓ if the same."""
    import pandas as pd

    part = parts["fork_choice"]
    rows = []
    for name, tree in trees:
        picked, raised = ask(part, fork_choice_input(tree))
        theirs = tree.tip.hash if tree.tip is not None else None
        rows.append({"block tree": name, "blocks": len(tree), "tips": len(tree.tips()),
                     "your tip": raised or (str(picked)[:16] + "…"), "decided by": part.label,
                     "labkit's tip": (theirs or "")[:16] + "…", "agree": "✓" if picked == theirs else "✗"})
    return pd.DataFrame(rows, columns=["block tree", "blocks", "tips", "your tip", "decided by", "labkit's tip",
                                       "agree"])


# --- the capstone's own exercises: labkit's references and their cases ---------------------------


def first_broken(broken: Iterable[str]) -> str | None:
    """The verdict of a block that breaks the rules ``broken``: the first of them in labkit's order (CHECKS)."""
    broken = set(broken)
    return next((rule for rule in CHECKS if rule in broken), None)


def first_broken_cases(count: int = 100, seed: int = 11) -> list[tuple]:
    rng = random.Random(seed)
    found: list[tuple] = [(set(),), ({"ancestry"},), (set(CHECKS),)]
    while len(found) < count:
        found.append((set(rng.sample(CHECKS, rng.randint(1, 4))),))
    return found


def disagreements(yours: Sequence[str | None], theirs: Sequence[str | None]) -> list[int]:
    """The positions where two lists of verdicts differ; a longer list's extra verdicts all differ."""
    length = max(len(yours), len(theirs))
    missing = object()
    pad = lambda verdicts: list(verdicts) + [missing] * (length - len(verdicts))  # noqa: E731
    return [i for i, (a, b) in enumerate(zip(pad(yours), pad(theirs))) if a != b]


def disagreements_cases(count: int = 100, seed: int = 12) -> list[tuple]:
    rng = random.Random(seed)
    choices = [None, None, None, "signature", "link", "pow", "ancestry"]
    found: list[tuple] = [([], []), ([None], []), ([], ["pow"])]
    while len(found) < count:
        theirs = [rng.choice(choices) for _ in range(rng.randint(0, 8))]
        yours = [v if rng.random() < 0.8 else rng.choice(choices) for v in theirs]
        if rng.random() < 0.2:
            yours = yours[:rng.randint(0, len(yours))]
        found.append((yours, theirs))
    return found

