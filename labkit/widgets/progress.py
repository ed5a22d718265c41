"""A progress bar for a long cell: the library reports each step through a callback, this widget draws it.

    runs = Steps(4, "swarm results")
    display(runs)
    swarm_experiment(..., ns=(1, 4), progress=runs.step)   # called once per result

It shows "2 of 4 swarm results · 5 s" while the cell works and "4 of 4 swarm results in 9 s"
when the last step is in, so a cell that takes seconds is never silent.
"""

from __future__ import annotations

import html
import time
from typing import Any, Callable

import ipywidgets as widgets

__all__ = ["Steps"]


class Steps(widgets.HBox):
    """A bar of ``total`` steps; ``step(...)`` (any arguments, so it fits any callback) advances it by one."""

    def __init__(self, total: int, what: str, *, clock: Callable[[], float] = time.monotonic):
        if total < 1:
            raise ValueError(f"a progress bar needs at least one step, not {total}")
        self.total, self.what, self._clock = total, what, clock
        self.started = clock()
        self.done = 0
        self.finished: float | None = None  # the seconds all the steps took, once the last is in
        self.bar = widgets.IntProgress(value=0, min=0, max=total, layout={"width": "20em"})
        self.label = widgets.HTML()
        super().__init__([self.bar, self.label])
        self.add_class("labkit-steps")
        self._draw()

    @property
    def seconds(self) -> float:
        return self._clock() - self.started

    @property
    def text(self) -> str:
        if self.finished is not None:
            return f"{self.total} of {self.total} {self.what} in {self.finished:.0f} s"
        return f"{self.done} of {self.total} {self.what} · {self.seconds:.0f} s"

    def step(self, *_: Any) -> None:
        """One more step done (the arguments a library's callback passes are ignored)."""
        self.done = min(self.done + 1, self.total)
        if self.done == self.total and self.finished is None:
            self.finished = self.seconds
        self._draw()

    def _draw(self) -> None:
        self.bar.value = self.done
        self.bar.bar_style = "success" if self.done >= self.total else ""
        self.label.value = f"&nbsp;{html.escape(self.text)}"

    def __repr__(self) -> str:
        return f"Steps({self.text})"
