"""A node's data folder is the node's: one node per folder, only files of its own, no chain cut short.

What lives in the folder (``DIR``)::

    DIR/node.lock                        held by the node's process (:func:`lock_folder`)
    DIR/chain.jsonl                      the canonical chain, read back when the node starts again
    DIR/queue.json, DIR/inbox/           the contracts waiting (labkit.node.queue)
    DIR/events.jsonl, DIR/status.json    what happened, and where the node stands (labkit.node.journal)
    DIR/published/TIP16/chain.jsonl      a published chain and its torrent (the newest KEEP_PUBLISHED)
    DIR/fetched/INFOHASH/                a chain being fetched

When a node opens its folder (:func:`open_folder`):

- it takes ``node.lock`` with ``flock``: a second node process on the folder gets
  :class:`~labkit.errors.FolderInUse` before it reads or writes anything, and the lock goes
  with the process however it ends (SIGKILL too). The same process may open the folder
  again (a notebook cell run twice), sharing the lock;
- a symbolic link, FIFO, device or folder where the node keeps a file (or anything but a
  folder where it keeps a folder) is refused (:class:`~labkit.files.FileRefused`): the
  node would hang on a FIFO, read a device forever, or write through a link;
- :func:`load_chain` takes ``chain.jsonl`` whole or not at all: a line it cannot take (an
  empty one included) is :class:`~labkit.errors.ChainFileDamaged`, naming the line and how
  to recover, and the file is left as it is. Keeping the good prefix would rewrite the file
  shorter at the next block, and lose the blocks after the bad line.

While the node runs, ``published/`` holds only its own copies: :func:`published_copy` removes
whatever was planted where the next copy goes, and :func:`prune_published` the copies it no
longer seeds.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
import threading
import weakref
from pathlib import Path

from ..errors import ChainFileDamaged, FileRefused, FolderInUse
from ..files import check_own, refused
from ..peer import Peer

__all__ = ["CHAIN_FILE", "LOCK_FILE", "OWN_FILES", "OWN_FOLDERS", "KEEP_PUBLISHED", "FolderLock", "lock_folder",
           "open_folder", "load_chain", "published_copy", "prune_published"]

CHAIN_FILE = "chain.jsonl"  # the name of every chain a node shares, so the same blocks give the same torrent
LOCK_FILE = "node.lock"
OWN_FILES = (LOCK_FILE, CHAIN_FILE, "queue.json", "events.jsonl", "events.1.jsonl", "status.json")
OWN_FOLDERS = ("inbox", "published", "fetched")
KEEP_PUBLISHED = 4  # chains a node keeps seeding and on disk: the newest, and those followers may still be fetching

_held: dict[tuple[int, int], list] = {}  # (device, inode) of a lock file -> [fd, holders] in this process
_held_lock = threading.Lock()


class FolderLock:
    """This process's hold on a data folder (see :func:`lock_folder`); :meth:`release` lets go.

    A lock dropped without ``release`` (a Node never stopped) lets go when it is collected,
    or when the interpreter exits.
    """

    def __init__(self, path: Path, key: tuple[int, int]):
        self.path = path
        self._finalizer = weakref.finalize(self, _let_go, key)

    @property
    def held(self) -> bool:
        return self._finalizer.alive

    def release(self) -> None:
        """Let go (once; the folder is free when the last holder in this process lets go)."""
        self._finalizer()


def _let_go(key: tuple[int, int]) -> None:
    with _held_lock:
        if key not in _held:
            return
        _held[key][1] -= 1
        if _held[key][1] == 0:
            os.close(_held.pop(key)[0])  # closing the descriptor releases the flock


def lock_folder(folder: str | os.PathLike) -> FolderLock:
    """Hold ``folder`` (which must exist) for this process's node: FolderInUse if another process holds it."""
    path = Path(folder) / LOCK_FILE
    check_own(path)
    flags = (os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
             | getattr(os, "O_CLOEXEC", 0))
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise refused(path, exc) from None
    with _held_lock:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise FileRefused(path, "is not a regular file")
            key = (info.st_dev, info.st_ino)
            if key in _held:
                os.close(fd)
                _held[key][1] += 1
                return FolderLock(path, key)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise refused(path, exc) from None
                raise FolderInUse(str(folder), _holder(fd)) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        except BaseException:
            os.close(fd)
            raise
        _held[key] = [fd, 1]
    return FolderLock(path, key)


def _holder(fd: int) -> int | None:
    """The process id the holder wrote into the lock file, if it reads as one."""
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def open_folder(folder: str | os.PathLike) -> FolderLock:
    """Lock a node's folder (made if missing) and refuse anything planted where the node keeps its files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = lock_folder(folder)
    try:
        for name in OWN_FILES[1:]:
            check_own(folder / name)
        for name in OWN_FOLDERS:
            check_own(folder / name, folder=True)
    except BaseException:
        lock.release()
        raise
    return lock


def load_chain(peer: Peer, path: Path, *, now=None) -> int:
    """Give ``peer`` the blocks of its node's chain file (if there is one); return how many.

    ChainFileDamaged names the first line that is not a block the peer takes; the file is not changed.
    """
    if not path.exists():
        return 0
    reports = peer.receive(path, now=now)  # now: the time the rules judge by (the node's clock)
    bad = [r for r in reports if not r.accepted]
    if not bad:
        return len(reports)
    first = min(bad, key=lambda r: r.line or 0)
    reason = first.reason if first.rule == "record" else f"block {first.index} breaks rule {first.rule}: {first.reason}"
    before = sum(1 for r in reports if r.accepted and (r.line or 0) < (first.line or 0))
    raise ChainFileDamaged(str(path), first.line or 0, reason, blocks_before=before)


def published_copy(folder: Path, tip_hash: str) -> Path:
    """Where the published copy of the chain ending at ``tip_hash`` goes: ``published/TIP16/chain.jsonl``.

    Anything there that the node did not write the way it writes (a link, a FIFO, a folder
    where the chain goes, a file where its folder goes) is removed first, so the copy is
    written afresh rather than read or seeded from what a classmate planted.
    """
    copy = folder / "published" / tip_hash[:16]
    path = copy / CHAIN_FILE
    try:
        check_own(copy, folder=True)
        check_own(path)
    except FileRefused:
        if os.path.isdir(copy) and not os.path.islink(copy):
            shutil.rmtree(copy, ignore_errors=True)
        else:
            os.unlink(copy)
    return path


def prune_published(folder: Path, keep: set[str]) -> None:
    """Remove the copies in ``folder/published`` but those named in ``keep`` (tip prefixes).

    Only folders named like a copy (16 hex digits) are removed; anything else is left alone.
    """
    try:
        stale = [entry.path for entry in os.scandir(folder / "published")
                 if entry.name not in keep and entry.is_dir(follow_symlinks=False)
                 and len(entry.name) == 16 and all(c in "0123456789abcdef" for c in entry.name)]
    except OSError:  # no published/ yet, or it cannot be read: nothing to remove
        return
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
