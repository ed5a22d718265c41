"""Progress bars for files moving by BitTorrent (notebooks 05 and 07).

One bar per peer, with its rate while it downloads and the time it took
once it has every piece, driven by the progress callback of
:mod:`labkit.sharing.swarm` (``LocalSwarm.run(progress=...)``) or of a
:class:`~labkit.sharing.transfer.Transfer` (``Transfer.wait(progress=...)``).
A bar shows the share of the file whose pieces have passed their SHA-1
check, so it reaches 100% only for a complete, verified copy.

Test hooks: ``w.bars`` (peer name -> FloatProgress, 0 to 100), ``w.run()``,
``w.wait()``, ``w.result`` (the SwarmResult) and ``w.peers_frame()`` (its table).
"""

from __future__ import annotations

import html
import threading
from typing import TYPE_CHECKING, Callable, Iterable

import ipywidgets as widgets

from ..lessons.display import tint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..sharing.swarm import LocalSwarm, SwarmResult
    from ..sharing.transfer import TransferStatus

__all__ = ["SwarmProgress", "swarm_progress", "human_bytes"]


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


class SwarmProgress(widgets.VBox):
    """A bar per peer; ``update(name, status)`` is the progress callback, ``run()`` drives a LocalSwarm."""

    def __init__(self, names: Iterable[str] = (), *, swarm: "LocalSwarm | None" = None,
                 labels: dict[str, str] | None = None, title: str = "", timeout: float = 120.0):
        self.swarm = swarm
        self.labels = dict(labels or {})  # the swarm's peer name ("peer 1") -> the name shown (and used in bars)
        self.timeout = timeout
        self.result: SwarmResult | None = None
        self.error: BaseException | None = None
        self.bars: dict[str, widgets.FloatProgress] = {}
        self.infos: dict[str, widgets.HTML] = {}
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.title = widgets.HTML(f"<b>{html.escape(title)}</b>" if title else "")
        self.rows = widgets.VBox()
        self.summary = widgets.HTML()
        super().__init__([self.title, self.rows, self.summary])
        self.add_class("labkit-swarm")  # how the browser tests find it in the page
        for name in names:
            self._row(self.labels.get(name, name))

    # --- the bars -------------------------------------------------------------------

    def _row(self, name: str) -> widgets.FloatProgress:
        with self._lock:
            if name not in self.bars:
                bar = widgets.FloatProgress(value=0.0, min=0.0, max=100.0, bar_style="info",
                                            layout={"width": "24em"})
                info = widgets.HTML("waiting")
                self.bars[name], self.infos[name] = bar, info
                label = widgets.Label(name, layout={"width": "6em"})
                self.rows.children = [*self.rows.children, widgets.HBox([label, bar, info])]
            return self.bars[name]

    def update(self, name: str, status: "TransferStatus") -> None:
        """Show one peer's status: the progress callback of a LocalSwarm (one call per peer and report)."""
        name = self.labels.get(name, name)
        bar = self._row(name)
        bar.value = 100.0 * status.progress
        if status.complete:
            bar.value, bar.bar_style = 100.0, "success"
            self.infos[name].value = f"done in {status.elapsed:.2f} s"
        elif status.hash_failures:
            bar.bar_style = "warning"
            self.infos[name].value = (f"{status.progress:.0%} · {human_bytes(status.download_rate)}/s · "
                                      f"{status.hash_failures} bad piece(s) fetched again")
        else:
            self.infos[name].value = (f"{status.progress:.0%} · {human_bytes(status.download_rate)}/s · "
                                      f"{status.peers} peer(s)")

    def callback(self, name: str) -> Callable[["TransferStatus"], None]:
        """A one-argument callback for ``Transfer.wait(progress=...)`` that updates the bar ``name``."""
        self._row(name)
        return lambda status: self.update(name, status)

    def show_result(self, result: "SwarmResult") -> None:
        """Final figures: each peer's time and upload, and what the seeder sent."""
        self.result = result
        size = result.torrent.size
        for report in result.reports[1:]:
            name = self.labels.get(report.name, report.name)
            bar = self._row(name)
            if report.path is not None and report.finished_s is not None:
                bar.value, bar.bar_style = 100.0, "success"
                self.infos[name].value = (f"done in {report.finished_s:.2f} s · "
                                                  f"uploaded {human_bytes(report.uploaded)} to other peers")
        seeder = result.seeder
        mode = "BitTorrent: peers trade pieces" if result.exchange else "one server: every byte from the seeder"
        cap = f", seeder capped at {human_bytes(result.upload_limit)}/s" if result.upload_limit else ""
        self.summary.value = (
            f"<div class='labkit-swarm-summary'>{len(result.reports) - 1} peer(s) had the whole "
            f"{human_bytes(size)} file after <b>{result.seconds:.2f} s</b> ({mode}{cap}). "
            f"The seeder uploaded {human_bytes(seeder.uploaded)} = {seeder.uploaded / size:.1f}× the file.</div>"
        )

    def peers_frame(self) -> "pd.DataFrame | None":
        """The result's table (``SwarmResult.peers_frame``), or None before a swarm has finished."""
        return self.result.peers_frame() if self.result is not None else None

    # --- running a swarm ------------------------------------------------------------

    def run(self, *, background: bool = False) -> "SwarmResult | None":
        """Run the swarm with the bars as its progress callback; returns its result (None if background)."""
        if self.swarm is None:
            raise ValueError("this widget has no swarm to run; pass update() as a progress callback instead")
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the swarm is already running")
        self.error = None
        if background:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
            return None
        self._run()
        if self.error is not None:
            raise self.error
        return self.result

    def _run(self) -> None:
        try:
            result = self.swarm.run(timeout=self.timeout, progress=self.update)
        except Exception as exc:  # shown in the widget and re-raised by run()/wait()
            self.error = exc
            style = tint("error")
            self.summary.value = f"<div class='labkit-error' style='{style}'>{html.escape(str(exc))}</div>"
            for bar in self.bars.values():
                if bar.value < 100:
                    bar.bar_style = "danger"
            return
        self.show_result(result)

    def wait(self, timeout: float | None = None) -> "SwarmResult | None":
        """Wait for a background run; return its result or raise its error."""
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.timeout + 10)
            if self._thread.is_alive():
                raise TimeoutError("the swarm is still running")
        if self.error is not None:
            raise self.error
        return self.result


def swarm_progress(swarm: "LocalSwarm", *, names: Iterable[str] | None = None, title: str = "",
                   timeout: float = 120.0) -> SwarmProgress:
    """Bars for a LocalSwarm, one per peer; call ``w.run()`` to start it.

    A LocalSwarm calls its peers "peer 1", "peer 2"...; ``names`` shows
    (and keys ``w.bars`` by) other names instead, e.g. ["bob", "carol"].
    """
    own = [f"peer {i}" for i in range(1, len(swarm.dest_dirs) + 1)]
    shown = list(names) if names is not None else own
    if len(shown) != len(own):
        raise ValueError(f"{len(own)} peers but {len(shown)} names")
    return SwarmProgress(own, swarm=swarm, labels=dict(zip(own, shown)), title=title, timeout=timeout)
