"""The scoreboard: each player by round, held or fooled and why; and the gradebook rows the registry's points give.

Everything here is computed from :class:`~labkit.battle.room.RoundResult` records, which the
battle reads from the players' published status only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

from ..course.registry import exercise
from .room import RoundResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pandas.io.formats.style import Styler

__all__ = ["HELD", "FOOLED", "TOTAL", "scoreboard_frame", "scoreboard_table", "reasons_frame", "gradebook_rows",
           "gradebook_frame", "fooled_by", "to_fix", "fooled_by_cases", "to_fix_cases"]

HELD, FOOLED = "held", "fooled"
TOTAL = "rounds held"  # the last row of scoreboard_table
NOTEBOOK = "12-defend-the-chain.ipynb"


def _rounds(results: Sequence[RoundResult]) -> list[str]:
    return list(dict.fromkeys(r.round for r in results))


def scoreboard_frame(results: Iterable[RoundResult]) -> "pd.DataFrame":
    """Players by rounds: "held" or "fooled"; a last column counts the rounds held."""
    import pandas as pd

    results = list(results)
    rounds = _rounds(results)
    players = list(dict.fromkeys(r.node for r in results))
    cell = {(r.node, r.round): HELD if r.held else FOOLED for r in results}
    frame = pd.DataFrame([[cell.get((p, name), "") for name in rounds] for p in players], index=players,
                         columns=rounds)
    frame["held"] = [f"{sum(cell.get((p, n)) == HELD for n in rounds)}/{len(rounds)}" for p in players]
    frame.index.name = "node"
    return frame


def scoreboard_table(results: Iterable[RoundResult], *, highlight: str | None = None) -> "Styler":
    """The scoreboard for a notebook: one row per round, the function it tests, then one column per node.

    Rounds as rows keep the table narrow whatever the rounds are called (eleven full names as
    columns do not fit a notebook at 1280 px), and read down like the rounds were played. A held
    cell is green, a fooled one red; each fooled cell's title (hover) says what the node did.
    A last row counts the rounds each node held; ``highlight``'s column is in bold.
    Cells have the classes ``labkit-held`` and ``labkit-fooled``; the table ``labkit-scoreboard-table``.
    """
    import html

    import pandas as pd

    from ..lessons.display import COLORS, frame_table

    results = list(results)
    by_round = scoreboard_frame(results).T.rename(index={"held": TOTAL})
    nodes = list(by_round.columns)
    tests = {r.round: r.targets or "labkit's rules" for r in results}
    board = by_round.reset_index(names="round")  # row numbers, which frame_table hides
    board.insert(1, "tests", [tests.get(name, "") for name in by_round.index])
    board.columns.name = None
    why = {(r.round, r.node): r.why for r in results if not r.held}
    titles, classes, colours = (pd.DataFrame("", index=board.index, columns=board.columns) for _ in range(3))
    for row, name in enumerate(board["round"]):
        for node in nodes:
            mark = board.loc[row, node]
            if name == TOTAL or mark not in (HELD, FOOLED):
                continue
            classes.loc[row, node] = f"labkit-{mark}"
            colours.loc[row, node] = COLORS["valid" if mark == HELD else "invalid"]
            if mark == FOOLED:
                titles.loc[row, node] = html.escape(why[(name, node)] or FOOLED)  # pandas writes a title as it is
    styler = (frame_table(board).set_properties(subset=nodes, **{"text-align": "center"})
              .apply(lambda _: colours, axis=None).set_td_classes(classes)
              .set_tooltips(titles, as_title_attribute=True)
              .set_table_attributes('class="labkit-table labkit-scoreboard-table"'))
    if highlight in nodes:  # its cells, not only its heading: JupyterLab draws every heading bold
        styler = styler.set_properties(subset=[highlight], **{"font-weight": "bold"})
    return styler


def reasons_frame(results: Iterable[RoundResult]) -> "pd.DataFrame":
    """One row per round a player was fooled by: the round, the function it tests, what the player did."""
    import pandas as pd

    rows = [{"node": r.node, "round": r.round, "tests": r.targets or "labkit's rules", "what happened": r.why}
            for r in results if not r.held]
    return pd.DataFrame(rows, columns=["node", "round", "tests", "what happened"])


def gradebook_rows(results: Iterable[RoundResult], players: Iterable[str] | None = None) -> list[dict]:
    """One row per player and function the rounds test: its exercise's points if every such round held, else 0."""
    results = list(results)
    players = list(players) if players is not None else list(dict.fromkeys(r.node for r in results))
    targets = list(dict.fromkeys(r.targets for r in results if r.targets))
    rows = []
    for player in players:
        for target in targets:
            mine = [r for r in results if r.node == player and r.targets == target]
            fooled = [r.round for r in mine if not r.held]
            points = exercise(target).points
            rows.append({"student": player, "notebook": NOTEBOOK, "exercise": f"battle: {target}",
                         "points": points, "earned": 0 if fooled else points,
                         "rounds": f"{len(mine) - len(fooled)}/{len(mine)} held",
                         "detail": "fooled by " + ", ".join(fooled) if fooled else ""})
    return rows


def gradebook_frame(results: Iterable[RoundResult], players: Iterable[str] | None = None) -> "pd.DataFrame":
    import pandas as pd

    return pd.DataFrame(gradebook_rows(results, players),
                        columns=["student", "notebook", "exercise", "points", "earned", "rounds", "detail"])


# --- notebook 12's exercises: labkit's answers and their cases ---------------------------------------


def fooled_by(results: list[dict], node: str) -> list[str]:
    """The rounds ``node`` was fooled by (``held`` false), in the order they were played, each once."""
    return list(dict.fromkeys(r["round"] for r in results if r["node"] == node and not r["held"]))


def to_fix(results: list[dict], node: str) -> list[str]:
    """The functions to fix: the ``targets`` of the rounds ``node`` was fooled by, sorted, each once, None left out."""
    return sorted({r["targets"] for r in results if r["node"] == node and not r["held"] and r["targets"]})


def _random_results(rng, nodes: list[str]) -> list[dict]:
    from .rounds import ROUNDS

    played = rng.sample(ROUNDS, rng.randint(0, len(ROUNDS)))
    return [{"round": r.name, "node": node, "held": rng.random() < 0.7, "targets": r.targets}
            for r in played for node in nodes]


def fooled_by_cases(count: int = 60, seed: int = 12) -> list[tuple]:
    import random

    rng = random.Random(seed)
    found: list[tuple] = [([], "you"), ([{"round": "x", "node": "ben", "held": False, "targets": None}], "you")]
    while len(found) < count:
        nodes = rng.sample(["you", "ana", "ben", "cleo"], rng.randint(1, 4))
        found.append((_random_results(rng, nodes), rng.choice(nodes)))
    return found


def to_fix_cases(count: int = 60, seed: int = 13) -> list[tuple]:
    return fooled_by_cases(count, seed)
