"""The battle's scoreboard in a notebook: players by rounds, green where held, red where fooled, and why.

``scoreboard_html(results)`` is the table as HTML (tested without a browser);
``Scoreboard()`` is an ipywidgets HTML box whose ``update(results)`` appends a round's
results and redraws: pass it as ``battle.play(on_round=board.update)`` to watch the rounds
come in. Every cell says "held" or "fooled" in words as well as colour; a fooled cell's
title (hover) and the list under the table say what the node did.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from ..battle.room import RoundResult

__all__ = ["scoreboard_html", "Scoreboard"]

_HELD = "background:#d7f0d7;color:#114411"
_FOOLED = "background:#f7d4d4;color:#661111;font-weight:bold"
# 4 px each side keeps two cells' text 9 px apart and the eleven rounds inside a notebook at 1280 px
# with JupyterLab's file browser open; the line height is the table's own, not the HTML widget's 28 px.
_CELL = "padding:2px 4px;border:1px solid #ccc;text-align:center;font-size:12px;line-height:1.35"


def scoreboard_html(results: Iterable["RoundResult"], *, highlight: str | None = None) -> str:
    """The scoreboard as an HTML table (rounds as columns, one row per node), then what each fooled node did."""
    results = list(results)
    if not results:
        return "<p><i>No round played yet.</i></p>"
    rounds = list(dict.fromkeys(r.round for r in results))
    nodes = list(dict.fromkeys(r.node for r in results))
    by = {(r.node, r.round): r for r in results}
    head = "".join(f'<th style="{_CELL};writing-mode:horizontal-tb;max-width:90px">{html.escape(name)}</th>'
                   for name in rounds)
    rows = []
    for node in nodes:
        cells = []
        for name in rounds:
            r = by.get((node, name))
            if r is None:
                cells.append(f'<td style="{_CELL}"></td>')
            elif r.held:
                cells.append(f'<td class="labkit-held" style="{_CELL};{_HELD}">held</td>')
            else:
                cells.append(f'<td class="labkit-fooled" style="{_CELL};{_FOOLED}" '
                             f'title="{html.escape(r.why)}">fooled</td>')
        held = sum(1 for name in rounds if (node, name) in by and by[(node, name)].held)
        weight = "font-weight:bold;" if node == highlight else ""
        rows.append(f'<tr><th style="{_CELL};{weight}text-align:left">{html.escape(node)}</th>{"".join(cells)}'
                    f'<td style="{_CELL}">{held}/{len(rounds)}</td></tr>')
    table = (f'<table style="border-collapse:collapse"><tr><th style="{_CELL}">node</th>{head}'
             f'<th style="{_CELL}">held</th></tr>{"".join(rows)}</table>')
    fooled = [r for r in results if not r.held]
    notes = "".join(f"<li><b>{html.escape(r.node)}</b>, {html.escape(r.round)} "
                    f"(tests {html.escape(r.targets or 'labkit rules')}): {html.escape(r.why)}</li>" for r in fooled)
    return table + (f'<ul style="font-size:12px">{notes}</ul>' if notes else "")


class Scoreboard:
    """An ipywidgets HTML box showing the scoreboard; ``update(results)`` adds a round and redraws."""

    def __init__(self, *, highlight: str | None = None):
        import ipywidgets as widgets

        self.results: list = []
        self.highlight = highlight
        self.html = widgets.HTML(scoreboard_html(()))
        self.widget = widgets.VBox([self.html], layout=widgets.Layout(max_width="1240px", overflow_x="auto"))
        self.widget.add_class("labkit-scoreboard")  # how the browser tests find it in the page

    def update(self, results: Iterable["RoundResult"]) -> None:
        self.results += list(results)
        self.html.value = scoreboard_html(self.results, highlight=self.highlight)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
