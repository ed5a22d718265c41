"""The grader's sandbox: a learner's code runs here, in a process of its own, and only plain values come out.

The grader (:mod:`labkit.course.grade`) never runs a learner's code. It
starts a separate process, ``python -m labkit.course.sandboxed``,
inside new Linux namespaces, and sends it a *program* on stdin (JSON): the
instructor's setup cells, the learner's definition cells and the instructor's
check cells, in notebook order. The sandbox runs them and writes one JSON
line per exercise to its stdout: what the learner's function returned (or
raised) for each case, encoded as plain data (:func:`encode`). The grader
compares those values with answers it computed itself; nothing the sandbox
says is a verdict.

How the sandbox is made, and why:

* **Namespaces, always.** ``unshare`` gives the process new mount, PID and
  network namespaces. In the new mount namespace the sandbox builds a root of
  its own (:func:`_new_root`): the system folders (``/usr``, ``/etc``,
  ``/dev``...), labkit's package and demo data, and the interpreter with its
  libraries, all read-only, and an empty private ``/tmp``; then it pivots into
  it and drops the old root. The submissions, the instructor's notebooks and
  checkout, the grader's output and every home folder are simply not there.
  In the PID namespace it sees no other process (not the grader's command
  line), and when its first process ends, the kernel ends every process it
  left behind (a daemonised child cannot outlive it); ``setpriv --pdeathsig``
  ends it if the grader dies first. The network namespace has no interface
  but its own loopback (07's setup shares a file between local peers over
  it). The environment is built from nothing: no variable of the grader's
  reaches it.
* **A dedicated uid when the grader runs as root** (CI does): after making
  its mounts, the sandbox drops to ``nobody`` (no capabilities left, so no
  mount can be undone, and no file only root may read is readable).
* **A user namespace when the grader does not run as root** (an instructor's
  laptop): ``unshare --user --map-root-user`` makes the mounts possible
  without privileges; the sandbox then enters one more user namespace, which
  *locks* the mounts (the kernel refuses to undo a mount made in a more
  privileged namespace), so the learner's code cannot undo the read-only root.
  Dropping to another uid is impossible there without setuid helpers
  (``newuidmap``), which a laptop may not have; the user namespace with
  locked, read-only mounts is what an unprivileged user can have.

Resource limits (:data:`LIMITS`): address space (RLIMIT_AS), CPU seconds,
processes (RLIMIT_NPROC, as nobody),
the size of any file written (what a learner prints goes to a file in the
sandbox's ``/tmp``, so endless printing fails with "File too large" instead
of growing anything), and core dumps off. The grader keeps a wall-clock
time-out and kills the sandbox's process group; the PID namespace takes
everything else with it. The grader reads at most :data:`MAX_REPLY` bytes
of the sandbox's answer.

Limits that remain: code running in the sandbox can read labkit's own source
(it must import labkit). A function that calls the labkit reference it is
compared against is caught when it reaches it through labkit's modules or
the notebook's names (each is replaced by a wrapper that records the call),
or names it in its source (the grader reads the source for that name); one
that reloads labkit's module, digs the original out of the wrapper, or copies
labkit's source into its cell is not.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import math
import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

from ..errors import SandboxUnavailable

__all__ = ["LIMITS", "MAX_REPLY", "Reply", "Record", "encode", "decode", "run", "ready", "command", "confine"]

LIMITS = {"memory": 3 << 30,  # bytes of address space (libtorrent and matplotlib need more than 1 GiB of it)
          "file": 16 << 20,  # bytes in any one file the sandbox writes, its captured output too
          "scratch": 64 << 20,  # bytes of its private /tmp
          "processes": 256}  # processes of the sandbox's uid (nobody) at once, when the grader runs as root
MAX_REPLY = 8 << 20  # bytes of answer the grader reads from one sandbox
NOBODY = 65534
_MAX_DEPTH = 40
_MAX_ITEMS = 200_000


# --- plain values both ways ----------------------------------------------------------------------


def encode(value: Any, _depth: int = 0, _count: list | None = None) -> Any:
    """A learner's return value as JSON data, with its types kept: bytes, tuples, sets, dicts, records.

    Records (dataclasses, objects with a ``__dict__``) become their class's
    name and fields, so two equal records encode equally; anything else
    becomes its type's name and repr.
    """
    count = _count if _count is not None else [0]
    count[0] += 1
    if _depth > _MAX_DEPTH or count[0] > _MAX_ITEMS:
        raise ValueError("the answer is too large or too deeply nested to compare")

    def again(inner: Any) -> Any:
        return encode(inner, _depth + 1, count)

    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 1 << 53 else {"$int": str(value)}
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"$tuple": [again(v) for v in value]}
    if isinstance(value, list):
        return [again(v) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [again(v) for v in value]
        return {"$set": sorted(items, key=lambda v: json.dumps(v, sort_keys=True))}
    if isinstance(value, dict):
        return {"$dict": [[again(k), again(v)] for k, v in value.items()]}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: again(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"$obj": kind, "fields": fields}
    if hasattr(value, "_fields"):  # a named tuple
        return {"$obj": kind, "fields": {name: again(getattr(value, name)) for name in value._fields}}
    if isinstance(getattr(value, "__dict__", None), dict) and not callable(value):
        return {"$obj": kind, "fields": {str(k): again(v) for k, v in sorted(vars(value).items())}}
    return {"$repr": kind, "text": repr(value)[:2000]}


class Record:
    """A record that came back from the sandbox: its class's name and fields; shown like the original."""

    def __init__(self, kind: str, fields: dict):
        self.kind, self.fields = kind, fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Record) and (self.kind, self.fields) == (other.kind, other.fields)

    def __repr__(self) -> str:
        name = self.kind.rpartition(".")[2]
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


def decode(data: Any) -> Any:
    """The plain Python value of :func:`encode`'s data (records come back as :class:`Record`)."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$int" in data:
        return int(data["$int"])
    if "$float" in data:
        return float(data["$float"])
    if "$bytes" in data:
        return bytes.fromhex(data["$bytes"])
    if "$tuple" in data:
        return tuple(decode(v) for v in data["$tuple"])
    if "$set" in data:
        items = [decode(v) for v in data["$set"]]
        try:
            return set(items)
        except TypeError:
            return items
    if "$dict" in data:
        pairs = [(decode(k), decode(v)) for k, v in data["$dict"]]
        try:
            return dict(pairs)
        except TypeError:
            return pairs
    if "$obj" in data:
        return Record(str(data["$obj"]), {k: decode(v) for k, v in dict(data.get("fields", {})).items()})
    if "$repr" in data:
        return Record(str(data["$repr"]), {"repr": str(data.get("text", ""))})
    return data


# --- the grader's side ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Reply:
    """What one sandbox run gave back."""

    lines: list  # the JSON objects it wrote, in order
    stopped: str = ""  # why it ended before saying "done" ('' if it finished)
    seconds: float = 0.0


def _labkit_folder() -> Path:
    return Path(__file__).resolve().parents[1]


def kept_paths() -> list[Path]:
    """What the sandbox sees besides the system: labkit and its demo data, the interpreter and its libraries."""
    paths = {_labkit_folder(), _labkit_folder().parent / "data", Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        paths.add(Path(sysconfig.get_paths()[name]))
    return sorted({p.resolve() for p in paths if p.exists()})


def command() -> list[str]:
    """The command that starts a sandbox: namespaces always, and nobody's uid when the grader is root."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise SandboxUnavailable("the grader needs util-linux's unshare to run a learner's code in a sandbox")
    spaces = ["--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--net"]
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    setpriv = shutil.which("setpriv")  # the sandbox ends with the grader's thread that started it, even if killed
    orphan = [setpriv, "--pdeathsig", "KILL"] if setpriv else []
    return [*orphan, unshare, *user, *spaces, sys.executable, "-m", "labkit.course.sandboxed"]


def scratch_folder() -> str:
    """The sandbox's private writable folder: /tmp, or /scratch when labkit itself lives under /tmp."""
    return "/scratch" if any(_within(k, Path("/tmp")) for k in kept_paths()) else "/tmp"


def _environment() -> dict[str, str]:
    """Built from nothing: the sandbox finds labkit and its libraries, and nothing of the grader's."""
    scratch = scratch_folder()
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LANG": "C.UTF-8",
            "PYTHONPATH": str(_labkit_folder().parent), "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{scratch}/mpl"}


def run(program: dict, *, timeout: float, limits: dict | None = None) -> Reply:
    """Run ``program`` in a new sandbox; its JSON lines, or why it stopped early. Never raises for what it runs."""
    setup = {"program": program, "keep": [str(p) for p in kept_paths()], "limits": {**LIMITS, **(limits or {}), "cpu": timeout + 5},
             "drop_to": NOBODY if os.geteuid() == 0 else None, "scratch_dir": scratch_folder()}
    started = time.monotonic()
    process = subprocess.Popen(command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=_environment(), cwd="/", start_new_session=True)
    try:
        process.stdin.write(json.dumps(setup).encode("utf-8"))
        process.stdin.close()
    except BrokenPipeError:
        pass
    data = bytearray()
    stopped = ""
    deadline = started + timeout
    fd = process.stdout.fileno()
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                stopped = f"timed out after {timeout:g} s"
                break
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            if len(data) + len(chunk) > MAX_REPLY:
                stopped = f"its answer grew past {MAX_REPLY:,} bytes"
                break
            data += chunk
    finally:
        _end(process)
    lines = []
    for raw in bytes(data).splitlines():
        try:
            entry = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # a line cut short, or the learner's own bytes on our channel: not an answer
        if isinstance(entry, dict):
            lines.append(entry)
    if not stopped and not any(entry.get("done") is True for entry in lines):
        code = process.returncode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        stopped = f"the sandbox ended early ({how})"
    # Only the first line is the sandbox's own word on being made; everything after "ready" may be the learner's.
    if lines and isinstance(lines[0].get("sandbox_error"), str):
        raise SandboxUnavailable(f"it could not be made: {lines[0]['sandbox_error']}")
    if not lines or lines[0].get("ready") is not True:
        return Reply([], stopped or "the sandbox ended before it was ready", time.monotonic() - started)
    return Reply(lines[1:], stopped, time.monotonic() - started)


def ready() -> None:
    """Make one empty sandbox, or raise SandboxUnavailable saying why (before any student is graded)."""
    reply = run({"cells": []}, timeout=60)
    if reply.stopped:
        raise SandboxUnavailable(f"an empty one {reply.stopped}; check that `unshare --user --map-root-user "
                                 f"--mount --pid --fork --net true` works on this machine")


def _end(process: subprocess.Popen) -> None:
    """End the sandbox and everything it started (its PID namespace ends with its first process)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.stdout.close()
    process.wait()


# --- inside the sandbox ----------------------------------------------------------------------------

_MS = {"ro": 1, "nosuid": 2, "nodev": 4, "noexec": 8, "noatime": 1024, "nodiratime": 2048,
       "relatime": 1 << 21, "strictatime": 1 << 24}
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 1, 32, 4096, 8192, 16384, 1 << 18
CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MNT_DETACH = 2
_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(os.uname().machine, 155)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc, source: str | None, target: str, kind: str | None, flags: int, data: str | None = None) -> None:
    def raw(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    if libc.mount(raw(source), raw(target), raw(kind), flags, raw(data)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _mount_points() -> list[tuple[str, str]]:
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as info:
        for line in info:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")
            points.append((point, fields[5]))
    return points


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/dev")  # what any program needs


def _bind(libc, source: Path, handle: int, root: Path) -> None:
    """Bind ``source`` (held open as ``handle``, so a tmpfs over it since changes nothing) into ``root``."""
    target = root / source.relative_to("/")
    target.mkdir(parents=True, exist_ok=True)
    _mount(libc, f"/proc/self/fd/{handle}", str(target), None, MS_BIND | MS_REC)


def _new_root(libc, keep: list[str], scratch_size: int, scratch: str) -> None:
    """Make a root of its own: the system folders, labkit and the interpreter, read-only; a private scratch folder.

    Everything else (other submissions, the instructor's notebooks, the
    grader's output, home folders) is simply not there.
    """
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    links, held = [], []
    for folder in map(Path, [*SYSTEM, *sorted(keep)]):
        if folder.is_symlink():  # /bin -> usr/bin on merged-/usr systems
            links.append((folder, os.readlink(folder)))
        elif folder.is_dir():
            held.append((folder, os.open(folder, os.O_PATH | os.O_DIRECTORY)))
    root = Path("/tmp")  # built on a tmpfs over /tmp: what was there is reached through the handles only
    _mount(libc, "tmpfs", str(root), "tmpfs", 0, "size=1m,mode=755")
    for folder, handle in held:
        _bind(libc, folder, handle, root)
        os.close(handle)
    for folder, target in links:
        (root / folder.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        if not (root / folder.relative_to("/")).exists():
            (root / folder.relative_to("/")).symlink_to(target)
    (root / "proc").mkdir(exist_ok=True)
    _mount(libc, "/proc", str(root / "proc"), None, MS_BIND | MS_REC)
    for point, options in _mount_points():
        if not _within(Path(point), root) or Path(point) == root or _within(Path(point), root / "proc"):
            continue
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options.split(","):
            flags |= _MS.get(option, 0)
        _mount(libc, None, point, None, flags)
    private = root / scratch.lstrip("/")
    private.mkdir(parents=True, exist_ok=True)
    _mount(libc, "tmpfs", str(private), "tmpfs", 0, f"size={scratch_size},mode=1777")
    (root / "old").mkdir()
    _mount(libc, None, str(root), None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    os.chdir(root)
    if libc.syscall(_PIVOT_ROOT, b".", b"old") != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"pivot_root: {os.strerror(err)}")
    os.chdir("/")
    if libc.umount2(b"/old", MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"umount /old: {os.strerror(err)}")


def _lock(libc) -> None:
    """Enter one more user namespace: the mounts made so far can no longer be undone from inside."""
    uid, gid = os.geteuid(), os.getegid()
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare: {os.strerror(err)}")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _loopback_up() -> None:
    """Bring up the new network namespace's loopback (a notebook's setup may share a file between local peers)."""
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sh", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP


def confine(setup: dict) -> None:
    """Inside the new namespaces: the new root, the uid or the lock, the limits (raises OSError if it cannot)."""
    libc = _libc()
    limits = setup["limits"]
    _loopback_up()
    _new_root(libc, setup["keep"], limits["scratch"], setup["scratch_dir"])
    if setup.get("drop_to") is not None:
        os.setgroups([])
        os.setgid(setup["drop_to"])
        os.setuid(setup["drop_to"])
        # nobody's processes are counted machine-wide: a fork bomb stops here, not at the kernel's limit
        resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    else:
        _lock(libc)
    for name, value in ((resource.RLIMIT_AS, limits["memory"]), (resource.RLIMIT_FSIZE, limits["file"]),
                        (resource.RLIMIT_CPU, int(limits["cpu"])), (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(name, (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file too large is an OSError in the learner's cell
