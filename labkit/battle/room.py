"""A battle room: the learners' nodes (and labkit's honest classmates) live, the teacher and the adversaries publishing.

``Battle(...)`` makes a network whose members are the players (each a ``node run`` process
of :class:`~labkit.node.classroom.Classroom`: a learner's with ``--rules mine`` on their
saved functions; labkit's classmates with ``--rules mine`` on an empty folder, so every part
is labkit's reference and their VM has the course's ``transfer_nft``), the puppets whose keys
sign the adversaries' blocks (``alice``, ``bob``, ``carol``), the teacher and one publisher
per round. The battle's own process holds one labkit
:class:`~labkit.node.live.Node` that seeds chains and puts pointers; it never follows,
never judges for a player and never loads a learner's code.

Each round (:meth:`Battle.play_round`):

1. the teacher's chain grows until it has more blocks and more work than any chain seen,
   and is published; every player is waited for until its status shows that tip;
2. the round's chain (labkit.battle.rounds) is published under the round's publisher key;
   every player is waited for until its status shows it acted on that pointer;
3. each player's tip, read from its ``status.json``, is compared with the tip a labkit
   peer ends on (:func:`~labkit.battle.rounds.correct_tip`): a :class:`RoundResult`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..block import Block
from ..blocksfile import save_blocks
from ..errors import ConfigError, DHTTimeout, PublishFailed
from ..network import Member, Network
from ..reorg import BlockStatus
from ..tokens import read_claims, split_token, utc_now
from ..wallet import Wallet
from . import rounds as battle_rounds
from .rounds import PUPPETS, ROUNDS, BattleLab, Round

__all__ = ["TEACHER", "RED_TEAM_CAP", "RoundResult", "Battle", "red_team_score"]

TEACHER = "teacher"
START_TIMEOUT = 60.0  # seconds for every player to reach the teacher's tip
DECIDE_TIMEOUT = 30.0  # seconds for every player to act on a round's pointer
STRANGER_SECONDS = 3.0  # how long a round under a non-member's key is given (no member looks it up)
RED_TEAM_SLOTS = 4  # red-team rounds a room can play (each a publisher member of its own)
RED_TEAM_CAP = 3  # the most classmates' nodes a red-team chain scores for: a class cannot flood the room


@dataclass(frozen=True)
class RoundResult:
    """One player on one round: held or fooled, its tip and the correct one, and why."""

    round: str
    node: str
    held: bool
    tip: str | None
    correct: str
    why: str  # what the player did wrong (empty when it held)
    targets: str | None  # the learner's function the round tests
    seconds: float  # how long the round took, for every player


def _publisher(index: int) -> str:
    return f"round{index + 1:02d}"


def _red_team(index: int) -> str:
    return f"redteam{index + 1:02d}"


def red_team_score(results: Iterable[RoundResult], author: str, *, cap: int = RED_TEAM_CAP) -> int:
    """How many of the other players ``author``'s red-team chain fooled, at most ``cap``."""
    name = f"red team: {author}"
    return min(cap, sum(1 for r in results if r.round == name and r.node != author and not r.held))


def _key_pair(folder: Path, name: str, *, bits: int = 2048):
    """A member's RSA wallet and node key, written to ``folder`` as ``Classroom.create`` writes them."""
    from ..node.keys import NodeKey, node_key_paths, write_node_key_pair

    key_file = folder / f"{name}.pem"
    if key_file.exists():
        return Wallet.load(key_file), NodeKey.load(node_key_paths(key_file)[0])
    wallet = Wallet.generate(bits, name=name)
    wallet.save(key_file)
    return wallet, write_node_key_pair(key_file)[0]


class Battle:
    """The rounds played against a room of players; see the module docstring."""

    def __init__(self, folder: str | os.PathLike, learners: dict[str, str | os.PathLike | None],
                 classmates: Iterable[str] = (), rounds: Sequence[Round] = ROUNDS, *,
                 start_timeout: float = START_TIMEOUT, decide_timeout: float = DECIDE_TIMEOUT,
                 red_team_slots: int = RED_TEAM_SLOTS):
        from ..node.classroom import Classroom, free_port
        from ..node.keys import NodeKey
        from ..node.live import Node

        self.folder = Path(folder)
        self.learners = dict(learners)
        self.classmates = list(classmates)
        self.rounds = tuple(rounds)
        self.start_timeout, self.decide_timeout = start_timeout, decide_timeout
        keys = self.folder / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        self.network_file = self.folder / "network.json"
        players = [*self.learners, *self.classmates]
        self.red_team_slots = red_team_slots
        self.red_teams: dict[str, str] = {}  # author -> the publisher member of their chain
        self._red_started: float | None = None
        self._red_behind: set[str] = set()
        names = [*players, *PUPPETS, TEACHER, *(_publisher(i) for i in range(len(self.rounds))),
                 *(_red_team(i) for i in range(red_team_slots))]
        pairs = {name: _key_pair(keys, name) for name in names}
        if not self.network_file.exists():
            members = [Member(name, wallet.public_key, key.public_key) for name, (wallet, key) in pairs.items()]
            Network.create(members, difficulty=1, name="battle").save(self.network_file)
        self.network = Network.load(self.network_file)
        self.wallets = {name: pairs[name][0] for name in PUPPETS}
        self.keys = {name: pairs[name][1] for name in names}
        self.stranger = NodeKey.generate()  # the non-member's node key: no member's
        port = free_port()
        # the teacher and the rounds' publishers run no node, so no player's ring of members would pass
        # their pointers on: every player looks them up each round (labkit.node.gossip follows a few members)
        publishers = [name for name in names if name not in players and name not in PUPPETS]
        watch = [arg for name in publishers for arg in ("--watch", self.keys[name].public_key.hex())]
        self.room = Classroom(self.folder, players,
                              extra_args=["--bootstrap", f"127.0.0.1:{port}", "--quiet", *watch])
        for name, mine in self.learners.items():
            args = ["--rules", "mine"] + ([] if mine is None else ["--mine-dir", str(Path(mine).resolve())])
            self.room.place(name, host="127.0.0.1", args=args)
        # labkit's classmates: every part labkit's reference (an empty folder of saved functions), so their
        # VM has the course's transfer_nft, which a plain `node run` does not know
        labkit_only = self.folder / "labkit-only"
        labkit_only.mkdir(exist_ok=True)
        for name in self.classmates:
            self.room.place(name, host="127.0.0.1", args=["--rules", "mine", "--mine-dir", str(labkit_only)])
        bootstrap = [("127.0.0.1", node.port) for node in self.room.nodes.values()]
        self.node = Node(self.network, pairs[TEACHER][0], pairs[TEACHER][1], self.folder / "battle",
                         listen=f"127.0.0.1:{port}", bootstrap=bootstrap)
        self.referee = battle_rounds.make_referee(self.network)
        self.teacher: list[Block] = []
        self.longest, self.most_work = 0, 0  # of every chain published so far
        self.results: list[RoundResult] = []
        self._published = 0

    @property
    def players(self) -> list[str]:
        return list(self.room.nodes)

    # --- starting and stopping -----------------------------------------------------------

    def start(self) -> "Battle":
        self.node.start()
        self.room.start()
        self.node.wait_for_dht(1, timeout=self.start_timeout)
        return self

    def close(self) -> None:
        try:
            self.room.close()
        finally:
            self.node.stop()

    def __enter__(self) -> "Battle":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- publishing --------------------------------------------------------------------

    def publish(self, key, blocks: Sequence[Block]) -> str:
        """Seed ``blocks`` as a chain file and put a pointer to it under ``key``; its info-hash."""
        from ..sharing.dht import Pointer, publish
        from ..sharing.metainfo import make_torrent

        self._published += 1
        folder = self.folder / "battle" / "chains" / f"{self._published:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = save_blocks(folder / "chain.jsonl", blocks)
        torrent = make_torrent(path)
        torrent.save(folder / "chain.torrent")
        session = self.node.live()
        session.seed(path, torrent)
        claims = read_claims(split_token(blocks[-1].token))
        index = claims.index if claims.index is not None else len(blocks) - 1
        pointer = Pointer(torrent.info_hash, index, battle_rounds.claimed_work(blocks, self.network),
                          peer=self.node.address, tip=blocks[-1].hash)
        for _ in range(3):  # a put no DHT node confirmed goes on in the background; put it again to be sure
            try:
                publish(self.node.dht, key, self.node.salt, pointer, timeout=5.0, on_alert=session.dispatch)
                break
            except (DHTTimeout, PublishFailed):
                self.node.rebootstrap()
        self.longest = max(self.longest, len(blocks))
        self.most_work = max(self.most_work, pointer.total_work)
        return torrent.info_hash

    def _wait(self, done: Callable[[str, dict], bool], names: list[str], timeout: float) -> set[str]:
        """Poll the players' statuses until ``done`` holds for each; the names it does not hold for at the end."""
        deadline = time.monotonic() + timeout
        waiting = set(names)
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                status = self.room.status(name)
                if status is not None and done(name, status):
                    waiting.discard(name)
            self.node.live().poll(0.1)
        return waiting

    # --- a round -------------------------------------------------------------------------

    def play_round(self, index: int) -> list[RoundResult]:
        """Play round ``index``: the teacher's chain first, then the round's chain; one result per player."""
        round_ = self.rounds[index]
        started = time.monotonic()
        lab, behind = self._start(f"{index:02d}")
        publisher = _publisher(index)
        return self._finish(round_, round_.build(lab), publisher,
                            self.keys[publisher] if round_.member else self.stranger, started, behind)

    def _start(self, tag: str) -> tuple[BattleLab, set[str]]:
        """Grow and publish the teacher's chain, wait for the players to hold it; a lab on it and who lagged."""
        if not self.teacher:
            self.teacher = battle_rounds.teacher_chain(self.network, self.wallets)
        self.teacher = battle_rounds.extend_teacher(self.teacher, self.network, self.wallets,
                                                    longer_than=self.longest, more_work_than=self.most_work, tag=tag)
        battle_rounds.correct_tip(self.referee, self.teacher)
        self.publish(self.keys[TEACHER], self.teacher)
        start_tip = self.teacher[-1].hash
        behind = self._wait(lambda name, s: s.get("tip") == start_tip, self.players, self.start_timeout)
        workdir = self.folder / "labs" / tag
        workdir.mkdir(parents=True, exist_ok=True)
        return BattleLab(workdir, self.network, list(self.wallets.values()), self.teacher), behind

    def _finish(self, round_: Round, blocks: Sequence[Block], publisher: str, key, started: float,
                behind: set[str]) -> list[RoundResult]:
        """Publish the round's blocks (after the teacher's, to their fork), wait for the players, score them."""
        chain = battle_rounds.chain_file(self.teacher, blocks, self.network)
        correct = battle_rounds.correct_tip(self.referee, chain, now=utc_now())
        info_hash = self.publish(key, chain)

        def decided(name: str, status: dict) -> bool:
            pointer = status.get("peers", {}).get(publisher)
            if pointer is not None and pointer.get("info_hash") == info_hash:
                return True
            # a refusal or an ignored pointer counts when it names this chain: a look-up that timed out
            # ("its pointer cannot be read") is no decision, the node looks again
            return any(e.get("member") == publisher and (e.get("event") == "adopted" or (
                e.get("event") in ("refused", "ignored") and e.get("info_hash") == info_hash))
                for e in status.get("events", ()))

        if round_.member:
            self._wait(decided, self.players, self.decide_timeout)
        else:
            self._wait(lambda name, status: False, self.players, STRANGER_SECONDS)
        took = time.monotonic() - started
        results = []
        for name in self.players:
            status = self.room.status(name) or {}
            tip = status.get("tip")
            held = tip == correct
            why = "" if held else self._why(tip, correct, chain, status, publisher, info_hash,
                                            late=name in behind)
            results.append(RoundResult(round_.name, name, held, tip, correct, why, round_.targets, took))
        self.results += results
        return results

    # --- the red team ------------------------------------------------------------------------

    def red_team_lab(self) -> BattleLab:
        """Start a red-team round: the teacher's chain grows and is published; a lab on it to build a chain with.

        Build the blocks in your own process (the lab's ``mine``, ``branch``, ``template``,
        ``miner``, or the attacks of labkit.lessons.attacks) and hand them to :meth:`red_team`.
        """
        if len(self.red_teams) >= self.red_team_slots:
            raise ConfigError(f"this room has {self.red_team_slots} red-team rounds, all played")
        self._red_started = time.monotonic()
        lab, self._red_behind = self._start(f"red{len(self.red_teams) + 1:02d}")
        return lab

    def red_team(self, author: str, blocks: Sequence[Block]) -> list[RoundResult]:
        """Publish ``author``'s chain (blocks built on the lab of :meth:`red_team_lab`) and score every player.

        Blocks are data: the battle judges them with labkit's rules and runs no code of the author's.
        One chain per author; its score is :func:`red_team_score`.
        """
        blocks = list(blocks)
        if author in self.red_teams:
            raise ConfigError(f"{author} has published a red-team chain already: one chain each")
        if self._red_started is None:
            raise ConfigError("call red_team_lab() first: the chain is built on the teacher's chain it publishes")
        if not blocks or not all(isinstance(b, Block) for b in blocks):
            raise ConfigError("a red-team chain is a non-empty list of blocks (labkit.block.Block)")
        publisher = _red_team(len(self.red_teams))
        self.red_teams[author] = publisher
        round_ = Round(f"red team: {author}", f"is fooled by the chain {author} designed", None,
                       lambda lab: blocks)
        started, behind = self._red_started, self._red_behind
        self._red_started = None
        return self._finish(round_, blocks, publisher, self.keys[publisher], started, behind)

    def play(self, on_round: Callable[[list[RoundResult]], Any] | None = None) -> list[RoundResult]:
        """Every round in turn; ``on_round`` gets each round's results as they come (a scoreboard to redraw)."""
        for index in range(len(self.rounds)):
            results = self.play_round(index)
            if on_round is not None:
                on_round(results)
        return list(self.results)

    def _why(self, tip: str | None, correct: str, chain: Sequence[Block], status: dict, publisher: str,
             info_hash: str, *, late: bool) -> str:
        """What a fooled player did: the block it wrongly accepted, the tip it wrongly chose, or its refusal."""
        tree = self.referee.tree
        if tip is None:
            return "has no chain"
        attack = {b.hash: i for i, b in enumerate(chain)}
        if tip in attack and tree.status(tip) is not BlockStatus.CANONICAL:
            refused = next((b for b in chain if tree.status(b.hash) is BlockStatus.REFUSED
                            or (b.hash not in tree and tree.rejection(b.hash) is not None)), None)
            if refused is not None:
                error = tree.rejection(refused.hash)
                return (f"accepted block {attack[refused.hash]} ({refused.hash[:10]}…), which breaks rule "
                        f"{error.rule}: {error.reason}")
            if tip in tree:
                mine, right = tree.entry(tip), tree.entry(correct)
                return (f"chose a tip with less work ({mine.index + 1} blocks, work {mine.total_work:,}) over "
                        f"{right.index + 1} blocks with work {right.total_work:,}")
            return f"accepted block {attack[tip]} ({tip[:10]}…), which labkit's rules refuse"
        refusals = [e for e in status.get("events", ()) if e.get("member") == publisher
                    and e.get("event") in ("refused", "ignored") and e.get("info_hash") == info_hash]
        if refusals:
            last = refusals[-1]
            return f"refused the correct chain: {last.get('rule') or ''} {last.get('reason', '')}".replace("  ", " ")
        if tip in tree and correct in tree:
            mine, right = tree.entry(tip), tree.entry(correct)
            return (f"stayed on a tip with less work ({mine.index + 1} blocks, work {mine.total_work:,}) than "
                    f"the correct one ({right.index + 1} blocks, work {right.total_work:,})")
        return "did not reach the round's start in time" if late else f"is on tip {tip[:10]}…, not the correct one"
