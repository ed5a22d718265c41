"""A fast miner: do once the work that does not change with the nonce.

While mining, only the nonce changes, and the nonce is the last claim of the
token (``labkit.tokens`` lays the claims out that way). So most of the token,
``B64(header) "." B64(claims up to "nonce":)``, is the same for every attempt:

* base64 turns every 3 bytes into 4 characters on their own, so the claims
  can be cut at a multiple of 3 bytes; the part before the cut is encoded once
  and only a short tail (a few prefix bytes, the nonce digits and ``}``) is
  encoded per attempt;
* SHA-256 reads its input in order, so a hash object that has already read
  the fixed part can be copied and fed only the tail. HMAC (RFC 2104) is two
  SHA-256 runs, ``H((K ^ opad) + H((K ^ ipad) + message))``, and both start
  from fixed bytes, so both are copied from saved states; so is the token hash.

The result is the very token ``labkit.pow.mine`` makes for the same nonce,
byte for byte, about thirty times faster on one core (what is left is mostly
the cost of calling hashlib three times per attempt), and faster again on
every core with worker processes (``benchmarks/bench_mining.py`` measures it). Hardware miners win the same way: the
fixed work is done once and only the part that depends on the nonce is
repeated, in circuits instead of Python.

A hash meets difficulty ``d`` (``d`` leading hex zeros) exactly when, read as
a 256-bit number, it is below the *target* ``16 ** (64 - d)``
(``labkit.pow.target``); comparing the digest bytes with the target's bytes
is one comparison per attempt.

``default_miner()`` (this module's ``mine``) is the miner used wherever none is
given. It lives here, not in ``labkit.pow``, because this module imports
``labkit.pow``: the other way round would be an import cycle.

References: RFC 7515 (JWS compact form), RFC 4648 section 5 (base64url),
RFC 2104 (HMAC), FIPS 180-4 (SHA-256), Bitcoin's "target" for difficulty.
"""

from __future__ import annotations

import binascii
import functools
import hashlib
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .encoding import b64url_decode
from .errors import MiningCancelled
from .pow import (
    PROGRESS_EVERY,
    MiningProgress,
    MiningResult,
    Miner,
    ProgressCallback,
    check_difficulty,
    target,
    token_hash,
)
from .tokens import Payload, encode_token

__all__ = ["PrefixHasher", "cgroup_cpu_limit", "available_cores", "mine", "default_miner"]

SINGLE_CORE_UP_TO = 3  # up to this difficulty, forking workers costs more than it saves
CHUNK = 10_000  # nonces per unit of work: cancel, progress and sharing happen between chunks
# fork starts a worker in milliseconds and shares the tail tables; on macOS
# and Windows spawn is the safe choice (it re-imports labkit in each worker).
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"

_BLOCK_SIZE = 64  # bytes per SHA-256 block, the size HMAC pads its key to
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """base64url without padding, as in JWS; binascii skips base64.py's Python layer."""
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE, b"=")


@functools.lru_cache(maxsize=None)
def _tails(digits: int) -> tuple[tuple[bytes, bytes], ...]:
    """For every ``digits``-digit string (zero-padded), B64(digits + "}") without and with ".".

    The same table serves every template and every block of nonces, since it
    only holds the last digits of the nonce and the closing brace.
    """
    pairs = []
    for low in range(10 ** digits):
        tail = _b64(b"%0*d}" % (digits, low))
        pairs.append((tail, tail + b"."))
    return tuple(pairs)


class PrefixHasher:
    """Tokens and token hashes of one template for any nonce, hashing the fixed part once.

    ``token(nonce)`` equals ``encode_token(template.with_nonce(nonce), secret)``
    and ``attempt(nonce)`` is the sha256 digest of that token's bytes.
    ``prefix`` is the claims JSON up to the nonce digits and ``fixed`` the
    start every token shares, both as bytes, for looking at.
    """

    def __init__(self, template: Payload, secret: bytes | str):
        if isinstance(template.nonce, bool) or not isinstance(template.nonce, int):
            raise TypeError(f"nonce must be an int, not {type(template.nonce).__name__}")
        # pyjwt encodes the template once; its bytes are the reference every
        # piece below is cut from, so the layout is pyjwt's by construction.
        reference = encode_token(template, secret)
        header64, claims64, _ = reference.encode("ascii").split(b".")
        claims = b64url_decode(claims64.decode("ascii"))
        ending = b'"nonce":%d}' % template.nonce
        if not claims.endswith(ending):
            raise RuntimeError("the claims do not end with the nonce; labkit.tokens must put it last")
        self.template = template
        self.prefix = claims[: len(claims) - len(ending) + len(b'"nonce":')]  # claims up to the nonce digits
        cut = len(self.prefix) - len(self.prefix) % 3
        self._leftover = self.prefix[cut:]  # 0-2 bytes that share a base64 group with the digits
        fixed = header64 + b"." + _b64(self.prefix[:cut])  # every token starts with these bytes

        key = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)  # as pyjwt does
        if len(key) > _BLOCK_SIZE:
            key = hashlib.sha256(key).digest()  # RFC 2104: long keys are hashed first
        key = key.ljust(_BLOCK_SIZE, b"\0")
        self._inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + fixed)
        self._outer = hashlib.sha256(bytes(k ^ 0x5C for k in key))
        self._token = hashlib.sha256(fixed)
        self.fixed = fixed  # B64(header).B64(claims up to the cut): the start of every token
        if self.token(template.nonce) != reference:
            raise RuntimeError("PrefixHasher disagrees with pyjwt; its token layout has changed")

    def _pieces(self, nonce: int) -> tuple[bytes, bytes]:
        """B64 of the variable end of the claims, and B64 of the HMAC."""
        tail = _b64(self._leftover + b"%d}" % nonce)
        inner = self._inner.copy()
        inner.update(tail)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return tail, _b64(outer.digest())

    def token(self, nonce: int) -> str:
        """The block's JWT with this nonce."""
        tail, mac = self._pieces(nonce)
        return (self.fixed + tail + b"." + mac).decode("ascii")

    def attempt(self, nonce: int) -> bytes:
        """sha256 of the token with this nonce, as 32 bytes (hex() gives the block hash)."""
        tail, mac = self._pieces(nonce)
        h = self._token.copy()
        h.update(tail + b"." + mac)
        return h.digest()

    def search(self, start: int, stop: int, limit: bytes) -> int | None:
        """The first nonce in [start, stop) whose token hash is below ``limit``, or None."""
        nonce = start
        while nonce < stop:
            if nonce < 0:  # "-" breaks the digit arithmetic below; the slow path is right for any int
                found = next((n for n in range(nonce, min(stop, 0)) if self.attempt(n) < limit), None)
                if found is not None:
                    return found
                nonce = min(stop, 0)
                continue
            width = len(str(nonce))
            # Cut the digits so that the fixed part (prefix + high digits) is a whole
            # number of base64 groups; the low digits then come from a shared table.
            low_digits = 2 + (len(self.prefix) + width - 2) % 3
            if width <= low_digits:  # too few digits to split: one nonce at a time
                end = min(stop, 10 ** width)
                for n in range(nonce, end):
                    if self.attempt(n) < limit:
                        return n
                nonce = end
                continue
            size = 10 ** low_digits
            high, low = divmod(nonce, size)
            end = min(size, stop - high * size)
            found = self._search_block(high, low_digits, low, end, limit)
            if found is not None:
                return high * size + found
            nonce = (high + 1) * size
        return None

    def _search_block(self, high: int, low_digits: int, low: int, end: int, limit: bytes) -> int | None:
        """Nonces high * 10**low_digits + [low, end): the hot loop, with everything bound to locals."""
        fixed = _b64(self._leftover + b"%d" % high)  # whole base64 groups by choice of low_digits
        inner = self._inner.copy()
        inner.update(fixed)
        token = self._token.copy()
        token.update(fixed)
        inner_copy, outer_copy, token_copy = inner.copy, self._outer.copy, token.copy
        b2a, urlsafe = binascii.b2a_base64, _TO_URLSAFE
        tails = _tails(low_digits)[low:end]
        for tail, tail_dot in tails:  # no enumerate: counting costs more than finding the index once
            h = inner_copy()
            h.update(tail)
            o = outer_copy()
            o.update(h.digest())
            h = token_copy()
            # b2a_base64 ends with "=\n" for 32 bytes; one translate drops both and makes it url-safe.
            h.update(tail_dot + b2a(o.digest()).translate(urlsafe, b"=\n"))
            if h.digest() < limit:
                return low + tails.index((tail, tail_dot))
        return None


# --- mining -------------------------------------------------------------------


CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")


def _cgroup_dirs(root: Path, proc_cgroup: Path, version: int) -> list[Path]:
    """The folders of this process's cgroup and of its ancestors up to the mount, innermost first.

    ``/proc/self/cgroup`` has lines ``id:controllers:path``: ``0::path`` for cgroup v2
    (mounted at ``root``), and for v1 a line naming ``cpu`` among its controllers (mounted
    at ``root/cpu,cpuacct`` or ``root/cpu``). In a container the path may name a folder its
    own ``/sys/fs/cgroup`` does not show; then the mount alone is read.
    """
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if version == 2 and controllers == "":
            mount = root
        elif version == 1 and "cpu" in controllers.split(","):
            mount = root / controllers if (root / controllers).is_dir() else root / "cpu"
        else:
            continue
        folder = mount / path.lstrip("/")
        if not folder.is_dir():
            return [mount]
        return [folder, *[p for p in folder.parents if p.is_relative_to(mount)]]
    return []


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The CPUs this process's cgroup may use (quota / period, the tightest along its path), or None if unlimited.

    cgroup v2 writes ``cpu.max`` as ``"<quota> <period>"`` or ``"max <period>"`` (microseconds);
    v1 writes ``cpu.cfs_quota_us`` (-1: no limit) and ``cpu.cfs_period_us``. A Kubernetes
    pod's CPU limit and ``docker run --cpus`` are set this way.
    """
    limits = []
    for folder in _cgroup_dirs(root, proc_cgroup, 2):
        fields = (_read(folder / "cpu.max") or "").split()
        if len(fields) == 2 and fields[0] != "max":
            limits.append(int(fields[0]) / int(fields[1]))
    for folder in _cgroup_dirs(root, proc_cgroup, 1):
        quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
        if quota and period and int(quota) > 0 and int(period) > 0:
            limits.append(int(quota) / int(period))
    return min(limits) if limits else None


def available_cores(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> int:
    """CPUs this process may use: the affinity mask, capped by the cgroup's CPU quota, at least 1.

    A quota of 1.5 CPUs gives 2 workers (rounded up, as Java and Go do): two processes
    sharing 1.5 CPUs still mine more than one alone.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = cgroup_cpu_limit(root, proc_cgroup)
    return max(1, min(cores, math.ceil(limit))) if limit is not None else cores


def _check_workers(workers: Any) -> int:
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an int, not {type(workers).__name__}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    return workers


def mine(
    template: Payload,
    secret: bytes,
    difficulty: int,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> MiningResult:
    """Find the first nonce from template.nonce up whose token hash has ``difficulty`` hex zeros.

    The same search as ``labkit.pow.mine`` with the same result (nonce and
    token), whatever the number of workers. ``workers`` is the number of
    processes; by default one per core, or none beyond this one for
    difficulties up to 3 (4 where workers are spawned, not forked), where
    starting processes costs more than it saves.
    ``progress`` is called about every 0.1 s; setting ``cancel`` stops the
    search with MiningCancelled.
    """
    check_difficulty(difficulty)
    if workers is None:
        # A spawned worker imports labkit afresh (about 0.3 s), as long as a
        # difficulty-4 block takes one core, so spawn pays off one step later.
        single_core_up_to = SINGLE_CORE_UP_TO + (START_METHOD != "fork")
        workers = 1 if difficulty <= single_core_up_to else available_cores()
    workers = _check_workers(workers)
    hasher = PrefixHasher(template, secret)  # checks template and secret before any process starts
    if workers == 1:
        return _mine_here(hasher, difficulty, progress, cancel)
    return _mine_parallel(hasher, secret, difficulty, workers, progress, cancel)


def _result(hasher: PrefixHasher, nonce: int, attempts: int, start: float) -> MiningResult:
    token = hasher.token(nonce)
    return MiningResult(token, nonce, token_hash(token), attempts, time.perf_counter() - start)


def _mine_here(
    hasher: PrefixHasher,
    difficulty: int,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> MiningResult:
    limit = target(difficulty)
    start = time.perf_counter()
    next_report = start + PROGRESS_EVERY
    first = nonce = hasher.template.nonce
    while True:
        found = hasher.search(nonce, nonce + CHUNK, limit)
        if found is not None:
            return _result(hasher, found, found - first + 1, start)
        nonce += CHUNK
        if cancel is not None and cancel.is_set():
            raise MiningCancelled(nonce - first)
        now = time.perf_counter()
        if progress is not None and now >= next_report:
            progress(MiningProgress(nonce - first, now - start))
            next_report = now + PROGRESS_EVERY


# Workers split the nonces into chunks of CHUNK: worker w of W takes chunks
# w, w + W, w + 2W... in order. A worker that finds a nonce in chunk k lowers
# the shared `best` to k; the others finish only the chunks below k, where a
# smaller nonce could still be. So the answer is the smallest valid nonce, as
# with one worker, and the work wasted is at most a chunk per worker.


def _worker(template, secret, limit, number, workers, stop, best, counts, conn) -> None:
    """One mining process; reports ("found", nonce) and then ("done", None) or ("error", exc)."""
    import signal

    # Ctrl-C reaches every process of the terminal; the parent alone decides
    # what it means and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        hasher = PrefixHasher(template, secret)
        first = template.nonce
        chunk = number
        attempts = 0
        while not stop.is_set() and chunk < best.value:
            low = first + chunk * CHUNK
            found = hasher.search(low, low + CHUNK, limit)
            if found is None:
                attempts += CHUNK
                counts[number] = attempts
                chunk += workers
                continue
            counts[number] = attempts + found - low + 1
            with best.get_lock():
                best.value = min(best.value, chunk)
            conn.send(("found", found))
            break
        conn.send(("done", None))
    except BaseException as exc:  # the parent re-raises it; a worker has no one else to tell
        try:
            conn.send(("error", exc))
        except Exception:  # the exception does not pickle: send its text instead
            conn.send(("error", RuntimeError(f"mining worker {number} failed: {exc!r}")))
    finally:
        conn.close()


def _mine_parallel(
    hasher: PrefixHasher,
    secret: bytes,
    difficulty: int,
    workers: int,
    progress: ProgressCallback | None,
    cancel: threading.Event | None,
) -> MiningResult:
    import multiprocessing
    from multiprocessing.connection import wait

    ctx = multiprocessing.get_context(START_METHOD)
    stop = ctx.Event()
    best = ctx.Value("q", 2**62)  # lowest chunk where a nonce was found; 2**62 = none yet
    counts = ctx.Array("Q", workers, lock=False)  # attempts per worker, each written by its own worker
    start = time.perf_counter()
    limit = target(difficulty)
    processes, readers = [], {}
    try:
        for number in range(workers):
            reader, writer = ctx.Pipe(duplex=False)
            process = ctx.Process(
                target=_worker,
                args=(hasher.template, secret, limit, number, workers, stop, best, counts, writer),
                name=f"labkit-miner-{number}",
                daemon=True,  # never outlive the notebook kernel, whatever happens
            )
            process.start()
            writer.close()  # the worker holds its end; the parent sees EOF if it dies
            processes.append(process)
            readers[reader] = number
        found: list[int] = []
        next_report = start + PROGRESS_EVERY
        while readers:
            for reader in wait(list(readers), timeout=PROGRESS_EVERY):
                number = readers[reader]
                try:
                    kind, value = reader.recv()
                except EOFError:
                    processes[number].join(1)  # let it be reaped so its exit code is known
                    code = processes[number].exitcode
                    raise RuntimeError(f"mining worker {number} stopped without an answer (exit code {code})") from None
                if kind == "found":
                    found.append(value)
                elif kind == "done":
                    del readers[reader]
                    reader.close()
                else:
                    raise value
            if cancel is not None and cancel.is_set():
                raise MiningCancelled(sum(counts))
            now = time.perf_counter()
            if progress is not None and now >= next_report and readers:
                progress(MiningProgress(sum(counts), now - start))
                next_report = now + PROGRESS_EVERY
        # Each worker searched every one of its chunks below the best one, so the
        # smallest nonce found is the smallest there is.
        return _result(hasher, min(found), sum(counts), start)
    finally:
        stop.set()
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
            process.close()
        for reader in readers:
            reader.close()


def default_miner() -> Miner:
    """The miner used wherever none is given: :func:`mine`, the same search as ``labkit.pow.mine``, faster."""
    return mine
