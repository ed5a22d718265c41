"""The fork-rate simulation (labkit.lessons.forkrate) against the formula, its laws, its errors and the paper."""

from __future__ import annotations

import dataclasses
import math
import textwrap

import pytest

from labkit.errors import LabkitError, SimulationError
from labkit.lessons import forkrate
from labkit.lessons.forkrate import (
    BITCOIN_2013,
    PAPER_FORK_RATE,
    PAPER_INTERVAL,
    ForkStats,
    Propagation,
    expected_fork_rate,
    fork_rate_frame,
    hops,
    paper_frame,
    plot_fork_rates,
    simulate,
)

MEASURED = [0.42, 0.38, 0.95, 0.51, 0.47, 1.3, 0.44, 0.61]  # seconds, as a classroom of four might measure


def within(rate: float, expected: float, blocks: int, sigmas: float = 4.0) -> bool:
    """``rate`` is within ``sigmas`` standard errors of ``expected`` (binomial, over ``blocks`` blocks)."""
    return abs(rate - expected) <= sigmas * math.sqrt(expected * (1 - expected) / blocks)


# --- the formula -------------------------------------------------------------


@pytest.mark.parametrize("nodes, interval, delay", [(100, 600, 30), (8, 60, 10), (10_000, 10, 5), (2, 1, 3)])
def test_a_fixed_delay_forks_as_the_formula_says(nodes, interval, delay):
    stats = simulate(nodes, interval, delay, blocks=200_000, seed=7)
    expected = (1 - 1 / nodes) * (1 - math.exp(-delay / interval))
    assert expected_fork_rate(interval, delay, nodes=nodes) == pytest.approx(expected)
    assert within(stats.rate, expected, stats.blocks), (stats, expected)
    assert stats.mean_delay == pytest.approx(delay)


def test_measured_delays_fork_as_the_formula_averaged_over_them():
    stats = simulate(4, 2.0, MEASURED, blocks=200_000, seed=3)
    expected = sum(1 - math.exp(-d / 2.0) for d in MEASURED) / len(MEASURED) * (1 - 1 / 4)
    assert expected_fork_rate(2.0, MEASURED, nodes=4) == pytest.approx(expected)
    assert within(stats.rate, expected, stats.blocks), (stats, expected)


def test_lognormal_delays_fork_as_the_formula_averaged_over_them():
    stats = simulate(BITCOIN_2013.nodes, 60, BITCOIN_2013, blocks=200_000, seed=5)
    expected = expected_fork_rate(60, BITCOIN_2013, nodes=BITCOIN_2013.nodes)
    assert within(stats.rate, expected, stats.blocks), (stats, expected)
    # Below the formula at the mean delay: 1 - exp(-d/T) is concave, so averaging it gives less (Jensen).
    assert expected < expected_fork_rate(60, BITCOIN_2013.mean)


# --- laws --------------------------------------------------------------------


@pytest.mark.parametrize("delays", [0, 0.0, [0.0, 0.0]])
def test_no_delay_no_forks(delays):
    stats = simulate(1000, 1.0, delays, blocks=50_000, seed=1)
    assert (stats.stale, stats.rate, stats.stderr) == (0, 0.0, 0.0)
    assert expected_fork_rate(1.0, delays) == 0.0


def test_one_miner_never_forks_itself_however_slow_the_network():
    assert simulate(1, 1.0, 1_000.0, blocks=10_000, seed=1).stale == 0
    assert expected_fork_rate(1.0, 1_000.0, nodes=1) == 0.0


def test_the_rate_grows_with_the_delay_and_falls_with_the_interval():
    by_delay = [simulate(50, 60, delay, blocks=100_000, seed=2).rate for delay in (1, 3, 10, 30, 100)]
    by_interval = [simulate(50, interval, 10, blocks=100_000, seed=2).rate for interval in (5, 20, 60, 300, 1200)]
    assert by_delay == sorted(by_delay) and len(set(by_delay)) == len(by_delay)
    assert by_interval == sorted(by_interval, reverse=True) and len(set(by_interval)) == len(by_interval)


def test_only_the_ratio_of_delay_to_interval_matters():
    # Same seed: the gaps of the second run are those of the first times ten, and so are the delays.
    assert simulate(30, 60, 6, blocks=50_000, seed=4).stale == simulate(30, 600, 60, blocks=50_000, seed=4).stale


def test_a_seed_gives_the_same_blocks():
    first = simulate(100, 600, BITCOIN_2013, blocks=20_000, seed=11)
    assert simulate(100, 600, BITCOIN_2013, blocks=20_000, seed=11) == first
    assert simulate(100, 600, BITCOIN_2013, blocks=20_000, seed=12) != first
    assert fork_rate_frame(nodes=[8, 100], intervals=[10, 600], blocks=5_000, seed=3).equals(
        fork_rate_frame(nodes=[8, 100], intervals=[10, 600], blocks=5_000, seed=3))


def test_fork_stats_is_a_frozen_record():
    stats = simulate(8, 10, 1.0, blocks=1_000, seed=0)
    assert isinstance(stats, ForkStats) and stats.blocks == 1_000 and stats.rate == stats.stale / 1_000
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.stale = 0
    assert "8 nodes" in str(stats) and f"{stats.stale:,} stale of 1,000 blocks" in str(stats)
    assert stats._repr_html_() == f"<p>{stats}</p>"


# --- network size --------------------------------------------------------------


@pytest.mark.parametrize("nodes, expected", [(1, 1.0), (4, 1.0), (8, 1.0), (64, 2.0), (512, 3.0), (4096, 4.0)])
def test_hops_grow_with_the_log_of_the_network(nodes, expected):
    assert hops(nodes) == pytest.approx(expected)


def test_a_delay_measured_on_one_size_is_stretched_by_the_ratio_of_hops():
    measured = Propagation.measured(MEASURED, nodes=4)
    assert measured.mean == pytest.approx(sum(MEASURED) / len(MEASURED))
    stats = simulate(4096, 30, measured, blocks=10_000, seed=0)  # 4 hops against 1
    assert stats.mean_delay == pytest.approx(4 * measured.mean, rel=0.05)
    assert simulate(4, 30, measured, blocks=10_000, seed=0).mean_delay == pytest.approx(measured.mean, rel=0.05)


def test_the_frame_has_a_row_per_size_and_interval_each_near_the_formula():
    blocks = 40_000
    frame = fork_rate_frame(calibration=MEASURED, measured_on=4, blocks=blocks)
    assert list(frame.columns) == ["nodes", "interval", "hops", "mean_delay", "blocks", "stale", "rate", "stderr",
                                   "expected"]
    assert len(frame) == 4 * 6 and sorted(set(frame["nodes"])) == [8, 100, 1000, 10_000]
    assert list(frame.loc[frame["nodes"] == 8, "mean_delay"]) == pytest.approx([sum(MEASURED) / len(MEASURED)] * 6)
    for row in frame.itertuples():
        assert within(row.rate, row.expected, blocks), row
    for _, group in frame.groupby("interval"):  # bigger networks, longer delays, more forks
        assert list(group.sort_values("nodes")["expected"]) == sorted(group["expected"])
    for _, group in frame.groupby("nodes"):  # longer intervals, fewer forks
        assert list(group.sort_values("interval")["rate"]) == sorted(group["rate"], reverse=True)


# --- the paper -----------------------------------------------------------------


def test_bitcoin_2013_is_the_papers_median_and_mean_and_near_its_95th_percentile():
    assert BITCOIN_2013.quantile(0.5) == pytest.approx(6.5)
    assert BITCOIN_2013.mean == pytest.approx(12.6)
    assert BITCOIN_2013.quantile(0.95) == pytest.approx(40, rel=0.10)  # 95 % of nodes reached after 40 s


def test_the_simulation_at_bitcoins_delays_lands_near_the_papers_fork_rate():
    # Stated tolerance: half a percentage point. The model lands above (about 2.0 % against 1.69 %) because it
    # spreads the hash power evenly over all nodes; the docstring says why.
    stats = simulate(BITCOIN_2013.nodes, PAPER_INTERVAL, BITCOIN_2013, blocks=400_000, seed=0)
    assert abs(stats.rate - PAPER_FORK_RATE) < 0.005, stats
    frame = paper_frame(blocks=100_000)
    assert frame.loc[0, "fork rate"] == PAPER_FORK_RATE
    assert frame.loc[1, "fork rate"] == pytest.approx(1 - math.exp(-12.6 / 600))
    assert (frame["fork rate"] - PAPER_FORK_RATE).abs().max() < 0.005


# --- the plot and the documented call ---------------------------------------------


def test_the_plot_has_a_line_per_size_and_the_papers_point():
    from matplotlib.figure import Figure

    frame = fork_rate_frame(nodes=[8, 1000], intervals=[10, 60, 600], blocks=5_000)
    figure = plot_fork_rates(frame)
    assert isinstance(figure, Figure)
    (ax,) = figure.axes
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert labels == ["8 nodes", "1,000 nodes", "Bitcoin 2013: 1.69% (Decker and Wattenhofer)"]
    star = ax.get_lines()[-1]
    assert (list(star.get_xdata()), list(star.get_ydata())) == ([PAPER_INTERVAL], [PAPER_FORK_RATE])
    assert len(ax.get_lines()) == 2 * 2 + 1  # simulated and formula per size, then the paper
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_the_docstrings_example_runs():
    doc = forkrate.__doc__
    example = textwrap.dedent(doc.split("::\n", 1)[1])
    namespace: dict = {}
    exec(compile(example, "forkrate's docstring", "exec"), namespace)
    assert "frame" in namespace and len(namespace["frame"]) == 24


# --- bad arguments -----------------------------------------------------------------

GOOD = {"nodes": 8, "interval": 600, "delays": 1.0, "blocks": 100, "seed": 0}
# Each row: the argument, its bad value, and what the message must show of it.
BAD_SIMULATIONS = [
    ("nodes", 0, "0"), ("nodes", -3, "-3"), ("nodes", 2.5, "2.5"), ("nodes", True, "True"), ("nodes", "8", "'8'"),
    ("interval", 0, "0"), ("interval", -1, "-1"), ("interval", math.nan, "nan"), ("interval", math.inf, "inf"),
    ("interval", "600", "'600'"),
    ("blocks", 0, "0"), ("blocks", 10.0, "10.0"),
    ("seed", 1.5, "1.5"), ("seed", "x", "'x'"),
    ("delays", -1, "-1 (item 0)"), ("delays", math.nan, "nan (item 0)"), ("delays", [], "at least one"),
    ("delays", [1, -2], "-2 (item 1)"), ("delays", "fast", "'fast'"), ("delays", None, "None"),
]


@pytest.mark.parametrize("name, value, shown", BAD_SIMULATIONS, ids=[f"{n}={v!r}" for n, v, _ in BAD_SIMULATIONS])
def test_simulate_refuses_bad_arguments_naming_them(name, value, shown):
    with pytest.raises(SimulationError) as caught:
        simulate(**{**GOOD, name: value})
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, LabkitError)
    assert caught.value.name == name and str(caught.value).startswith(f"{name}: ")
    assert shown in str(caught.value)


@pytest.mark.parametrize("call, name", [
    (lambda: Propagation.lognormal(0, 1, nodes=10), "median"),
    (lambda: Propagation.lognormal(5, 4, nodes=10), "mean"),
    (lambda: Propagation.lognormal(5, 6, nodes=0), "nodes"),
    (lambda: Propagation.measured([], nodes=4), "delays"),
    (lambda: BITCOIN_2013.quantile(1.5), "q"),
    (lambda: hops(100, degree=1), "degree"),
    (lambda: expected_fork_rate(0, 1.0), "interval"),
    (lambda: expected_fork_rate(600, 1.0, nodes=0), "nodes"),
    (lambda: fork_rate_frame(calibration=MEASURED), "measured_on"),
    (lambda: fork_rate_frame(calibration=BITCOIN_2013, measured_on=4), "measured_on"),
    (lambda: fork_rate_frame(nodes=[]), "nodes"),
    (lambda: fork_rate_frame(intervals=[]), "intervals"),
    (lambda: fork_rate_frame(nodes=[8, 0], blocks=100), "nodes"),
], ids=["median", "mean-below-median", "lognormal-nodes", "no-measurements", "quantile", "degree",
        "expected-interval", "expected-nodes", "seconds-without-size", "size-twice", "no-sizes", "no-intervals",
        "a-bad-size"])
def test_the_other_functions_refuse_bad_arguments_naming_them(call, name):
    with pytest.raises(SimulationError) as caught:
        call()
    assert caught.value.name == name and isinstance(caught.value, ValueError)
