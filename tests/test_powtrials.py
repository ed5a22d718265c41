"""Measuring proof of work: fixed puzzles, the summary, and the log-scale plot."""

from __future__ import annotations

import functools

import pandas as pd
import pytest

from labkit import fastmine
from labkit.pow import meets_difficulty, token_hash
from labkit.lessons.powtrials import COLUMNS, measure_mining, plot_mining, summary_frame, trial_template
from labkit.tokens import encode_token


@pytest.fixture(scope="module")
def frame():
    return measure_mining(range(0, 3), trials=4, label="reference")


def test_one_row_per_block(frame):
    assert list(frame.columns) == COLUMNS
    assert len(frame) == 3 * 4
    assert list(frame["difficulty"]) == [0] * 4 + [1] * 4 + [2] * 4
    assert (frame["expected"] == 16 ** frame["difficulty"]).all()
    assert (frame["miner"] == "reference").all()


def test_reference_attempts_count_every_nonce_from_zero(frame):
    assert (frame["attempts"] == frame["nonce"] + 1).all()
    assert (frame.loc[frame["difficulty"] == 0, "attempts"] == 1).all()


def test_each_trial_is_a_real_solution(network, frame):
    for row in frame.itertuples():
        token = encode_token(trial_template(row.difficulty, row.trial).with_nonce(row.nonce), network.secret)
        assert meets_difficulty(token_hash(token), row.difficulty)


def test_puzzles_are_fixed_so_attempts_repeat(frame):
    again = measure_mining(range(0, 3), trials=4, label="reference")
    assert list(again["attempts"]) == list(frame["attempts"])


def test_trials_are_different_puzzles(frame):
    assert frame.loc[frame["difficulty"] == 2, "nonce"].nunique() > 1


def test_fast_miner_finds_the_same_blocks(frame):
    fast = measure_mining(range(0, 3), trials=4, miner=functools.partial(fastmine.mine, workers=1), label="fast")
    assert list(fast["attempts"]) == list(frame["attempts"])
    assert (fast["miner"] == "fast").all()


def test_progress_callback():
    seen = []
    measure_mining([1], trials=3, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("trials", [0, -1, 1.5, True])
def test_bad_trials(trials):
    with pytest.raises(ValueError):
        measure_mining([1], trials=trials)


def test_summarize(frame):
    summary = summary_frame(frame)
    assert list(summary.index) == [("reference", 0), ("reference", 1), ("reference", 2)]
    row = summary.loc[("reference", 2)]
    attempts = frame.loc[frame["difficulty"] == 2, "attempts"]
    assert row["trials"] == 4 and row["expected"] == 256
    assert row["mean_attempts"] == attempts.mean()
    assert row["min_attempts"] == attempts.min() and row["max_attempts"] == attempts.max()
    assert row["mean / expected"] == pytest.approx(attempts.mean() / 256)
    assert row["attempts_per_second"] > 0


def test_plot_is_log_scale_and_not_left_open(frame):
    plt = pytest.importorskip("matplotlib.pyplot")
    before = plt.get_fignums()
    both = pd.concat([frame, frame.assign(miner="other")])
    figure = plot_mining(both, title="test")
    attempts, seconds = figure.axes
    assert attempts.get_yscale() == "log" and seconds.get_yscale() == "log"
    labels = [text.get_text() for text in attempts.get_legend().get_texts()]
    assert "expected $16^d$" in labels and "reference: mean" in labels and "other: mean" in labels
    expected_line = attempts.get_lines()[0]
    assert list(expected_line.get_ydata()) == [1, 16, 256]
    assert plt.get_fignums() == before  # closed in pyplot: a notebook shows the returned figure once
