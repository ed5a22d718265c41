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
reason, so the submitter can read why in ``status.json``.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from ..encoding import dumps_canonical, loads_strict
from ..errors import LabkitError
from ..files import atomic_write, read_regular

__all__ = ["MAX_CONTRACT_BYTES", "QueueError", "ContractQueue", "contract_key", "read_contract", "submit_to"]

MAX_CONTRACT_BYTES = 64 * 1024
MAX_QUEUE_BYTES = 16 * 1024 * 1024
INBOX = "inbox"
QUEUE_FILE = "queue.json"


class QueueError(LabkitError):
    """A contract cannot be queued (not a JSON object, too large, no such node folder...)."""


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
    inbox = folder / INBOX
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
        if self.path.exists():
            try:
                saved = json.loads(read_regular(self.path, limit=MAX_QUEUE_BYTES))
                self.waiting, self.refused = list(saved["waiting"]), list(saved["refused"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise QueueError(f"{self.path} cannot be read ({exc}); move it away to start with "
                                 f"an empty queue") from None

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
        """Queue a contract at the end; return its place (a contract already queued keeps its place)."""
        key = contract_key(contract)
        for place, waiting in enumerate(self.waiting):
            if contract_key(waiting) == key:
                if self.save_error is not None:  # queued in memory only so far
                    self.save()
                return place
        self.waiting.append(contract)
        self.save()
        return len(self.waiting) - 1

    def put_back(self, contract: dict) -> bool:
        """Put a contract of an orphaned block back at the front; False if it is queued already."""
        if contract in self:
            return False
        self.waiting.insert(0, contract)
        self.save()
        return True

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
        self.save()

    def take_inbox(self) -> tuple[list[dict], list[tuple[str, str]]]:
        """Queue the inbox's contracts in name order; return (queued, [(file, why)] for files refused).

        A refused file is renamed ``NAME.refused`` so it is not read again and stays for the submitter.
        """
        inbox = self.folder / INBOX
        if not inbox.is_dir():
            return [], []
        queued, bad = [], []
        for path in sorted(inbox.glob("*.json")):
            try:
                contract = read_contract(read_regular(path, limit=MAX_CONTRACT_BYTES), path.name)
            except (QueueError, OSError) as exc:
                bad.append((path.name, str(exc)))
                os.replace(path, path.with_suffix(".refused"))
                continue
            self.append(contract)
            queued.append(contract)
            if self.save_error is None:  # the file goes only once the queue holding it is saved
                path.unlink()
        return queued, bad

    def save(self) -> bool:
        """Write ``queue.json``; False (and ``save_error`` set) if the folder cannot be written now.

        The queue in memory stays right; the next change that can be saved writes it whole.
        """
        data = json.dumps({"waiting": self.waiting, "refused": self.refused}, indent=1, ensure_ascii=False)
        try:
            atomic_write(self.path, (data + "\n").encode("utf-8"))
        except OSError as exc:
            self.save_error = exc
            return False
        self.save_error = None
        return True
