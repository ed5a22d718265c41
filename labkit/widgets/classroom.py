"""The classroom dashboard (notebook 09): every node of a room, its block tree with the forks, its state, its events.

A :class:`~labkit.node.classroom.Classroom` runs one ``node run`` process per
member; each keeps its ``status.json`` current (labkit.node.journal). The
dashboard only reads those files and draws them, four parts:

- **members**: one row per node (``Classroom.frame``): running or stopped, tip,
  height, total work, state digest, queue length, error;
- **the block tree**: every block any node holds among its newest (the
  ``tree`` of each status), one column per height, one box per block coloured
  by its author; the chain the viewed node follows is outlined, blocks off it
  (stale branches, forks lost) are greyed, and each node's name is written
  under the block it stands on;
- **the state**: the viewed node's ``chain.jsonl`` replayed by a fresh
  :class:`~labkit.peer.Peer`, every block checked again, shown as the state
  tables of the other notebooks (``labkit.lessons.tables.state_frames``);
- **the event feed**: the nodes' recent events merged by time, newest last
  (mined, adopted, reorganised with its depth, requeued, refused with the rule,
  ignored with the reason, failed...), each said in a sentence.

``refresh()`` redraws from the files; ``start(every=1.0)`` refreshes in a
background thread until ``stop()``. A node that is just starting has no
status yet, and a file may be replaced while it is read: such a node shows as
"no status yet" and the rest is drawn, so ``refresh`` never raises on it.

The parts are also plain functions returning values (``tree_blocks``,
``tree_svg``, ``describe``, ``feed_frame``, ``state_tables``), so they are
tested without a browser. Test hooks: ``d.members_html``, ``d.tree_html``,
``d.state_html``, ``d.feed_html``, ``d.summary_html`` (their ``.value`` is
the HTML shown), ``d.view`` (the Dropdown of the node whose chain is outlined
and replayed), ``d.refreshes`` (how many refreshes have completed) and
``d.running`` (the background thread is on).
"""

from __future__ import annotations

import html
import threading
import time
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import ipywidgets as widgets

from ..errors import LabkitError
from ..lessons.display import frame_table, tint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..node.classroom import Classroom

__all__ = ["FEED_KINDS", "tree_blocks", "tree_svg", "describe", "feed_frame", "state_tables", "Dashboard", "Watch",
           "dashboard"]

# The events the feed shows: what changes a chain or explains why not. "published", "fetched" and
# "interrupted" happen on every tip change of every node and would push the rest out of view.
FEED_KINDS = ("started", "queued", "mined", "adopted", "reorganised", "requeued", "contract refused", "refused",
              "ignored", "failed", "recovered", "stopped")
_TONE = {"mined": "success", "reorganised": "warn", "requeued": "warn", "ignored": "warn",
         "refused": "error", "contract refused": "error", "failed": "error"}
# Author colours: mid-tone, drawn at partial opacity so the theme's text stays readable on them, light or dark.
_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
            "#7f7f7f")
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _TOP = 84, 40, 24, 30, 22  # px: 7 heights fit a 1280-pixel projector's notebook
_TEXT = "var(--jp-ui-font-color0, #111)"
_MUTED = "var(--jp-ui-font-color2, #888)"


def _short(block_hash: Any, digits: int = 8) -> str:
    return str(block_hash or "")[:digits]


# --- the block tree ----------------------------------------------------------------


def tree_blocks(statuses: Mapping[str, dict | None], view: str | None = None) -> list[dict]:
    """Every block of the nodes' trees once, oldest height first, with who holds it and who stands on it.

    Each row: ``hash``, ``parent`` (16 hex digits, as in the status), ``index``,
    ``author``, ``canonical`` (on the chain ``view`` follows; by default any node's),
    ``held`` (``view`` holds it, or any node does) and ``tips`` (the nodes whose tip it is).
    """
    blocks: dict[str, dict] = {}
    for name, status in statuses.items():
        if not status:
            continue
        tip16 = _short(status.get("tip"), 16)
        for item in status.get("tree") or ():
            row = blocks.setdefault(item["hash"], {"hash": item["hash"], "parent": item["parent"],
                                                   "index": item["index"], "author": item.get("author", "?"),
                                                   "canonical": False, "held": False, "tips": []})
            if view is None or name == view:
                row["canonical"] = row["canonical"] or bool(item.get("canonical"))
                row["held"] = True
            if tip16 and item["hash"] == tip16:
                row["tips"].append(name)
    return sorted(blocks.values(), key=lambda r: (r["index"], not r["canonical"], r["hash"]))


def _colours(authors: Iterable[str]) -> dict[str, str]:
    return {name: _PALETTE[i % len(_PALETTE)] for i, name in enumerate(authors)}


def tree_svg(statuses: Mapping[str, dict | None], view: str | None = None, *, heights: int = 7,
             members: Iterable[str] | None = None) -> str:
    """The block tree as SVG: a column per height (the newest ``heights``), a box per block.

    Boxes are coloured by author (``members`` fixes the colours' order), the
    chain ``view`` follows is outlined in bold, other branches are greyed and
    dashed, a line joins each block to its parent, and the names of the nodes
    standing on a block are written under it.
    """
    rows = tree_blocks(statuses, view)
    if not rows:
        return "<p class='labkit-tree-empty'>no blocks yet</p>"
    top = max(r["index"] for r in rows)
    first = max(min(r["index"] for r in rows), top - heights + 1)
    rows = [r for r in rows if r["index"] >= first]
    colours = _colours(dict.fromkeys([*(members or ()), *sorted({r["author"] for r in rows})]))
    where: dict[str, tuple[float, float]] = {}
    per_height: dict[int, int] = {}
    for r in rows:
        slot = per_height.get(r["index"], 0)
        per_height[r["index"]] = slot + 1
        where[r["hash"]] = ((r["index"] - first) * (_BOX_W + _GAP_X) + 8,
                            _TOP + slot * (_BOX_H + _GAP_Y))
    width = (top - first + 1) * (_BOX_W + _GAP_X) + 8
    height = _TOP + max(per_height.values()) * (_BOX_H + _GAP_Y) + 4
    parts = [f'<svg class="labkit-block-tree" xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" font-family="monospace" font-size="11">']
    for index in range(first, top + 1):  # the height above each column
        x = (index - first) * (_BOX_W + _GAP_X) + 8 + _BOX_W / 2
        parts.append(f'<text x="{x}" y="14" text-anchor="middle" fill="{_MUTED}">height {index}</text>')
    for r in rows:  # edges first, under the boxes
        x, y = where[r["hash"]]
        if r["parent"] in where:
            px, py = where[r["parent"]]
            parts.append(f'<line x1="{px + _BOX_W}" y1="{py + _BOX_H / 2}" x2="{x}" y2="{y + _BOX_H / 2}" '
                         f'stroke="{_TEXT if r["canonical"] else _MUTED}" stroke-width="1.5"/>')
        elif r["index"] > 0:  # its parent is older than the drawing
            parts.append(f'<line x1="{x - _GAP_X / 2}" y1="{y + _BOX_H / 2}" x2="{x}" y2="{y + _BOX_H / 2}" '
                         f'stroke="{_MUTED}" stroke-dasharray="2,2"/>')
    for r in rows:
        x, y = where[r["hash"]]
        state = "canonical" if r["canonical"] else "stale"
        fill = colours[r["author"]] if r["canonical"] else "#9e9e9e"
        stroke = (f'stroke="{_TEXT}" stroke-width="2.5"' if r["canonical"]
                  else f'stroke="{_MUTED}" stroke-width="1" stroke-dasharray="4,3"')
        opacity = "0.45" if r["canonical"] else "0.25"
        title = (f'block {r["hash"]} at height {r["index"]} by {r["author"]}, {state}'
                 + ("" if r["held"] else f", not yet held by {view}"))
        parts.append(f'<g class="labkit-block labkit-{state}" data-hash="{html.escape(r["hash"])}" '
                     f'data-index="{r["index"]}" data-author="{html.escape(r["author"])}">'
                     f'<title>{html.escape(title)}</title>'
                     f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="5" fill="{fill}" '
                     f'fill-opacity="{opacity}" {stroke}/>'
                     f'<text x="{x + _BOX_W / 2}" y="{y + 16}" text-anchor="middle" fill="{_TEXT}">'
                     f'{html.escape(r["hash"][:8])}</text>'
                     f'<text x="{x + _BOX_W / 2}" y="{y + 31}" text-anchor="middle" fill="{_TEXT}" '
                     f'font-family="sans-serif">{html.escape(r["author"])}</text></g>')
        if r["tips"]:
            parts.append(f'<text class="labkit-tips" x="{x + _BOX_W / 2}" y="{y + _BOX_H + 13}" '
                         f'text-anchor="middle" fill="{_TEXT}" font-family="sans-serif" font-size="10">'
                         f'▲ {html.escape(", ".join(r["tips"]))}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --- the event feed -----------------------------------------------------------------


def describe(event: Mapping[str, Any]) -> str:
    """One event of a node's journal said in a sentence (the node itself is named elsewhere)."""
    kind = event.get("event", "?")
    get = event.get
    if kind == "started":
        return f"started on {get('listen')}, its chain at height {get('height')}"
    if kind == "queued":
        return "took a contract from its inbox" if get("source") == "inbox" else "queued a contract"
    if kind == "mined":
        lost = "" if get("canonical") == "canonical" else f" ({get('canonical')})"
        return f"mined block {_short(get('block'))} at height {get('height')}{lost}"
    if kind == "adopted":
        return f"adopted {get('member')}'s tip {_short(get('tip'))}, height {get('height')}"
    if kind == "reorganised":
        return (f"reorganised: rolled back {get('depth')} block(s) after height {get('fork_index')}, "
                f"applied {get('applied')}")
    if kind == "requeued":
        return f"requeued the contract of its orphaned block {_short(get('block'))} (height {get('height')})"
    if kind == "contract refused":
        return f"refused a contract, rule {get('rule')}: {get('reason')}"
    if kind == "refused":
        return f"refused {get('member')}'s chain, rule {get('rule')}: {get('reason')}"
    if kind == "ignored":
        return f"ignored {get('member')}'s pointer: {get('reason')}"
    if kind == "failed":
        return f"failed to {get('action')}: {get('reason')}"
    if kind == "recovered":
        return "can write its folder again"
    if kind == "stopped":
        return f"stopped at height {get('height')}"
    if kind == "fetched":
        return f"fetched {get('member')}'s chain: {get('bytes')} bytes in {get('seconds')} s"
    if kind == "published":
        return f"published its tip, height {get('height')}"
    if kind == "interrupted":
        return f"stopped mining: {get('reason')}"
    return ", ".join(f"{k} {v}" for k, v in event.items() if k not in ("time", "event", "node"))


def feed_frame(statuses: Mapping[str, dict | None], *, kinds: Iterable[str] = FEED_KINDS,
               last: int = 30) -> "pd.DataFrame":
    """The nodes' recent events (from their statuses) merged by time, newest last: time, node, event, what."""
    import pandas as pd

    wanted = set(kinds)
    events = [{"node": name, **e} for name, status in statuses.items() if status
              for e in status.get("events") or () if e.get("event") in wanted]
    events.sort(key=lambda e: (str(e.get("time", "")), e["node"]))
    rows = [{"time": str(e.get("time", ""))[11:23], "node": e["node"], "event": e.get("event", "?"),
             "what": describe(e)} for e in events[-last:]]
    return pd.DataFrame(rows, columns=["time", "node", "event", "what"])


def _feed_html(frame: "pd.DataFrame") -> str:
    if frame.empty:
        return "<p class='labkit-feed-empty'>no events yet</p>"

    def tone(row: "pd.Series") -> list[str]:
        kind = _TONE.get(row["event"])
        return [tint(kind) if kind else ""] * len(row)

    return frame_table(frame).apply(tone, axis=1).set_table_attributes('class="labkit-table labkit-feed"').to_html()


# --- the state ----------------------------------------------------------------------


def state_tables(room: "Classroom", name: str) -> dict[str, "pd.DataFrame"]:
    """``name``'s chain file replayed by a fresh peer (every block checked again): the non-empty state tables."""
    from ..network import Network
    from ..peer import Peer
    from ..lessons.tables import state_frames

    network = Network.load(room.network_file)
    peer = Peer(f"{name} (replayed)", network)
    peer.receive(room.nodes[name].data / "chain.jsonl")
    return {title: frame for title, frame in state_frames(peer.state, network).items() if not frame.empty}


# --- the widget ---------------------------------------------------------------------


class Dashboard(widgets.VBox):
    """A live view of a classroom's nodes, read from their files: members, the block tree, the state, events."""

    def __init__(self, room: "Classroom", *, view: str | None = None, heights: int = 7, feed: int = 15,
                 kinds: Iterable[str] = FEED_KINDS):
        self.room = room
        self.heights, self.feed, self.kinds = heights, feed, tuple(kinds)
        names = list(room.nodes)
        self.view = widgets.Dropdown(options=names, value=view or names[0], description="view of",
                                     layout={"width": "14em"})
        self.refresh_button = widgets.Button(description="refresh", icon="refresh", layout={"width": "8em"})
        self.live = widgets.ToggleButton(value=False, description="live", icon="play", layout={"width": "7em"},
                                         tooltip="refresh every second")
        self.summary_html = widgets.HTML()
        self.members_html = widgets.HTML()
        self.tree_html = widgets.HTML(layout={"overflow": "auto"})
        self.state_html = widgets.HTML()
        self.feed_html = widgets.HTML()
        self.refreshes = 0
        self.watches: list[Watch] = []  # lines in long cells that follow the room while the cell runs
        self._state_key: tuple | None = None  # (node, size, mtime) of the chain file last replayed
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.refresh_button.on_click(lambda _: self.refresh())
        self.view.observe(lambda _: self.refresh(), names="value")
        self.live.observe(lambda change: self.start() if change["new"] else self.stop(), names="value")
        sections = widgets.Accordion(children=[self.state_html, self.feed_html])
        sections.set_title(0, "state (the viewed node's chain, replayed)")
        sections.set_title(1, "events, newest last")
        sections.selected_index = 1
        self.sections = sections
        super().__init__([widgets.HBox([self.view, self.refresh_button, self.live]), self.summary_html,
                          self.members_html, self.tree_html, sections])
        self.add_class("labkit-classroom-dashboard")  # how the browser tests find it in the page
        self.refresh()

    # --- drawing --------------------------------------------------------------------

    def refresh(self) -> None:
        """Read every node's status and the viewed chain again, and redraw."""
        with self._lock:
            statuses = self.room.statuses()  # None for a node with no (readable) status yet
            self.summary_html.value = self._summary(statuses)
            self.members_html.value = frame_table(self.room.frame()).to_html()
            self.tree_html.value = tree_svg(statuses, self.view.value, heights=self.heights,
                                            members=self.room.nodes)
            self.feed_html.value = _feed_html(feed_frame(statuses, kinds=self.kinds, last=self.feed))
            self.state_html.value = self._state()
            self.refreshes += 1
            summary = self._summary_line(statuses)[0]
            for watch in self.watches:
                watch.show(summary)
            self.watches = [w for w in self.watches if not w.finished]

    def watch(self, what: str) -> "Watch":
        """A line for a long cell to display: what it waits for, the seconds so far and the room's summary,
        redrawn at each refresh until ``watch.done()``, so the cell is not silent with the dashboard out of view."""
        line = Watch(what)
        with self._lock:
            self.watches.append(line)
        line.show(self._summary_line(self.room.statuses())[0])
        return line

    def _summary(self, statuses: Mapping[str, dict | None]) -> str:
        line, kind = self._summary_line(statuses)
        return f"<div class='labkit-dashboard-summary' style='{tint(kind)};padding:4px 8px'>{html.escape(line)}</div>"

    def _summary_line(self, statuses: Mapping[str, dict | None]) -> tuple[str, str]:
        running = [n for n, p in self.room.nodes.items() if p.running]
        waiting = [n for n, s in statuses.items() if s is None]
        tips = {(s.get("tip"), s.get("digest")) for n, s in statuses.items() if s and n in running}
        if not running:
            line, kind = "no node is running", "warn"
        elif tips and all(tip is None for tip, _ in tips):
            line, kind = f"{len(running)} running nodes, no block mined yet", "warn"
        elif len(tips) == 1 and not set(waiting) & set(running):
            tip = next(iter(tips))[0]
            height = statuses[running[0]].get("height")
            who = f"all {len(running)} running nodes agree" if len(running) > 1 else f"{running[0]} runs alone"
            line, kind = f"{who}: tip {_short(tip, 12)}, height {height}", "success"
        else:
            line, kind = f"{len(running)} running nodes on {len(tips)} different tips: not agreed yet", "warn"
        if waiting:
            line += f"; no status yet from {', '.join(waiting)}"
        return line, kind

    def _state(self) -> str:
        name = self.view.value
        path = self.room.nodes[name].data / "chain.jsonl"
        try:
            info = path.stat()
        except FileNotFoundError:
            self._state_key = None
            return f"<p>{html.escape(name)} has no chain yet</p>"
        key = (name, info.st_size, info.st_mtime_ns)
        if key == self._state_key:
            return self.state_html.value  # the same file: no need to check every block again
        try:
            tables = state_tables(self.room, name)
        except (LabkitError, OSError, ValueError) as exc:  # a file replaced while read: the next refresh retries
            return f"<p>cannot replay {html.escape(name)}'s chain yet: {html.escape(str(exc))}</p>"
        self._state_key = key
        if not tables:
            return f"<p>{html.escape(name)}'s chain holds no state yet</p>"
        return "".join(frame_table(frame, caption=title).to_html() for title, frame in tables.items())

    # --- live -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, every: float = 1.0) -> None:
        """Refresh every ``every`` seconds in a background thread, until ``stop()``."""
        if self.running:
            return
        self._wake.clear()
        self._thread = threading.Thread(target=self._loop, args=(every,), daemon=True,
                                        name="labkit-classroom-dashboard")
        self._thread.start()
        if not self.live.value:
            self.live.value = True

    def stop(self) -> None:
        """Stop the background refreshes (and wait for the one under way)."""
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self.live.value:
            self.live.value = False

    def _loop(self, every: float) -> None:
        while not self._wake.wait(every):
            try:
                self.refresh()
            except Exception as exc:  # a thread's exception would vanish: show it, and keep watching
                style = tint("error")
                self.summary_html.value = (f"<div class='labkit-error' style='{style}'>refresh failed: "
                                           f"{html.escape(f'{type(exc).__name__}: {exc}')}</div>")

    def __repr__(self) -> str:
        return f"Dashboard({len(self.room.nodes)} nodes, view of {self.view.value}, {self.refreshes} refreshes)"


def dashboard(room: "Classroom", **options: Any) -> Dashboard:
    """A Dashboard over ``room`` (``Dashboard(room, ...)``), refreshed once."""
    return Dashboard(room, **options)


class Watch(widgets.HTML):
    """A long cell's line (Dashboard.watch): what it waits for, for how long, and the room's summary."""

    def __init__(self, what: str, *, clock=time.monotonic):
        super().__init__()
        self.what, self._clock = what, clock
        self.started = clock()
        self.finished: float | None = None  # the seconds it took, once done
        self.summary = ""
        self.add_class("labkit-watch")

    def show(self, summary: str) -> None:
        self.summary = summary
        if self.finished is None:
            text = f"⏳ {self.what}: {self._clock() - self.started:.0f} s so far · {summary}"
        else:
            text = f"✔ {self.what}: done in {self.finished:.1f} s · {summary}"
        kind = "warn" if self.finished is None else "success"
        self.value = f"<div style='{tint(kind)};padding:2px 8px'>{html.escape(text)}</div>"

    def done(self) -> float:
        """Stop the clock; returns the seconds the cell waited."""
        if self.finished is None:
            self.finished = self._clock() - self.started
        self.show(self.summary)
        return self.finished
