"""A node's contracts waiting to be mined: kept in ``DIR/queue.json``, submitted through ``DIR/inbox/``.

``node submit --data DIR CONTRACT.json`` (or :func:`submit_to`) does not talk
to the running node: it drops the contract into the node's inbox folder as a
file of its own, written atomically. The node takes the inbox files in name
order (their names start with the time they were written), appends each
contract to its queue, saves the queue, and only then deletes the file. So a
node killed at any moment loses no contract: a contract is in the inbox, in
``queue.json``, or in a block. (Killed between saving the queue and deleting
the file, the node would take the file again on restart; the queue skips a
contract already queued, so it is queued once.)

The queue also remembers the contracts the VM refused, with the rule and
reason, so the submitter can read why in ``status.json`` (the newest
:data:`KEEP_REFUSED`).

``queue.json`` is read with the limits it is written with: a queue is never
saved larger than :data:`MAX_QUEUE_BYTES` (a contract that would make it so
is refused with :class:`QueueFull`, and waits in the inbox renamed
``.refused``), and a file that is not such a queue is an error naming the file
and the field. An inbox file that is not a plain file, or not a contract, is
renamed ``NAME.refused`` (``NAME.1.refused``... if that name is taken); one that
cannot be renamed is removed, and either way it is reported, never fatal.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from ..encoding import dumps_canonical, loads_strict
from ..errors import QueueError, QueueFull
from ..files import atomic_write, check_own, read_regular
from .journal import NODE_FILE_DEPTH

__all__ = ["MAX_CONTRACT_BYTES", "MAX_QUEUE_BYTES", "KEEP_REFUSED", "ContractQueue",
           "contract_key", "read_contract", "submit_to"]

MAX_CONTRACT_BYTES = 64 * 1024
MAX_QUEUE_BYTES = 16 * 1024 * 1024  # queue.json is written no larger, and read no larger
KEEP_REFUSED = 50  # refused contracts remembered, the newest
SET_ASIDE_TRIES = 100  # names NAME.refused, NAME.1.refused, ... tried for a bad inbox file
INBOX = "inbox"
QUEUE_FILE = "queue.json"


def contract_key(contract: Any) -> bytes:
    """A contract's identity in the queue: its canonical JSON."""
    return dumps_canonical(contract)


def read_contract(data: bytes, where: str) -> dict:
    """The contract a file holds: a JSON object of at most MAX_CONTRACT_BYTES (QueueError otherwise)."""
    if len(data) > MAX_CONTRACT_BYTES:
        raise QueueError(f"{where}: a contract is at most {MAX_CONTRACT_BYTES:,} bytes, this one is {len(data):,}")
    try:
        contract = loads_strict(data)
    except ValueError as exc:
        raise QueueError(f"{where}: not a JSON contract: {exc}") from None
    if not isinstance(contract, dict):
        raise QueueError(f"{where}: a contract is a JSON object, not {type(contract).__name__}")
    return contract


def submit_to(folder: str | os.PathLike, contract: dict) -> Path:
    """Drop ``contract`` into the inbox of the node whose data folder is ``folder``; return the file.

    The folder must be a node's (it holds ``status.json``): a typo must not make a
    new folder that no node reads.
    """
    folder = Path(folder)
    if not (folder / "status.json").is_file():
        raise QueueError(f"{folder} is not a node's data folder (no status.json): start the node first "
                         f"with `python -m labkit node run --data {folder} ...`")
    data = dumps_canonical(contract)
    read_contract(data, "the contract")  # the same checks the node makes
    queue = folder / QUEUE_FILE
    if queue.is_file() and queue.stat().st_size + len(data) > MAX_QUEUE_BYTES:
        raise QueueFull(f"the queue of the node in {folder} is full ({queue.stat().st_size:,} bytes of "
                        f"{MAX_QUEUE_BYTES:,}): submit again once it has mined some of it")
    inbox = folder / INBOX
    check_own(inbox, folder=True)  # never into a link a classmate put in its place
    inbox.mkdir(exist_ok=True)
    name = f"{time.time_ns():020d}-{secrets.token_hex(4)}.json"
    return atomic_write(inbox / name, data, overwrite=False)


class ContractQueue:
    """The contracts a node will mine, first first; saved to ``queue.json`` on every change."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / QUEUE_FILE
        self.waiting: list[dict] = []
        self.refused: list[dict] = []  # {"contract", "rule", "reason"}
        self.save_error: OSError | None = None  # why the last save failed, until one succeeds
        self.set_aside: set[str] = set()  # inbox files that could be neither renamed nor removed
        if os.path.lexists(self.path):
            self.waiting, self.refused = self._read()

    def _read(self) -> tuple[list[dict], list[dict]]:
        """The queue ``queue.json`` holds; QueueError naming the file (and the field) otherwise."""
        advice = "move it away to start with an empty queue"
        try:
            saved = loads_strict(read_regular(self.path, limit=MAX_QUEUE_BYTES, follow_symlinks=False),
                                 max_depth=NODE_FILE_DEPTH)
        except (OSError, ValueError) as exc:
            raise QueueError(f"{self.path} cannot be read ({exc}); {advice}") from None

        def wrong(what: str) -> QueueError:
            return QueueError(f"{self.path}: {what}; {advice}")

        if not isinstance(saved, dict):
            raise wrong(f"a queue is a JSON object, not {type(saved).__name__}")
        for name in ("waiting", "refused"):
            if name not in saved:
                raise wrong(f"the field {name!r} is missing")
            if not isinstance(saved[name], list):
                raise wrong(f"the field {name!r} must be a list, not {type(saved[name]).__name__}")
        for place, contract in enumerate(saved["waiting"]):
            if not isinstance(contract, dict):
                raise wrong(f"waiting[{place}] must be a contract (a JSON object), not {type(contract).__name__}")
        for place, record in enumerate(saved["refused"]):
            if not (isinstance(record, dict) and isinstance(record.get("contract"), dict)
                    and isinstance(record.get("rule"), str) and isinstance(record.get("reason"), str)):
                raise wrong(f"refused[{place}] must be an object with a contract, a rule and a reason")
        return saved["waiting"], saved["refused"]

    def __len__(self) -> int:
        return len(self.waiting)

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def __contains__(self, contract: Any) -> bool:
        key = contract_key(contract)
        return any(contract_key(c) == key for c in self.waiting)

    @property
    def first(self) -> dict | None:
        return self.waiting[0] if self.waiting else None

    def append(self, contract: dict) -> int:
        """Queue a contract at the end; return its place (a contract already queued keeps its place).

        QueueFull, and nothing changes, if ``queue.json`` would grow past MAX_QUEUE_BYTES.
        """
        key = contract_key(contract)
        for place, waiting in enumerate(self.waiting):
            if contract_key(waiting) == key:
                if self.save_error is not None:  # queued in memory only so far
                    self.save()
                return place
        self._check_room([*self.waiting, contract])
        self.waiting.append(contract)
        self.save()
        return len(self.waiting) - 1

    def put_back(self, contract: dict) -> bool:
        """Put a contract of an orphaned block back at the front; False if it is queued already.

        QueueFull, and nothing changes, if ``queue.json`` would grow past MAX_QUEUE_BYTES.
        """
        if contract in self:
            return False
        self._check_room([contract, *self.waiting])
        self.waiting.insert(0, contract)
        self.save()
        return True

    def _check_room(self, waiting: list[dict]) -> None:
        size = len(self._encode(waiting, []))  # the refused ones are dropped before a waiting one
        if size > MAX_QUEUE_BYTES:
            raise QueueFull(f"the queue is full: with this contract {self.path.name} would be {size:,} bytes, "
                            f"and the node reads back at most {MAX_QUEUE_BYTES:,}; submit it again once "
                            f"some of the {len(self.waiting)} waiting are mined")

    def done(self, contract: dict) -> None:
        """Remove a contract that is now in a block."""
        key = contract_key(contract)
        self.waiting = [c for c in self.waiting if contract_key(c) != key]
        self.save()

    def refuse(self, contract: dict, rule: str, reason: str) -> None:
        """Drop a contract the VM refused, and remember why."""
        key = contract_key(contract)
        self.waiting = [c for c in self.waiting if contract_key(c) != key]
        self.refused.append({"contract": contract, "rule": rule, "reason": reason})
        del self.refused[:-KEEP_REFUSED]
        self.save()

    def take_inbox(self) -> tuple[list[dict], list[tuple[str, str]]]:
        """Queue the inbox's contracts in name order; return (queued, [(file, why)] for files refused).

        A refused file is renamed ``NAME.refused`` so it is not read again and stays for the submitter
        (another free name if that one is taken; removed if none can be had): the why says which.
        """
        inbox = self.folder / INBOX
        try:
            if not stat.S_ISDIR(os.lstat(inbox).st_mode):
                return [], []  # not a folder (nor a link to one): the node's start refuses it, nothing to take
        except OSError:
            return [], []
        queued, bad = [], []
        for path in sorted(inbox.glob("*.json")):
            if path.name in self.set_aside:
                continue
            try:
                contract = read_contract(read_regular(path, limit=MAX_CONTRACT_BYTES, follow_symlinks=False),
                                         path.name)
                self.append(contract)
            except (QueueError, OSError) as exc:
                bad.append((path.name, f"{exc}; {self._set_aside(path)}"))
                continue
            queued.append(contract)
            if self.save_error is None:  # the file goes only once the queue holding it is saved
                path.unlink()
        return queued, bad

    def _set_aside(self, path: Path) -> str:
        """Rename a refused inbox file to a free ``.refused`` name, or remove it; say which."""
        for number in range(SET_ASIDE_TRIES):
            target = path.with_suffix(".refused" if number == 0 else f".{number}.refused")
            if os.path.lexists(target):
                continue
            try:
                os.rename(path, target)
            except OSError:
                continue  # taken meanwhile, or cannot be renamed: the next name, then removal
            return f"kept as {target.name}"
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError as exc:
            self.set_aside.add(path.name)  # not read again while this node runs
            return f"it can be neither renamed nor removed ({exc}): the node skips it"
        return "removed (no free .refused name)"

    @staticmethod
    def _encode(waiting: list[dict], refused: list[dict]) -> bytes:
        return (json.dumps({"waiting": waiting, "refused": refused}, indent=1, ensure_ascii=False) + "\n"
                ).encode("utf-8")

    def save(self) -> bool:
        """Write ``queue.json``; False (and ``save_error`` set) if the folder cannot be written now.

        The queue in memory stays right; the next change that can be saved writes it whole.
        It is never written larger than MAX_QUEUE_BYTES: the oldest refused records go first
        (QueueFull is raised before a waiting contract could make it so).
        """
        data = self._encode(self.waiting, self.refused)
        while len(data) > MAX_QUEUE_BYTES and self.refused:
            del self.refused[: max(1, len(self.refused) // 2)]
            data = self._encode(self.waiting, self.refused)
        if len(data) > MAX_QUEUE_BYTES:  # only put_back and append add waiting ones, and they check
            raise QueueFull(f"{self.path} would be {len(data):,} bytes; the limit is {MAX_QUEUE_BYTES:,}")
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            self.save_error = exc
            return False
        self.save_error = None
        return True
