"""Whose rules a node runs: a learner's node, deciding with the learner's own saved functions (issue 24).

``node run --rules mine`` (or :class:`LearnerNode` in a notebook) runs a node whose
decisions are the learner's, assembled as notebook 11 assembles its verifier
(:func:`labkit.course.capstone.assemble`): ``verify_hs256`` answers the ``mac`` rule and
``check_block`` the ``index``, ``link`` and ``pow`` rules of every block it receives
(``capstone.decide``, in labkit's order, labkit's rules answering the others);
``transfer_nft`` is in the VM's table; ``fork_choice`` picks the tip of the block tree;
``mine_nonce`` mines. Where the learner has not written a part, labkit's stands in and
the status says so (``rules``).

A learner's function that raises, or runs longer than ``time_limit`` seconds, stops
nothing: the block it was asked about is refused, the reason naming the function, and
the node goes on (a fork choice that fails keeps the tip it had). Each call runs in a
thread the node waits on for at most the limit; one that never returns is left running
and the node's verdict does not wait for it.

Safe by construction: learner code runs only in the learner's own node process (the
one that loaded it). labkit's honest nodes never load it, and a learner's node decides
only for itself: whatever it accepts, every other node judges with ``labkit.chain.judge``.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import replace
from typing import Any, Callable

from ..block import Block
from ..chain import CHECKS, UNKNOWN_PARENT, Entry, Outcome, RuleOutcome, Verdict, mine_block, stamp
from ..course import capstone, saved
from ..course.capstone import Part
from ..errors import ContractError, InvalidToken
from ..forks import BlockTree
from ..operations import Context
from ..peer import Peer
from ..pow import expected_attempts
from ..reorg import Reorg
from ..tokens import read_claims, split_token, utc_now
from ..vm import execute
from .follow import Following
from .live import Node

__all__ = ["TIME_LIMIT", "LearnerTimeout", "limited", "learner_parts", "LearnerTree", "LearnerFollowing",
           "LearnerNode"]

TIME_LIMIT = 2.0  # seconds a learner's function may take on one question before the block is refused


class LearnerTimeout(Exception):
    """A learner's function ran longer than its time limit (raised in the node, never in the learner's thread)."""


def limited(function: Callable, seconds: float) -> Callable:
    """``function`` run in a daemon thread, waited on for at most ``seconds``; LearnerTimeout past that.

    While a call that ran past its limit has not returned, later calls raise LearnerTimeout at
    once: a function that never returns costs the node one thread, not one per block.
    """

    running: list[threading.Thread] = []  # a call that outlived its limit and still runs (at most one)

    def call(*args: Any) -> Any:
        if running and running[0].is_alive():  # one runaway thread per function, never a pile of them
            raise LearnerTimeout(f"an earlier call ran past {seconds:g} s and has not returned yet")
        running.clear()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = function(*args)
            except BaseException as exc:  # the learner's code may raise anything, SystemExit too
                box["error"] = exc

        thread = threading.Thread(target=run, name=f"learner {getattr(function, '__name__', '?')}", daemon=True)
        thread.start()
        thread.join(seconds)
        if thread.is_alive():
            running.append(thread)
            raise LearnerTimeout(f"took longer than {seconds:g} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    call.__name__ = getattr(function, "__name__", "learner_function")
    return call


def learner_parts(loader: Callable[[str], Callable | None] = saved.load, *,
                  time_limit: float = TIME_LIMIT) -> dict[str, Part]:
    """The learner's parts (labkit's standing in where none is saved), the learner's time-limited."""
    parts = capstone.assemble(loader)
    return {name: replace(part, function=limited(part.function, time_limit)) if part.whose == capstone.YOURS
            else part for name, part in parts.items()}


def _unchecked_payload(block: Block):
    """The claims a token carries, read without its MAC (the learner may accept what labkit's MAC refuses)."""
    return read_claims(split_token(block.token))


class LearnerTree(BlockTree):
    """A block tree whose verdicts and fork choice are the learner's.

    labkit's ``judge`` asks every rule first (``every_rule``); ``capstone.decide`` then
    lets the learner's functions answer the rules they cover. A block the learner accepts
    and labkit refuses joins the tree all the same: this node is the learner's.
    """

    every_rule = True

    def __init__(self, network, parts: dict[str, Part], *, on_problem: Callable[[str, str], None] | None = None,
                 **options: Any):
        self.parts = parts
        self.on_problem = on_problem or (lambda part, reason: None)
        super().__init__(network, operations=capstone.operations_with(parts), **options)

    def judge(self, block: Block, *, now: dt.datetime | None = None) -> Verdict:
        now = now or utc_now()
        verdict = super().judge(block, now=now)
        if not isinstance(block, Block) or verdict.waiting or verdict.provisional:
            return verdict
        held = self._entries.get(block.hash)
        parent = self._parent_of(block) if held is None else self.parent(held)
        if parent is UNKNOWN_PARENT:
            return verdict
        outcomes = {o.rule: o for o in verdict.outcomes}
        decision = capstone.decide(block, parent, self.network, self.parts, outcomes, verdict.index)
        if decision.by.startswith(capstone.YOURS) and "raised" in decision.detail:
            self.on_problem(decision.by, decision.detail)
        asked = set(capstone.COVERED)  # the rules the learner's functions answer
        if not decision.accepted:
            rows = []
            for rule in CHECKS:
                outcome = outcomes[rule]
                if rule == decision.rule:
                    detail = (outcome.detail if decision.by.startswith("labkit") else
                              decision.detail if decision.detail.startswith(decision.by) else
                              f"{decision.by}: {decision.detail}")
                    outcome = RuleOutcome(rule, Outcome.BROKEN, detail)
                elif CHECKS.index(rule) > CHECKS.index(decision.rule):
                    outcome = RuleOutcome(rule, Outcome.NOT_ASKED, "an earlier rule is broken")
                elif rule in asked:
                    outcome = RuleOutcome(rule, Outcome.PASSED, f"{self.parts[capstone.COVERED[rule]].label} passes it")
                rows.append(outcome)
            remembered = verdict.remembered if decision.rule == verdict.rule else True
            return Verdict(verdict.index, verdict.hash, verdict.signer, tuple(rows), time=verdict.time,
                           remembered=remembered)
        if verdict.accepted:
            return verdict
        return self._accepted_anyway(block, parent, verdict, asked)

    def _accepted_anyway(self, block: Block, parent, verdict: Verdict, asked: set[str]) -> Verdict:
        """The verdict on a block the learner accepts and labkit refuses (a rule the learner answers)."""
        try:
            payload = _unchecked_payload(block)
        except InvalidToken:  # no claims to build an entry from: refused whatever the learner says
            return verdict
        index = 0 if parent is None else parent.index + 1
        work = expected_attempts(payload.difficulty or self.network.difficulty)
        signed = block if block.signer is not None else Block(block.token, block.signature, verdict.signer)
        entry = Entry(signed, payload, index, work, (0 if parent is None else parent.total_work) + work)
        parent_state = self.state_after(None if parent is None else parent.hash)
        try:
            state = execute(parent_state, payload.transaction_data, entry.context, self.operations)
        except ContractError as exc:
            rows = tuple(RuleOutcome(o.rule, Outcome.BROKEN, str(exc)) if o.rule == "contract" else o
                         for o in verdict.outcomes)
            return replace(verdict, outcomes=rows)
        rows = tuple(RuleOutcome(o.rule, Outcome.PASSED, f"{self.parts[capstone.COVERED[o.rule]].label} passes it")
                     if o.rule in asked and o.outcome is Outcome.BROKEN else o for o in verdict.outcomes)
        return Verdict(index, block.hash, verdict.signer, rows, entry=entry, state=state, time=payload.time)

    def _choose(self, candidates: tuple[Entry, ...]) -> Reorg | None:
        """The tip is the one the learner's fork_choice picks among every block held."""
        part = self.parts["fork_choice"]
        picked, raised = capstone.ask(part, capstone.fork_choice_input(self))
        if raised or picked not in self._entries:
            why = raised or f"returned {picked!r}, not a block this node holds"
            self.on_problem(part.label, why)
            return None if self.chain.tip is not None else super()._choose(candidates)
        return self.switch_to(self._entries[picked])


class LearnerFollowing(Following):
    """Follows as labkit's nodes do, but fetches every chain whose tip it has not seen:
    which one is better is for the learner's fork_choice to say, not the pointer's work."""

    def _better(self, pointer) -> bool:
        return pointer.tip is not None and pointer.tip not in self.node.peer.tree and not (
            self.node.tip is not None and pointer.tip == self.node.tip.hash)


class LearnerNode(Node):
    """A node whose rules are the learner's saved functions (labkit's where none is saved).

    ``loader`` gives the learner's function by name (``saved.load``: from ``saved.mine_dir()``).
    """

    def __init__(self, *args: Any, loader: Callable[[str], Callable | None] = saved.load,
                 time_limit: float = TIME_LIMIT, **kwargs: Any):
        self.parts = learner_parts(loader, time_limit=time_limit)
        self.problems: list[dict] = []  # the learner's functions that raised or hung, newest last (a few)
        super().__init__(*args, **kwargs)

    def make_peer(self) -> Peer:
        peer = Peer(self.name, self.network, wallet=self.wallet)
        peer.tree = LearnerTree(self.network, self.parts, on_problem=self._problem)
        return peer

    def make_following(self) -> Following:
        return LearnerFollowing(self)

    def _problem(self, part: str, reason: str) -> None:
        """Keep the newest few failures of the learner's code for the status (``rules.problems``).

        A block it refused is also in the node's ``refused`` event, with this reason.
        """
        self.problems = [*self.problems[-9:], {"part": part, "reason": reason}]

    def rules(self) -> dict[str, Any]:
        whose = {p.whose for p in self.parts.values()}
        return {"whose": "the learner's" if whose == {capstone.YOURS} else
                         "labkit's" if whose == {capstone.LABKITS} else "the learner's, labkit's standing in",
                "parts": {name: {"whose": p.whose, "note": p.note} for name, p in self.parts.items()},
                "problems": list(self.problems)}

    def mine(self, contract: dict, *, cancel=None) -> Block:
        """Mine with the learner's mine_nonce (it cannot be cancelled: the block may come for an old tip)."""
        return mine_block(self.network, self.wallet, contract, parent=self.tip,
                          miner=capstone.part_miner(self.parts["mine_nonce"]), cancel=cancel,
                          timestamp=stamp(self.tip, self.clock()))


def mine_dir_loader(folder: str | os.PathLike) -> Callable[[str], Callable | None]:
    """``saved.load`` reading from ``folder`` instead of ``saved.mine_dir()``."""

    def load(name: str) -> Callable | None:
        before = os.environ.get(saved.MINE_ENV)
        os.environ[saved.MINE_ENV] = str(folder)
        try:
            return saved.load(name)
        finally:
            if before is None:
                os.environ.pop(saved.MINE_ENV, None)
            else:
                os.environ[saved.MINE_ENV] = before

    return load
