"""A node's record of itself: its events as JSON lines, and ``status.json``.

Every event is one line of ``DIR/events.jsonl``, a JSON object with the UTC
time, the kind and what it concerns; the kinds are those of
:data:`EVENT_KINDS`. The newest events are also kept in memory for
``status.json``, which a person (``node status``) or a script reads to see
where a node stands. Both are written as they happen, so another process can
watch a running node.

The event log is appended without following a link or waiting on a FIFO,
and ``status.json`` is written no larger than :data:`MAX_STATUS_BYTES`, the
limit it is read back with (the longest lists are trimmed, and it says so).
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

from ..encoding import MAX_DEPTH, loads_strict
from ..errors import FileRefused, NodeError
from ..files import append_line, atomic_write, read_regular, refused

__all__ = ["EVENT_KINDS", "MAX_STATUS_BYTES", "NODE_FILE_DEPTH", "MAX_EVENT_LOG_BYTES", "Event",
           "Journal", "fit_status", "read_status", "check_status"]

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
# The event log is bounded on disk: past this size events.jsonl becomes events.1.jsonl (replacing
# the one before) and a new log starts, so a node's folder holds at most twice this of events.
# A lesson's room logs well under 1 MB; a hostile member's refusals are few per member (node.threats).
MAX_EVENT_LOG_BYTES = 8 * 1024 * 1024
MAX_STATUS_BYTES = 4 * 1024 * 1024  # status.json is written no larger, and read no larger
# A contract may be MAX_DEPTH deep (labkit.encoding); the node's files hold it inside a record
# inside a list inside the file's object, so they are read with three levels more.
NODE_FILE_DEPTH = MAX_DEPTH + 3


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
        self.previous_events_path = self.folder / "events.1.jsonl"  # the log before the last rotation
        self.status_path = self.folder / "status.json"
        self.recent: deque[Event] = deque(maxlen=keep)
        self.count = 0  # events logged since this journal was opened
        self.unsaved: list[str] = []  # lines that could not be appended yet (folder read-only or full)
        self.write_error: OSError | None = None  # the last write that failed, until one succeeds
        self._status_written: tuple | None = None  # what status.json was last replaced with, and which file

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
        del self.unsaved[:-KEEP_EVENTS]  # a log that cannot be written for long keeps the newest lines
        try:  # never through a link, never waiting on a FIFO someone put in its place
            self._rotate()
            append_line(self.events_path, "".join(self.unsaved).encode("utf-8"))
        except OSError as exc:  # kept in memory, and written with the next line that can be
            self._cannot_write(self.events_path, exc)
        else:
            self.unsaved.clear()
            self.write_error = None
        self.recent.append(event)
        self.count += 1
        return event

    def _rotate(self) -> None:
        """Start a new event log once this one passed MAX_EVENT_LOG_BYTES; the old one is kept once."""
        try:
            size = os.stat(self.events_path, follow_symlinks=False).st_size
        except FileNotFoundError:
            return
        if size >= MAX_EVENT_LOG_BYTES:
            os.replace(self.events_path, self.previous_events_path)  # renames a link itself, never its target

    def write_status(self, status: dict[str, Any]) -> Path:
        """Replace ``status.json`` atomically (a reader never sees half of it), trimmed to what
        :func:`read_status` reads back; unless the file is still the one this journal last
        wrote and says the same.

        Not flushed to the disk (no fsync): a node writes its status several times a
        second while its room is busy, and makes it again when it starts.
        """
        data = fit_status(status)
        if self._status_written is not None and self._status_written == (data, self._status_file()):
            return self.status_path
        try:
            atomic_write(self.status_path, data, durable=False)
        except OSError as exc:  # the node runs on; its status says so once it can be written again
            self._status_written = None
            self._cannot_write(self.status_path, exc)
        else:
            self._status_written = (data, self._status_file())
        return self.status_path

    def _status_file(self) -> tuple[int, int, int] | None:
        """Which file ``status.json`` is now (device, inode, change time), never following a link."""
        try:
            st = os.stat(self.status_path, follow_symlinks=False)
        except OSError:
            return None
        return st.st_dev, st.st_ino, st.st_ctime_ns

    def _cannot_write(self, path: Path, exc: OSError) -> None:
        """Say once on stderr (the node's log) that the folder cannot be written; the node runs on."""
        if self.write_error is None or str(self.write_error) != str(exc):
            print(f"labkit node: cannot write {path}: {exc.strerror or exc}", file=sys.stderr, flush=True)
        self.write_error = exc


def _encode_status(status: dict[str, Any]) -> bytes:
    return (json.dumps(status, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def fit_status(status: dict[str, Any], limit: int = MAX_STATUS_BYTES) -> bytes:
    """``status`` as the bytes of ``status.json``, at most ``limit`` of them.

    While it is too large, the longest list or table is halved (a list keeps its newest
    half, ``queued`` its first: the next to be mined) and ``trimmed`` is set.
    """
    data = _encode_status(status)
    while len(data) > limit:
        sizes = {key: len(json.dumps(value, ensure_ascii=False)) for key, value in status.items()
                 if isinstance(value, (list, dict)) and value}
        if not sizes:
            raise NodeError(f"a status with no list left is still over {limit:,} bytes")
        key = max(sizes, key=sizes.__getitem__)
        value = status[key]
        if isinstance(value, dict):
            value = dict(list(value.items())[: len(value) // 2])
        else:
            value = value[: len(value) // 2] if key == "queued" else value[len(value) - len(value) // 2:]
        status = {**status, key: value, "trimmed": True}
        data = _encode_status(status)
    return data


# What ``node status`` reads from status.json: field -> the JSON types it may have (None: null).
STATUS_FIELDS: dict[str, tuple[type | None, ...]] = {
    "member": (str,), "listen": (str, None), "tip": (str, None), "height": (int,), "total_work": (int,),
    "digest": (str,), "queued": (list,), "refused_contracts": (list,), "error": (str, None), "peers": (dict,),
    "events": (list,),
}
OPTIONAL_STATUS_FIELDS = {"listen", "error", "queue_length"}
# What each item of a list or table must hold.
STATUS_ITEMS: dict[str, dict[str, tuple[type | None, ...]]] = {
    "refused_contracts": {"rule": (str,), "reason": (str,)},
    "peers": {"height": (int,), "total_work": (int,), "seq": (int, None)},
    "events": {"time": (str,), "event": (str,)},
}


def _type_ok(value: Any, types: tuple[type | None, ...]) -> bool:
    if value is None:
        return None in types
    if isinstance(value, bool):  # True is an int to Python, not to a reader of the status
        return bool in types
    return isinstance(value, tuple(t for t in types if t is not None))


def _names(types: tuple[type | None, ...]) -> str:
    words = {str: "a string", int: "an integer", list: "a list", dict: "an object", None: "null"}
    return " or ".join(words[t] for t in types)


def check_status(status: Any, where: str) -> dict[str, Any]:
    """``status`` if it has the shape ``node status`` reads; NodeError naming ``where`` and the field otherwise."""
    if not isinstance(status, dict):
        raise NodeError(f"{where}: a node's status is a JSON object, not {_json_name(status)}")
    fields = {**STATUS_FIELDS, "queue_length": (int,)}
    for name, types in fields.items():
        if name not in status:
            if name in OPTIONAL_STATUS_FIELDS:
                continue
            raise NodeError(f"{where}: the field {name!r} is missing")
        if not _type_ok(status[name], types):
            raise NodeError(f"{where}: the field {name!r} is {_json_name(status[name])}, not {_names(types)}")
    for name, item_fields in STATUS_ITEMS.items():
        items = status[name].items() if isinstance(status[name], dict) else enumerate(status[name])
        for key, item in items:
            if not isinstance(item, dict):
                raise NodeError(f"{where}: {name}[{key!r}] is {_json_name(item)}, not an object")
            for field_name, types in item_fields.items():
                if not _type_ok(item.get(field_name), types):
                    raise NodeError(f"{where}: {name}[{key!r}].{field_name} is {_json_name(item.get(field_name))}, "
                                    f"not {_names(types)}")
    return status


def _json_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__)


def read_status(folder: str | os.PathLike) -> dict[str, Any]:
    """A node's ``status.json``, as the node last wrote it (NodeError naming the file and the field)."""
    path = Path(folder) / "status.json"
    try:
        status = loads_strict(read_regular(path, limit=MAX_STATUS_BYTES, follow_symlinks=False),
                              max_depth=NODE_FILE_DEPTH)
    except FileRefused as exc:
        raise NodeError(f"cannot read the status of the node in {folder}: {exc}") from None
    except OSError as exc:
        raise NodeError(f"cannot read the status of the node in {folder}: {refused(path, exc)}") from None
    except ValueError as exc:
        raise NodeError(f"{path}: not a node's status: {exc}") from None
    return check_status(status, str(path))
