"""The difficulty widget, driven without a browser: set the slider, click Mine, wait, read the result."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("ipywidgets")

from labkit import fastmine, pow  # noqa: E402
from labkit.chain import verify_block  # noqa: E402
from labkit.errors import MiningCancelled  # noqa: E402
from labkit.pow import MiningProgress  # noqa: E402
from labkit.tokens import decode_token  # noqa: E402
from labkit.widgets.mining import difficulty_widget, highlight_zeros  # noqa: E402
from waiting import scaled, wait_until  # noqa: E402


@pytest.fixture
def widget(network, alice, contracts):
    return difficulty_widget(network, alice, contracts[1])


def test_mines_a_valid_block_at_the_sliders_difficulty(widget, network, alice):
    widget.slider.value = 2
    widget.mine_button.click()
    result = widget.wait(timeout=scaled(60))
    assert result is widget.result and result.hash.startswith("00")
    entry = verify_block(widget.block, network.with_difficulty(2), None)
    assert entry.signer == alice.address
    assert decode_token(widget.block.token, network.secret).nonce == result.nonce
    assert widget.attempts_label.value == f"attempts: {result.attempts:,}"
    assert widget.nonce_label.value == f"nonce: {result.nonce:,}"
    assert "attempts/s" in widget.rate_label.value
    assert not widget.mine_button.disabled and widget.cancel_button.disabled
    assert list(widget.runs_frame()["difficulty"]) == [2]


def test_hash_is_shown_with_its_zeros_highlighted(widget):
    widget.slider.value = 3
    widget.mine_button.click()
    result = widget.wait(timeout=scaled(60))
    assert result.hash.startswith("000")
    assert widget.hash_html.value.endswith(highlight_zeros(result.hash, 3))


def test_both_miners_find_the_same_nonce(widget):
    nonces = []
    for name in ("reference", "fast"):
        widget.slider.value = 2
        widget.miner_choice.value = name
        widget.mine_button.click()
        nonces.append(widget.wait(timeout=scaled(60)).nonce)
    assert nonces[0] == nonces[1]
    assert list(widget.runs_frame()["miner"]) == ["reference", "fast"]


def test_difficulty_zero_takes_one_attempt(widget):
    widget.slider.value = 0
    widget.mine_button.click()
    assert widget.wait(timeout=scaled(60)).attempts == 1


def test_slider_covers_zero_to_six(widget):
    assert (widget.slider.min, widget.slider.max) == (0, 6)
    assert widget.slider.value == 2  # the network's difficulty to start with


def test_cancel_stops_a_long_run(widget):
    widget.slider.value = 6  # about 16 million attempts: never finishes within this test
    widget.miner_choice.value = "reference"
    widget.mine_button.click()
    assert widget.running and widget.mine_button.disabled and not widget.cancel_button.disabled
    wait_until(lambda: widget.attempts_label.value != "attempts: 0", timeout=10,
               what="the miner to report its first attempts")
    widget.cancel_button.click()
    assert widget.wait(timeout=scaled(10)) is None
    assert isinstance(widget.cancelled, MiningCancelled) and widget.cancelled.attempts > 0
    assert widget.result is None and widget.block is None
    assert not widget.running and not widget.mine_button.disabled and widget.cancel_button.disabled
    assert "cancelled" in widget.status_html.value


def test_progress_updates_the_labels_while_running(network, alice, contracts):
    release = threading.Event()
    reported = threading.Event()

    def slow_miner(template, secret, difficulty, *, progress=None, cancel=None):
        progress(MiningProgress(12_345, 0.5))
        reported.set()
        release.wait(10)
        return pow.mine(template, secret, difficulty, progress=progress, cancel=cancel)

    widget = difficulty_widget(network, alice, contracts[0], miners={"slow": slow_miner})
    widget.slider.value = 1
    widget.mine_button.click()
    assert reported.wait(10)
    assert widget.attempts_label.value == "attempts: 12,345"
    assert widget.rate_label.value == "attempts/s: 24,690"
    assert widget.start() is None  # a second click while running does nothing
    release.set()
    assert widget.wait(timeout=30).hash.startswith("0")


def test_a_failing_miner_is_reraised_by_wait(network, alice, contracts):
    def broken(*args, **kwargs):
        raise RuntimeError("the miner broke")

    widget = difficulty_widget(network, alice, contracts[0], miners={"broken": broken})
    widget.mine_button.click()
    with pytest.raises(RuntimeError, match="the miner broke"):
        widget.wait(timeout=10)
    assert "RuntimeError" in widget.status_html.value and not widget.mine_button.disabled


def test_wait_times_out(network, alice, contracts):
    release = threading.Event()

    def stuck(template, secret, difficulty, *, progress=None, cancel=None):
        release.wait(10)
        return fastmine.mine(template, secret, difficulty)

    widget = difficulty_widget(network, alice, contracts[0], miners={"stuck": stuck})
    widget.mine_button.click()
    with pytest.raises(TimeoutError):
        widget.wait(timeout=0.05)
    release.set()
    assert widget.wait(timeout=30) is not None


def test_wait_before_any_run_returns_none(widget):
    assert widget.wait(timeout=1) is None


def test_highlight_zeros():
    html = highlight_zeros("000abc", 3)
    assert ">000</span>abc</code>" in html
    assert highlight_zeros("abc", 0) == '<code class="labkit-hash">abc</code>'


def test_mines_on_a_parent_after_its_time(network, alice, bob, contracts):
    from labkit.chain import Chain

    chain = Chain(network.with_difficulty(1))
    chain.mine(alice, contracts[0], miner=fastmine.mine)  # now, not the demo start
    widget = difficulty_widget(network, bob, contracts[1], parent=chain.tip)
    widget.slider.value = 1
    widget.mine_button.click()
    assert widget.wait(timeout=scaled(60)) is not None
    entry = verify_block(widget.block, network.with_difficulty(1), chain.tip)
    assert entry.index == 1 and entry.payload.time > chain.tip.payload.time
