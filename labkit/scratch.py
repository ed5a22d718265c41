"""Temporary folders that hold secrets, and clean-ups that run however the process ends.

Notebooks 05 and 09 make a folder in the temporary directory for each run; 09's
holds a classroom's RSA and node keys and the network's secret. Such a folder must
not outlive the run, whether the learner closes the room, shuts the kernel down,
or the kernel is killed politely:

- ``ScratchFolder(prefix)``: a new private folder (mode 0700) in the temporary
  directory; ``folder / "name"`` is a path inside it; ``remove()`` (or leaving a
  ``with`` block) deletes it.
- ``at_exit(owner, func, *args)``: run ``func(*args)`` once, at the first of: the
  caller asks (the returned ``weakref.finalize`` object is callable), ``owner`` is
  garbage collected, the interpreter exits (``atexit``: a kernel shut down from
  Jupyter exits this way), or the process gets SIGTERM (what a kernel manager and
  ``kill`` send). ``ScratchFolder`` and ``labkit.node.classroom.Classroom`` (whose
  node processes must stop before their folder goes) use it.

On SIGTERM the pending clean-ups run newest first (a room made in a folder is
stopped before the folder is removed), then the signal gets the handler it had
before, by default ending the process. Nothing can run on SIGKILL or a power cut:
the folder's mode (0700) is what protects it then.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, Callable

__all__ = ["ScratchFolder", "at_exit", "run_pending"]

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
