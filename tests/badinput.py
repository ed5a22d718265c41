"""The bad-input harness: run the real command line on a bad invocation and check how it refuses.

A ``Case`` is one bad invocation: its arguments, an optional ``setup`` that
prepares files in the case's folder (a FIFO, a read-only folder, a huge
file), the exit code and words of the one error line it must print.
``run_case`` runs ``python -m labkit ARGS`` as a process of its own in that
folder, as a user would (forked from one that imported labkit already,
tests/launcher.py; a row run as an ordinary user starts a fresh interpreter
under ``setpriv``), with a timeout so that a hang fails the test instead of
blocking the suite, and asserts that

- the exit code is the expected non-zero one;
- stderr holds exactly one line, starting ``error:`` and containing the
  expected words, and no ``Traceback``; no raw ESC on stderr or stdout;
- the folder (names, bytes, modes, modification times: ``snapshot``) is
  exactly as it was before.

Tables of cases: tests/test_bad_input.py (demo, verify, wallet new, network
new) and tests/test_bad_input_sharing.py (share, fetch).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from launcher import Launch, run_fresh, run_labkit
from waiting import scaled

__all__ = ["Case", "run_case", "snapshot", "ROOT", "NOBODY"]

ROOT = Path(__file__).resolve().parent.parent  # the repository, so the subprocess imports this labkit
NOBODY = 65534  # the uid and gid unprivileged cases run as when the tests run as root
TIMEOUT = 30.0  # seconds, before scaled(); a refusal takes about one second, a hang takes forever


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str | bytes, ...]  # after ``python -m labkit``; bytes for arguments that are not UTF-8
    setup: Callable[[Path], object] | None = None  # setup(folder) prepares files; runs before the snapshot
    exit_code: int = 2  # 2: refused before doing anything; 1: verify rejected some blocks
    error_words: str | tuple[str, ...] = ()  # each must appear in the error line
    unprivileged: bool = False  # run as an ordinary user (so read-only folders mean something under root)
    timeout: float = TIMEOUT
    # False for a row that may make a folder and remove it again: then a folder's modification time may
    # change, but never a name, a kind, a mode or a byte
    folder_times: bool = True

    def __str__(self) -> str:
        return self.name

    @property
    def words(self) -> tuple[str, ...]:
        return (self.error_words,) if isinstance(self.error_words, str) else tuple(self.error_words)


def snapshot(path: str | os.PathLike) -> dict[str, tuple]:
    """Everything under ``path`` that a command could change: names, kinds, modes, mtimes and file bytes.

    FIFOs and devices are recorded, never opened; symbolic links by their target.
    """
    root = Path(path)
    tree: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in [*dirs, *files]:
            entry = Path(folder) / name
            info = entry.lstat()
            kind = stat.S_IFMT(info.st_mode)
            rel = str(entry.relative_to(root))
            if stat.S_ISREG(kind):
                digest = hashlib.sha256(entry.read_bytes()).hexdigest()
                tree[rel] = ("file", info.st_mode, info.st_mtime_ns, info.st_size, digest)
            elif stat.S_ISLNK(kind):
                tree[rel] = ("link", os.readlink(entry))
            else:
                tree[rel] = (stat.filemode(info.st_mode), info.st_mode, info.st_mtime_ns)
    info = root.stat()
    tree["."] = ("dir", info.st_mode, info.st_mtime_ns)
    return tree


@contextlib.contextmanager
def _case_folder(case: Case, tmp_path: Path):
    """``tmp_path``, or for an unprivileged case under root a fresh folder the ordinary user can reach."""
    if not (case.unprivileged and os.geteuid() == 0):
        yield tmp_path, []
        return
    if shutil.which("setpriv") is None:
        import pytest

        pytest.skip("running as root without setpriv (util-linux): cannot run as an ordinary user")
    folder = Path(tempfile.mkdtemp(prefix="labkit-badinput-", dir="/tmp"))  # pytest's tmp_path is 0700 root
    try:
        # setpriv rather than subprocess's user=: the interpreter lives under /root, which subprocess's
        # own exec check refuses to the ordinary user (setpriv's exec reaches it).
        yield folder, ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    finally:
        for sub, dirs, _ in os.walk(folder):
            for d in dirs:
                os.chmod(os.path.join(sub, d), 0o700)  # a read-only folder must not stop the clean-up
        shutil.rmtree(folder, ignore_errors=True)


def _give_to(folder: Path, uid: int) -> None:
    for sub, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(sub, name), uid, uid)
    os.chown(folder, uid, uid)


def run_case(case: Case, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``python -m labkit *case.args`` in a folder prepared by ``case.setup`` and check the refusal."""
    with _case_folder(case, tmp_path) as (folder, as_user):
        if case.setup is not None:
            case.setup(folder)
        if as_user:
            _give_to(folder, NOBODY)
        before = snapshot(folder)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            launch = Launch(tuple(case.args), str(folder), env, scaled(case.timeout))
            # the ordinary user cannot read this interpreter's library: setpriv starts one it can
            result = run_fresh(launch, tuple(as_user)) if as_user else run_labkit(launch)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{case.name}: no answer after {scaled(case.timeout):g} s (a hang); "
                                 f"stderr so far: {exc.stderr!r}") from None
        after = snapshot(folder)
    stderr = result.stderr.decode("utf-8", "backslashreplace")
    shown = f"{case.name}: exit {result.returncode}\nstderr:\n{stderr}\nstdout:\n" \
            f"{result.stdout.decode('utf-8', 'backslashreplace')[-2000:]}"
    assert "Traceback" not in stderr, shown
    assert b"\x1b" not in result.stderr + result.stdout, f"raw ESC reached the terminal\n{shown}"
    assert result.returncode == case.exit_code, shown
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    for word in case.words:
        assert word in lines[0], f"{word!r} not in the error line\n{shown}"
    if not case.folder_times:
        before, after = _without_folder_times(before), _without_folder_times(after)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, f"{case.name}: the command changed {sorted(changed)}\n{shown}"
    return result


def _without_folder_times(tree: dict[str, tuple]) -> dict[str, tuple]:
    """The snapshot without folders' modification times (a folder's entry is ("dir" or "drwx...", mode, mtime))."""
    return {name: entry[:2] if entry[0].startswith("d") else entry for name, entry in tree.items()}
