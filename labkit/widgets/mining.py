"""The difficulty widget (notebook 03): choose a difficulty, mine a block, watch the attempts climb.

A slider picks the difficulty, 0 to 6 leading hex zeros; Mine starts the
search in a background thread, so the notebook stays responsive and Cancel
works. While it runs, the miner's progress callback updates the attempts
and attempts per second about ten times a second. When a nonce is found the
widget shows it, the hash with its leading zeros highlighted, and a row in
a history table, so moving the slider up one step at a time shows the work
growing sixteen-fold per digit.

The block is the real thing: ``labkit.chain.mine_block`` with the chosen
miner, signed by the wallet, and checked with ``verify_block`` at the
chosen difficulty.

Test hooks: ``w.slider``, ``w.miner_choice``, ``w.mine_button``,
``w.cancel_button``, ``w.wait(timeout)`` (returns the MiningResult once the
current run is over), ``w.result`` (MiningResult or None), ``w.block``,
``w.cancelled``, ``w.attempts_label``, ``w.rate_label``, ``w.nonce_label``,
``w.hash_html`` and ``w.history`` (one dict per finished run).
"""

from __future__ import annotations

import datetime as dt
import html
import threading
import time
from typing import TYPE_CHECKING, Callable, Mapping

import ipywidgets as widgets

from ..block import Block
from ..chain import Entry, Link, mine_block, verify_block
from ..errors import InvalidBlock, MiningCancelled
from ..network import Network
from ..fastmine import default_miner
from ..pow import MiningProgress, MiningResult, expected_attempts, mine
from ..lessons.data import DEMO_START
from ..lessons.display import frame_table, tint
from ..wallet import Wallet

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MAX_SLIDER", "default_miners", "highlight_zeros", "DifficultyWidget", "difficulty_widget"]

MAX_SLIDER = 6  # hex digits; 7 would take the reference miner hours


def default_miners() -> dict[str, Callable]:
    """The two miners a learner can compare: the seed's loop and labkit's fast one (the default miner)."""
    return {"reference": mine, "fast": default_miner()}


def highlight_zeros(hash_hex: str, difficulty: int) -> str:
    """HTML of a hash with its first ``difficulty`` digits (the zeros that count) highlighted."""
    head, tail = hash_hex[:difficulty], hash_hex[difficulty:]
    mark = f'<span style="{tint("success", 35)};font-weight:bold">{html.escape(head)}</span>' if head else ""
    return f'<code class="labkit-hash">{mark}{html.escape(tail)}</code>'


def _count(value: float) -> str:
    return f"{value:,.0f}"


class DifficultyWidget(widgets.VBox):
    """Mine one block at a chosen difficulty, in a background thread, with live progress."""

    def __init__(
        self,
        network: Network,
        wallet: Wallet,
        contract: dict,
        *,
        parent: Entry | Link | None = None,
        timestamp: dt.datetime | None = None,
        difficulty: int | None = None,
        miners: Mapping[str, Callable] | None = None,
        max_difficulty: int = MAX_SLIDER,
    ):
        if timestamp is None:  # fixed, so a run is reproducible; after the parent's, so the block is valid
            when = parent.link.time if isinstance(parent, Entry) else parent.time if parent else None
            timestamp = DEMO_START if when is None else when + dt.timedelta(minutes=1)
        self.network = network
        self.wallet = wallet
        self.contract = contract
        self.parent = parent
        self.timestamp = timestamp
        self.miners = dict(miners or default_miners())
        self.result: MiningResult | None = None
        self.block: Block | None = None
        self.cancelled: MiningCancelled | None = None
        self.error: BaseException | None = None  # an unexpected failure, re-raised by wait()
        self.history: list[dict] = []
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._rate: float | None = None  # attempts/s of the last run, for the time estimate

        start = network.difficulty if difficulty is None else difficulty
        label = {"description_width": "80px"}
        self.slider = widgets.IntSlider(value=min(start, max_difficulty), min=0, max=max_difficulty,
                                        description="difficulty", style=label)
        self.miner_choice = widgets.ToggleButtons(options=list(self.miners), description="miner", style=label)
        self.mine_button = widgets.Button(description="Mine", button_style="primary", icon="hammer")
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.expected_html = widgets.HTML()
        self.attempts_label = widgets.Label("attempts: 0")
        self.rate_label = widgets.Label("attempts/s: –")
        self.elapsed_label = widgets.Label("time: –")
        self.nonce_label = widgets.Label("nonce: –")
        self.hash_html = widgets.HTML("hash: –")
        self.status_html = widgets.HTML()
        self.status_html.add_class("labkit-mining-status")  # the verdict: found and valid, or why not
        self.history_html = widgets.HTML()

        self.mine_button.on_click(lambda _: self.start())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.slider.observe(lambda _: self._show_expected(), names="value")
        self.miner_choice.observe(lambda _: self._show_expected(), names="value")
        self._show_expected()
        super().__init__([
            widgets.HBox([self.slider, self.expected_html]),
            self.miner_choice,
            widgets.HBox([self.mine_button, self.cancel_button]),
            widgets.HBox([self.attempts_label, self.rate_label, self.elapsed_label],
                         layout=widgets.Layout(justify_content="space-between", width="600px")),
            self.nonce_label, self.hash_html, self.status_html, self.history_html,
        ])
        self.add_class("labkit-difficulty-widget")  # how the browser tests find it in the page

    # --- running ------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> threading.Thread | None:
        """Start mining at the slider's difficulty (what the Mine button does); None if already running."""
        if self.running:
            return None
        difficulty, name = self.slider.value, self.miner_choice.value
        self.result = self.block = self.cancelled = self.error = None
        self._cancel.clear()
        self._busy(True)
        self.attempts_label.value, self.rate_label.value = "attempts: 0", "attempts/s: –"
        self.nonce_label.value, self.hash_html.value = "nonce: …", "hash: …"
        self.status_html.value = f"mining at difficulty {difficulty} with the {html.escape(name)} miner…"
        self._thread = threading.Thread(target=self._run, args=(difficulty, name), daemon=True,
                                        name="labkit-difficulty-widget")
        self._thread.start()
        return self._thread

    def cancel(self) -> None:
        """Stop the current run (what the Cancel button does); the miner raises MiningCancelled."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> MiningResult | None:
        """Block until the current run is over; the result, or None if it was cancelled."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"mining still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def _run(self, difficulty: int, name: str) -> None:
        miner = self.miners[name]
        found: list[MiningResult] = []

        def keep(*args, **kwargs) -> MiningResult:  # mine_block returns the block; keep the result too
            found.append(miner(*args, **kwargs))
            return found[-1]

        network = self.network.with_difficulty(difficulty)
        started = time.perf_counter()
        try:
            block = mine_block(network, self.wallet, self.contract, parent=self.parent,
                               timestamp=self.timestamp, miner=keep, progress=self._progress, cancel=self._cancel)
            verify_block(block, network, self.parent)
        except MiningCancelled as exc:
            self.cancelled = exc
            self.attempts_label.value = f"attempts: {_count(exc.attempts)}"
            self.status_html.value = f"cancelled after {_count(exc.attempts)} attempts"
        except InvalidBlock as exc:  # would be a bug in a miner: say so plainly
            self.error = exc
            self.status_html.value = f'<span style="{tint("error")}">the mined block is invalid: {html.escape(str(exc))}</span>'
        except BaseException as exc:  # noqa: BLE001  (reported to the caller through wait())
            self.error = exc
            self.status_html.value = f'<span style="{tint("error")}">{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</span>'
        else:
            self.result, self.block = found[-1], block
            self._finished(difficulty, name, found[-1], time.perf_counter() - started)
        finally:
            self._busy(False)

    def _progress(self, progress: MiningProgress) -> None:
        self.attempts_label.value = f"attempts: {_count(progress.attempts)}"
        self.rate_label.value = f"attempts/s: {_count(progress.rate)}"
        self.elapsed_label.value = f"time: {progress.seconds:.1f} s"

    def _finished(self, difficulty: int, name: str, result: MiningResult, total: float) -> None:
        self._rate = result.rate or None
        self.attempts_label.value = f"attempts: {_count(result.attempts)}"
        self.rate_label.value = f"attempts/s: {_count(result.rate)}"
        self.elapsed_label.value = f"time: {result.seconds:.3f} s"
        self.nonce_label.value = f"nonce: {result.nonce:,}"
        self.hash_html.value = "hash: " + highlight_zeros(result.hash, difficulty)
        expected = expected_attempts(difficulty)
        # Nonces are tried from 0 upwards, so the winner is the (nonce+1)-th in order. Parallel
        # workers also hash nonces above it before they hear of the win: say so, or the count
        # would look like bad luck.
        in_order = result.nonce + 1
        extra = (f" ({_count(result.attempts)} hashes computed in all: the other workers were already past it)"
                 if result.attempts > in_order else "")
        self.status_html.value = (f"found after {_count(in_order)} attempts in nonce order, "
                                  f"{in_order / expected:.2f} × the expected {_count(expected)}{extra}; "
                                  f"the block is valid at difficulty {difficulty} (signed by {html.escape(self.wallet.name)}, "
                                  f"mining and signing took {total:.2f} s)")
        self.history.append({"difficulty": difficulty, "miner": name, "nonce": result.nonce,
                             "attempts": result.attempts, "expected": expected,
                             "seconds": round(result.seconds, 4), "attempts/s": round(result.rate)})
        self.history_html.value = frame_table(self.runs_frame()).to_html()
        self._show_expected()

    def _busy(self, busy: bool) -> None:
        self.mine_button.disabled = busy
        self.slider.disabled = busy
        self.miner_choice.disabled = busy
        self.cancel_button.disabled = not busy

    def _show_expected(self) -> None:
        d = self.slider.value
        text = f"expected attempts: 16<sup>{d}</sup> = {_count(expected_attempts(d))}"
        if self._rate:
            text += f" ≈ {expected_attempts(d) / self._rate:,.2f} s at the last run's speed"
        self.expected_html.value = text

    def runs_frame(self) -> "pd.DataFrame":
        """Every finished run as a table (the widget shows the same)."""
        import pandas as pd

        columns = ["difficulty", "miner", "nonce", "attempts", "expected", "seconds", "attempts/s"]
        return pd.DataFrame(self.history, columns=columns)


def difficulty_widget(
    network: Network,
    wallet: Wallet,
    contract: dict,
    *,
    parent: Entry | Link | None = None,
    timestamp: dt.datetime | None = None,
    difficulty: int | None = None,
    miners: Mapping[str, Callable] | None = None,
    max_difficulty: int = MAX_SLIDER,
) -> DifficultyWidget:
    """The difficulty widget: mine ``contract`` on ``parent`` at the slider's difficulty, signed by ``wallet``.

    ``timestamp`` is fixed (by default the demo start, or a minute after the
    parent) so a run is reproducible: the same difficulty always finds the
    same nonce. ``miners`` maps a name to a miner (default: the reference
    and the fast one).
    """
    return DifficultyWidget(network, wallet, contract, parent=parent, timestamp=timestamp,
                            difficulty=difficulty, miners=miners, max_difficulty=max_difficulty)
