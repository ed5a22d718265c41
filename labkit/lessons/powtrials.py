"""Measuring proof of work: attempts and time against the expected 16^d, and a plot of both.

Each hex digit of a sha256 hash is 0 with probability 1/16, so a hash with
``d`` leading zeros takes 16^d attempts on average. The number of attempts
is geometric: its standard deviation is about as large as its mean, so one
block can take a tenth or three times the average, and only the average
over many blocks follows 16^d. ``measure_mining`` mines several blocks per
difficulty (each trial a different timestamp, so a different puzzle) and
returns one row per block; ``summary_frame`` averages them; ``plot_mining``
draws attempts and seconds against 16^d on logarithmic axes, where the
expected work is a straight line rising one factor of 16 per digit.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Callable, Iterable

from ..pow import expected_attempts, mine
from ..tokens import GENESIS_HASH, Payload, format_timestamp
from .data import DEMO_START, demo_network, seed_contracts

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure
    from pandas.io.formats.style import Styler

__all__ = ["trial_template", "measure_mining", "summary_frame", "summary_table", "plot_mining"]

COLUMNS = ["miner", "difficulty", "trial", "nonce", "attempts", "seconds", "rate", "expected"]


def trial_template(difficulty: int, trial: int, contract: dict | None = None) -> Payload:
    """The block a trial mines: the seed's first contract, a timestamp ``trial`` seconds after the demo start."""
    when = DEMO_START + dt.timedelta(seconds=trial)
    return Payload(prev_hash=GENESIS_HASH, timestamp=format_timestamp(when),
                   transaction_data=contract if contract is not None else seed_contracts()[0],
                   nonce=0, index=0, difficulty=difficulty)


def measure_mining(
    difficulties: Iterable[int] = range(0, 4),
    trials: int = 5,
    *,
    miner: Callable | None = None,
    label: str | None = None,
    secret: bytes | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> "pd.DataFrame":
    """Mine ``trials`` blocks at each difficulty; one row per block with its attempts and seconds.

    The puzzles are fixed (``trial_template``), so attempts are the same on
    every run and every machine; only the seconds vary. ``label`` names the
    miner in the table (default: its module). ``progress(done, total)`` is
    called after each block.
    """
    import pandas as pd

    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise ValueError(f"trials must be a positive int, not {trials!r}")
    miner = miner or mine
    label = label or getattr(miner, "__module__", None) or "miner"
    secret = demo_network().secret if secret is None else secret
    difficulties = list(difficulties)
    rows, total = [], len(difficulties) * trials
    for d in difficulties:
        for trial in range(trials):
            result = miner(trial_template(d, trial), secret, d)
            rows.append({"miner": label, "difficulty": d, "trial": trial, "nonce": result.nonce,
                         "attempts": result.attempts, "seconds": result.seconds, "rate": result.rate,
                         "expected": expected_attempts(d)})
            if progress is not None:
                progress(len(rows), total)
    return pd.DataFrame(rows, columns=COLUMNS)


def summary_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """Per miner and difficulty: mean, min and max attempts against 16^d, mean seconds, attempts per second."""
    grouped = frame.groupby(["miner", "difficulty"], sort=False)
    summary = grouped.agg(trials=("attempts", "size"), expected=("expected", "first"),
                          mean_attempts=("attempts", "mean"), min_attempts=("attempts", "min"),
                          max_attempts=("attempts", "max"), mean_seconds=("seconds", "mean"),
                          total_attempts=("attempts", "sum"), total_seconds=("seconds", "sum"))
    summary["attempts_per_second"] = summary.pop("total_attempts") / summary.pop("total_seconds")
    summary["mean / expected"] = summary["mean_attempts"] / summary["expected"]
    return summary


SUMMARY_COLUMNS = ["trials", "expected", "mean_attempts", "mean / expected", "mean_seconds", "attempts_per_second"]


def summary_table(summary: "pd.DataFrame") -> "Styler":
    """The columns of ``summary_frame`` that 03 shows, styled by frame_table.

    The headers are written with spaces ("mean attempts"), so a narrow window
    (a projector at 1280 px with JupyterLab's file browser open) wraps them
    instead of cutting the table's last columns off.
    """
    from .display import frame_table

    return frame_table(summary[SUMMARY_COLUMNS].rename(columns=lambda c: c.replace("_", " ")))


def plot_mining(frame: "pd.DataFrame", *, title: str | None = None) -> "Figure":
    """Attempts and seconds per block against difficulty, log scale, with the expected 16^d.

    Each dot is one block; the line through the crosses is the mean; the
    dashed line is 16^d (for time: 16^d divided by the miner's median speed).
    Returns the Figure (closed in pyplot, so a notebook shows it once).
    """
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    miners = list(dict.fromkeys(frame["miner"]))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    d_all = sorted(frame["difficulty"].unique())
    left.plot(d_all, [expected_attempts(d) for d in d_all], "k--", label="expected $16^d$")
    for number, name in enumerate(miners):
        rows = frame[frame["miner"] == name]
        color = colors[number % len(colors)]
        shift = (number - (len(miners) - 1) / 2) * 0.08  # keep two miners' dots apart
        means = rows.groupby("difficulty").agg(attempts=("attempts", "mean"), seconds=("seconds", "mean"))
        left.scatter(rows["difficulty"] + shift, rows["attempts"], s=12, alpha=0.5, color=color)
        left.plot(means.index + shift, means["attempts"], "x-", color=color, label=f"{name}: mean")
        right.scatter(rows["difficulty"] + shift, rows["seconds"], s=12, alpha=0.5, color=color)
        right.plot(means.index + shift, means["seconds"], "x-", color=color, label=f"{name}: mean")
        seconds = rows["seconds"].sum()
        rate = rows["attempts"].sum() / seconds if seconds > 0 else 0.0  # the big runs dominate: steady speed
        if rate > 0:
            right.plot(d_all, [expected_attempts(d) / rate for d in d_all], "--", color=color, alpha=0.7,
                       label=f"{name}: $16^d$ ÷ {rate:,.0f}/s")
    left.set(yscale="log", xlabel="difficulty d (leading hex zeros)", ylabel="attempts per block",
             title="attempts: one factor of 16 per digit")
    right.set(yscale="log", xlabel="difficulty d (leading hex zeros)", ylabel="seconds per block",
              title="time: attempts ÷ attempts per second")
    for axis in (left, right):
        axis.set_xticks(d_all)
        axis.minorticks_off()  # log axes draw many unlabelled minor ticks: slow to lay out, little to read
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    plt.close(fig)
    return fig
