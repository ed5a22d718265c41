"""A node's record of itself: its events as JSON lines, and ``status.json``.

Every event is one line of ``DIR/events.jsonl``, a JSON object with the UTC
time, the kind and what it concerns; the kinds are those of
:data:`EVENT_KINDS`. The newest events are also kept in memory for
``status.json``, which a person (``node status``) or a script reads to see
where a node stands. Both are written as they happen, so another process can
watch a running node.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LabkitError
from ..files import atomic_write, read_regular

__all__ = ["NodeError", "EVENT_KINDS", "Event", "Journal", "read_status"]

EVENT_KINDS = (
    "started",  # the node opened its session (listen address, chain loaded from its folder)
    "queued",  # a contract was submitted
    "mined",  # a block of this node joined its tree
    "contract refused",  # the VM refused a queued contract: it is dropped and reported, not retried
    "interrupted",  # mining stopped: a better tip arrived (it starts again on it), or the contract is in a block
    "published",  # a pointer to the node's chain went into the DHT
    "fetched",  # another member's chain arrived (bytes, seconds)
    "adopted",  # the canonical tip changed because of another member's blocks
    "reorganised",  # blocks of the canonical chain were rolled back (depth)
    "requeued",  # a contract of an orphaned block went back into the queue
    "refused",  # a fetched chain holds a block the rules refuse (rule, reason)
    "ignored",  # a pointer not acted on, and why (not a member, backwards, unreachable...)
    "failed",  # the node could not write its data folder (read-only, full): it stops publishing until it can
    "recovered",  # it can write again, and publishes
    "stopped",
)
KEEP_EVENTS = 50  # in memory and in status.json
MAX_STATUS_BYTES = 4 * 1024 * 1024


class NodeError(LabkitError):
    """A node cannot do what it was asked (to join labkit.errors with the rest of the node)."""


@dataclass(frozen=True)
class Event:
    """One thing that happened to a node."""

    kind: str  # one of EVENT_KINDS
    time: str  # ISO 8601 UTC, to the millisecond
    detail: dict[str, Any] = field(default_factory=dict)  # JSON values only

    def to_json(self) -> dict[str, Any]:
        return {"time": self.time, "event": self.kind, **self.detail}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> "Event":
        detail = {k: v for k, v in record.items() if k not in ("time", "event")}
        return cls(record["event"], record["time"], detail)

    def __str__(self) -> str:
        what = ", ".join(f"{k} {v}" for k, v in self.detail.items())
        return f"{self.time} {self.kind}" + (f": {what}" if what else "")


class Journal:
    """A node's event log (``events.jsonl``, appended line by line) and its ``status.json``."""

    def __init__(self, folder: str | os.PathLike, *, keep: int = KEEP_EVENTS):
        self.folder = Path(folder)
        self.events_path = self.folder / "events.jsonl"
        self.status_path = self.folder / "status.json"
        self.recent: deque[Event] = deque(maxlen=keep)
        self.count = 0  # events logged since this journal was opened
        self.unsaved: list[str] = []  # lines that could not be appended yet (folder read-only or full)
        self.write_error: OSError | None = None  # the last write that failed, until one succeeds

    def since(self, count: int) -> list[Event]:
        """The events logged after the first ``count`` (those still among the recent ones)."""
        return list(self.recent)[max(0, len(self.recent) - (self.count - count)):]

    def log(self, kind: str, **detail: Any) -> Event:
        """Record an event: append its line to the log and keep it among the recent ones."""
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; the kinds are {EVENT_KINDS}")
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        event = Event(kind, now, detail)
        line = json.dumps(event.to_json(), ensure_ascii=False, sort_keys=False) + "\n"
        self.unsaved.append(line)
        try:
            with self.events_path.open("a", encoding="utf-8") as log:
                log.write("".join(self.unsaved))
        except OSError as exc:  # kept in memory, and written with the next line that can be
            self._cannot_write(self.events_path, exc)
        else:
            self.unsaved.clear()
            self.write_error = None
        self.recent.append(event)
        self.count += 1
        return event

    def write_status(self, status: dict[str, Any]) -> Path:
        """Replace ``status.json`` atomically (a reader never sees half of it)."""
        data = json.dumps(status, indent=2, ensure_ascii=False) + "\n"
        try:
            return atomic_write(self.status_path, data.encode("utf-8"))
        except OSError as exc:  # the node runs on; its status says so once it can be written again
            self._cannot_write(self.status_path, exc)
            return self.status_path

    def _cannot_write(self, path: Path, exc: OSError) -> None:
        """Say once on stderr (the node's log) that the folder cannot be written; the node runs on."""
        if self.write_error is None or str(self.write_error) != str(exc):
            print(f"labkit node: cannot write {path}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        self.write_error = exc


def read_status(folder: str | os.PathLike) -> dict[str, Any]:
    """A node's ``status.json``, as the node last wrote it."""
    path = Path(folder) / "status.json"
    try:
        return json.loads(read_regular(path, limit=MAX_STATUS_BYTES))
    except (OSError, ValueError) as exc:
        raise NodeError(f"cannot read the status of the node in {folder}: {exc}") from None
