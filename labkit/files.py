"""Files a user names: read only regular files, within a size limit; write all at once.

Reading: ``check_regular`` refuses a path that is missing, a folder, or not
a regular file (a FIFO or a device such as /dev/zero would make a reader
wait or read forever) without opening it; ``open_regular`` opens without
blocking, asks the open file itself what it is, and enforces a size limit;
``read_regular`` reads such a file whole. Each raises ``FileRefused``, which
names the path and says what is wrong with it (``describe`` does the same
for any OSError).

A program's own folder (a node's data folder) is stricter: ``check_own``
refuses a symbolic link, or anything but a regular file (or a folder) where
one is expected, and ``open_regular(..., follow_symlinks=False)`` opens
with O_NOFOLLOW, so no read or write there goes through a link a classmate
planted. ``append_line`` appends to a log the same way, and never waits on
a FIFO.

Writing: ``atomic_write`` is used for blocks files, key files and network
configurations. The data goes to a temporary file in the same folder, is
flushed to disk, and then takes the file's name in one step: ``os.replace``
to overwrite, or ``os.link`` when an existing file must never be replaced
(link fails if the name exists). A reader sees the old file or the new one,
never half of either. The temporary file is created with O_EXCL (and
O_NOFOLLOW), and a rename replaces a symbolic link rather than writing
through it, so no write follows a link.

Scratch folders: notebooks 05 and 09 keep each run in a folder of the temporary
directory, and 09's holds a classroom's private keys and the network's secret, so
it must not outlive the run. ``ScratchFolder(prefix)`` is a new private folder
(mode 0700); ``folder / "name"`` is a path in it; ``remove()`` (or leaving a
``with`` block) deletes it. ``at_exit(owner, func, *args)`` runs a clean-up once,
at the first of: the caller calls the returned ``weakref.finalize``, ``owner`` is
garbage collected, the interpreter exits (``atexit``: a kernel shut down from
Jupyter exits this way), or the process gets SIGTERM (what a kernel manager and
``kill`` send). On SIGTERM the pending clean-ups run newest first (a room made in a
folder stops its nodes before the folder goes: ``Classroom`` registers one too), then
the signal gets the handler it had before, by default ending the process. Nothing
runs on SIGKILL or a power cut: the folder's mode is what protects it then.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import stat
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, BinaryIO, Callable

from .errors import FileRefused

__all__ = ["describe", "refused", "check_regular", "open_regular", "read_regular", "check_new_file",
           "check_folder", "check_own", "append_line", "missing_folders", "atomic_write", "ScratchFolder", "at_exit",
           "run_pending"]

# What an errno means, said the way the rest of labkit's messages are said.
_WHAT = {
    errno.ENOENT: "no such file or folder",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EEXIST: "already exists",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "too many levels of symbolic links",
    errno.ENXIO: "is a FIFO (named pipe) or device nobody reads, not a regular file",
}
_ELOOP_OWN = "is a symbolic link; this folder takes only files of its own"


def describe(exc: OSError) -> str:
    """One line naming the path(s) of an OSError and what is wrong: ``"keys/ana.pem: permission denied"``."""
    if isinstance(exc, FileRefused):
        what = exc.reason
    else:
        what = _WHAT.get(exc.errno) or (exc.strerror or str(exc)).lower()
    if exc.filename is None:
        return what
    where = os.fsdecode(exc.filename)
    if getattr(exc, "filename2", None) is not None:
        where += f" -> {os.fsdecode(exc.filename2)}"
    return f"{where}: {what}"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def refused(path: str | os.PathLike, exc: OSError) -> FileRefused:
    """The FileRefused that says, for ``path``, what an OSError from the operating system means."""
    return FileRefused(path, _WHAT.get(exc.errno) or (exc.strerror or str(exc)).lower(), exc.errno or errno.EIO)


def _check_stat(path: str | os.PathLike, info: os.stat_result, limit: int | None) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(path, _kind(info.st_mode), errno.EISDIR if stat.S_ISDIR(info.st_mode) else errno.EINVAL)
    if limit is not None and info.st_size > limit:
        raise FileRefused(path, f"is {info.st_size:,} bytes; the limit is {limit:,}", errno.EFBIG)


def check_regular(path: str | os.PathLike, *, limit: int | None = None) -> Path:
    """Refuse, without opening it, a path that is not a readable regular file of at most ``limit`` bytes."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise refused(path, exc) from None
    except ValueError:  # an embedded NUL
        raise FileRefused(path, "the name holds a NUL character") from None
    _check_stat(path, info, limit)
    if not os.access(path, os.R_OK):
        raise FileRefused(path, "permission denied", errno.EACCES)
    return Path(path)


def _open_flags(follow_symlinks: bool) -> int:
    flags = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    return flags if follow_symlinks else flags | getattr(os, "O_NOFOLLOW", 0)


def _refused_open(path: str | os.PathLike, exc: OSError, follow_symlinks: bool) -> FileRefused:
    if not follow_symlinks and exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
        return FileRefused(path, _ELOOP_OWN, errno.ELOOP)
    return refused(path, exc)


@contextlib.contextmanager
def open_regular(path: str | os.PathLike, *, limit: int | None = None, follow_symlinks: bool = True):
    """Open a regular file for reading in binary; refuse anything else without waiting on it.

    O_NONBLOCK makes opening a FIFO return at once instead of waiting for a
    writer; the open file's own fstat then says what it is, so a path
    swapped after ``check_regular`` is still refused. With
    ``follow_symlinks=False`` a symbolic link is refused too (O_NOFOLLOW).
    """
    flags = os.O_RDONLY | _open_flags(follow_symlinks)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _refused_open(path, exc, follow_symlinks) from None
    except ValueError:
        raise FileRefused(path, "the name holds a NUL character") from None
    try:
        _check_stat(path, os.fstat(fd), limit)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        file: BinaryIO = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        try:
            yield file
        except OSError as exc:  # e.g. EIO while reading
            if isinstance(exc, FileRefused):
                raise
            raise refused(path, exc) from None


def read_regular(path: str | os.PathLike, *, limit: int, follow_symlinks: bool = True) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (also if it grows while being read)."""
    with open_regular(path, limit=limit, follow_symlinks=follow_symlinks) as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(path, f"is more than {limit:,} bytes; the limit is {limit:,}", errno.EFBIG)
    return data


def check_own(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """Refuse a path of a program's own folder that exists as anything but a regular file (with
    ``folder=True``: a folder); a symbolic link is refused, whatever it points to. Missing is fine."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Path(path)
    except OSError as exc:
        raise refused(path, exc) from None
    if stat.S_ISLNK(info.st_mode):
        raise FileRefused(path, _ELOOP_OWN, errno.ELOOP)
    if folder and not stat.S_ISDIR(info.st_mode):
        raise FileRefused(path, "is a file, not a folder" if stat.S_ISREG(info.st_mode)
                          else _kind(info.st_mode).replace("regular file", "folder"), errno.ENOTDIR)
    if not folder:
        _check_stat(path, info, None)
    return Path(path)


def append_line(path: str | os.PathLike, data: bytes) -> None:
    """Append ``data`` to a regular file (made if missing), never through a link and never waiting:
    a FIFO, device, folder or link at ``path`` raises FileRefused at once."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _open_flags(follow_symlinks=False)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        raise _refused_open(path, exc, follow_symlinks=False) from None
    try:
        _check_stat(path, os.fstat(fd), None)
        os.set_blocking(fd, True)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def check_new_file(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Refuse, before anything is written, a destination whose folder is missing or not writable,
    which is a folder, or which exists when it must not be replaced."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refused(path, exc) from None
    except ValueError:
        raise FileRefused(path, "the name holds a NUL character") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise FileRefused(path, "is a folder, not a file", errno.EISDIR)
        if not overwrite:
            raise FileRefused(path, "already exists", errno.EEXIST)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(path, _kind(info.st_mode))
    folder = path.parent
    try:
        folder_info = os.stat(folder)
    except OSError as exc:
        raise refused(folder, exc) from None
    if not stat.S_ISDIR(folder_info.st_mode):
        raise FileRefused(folder, "is a file, not a folder", errno.ENOTDIR)
    _check_writable(folder)
    return path


def atomic_write(path: str | os.PathLike, data: bytes, *, mode: int = 0o644, overwrite: bool = True,
                 durable: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with file mode ``mode``.

    With ``overwrite=False`` an existing file raises FileExistsError and is left untouched.
    ``durable=False`` skips the fsync: a reader still never sees half a file, but a power cut
    may lose the write. For files rewritten often and made again at start (a node's status).
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    except OSError as exc:  # name the folder that refused, not the temporary name that never existed
        raise type(exc)(exc.errno, exc.strerror, os.fspath(path.parent)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic "create if absent"
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def check_folder(path: str | os.PathLike, *, create: bool = False) -> Path:
    """Refuse a path that is not a folder. With ``create=True`` it is a folder to write in: it must be
    writable, or be missing with a writable folder as its nearest existing ancestor (the caller makes
    it later). Nothing is created here."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise refused(path, exc) from None
    except ValueError:
        raise FileRefused(path, "the name holds a NUL character") from None
    if info is not None:
        if not stat.S_ISDIR(info.st_mode):
            raise FileRefused(path, "is a file, not a folder" if stat.S_ISREG(info.st_mode)
                              else _kind(info.st_mode).replace("regular file", "folder"), errno.ENOTDIR)
        if create:
            _check_writable(path)
        return path
    if not create:
        raise FileRefused(path, "no such folder", errno.ENOENT)
    ancestor = path.absolute().parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise FileRefused(ancestor, "is a file, not a folder", errno.ENOTDIR)
    _check_writable(ancestor)
    return path


def _check_writable(folder: Path) -> None:
    """Refuse a folder this process cannot create files in, saying why (permissions or a read-only mount)."""
    read_only = False
    with contextlib.suppress(OSError, AttributeError):  # statvfs is POSIX only
        read_only = bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    if read_only:
        raise FileRefused(folder, "the file system is read-only", errno.EROFS)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FileRefused(folder, "permission denied: cannot write in this folder", errno.EACCES)


def missing_folders(path: str | os.PathLike) -> list[Path]:
    """The folders ``Path(path).mkdir(parents=True)`` would create, outermost first (to undo it)."""
    missing = []
    path = Path(path)
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing[::-1]


# --- scratch folders, and clean-ups however the process ends --------------------------

_pending: list[weakref.finalize] = []  # clean-ups not yet run, oldest first
_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while the main thread holds it
_previous_handler: Any = None


def at_exit(owner: object, func: Callable[..., Any], *args: Any) -> weakref.finalize:
    """Run ``func(*args)`` once: when called, when ``owner`` is collected, at exit or on SIGTERM.

    ``args`` must not refer to ``owner`` (that would keep it alive for ever).
    """
    finalizer = weakref.finalize(owner, func, *args)  # .atexit is True: it runs at interpreter exit
    with _lock:
        _pending[:] = [f for f in _pending if f.alive]
        _pending.append(finalizer)
    _install_sigterm_handler()
    return finalizer


def run_pending() -> None:
    """Run every pending clean-up now, newest first (the SIGTERM handler does this)."""
    with _lock:
        pending = list(reversed(_pending))
        _pending.clear()
    for finalizer in pending:
        finalizer()


def _install_sigterm_handler() -> None:
    global _previous_handler
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers; atexit and finalizers still apply
    current = signal.getsignal(signal.SIGTERM)
    if current is _on_sigterm:
        return
    _previous_handler = current
    signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: Any) -> None:
    run_pending()
    previous = _previous_handler
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL, or None (set outside Python): end as SIGTERM would have
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


def _remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)  # at exit nothing could report an error; what is gone is gone


class ScratchFolder(os.PathLike):
    """A private temporary folder, removed by ``remove()``, at the end of a ``with`` block,
    at interpreter exit, on SIGTERM, or when no one refers to it any more."""

    def __init__(self, prefix: str = "labkit-"):
        self.path = Path(tempfile.mkdtemp(prefix=prefix))  # mkdtemp makes it 0700
        self._finalizer = at_exit(self, _remove_tree, str(self.path))

    def __fspath__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str | os.PathLike) -> Path:
        return self.path / other

    def __repr__(self) -> str:
        state = "removed" if self.removed else "exists"
        return f"ScratchFolder({str(self.path)!r}, {state})"

    @property
    def removed(self) -> bool:
        return not self._finalizer.alive

    def remove(self) -> None:
        """Delete the folder and everything in it (once; later calls do nothing)."""
        self._finalizer()

    def __enter__(self) -> "ScratchFolder":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()
