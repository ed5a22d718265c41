"""``python -m labkit battle``: play the rounds against a room of learner nodes on this machine.

::

    python -m labkit battle --dir DIR --learner ana=notebooks/work/mine [--learner ben=...] \\
        [--classmates 3] [--rounds "forged signature" ...] [--grades grades.csv]

Each ``--learner NAME=FOLDER`` runs ``node run --rules mine`` on the functions saved in
FOLDER; ``--classmates N`` adds N of labkit's honest nodes. The scoreboard is printed after
each round; ``--grades`` writes the gradebook rows (the registry's points) as CSV.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from .. import arguments
from ..errors import ConfigError
from ..terminal import printable

__all__ = ["add_subcommands"]


def _learner(value: str) -> tuple[str, Path]:
    name, sep, folder = value.partition("=")
    if not sep or not name.isidentifier() or not folder:
        raise argparse.ArgumentTypeError(f"--learner takes NAME=FOLDER (a name of letters, digits and _), "
                                         f"not {value!r}")
    path = arguments.existing_folder(folder)
    return name, path


def _round(value: str) -> str:
    from .rounds import ROUNDS

    names = [r.name for r in ROUNDS]
    if value not in names:
        raise argparse.ArgumentTypeError(f"no round {value!r}; the rounds are: {', '.join(names)}")
    return value


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``battle``."""
    battle = subparsers.add_parser("battle", help="defend the chain: adversary rounds against learner nodes")
    battle.add_argument("--dir", required=True, type=arguments.folder, metavar="DIR",
                        help="a folder for the room's keys, network, nodes and chains")
    battle.add_argument("--learner", type=_learner, action="append", default=[], metavar="NAME=FOLDER",
                        help="a learner's node on the functions saved in FOLDER (repeatable)")
    battle.add_argument("--classmates", type=arguments.whole_number(0, 32, "--classmates"), default=0, metavar="N",
                        help="labkit's honest nodes beside them, 0 to 32 (default: 0)")
    battle.add_argument("--rounds", type=_round, nargs="+", metavar="ROUND", help="only these rounds, in this order")
    battle.add_argument("--grades", type=arguments.path, metavar="FILE.csv", help="write the gradebook rows here")
    battle.set_defaults(func=_battle_main)


def _battle_main(args: argparse.Namespace) -> int:
    from .room import Battle
    from .rounds import ROUNDS
    from .scoreboard import gradebook_rows, scoreboard_frame

    if not args.learner and not args.classmates:
        raise ConfigError("no players: give at least one --learner NAME=FOLDER or --classmates N")
    names = [name for name, _ in args.learner]
    if len(set(names)) != len(names):
        raise ConfigError(f"a --learner name is given twice: {', '.join(names)}")
    by_name = {r.name: r for r in ROUNDS}
    rounds = [by_name[name] for name in args.rounds] if args.rounds else list(ROUNDS)
    classmates = [f"classmate{i + 1}" for i in range(args.classmates)]
    with Battle(args.dir, dict(args.learner), classmates, rounds) as battle:
        def show(results) -> None:
            first = results[0]
            print(f"round {first.round!r} ({first.targets or 'labkit rules'}): {first.seconds:.1f} s", flush=True)
            for r in results:
                print(printable(f"  {r.node:<12} {'held' if r.held else 'FOOLED: ' + r.why}")[:200], flush=True)

        results = battle.play(on_round=show)
    print(printable(scoreboard_frame(results).to_string(), newlines=True))
    if args.grades:
        rows = gradebook_rows(results)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["student"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        from ..files import atomic_write

        atomic_write(args.grades, text.getvalue().encode("utf-8"))
        print(f"gradebook rows written to {printable(str(args.grades))}")
    return 0
