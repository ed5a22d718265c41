"""The suite's one waiting helper: polls, returns what it waited for, fails naming it, scales by one variable."""

from __future__ import annotations

import itertools
import time

import pytest

from waiting import FACTOR_ENV, WaitTimeout, scaled, timeout_factor, wait_until


def test_returns_the_first_true_value_of_the_predicate(monkeypatch):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    answers = iter([None, 0, "", "ready"])
    assert wait_until(lambda: next(answers), timeout=5, what="the answer", interval=0) == "ready"


def test_a_time_out_fails_the_test_naming_what_was_awaited(monkeypatch):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    start = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"timed out after 0\.2 s waiting for the tracker's announce") as caught:
        wait_until(lambda: False, timeout=0.2, what="the tracker's announce", interval=0.01)
    assert 0.2 <= time.monotonic() - start < 5
    assert isinstance(caught.value, AssertionError)  # a failed test, not an error in the test


def test_what_may_be_computed_at_the_time_out_only(monkeypatch):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    asked = []
    with pytest.raises(WaitTimeout, match="height 3 of 5"):
        wait_until(lambda: False, timeout=0.05, what=lambda: asked.append(1) or "height 3 of 5", interval=0.01)
    assert asked == [1]


def test_the_pause_between_calls_is_the_callers_when_given(monkeypatch):
    monkeypatch.delenv(FACTOR_ENV, raising=False)
    pumped, count = [], itertools.count()
    wait_until(lambda: next(count) == 3, timeout=5, what="three polls", interval=0.02, pause=pumped.append)
    assert pumped == [0.02, 0.02, 0.02]


def test_the_factor_scales_every_time_out(monkeypatch):
    monkeypatch.setenv(FACTOR_ENV, "3")
    assert timeout_factor() == 3 and scaled(10) == 30
    with pytest.raises(WaitTimeout, match=rf"after 0\.3 s \(0\.1 s times {FACTOR_ENV}=3\)") as caught:
        start = time.monotonic()
        wait_until(lambda: False, timeout=0.1, what="x", interval=0.01)
    assert time.monotonic() - start >= 0.3, caught.value
    monkeypatch.setenv(FACTOR_ENV, "")
    assert timeout_factor() == 1


@pytest.mark.parametrize("text", ["two", "0", "-1", "nan", "inf"])
def test_a_bad_factor_is_refused_by_name(monkeypatch, text):
    monkeypatch.setenv(FACTOR_ENV, text)
    with pytest.raises(ValueError, match=FACTOR_ENV):
        scaled(1)


# --- a test's own time limit (pytest-timeout) is scaled too, by conftest.py -----------------------------


@pytest.mark.timeout(7, method="thread")
def test_a_tests_own_time_limit_is_scaled(request):
    mark = request.node.get_closest_marker("timeout")
    assert mark.args == (7 * timeout_factor(),)
    assert mark.kwargs == {"method": "thread"}


def test_the_default_time_limit_is_scaled(request):
    mark = request.node.get_closest_marker("timeout")
    default = float(request.config.getini("timeout"))
    assert (mark.args[0] if mark else default) == default * timeout_factor()


def test_under_a_factor_a_tests_mark_and_the_default_limit_are_scaled(request):
    """What conftest.py does to each collected test when LABKIT_TIMEOUT_FACTOR is not 1 (here, to a stand-in)."""
    from conftest import _scale_time_limit

    marked = pytest.Function.from_parent(request.node.parent, name="test_a_tests_own_time_limit_is_scaled")
    _scale_time_limit(marked, request.config, 3)
    assert marked.get_closest_marker("timeout").args == (21,)
    assert marked.get_closest_marker("timeout").kwargs == {"method": "thread"}
    plain = pytest.Function.from_parent(request.node.parent, name="test_the_default_time_limit_is_scaled")
    _scale_time_limit(plain, request.config, 2)
    assert plain.get_closest_marker("timeout").args == (2 * float(request.config.getini("timeout")),)
