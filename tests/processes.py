"""The processes running on this machine, read from /proc: what the tests look for when they check
that nothing was left running (a room's nodes, a student's server)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

__all__ = ["Process", "running"]


@dataclass(frozen=True)
class Process:
    pid: int
    uid: int
    command: str  # the command line, its arguments joined by spaces


def running() -> Iterator[Process]:
    """Every process but this one; a process that ends while it is read is left out."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                uid = entry.stat().st_uid
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            yield Process(int(entry.name), uid, command)
