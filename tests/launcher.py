"""Run ``python -m labkit ARGS`` as a process of its own, forked from one that imported labkit already.

The bad-input catalogue (tests/badinput.py) runs about 250 refused command lines. Started
as ``python -m labkit``, each paid an interpreter's start and labkit's imports, about
0.35 s of CPU: more than the refusals themselves. Here one server process per test
worker (this file, run as a script) imports ``labkit.__main__`` and builds its parser
once; for each command it forks a child that does what the interpreter does for
``python -m labkit``: the working folder, the environment, stdin from /dev/null, stdout
and stderr to files, then ``main(argv)``, an uncaught exception printed as the
interpreter prints it, and the exit status. The server waits for the child on a pidfd
with the case's time-out and kills a hang.

So every row is still a separate process with its own exit status and file descriptors;
what is left out is only the start of a fresh interpreter, which every other
command-line test (tests/test_cli.py and the rest) still pays, as do the catalogue's
rows run as an ordinary user (badinput.run_case starts those under ``setpriv``).
"""

from __future__ import annotations

import atexit
import dataclasses
import os
import pickle
import select
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path

__all__ = ["Launch", "run_labkit", "run_fresh"]

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Launch:
    """One command line to run: ``python -m labkit *args`` in ``cwd`` with ``env``."""

    args: tuple[str | bytes, ...]
    cwd: str
    env: dict[str, str]
    timeout: float


# --- the server (this file as a script) -------------------------------------------------------


def _child(launch: Launch, out: int, err: int, entry) -> None:
    """In the forked child: become ``python -m labkit *args`` and exit with its status. Never returns."""
    code = 1
    try:
        os.chdir(launch.cwd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        os.environ.clear()
        os.environ.update(launch.env)
        sys.argv = [entry.__file__, *(os.fsdecode(a) for a in launch.args)]  # bytes: as the interpreter decodes argv
        try:
            result = entry.main(sys.argv[1:])
            code = 0 if result is None else result if isinstance(result, int) else 1
        except SystemExit as stop:
            code = 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    finally:
        os._exit(code)


def _launch(launch: Launch, entry) -> dict:
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(launch, out.fileno(), err.fileno(), entry)
        pidfd = os.pidfd_open(pid)
        try:
            ended = select.select([pidfd], [], [], launch.timeout)[0]
            if not ended:
                os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
        finally:
            os.close(pidfd)
        out.seek(0)
        err.seek(0)
        return {"returncode": os.waitstatus_to_exitcode(status), "stdout": out.read(), "stderr": err.read(),
                "timed_out": not ended}


def serve() -> None:
    """Read pickled Launches on stdin, answer each with a pickled result on stdout, until stdin closes."""
    import labkit.__main__ as entry

    entry.build_parser()  # what the parser imports (the blocks, the tokens, jwt: 0.1 s) is imported once, here
    try:  # the sharing commands import it on their first use; once here, not in every child
        import libtorrent  # noqa: F401
    except ImportError:
        pass
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            launch = Launch(**pickle.load(requests))
        except EOFError:
            return
        pickle.dump(_launch(launch, entry), answers)
        answers.flush()


# --- the client (in the test worker) ------------------------------------------------------------

_server: subprocess.Popen | None = None
_lock = threading.Lock()


def _the_server() -> subprocess.Popen:
    global _server
    if _server is None or _server.poll() is not None:
        _server = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        atexit.register(_stop, _server)
    return _server


def _stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.stdin.close()
        server.wait()


def run_labkit(launch: Launch) -> subprocess.CompletedProcess:
    """Run the command line; a CompletedProcess, or subprocess.TimeoutExpired for a hang (the child is killed)."""
    with _lock:
        server = _the_server()
        pickle.dump(dataclasses.asdict(launch), server.stdin)
        server.stdin.flush()
        result = pickle.load(server.stdout)
    args = ["python", "-m", "labkit", *launch.args]
    if result["timed_out"]:
        raise subprocess.TimeoutExpired(args, launch.timeout, output=result["stdout"], stderr=result["stderr"])
    return subprocess.CompletedProcess(args, result["returncode"], result["stdout"], result["stderr"])


def run_fresh(launch: Launch, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The same command line in a fresh ``python -m labkit`` (after ``prefix``, say ``setpriv ...``):
    the reference the forked answers are checked against, and the way rows run as another user start."""
    return subprocess.run([*prefix, sys.executable, "-m", "labkit", *launch.args], cwd=launch.cwd, env=launch.env,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=launch.timeout)


if __name__ == "__main__":
    serve()
