"""Defend the chain (issue 24): the learners' own nodes in a live room, attacked round by round, scored.

- :mod:`~labkit.battle.rounds`: the rounds, each a chain the attack lab builds to fool one
  mistake, and the tip a correct node ends on (a labkit peer's verdict);
- :mod:`~labkit.battle.room`: ``Battle``, a room of player nodes (learners' ``node run --rules
  mine``, labkit's honest classmates), the teacher's chain and the adversaries' pointers;
- :mod:`~labkit.battle.scoreboard`: players by rounds, held or fooled and why; gradebook rows;
- :mod:`~labkit.battle.cli`: ``python -m labkit battle``.

The learner's node itself is :mod:`labkit.node.rules`. No learner code runs here: the battle
reads the players' status files and publishes chains and pointers.
"""

from __future__ import annotations

import importlib

__all__ = ["rounds", "room", "scoreboard", "cli", "Battle", "ROUNDS"]


def __getattr__(name: str):
    if name == "Battle":
        return importlib.import_module(".room", __name__).Battle
    if name == "ROUNDS":
        return importlib.import_module(".rounds", __name__).ROUNDS
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit.battle' has no attribute {name!r}")
