"""A class on one machine: the image's install, non-root students, and a real JupyterHub.

Shared by tests/test_image_install.py, tests/test_hub.py and benchmarks/hub.py:

* ``shared_install`` runs the image's install steps (deploy/install-labkit.sh) into a
  root-owned folder every user can read and none but root can write: a venv with labkit
  installed from its wheel, and the notebooks. The venv's Python must be one any user may
  run (a pyenv Python under /root is not), so ``usable_python`` picks one.
* ``students`` creates system users with ``useradd`` (homes 0700) and removes them, with
  whatever they left behind.
* ``Hub`` runs JupyterHub on 127.0.0.1 with the dummy authenticator, the local process
  spawner (each student's server runs as that student) and configurable-http-proxy from
  .hub/ (``make hub-proxy``), and drives it through its REST API.
* ``run_notebook`` executes a notebook's code cells in a kernel of a student's server,
  through the hub's proxy: the server's kernels API and the kernel's websocket, as
  JupyterLab does.

Creating users and switching to them needs root; CI runs as root.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime as dt
import functools
import json
import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from processes import running
from waiting import scaled

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "deploy" / "install-labkit.sh"
CONNECT_SECONDS = 120  # for a kernel's websocket to open (before scaled())
PROXY = ROOT / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".venv-*", ".hub", "build", "dist", "*.egg-info", "__pycache__",
                                    "work", "student", "test-artifacts", ".pytest_cache", ".hypothesis",
                                    ".ipynb_checkpoints")
TEST_PACKAGES = ("pytest", "hypothesis", "nbval", "playwright", "cryptography_vectors")  # the test extra's own


def run(args: list, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{args} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


# --- the shared install -------------------------------------------------------------------------


def usable_python() -> str:
    """A Python 3.10-3.13 that a user without privileges can run (its files outside any 0700 folder)."""
    names = [f"python3.{minor}" for minor in (13, 12, 11, 10)] + ["python3"]
    candidates = [shutil.which(n, path=p) for p in ("/usr/local/bin:/usr/bin", os.environ.get("PATH", ""))
                  for n in names]
    for python in dict.fromkeys(c for c in candidates if c):
        try:
            probe = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, "-c",
                                    "import sys, venv, ensurepip; sys.exit(not (3, 10) <= sys.version_info[:2] <= (3, 13))"],
                                   capture_output=True, timeout=60, cwd="/")
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return python
    raise RuntimeError("no Python 3.10-3.13 with venv here that an unprivileged user may run "
                       "(Debian: apt-get install python3-venv)")


def build_wheel(dest: Path) -> Path:
    """labkit's wheel, built as ``pip wheel .`` builds it, from a copy of the checkout."""
    source = dest / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dest / "dist", source])
    shutil.rmtree(source)
    (wheel,) = (dest / "dist").glob("labkit-*.whl")
    return wheel


@dataclass(frozen=True)
class SharedInstall:
    root: Path       # root's, 0755: what the students share
    python: Path     # the venv's python (labkit, JupyterLab, jupyterhub-singleuser)
    notebooks: Path  # the notebooks, read-only

    @property
    def bin(self) -> Path:
        return self.python.parent


# --- the image's dependencies, kept as wheels between runs ---------------------------------------
# Resolving labkit[hub]'s 130 packages against the index and downloading them took about a minute of each
# run (pip's own cache is not written here). So the install runs offline (PIP_NO_INDEX) from a folder of
# those wheels, kept between runs in the user's cache folder, for the venv's Python: the first run fills
# it with the venv's own pip, as the online install would have chosen; when the install finds a
# requirement the folder cannot meet (a dependency added to pyproject.toml), the folder is filled again
# from the index and the install is repeated from a clean venv.

MISSING = ("No matching distribution found", "Could not find a version that satisfies")


def wheel_cache(python: str) -> Path:
    """The folder of wheels kept for ``python`` (its version and platform): under $XDG_CACHE_HOME or ~/.cache."""
    tag = run([python, "-c", "import sys, sysconfig; print(f'py{sys.version.split()[0]}-{sysconfig.get_platform()}')"],
              timeout=60).stdout.strip()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "labkit" / "image-wheels" / tag


def _install(python: str, root: Path, wheel: Path, wheels: Path) -> subprocess.CompletedProcess:
    """deploy/install-labkit.sh, offline: the wheel and the kept wheels in the one folder it names."""
    links = wheel.parent.parent / "find-links"
    shutil.rmtree(links, ignore_errors=True)
    links.mkdir()
    for path in [wheel, *(p for p in wheels.glob("*.whl") if not p.name.startswith("labkit-"))]:
        (links / path.name).symlink_to(path)
    return subprocess.run(["sh", str(INSTALL_SCRIPT), python, str(root / "venv"), str(links / wheel.name),
                           str(ROOT / "notebooks"), str(root / "notebooks")],
                          capture_output=True, text=True, timeout=900,
                          env=clean_environment(PIP_NO_INDEX="1"))  # no PYTHONPATH: pip would see this checkout


def shared_install(root: Path) -> SharedInstall:
    """Run the image's install steps into ``root``, an empty folder of root's: as deploy/Dockerfile does."""
    import fcntl

    root.mkdir(mode=0o755, exist_ok=True)
    root.chmod(0o755)
    python = usable_python()
    wheel = build_wheel(Path(tempfile.mkdtemp(prefix="labkit-wheel-")))
    wheels = wheel_cache(python)
    wheels.mkdir(parents=True, exist_ok=True)
    try:
        with open(wheels / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another session filling the folder meanwhile waits
            result = _install(python, root, wheel, wheels)
            if result.returncode != 0 and any(text in result.stderr for text in MISSING):
                # The failed venv's own pip (its Python's version picks the wheels) fills the folder from the
                # index; then the install starts again from a clean venv.
                run([root / "venv" / "bin" / "python", "-m", "pip", "download", "--quiet", "--no-input",
                     "--dest", wheels, "--find-links", wheel.parent, f"labkit[hub]=={wheel.name.split('-')[1]}"],
                    timeout=900, env=clean_environment())
                shutil.rmtree(root / "venv")
                result = _install(python, root, wheel, wheels)
            if result.returncode != 0:
                raise RuntimeError(f"deploy/install-labkit.sh failed ({result.returncode}):\n"
                                   f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    finally:
        shutil.rmtree(wheel.parent.parent)
    return SharedInstall(root, root / "venv" / "bin" / "python", root / "notebooks")


# --- students -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Student:
    name: str
    uid: int
    gid: int
    home: Path


@contextmanager
def students(names: list[str]) -> Iterator[list[Student]]:
    """System users with homes of mode 0700 (as a hub's admin should make them), removed afterwards."""
    made = []
    try:
        for name in names:
            run(["useradd", "--create-home", "--shell", "/bin/sh", "-K", "HOME_MODE=0700", "-K", "UMASK=077", name])
            entry = pwd.getpwnam(name)
            made.append(Student(name, entry.pw_uid, entry.pw_gid, Path(entry.pw_dir)))
        yield made
    finally:
        for student in made:
            stop_processes(student.uid)
            subprocess.run(["userdel", "--remove", student.name], capture_output=True)
            for folder in TEMPORARY_FOLDERS:  # what they left outside their homes
                for path in owned_by(student.uid, Path(folder)):
                    if path.is_dir() and not path.is_symlink():
                        shutil.rmtree(path, ignore_errors=True)
                    else:
                        path.unlink(missing_ok=True)


def processes_of(uid: int) -> list[str]:
    """The command lines of the processes running as ``uid``."""
    return [p.command for p in running() if p.uid == uid]


TEMPORARY_FOLDERS = ("/tmp", "/var/tmp", "/dev/shm")


def owned_by(uid: int, top: Path) -> list[Path]:
    """What belongs to ``uid`` in ``top`` and in the folders there anyone may write (/tmp/.X11-unix...).

    A user can only make files where they may write: their own folders, and folders open to
    all like /tmp; so those are the only places to look.
    """
    found = []
    try:
        entries = list(top.iterdir())
    except OSError:
        return found
    for path in entries:
        try:
            info = path.lstat()
        except OSError:
            continue
        if info.st_uid == uid:
            found.append(path)
        elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
            found += owned_by(uid, path)
    return found


def as_user(student: "Student") -> list[str]:
    """The command prefix that runs a command as ``student``, with only their own groups."""
    return ["setpriv", f"--reuid={student.uid}", f"--regid={student.gid}", "--init-groups", "env", "-i",
            f"HOME={student.home}", f"USER={student.name}", f"LOGNAME={student.name}", "LANG=C.UTF-8"]


def clean_environment(**extra: str) -> dict:
    """This process's environment without what would make another Python read this checkout."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "JUPYTER"))},
            **extra}


def stop_processes(uid: int) -> None:
    """SIGKILL every process running as ``uid`` (a test's own student), one by one."""
    for process in running():
        if process.uid == uid:
            try:
                os.kill(process.pid, 9)
            except ProcessLookupError:  # it ended while we looked
                continue


def walk(top: Path) -> Iterator[Path]:
    yield top
    if top.is_dir() and not top.is_symlink():
        for path in top.iterdir():
            yield from walk(path)


def readable_by(path: Path, student: Student) -> bool:
    """Whether ``student`` may read ``path`` (and, for a folder, list it): mode bits along the whole path."""
    def allows(info: os.stat_result, bits: tuple[int, int, int]) -> bool:
        if info.st_uid == student.uid:
            return bool(info.st_mode & bits[0])
        if info.st_gid == student.gid or info.st_gid in os.getgrouplist(student.name, student.gid):
            return bool(info.st_mode & bits[1])
        return bool(info.st_mode & bits[2])

    for folder in reversed(path.parents):
        if not allows(folder.stat(), (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
            return False
    return allows(path.lstat(), (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH))


def made_by(student: Student) -> list[Path]:
    """Everything ``student`` owns in their home and in the folders open to all (/tmp, /var/tmp, /dev/shm)."""
    trees = [student.home] + [p for top in TEMPORARY_FOLDERS for p in owned_by(student.uid, Path(top))]
    return [path for tree in trees for path in walk(tree)
            if not path.is_symlink() and path.lstat().st_uid == student.uid]


def exposed(student: Student, others: list[Student]) -> list[str]:
    """What ``student`` made that one of ``others`` can read."""
    return [f"{path} (mode {stat.filemode(path.lstat().st_mode)}) is readable by {other.name}"
            for path in made_by(student) for other in others if readable_by(path, other)]


@functools.cache
def session_install() -> SharedInstall:
    """One shared install per test session (both hub tests use it), removed when the session ends."""
    root = Path(tempfile.mkdtemp(prefix="labkit-shared-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return shared_install(root)


# --- the hub ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_proxy() -> Path:
    """configurable-http-proxy in .hub/, installed from the npm registry by ``make hub-proxy`` if missing."""
    if not PROXY.exists():
        run(["make", "-s", "-C", ROOT, "hub-proxy"], timeout=600)
    return PROXY


@dataclass
class Hub:
    """A JupyterHub on 127.0.0.1 whose students' servers run the shared install as themselves."""

    install: SharedInstall
    state: Path  # root's folder for the hub's database, cookie secret and log
    culler_timeout: int | None = None
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> str:
        settings = {
            "JupyterHub.ip": "127.0.0.1", "JupyterHub.port": self.port,
            "JupyterHub.hub_ip": "127.0.0.1", "JupyterHub.hub_port": free_port(),
            "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{free_port()}",
            "ConfigurableHTTPProxy.command": [str(ensure_proxy())],
            "ConfigurableHTTPProxy.pid_file": str(self.state / "proxy.pid"),
            "JupyterHub.db_url": f"sqlite:///{self.state / 'hub.sqlite'}",
            "JupyterHub.cookie_secret_file": str(self.state / "cookie_secret"),
            "JupyterHub.authenticator_class": "dummy",
            "Authenticator.allow_all": True,
            "JupyterHub.spawner_class": "localprocess",  # each server runs as its student (setuid)
            "Spawner.cmd": [str(self.install.bin / "jupyterhub-singleuser")],
            "Spawner.env_keep": ["LANG"],  # nothing of root's: no PYTHONPATH into the students' servers
            "Spawner.environment": {"PATH": f"{self.install.bin}:/usr/local/bin:/usr/bin:/bin"},
            "Spawner.start_timeout": 180, "Spawner.http_timeout": 180,
            "JupyterHub.services": [{"name": "labkit-test", "api_token": self.token}],
            "JupyterHub.load_roles": [{"name": "labkit-test", "services": ["labkit-test"],
                                       "scopes": ["admin:users", "admin:servers", "access:servers", "list:users"]}],
        }
        return "\n".join(f"c.{key} = {value!r}" for key, value in settings.items()) + "\n"

    def start(self) -> "Hub":
        (self.state / "jupyterhub_config.py").write_text(self.config())
        self.log = open(self.state / "hub.log", "w")
        self.process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
                                        cwd=self.state, stdout=self.log, stderr=subprocess.STDOUT,
                                        env=clean_environment(),
                                        start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub stopped ({self.process.returncode}):\n{self.log_text()}")
            try:
                self.api("GET", "/users")
                return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"the hub did not answer in 120 s:\n{self.log_text()}")

    def log_text(self) -> str:
        return (self.state / "hub.log").read_text(errors="replace")[-5000:]

    def api(self, method: str, path: str, body: dict | None = None, *, prefix: str = "/hub/api"):
        import urllib.request

        request = urllib.request.Request(self.url + prefix + path, method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"token {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
        return json.loads(text) if text else None

    def start_server(self, name: str, timeout: float = 180) -> float:
        """Create the user and start their server; the seconds until it answers."""
        begun = time.monotonic()
        try:
            self.api("POST", f"/users/{name}")
        except OSError as exc:  # 409: the user exists already
            if getattr(exc, "code", None) != 409:
                raise
        try:
            self.api("POST", f"/users/{name}/server")
        except OSError as exc:  # the spawner failed at once: the hub's log says why
            raise RuntimeError(f"{name}'s server did not start ({exc}):\n{self.log_text()}") from exc
        while time.monotonic() - begun < timeout:
            if self.api("GET", f"/users/{name}").get("servers", {}).get("", {}).get("ready"):
                return time.monotonic() - begun
            time.sleep(0.2)
        raise RuntimeError(f"{name}'s server was not ready in {timeout} s:\n{self.log_text()}")

    def stop_server(self, name: str, timeout: float = 120) -> None:
        self.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + timeout
        while self.api("GET", f"/users/{name}").get("servers"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}'s server did not stop in {timeout} s")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the hub stops the proxy it started (cleanup_proxy) and the servers
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        pid_file = self.state / "proxy.pid"
        if pid_file.exists():  # a proxy left behind would keep its port
            try:
                os.kill(int(pid_file.read_text()), 15)
            except (ProcessLookupError, ValueError):
                pass
        self.log.close()


# --- running a notebook in a student's kernel ---------------------------------------------------


def _message(msg_type: str, content: dict, session: str) -> dict:
    return {"header": {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": session, "username": "",
                       "version": "5.3", "date": dt.datetime.now(dt.timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "content": content, "channel": "shell", "buffers": []}


async def run_notebook_async(hub: Hub, user: str, notebook: str, timeout: float = 300) -> dict:
    """Execute ``notebook`` (a path in the user's server) cell by cell in a new kernel of that server.

    Returns {"errors": [...], "seconds": ..., "cells": ...}; the kernel is shut down after.
    Each cell must finish in ``timeout`` seconds.
    """
    import nbformat
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    headers = {"Authorization": f"token {hub.token}"}
    path = hub.install.notebooks.name + "/" + notebook
    kernel = await asyncio.to_thread(hub.api, "POST", "/kernels", {"name": "python3", "path": path},
                                     prefix=f"/user/{user}/api")
    begun, errors, cells = time.monotonic(), [], 0
    try:
        # tornado gives a connection 20 s by default; nine kernels starting at once beside the rest of the
        # suite on two cores took longer once (the server answers the upgrade when the kernel is up)
        socket_ = await websocket_connect(HTTPRequest(
            hub.url.replace("http", "ws") + f"/user/{user}/api/kernels/{kernel['id']}/channels", headers=headers,
            connect_timeout=scaled(CONNECT_SECONDS), request_timeout=scaled(CONNECT_SECONDS)),
            max_message_size=256 * 2**20)
        session = uuid.uuid4().hex
        source = nbformat.read(hub.install.notebooks / notebook, as_version=4)
        for index, cell in enumerate(source.cells):
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            cells += 1
            request = _message("execute_request", {"code": cell.source, "silent": False, "store_history": True,
                                                   "user_expressions": {}, "allow_stdin": False,
                                                   "stop_on_error": True}, session)
            await socket_.write_message(json.dumps(request))
            deadline = time.monotonic() + timeout
            while True:
                text = await asyncio.wait_for(socket_.read_message(), max(1, deadline - time.monotonic()))
                if text is None:
                    raise RuntimeError(f"{user}'s kernel closed its websocket during cell {index} of {notebook}")
                if isinstance(text, bytes):  # binary frames carry widget buffers
                    continue
                reply = json.loads(text)
                if reply.get("parent_header", {}).get("msg_id") != request["header"]["msg_id"]:
                    continue
                if reply["msg_type"] == "execute_reply" and reply["channel"] == "shell":
                    if reply["content"]["status"] != "ok":
                        content = reply["content"]
                        errors.append(f"{notebook} cell {index}: {content.get('ename')}: {content.get('evalue')}")
                    break
            if errors:
                break
        socket_.close()
    finally:
        await asyncio.to_thread(hub.api, "DELETE", f"/kernels/{kernel['id']}", prefix=f"/user/{user}/api")
    return {"user": user, "notebook": notebook, "errors": errors, "seconds": time.monotonic() - begun, "cells": cells}


def run_all(hub: Hub, jobs: list[tuple[str, str]], timeout: float = 300) -> list[dict]:
    """Run every (user, notebook) at once; one result per job, in order."""
    async def everything():
        return await asyncio.gather(*(run_notebook_async(hub, user, nb, timeout) for user, nb in jobs))

    # In its own thread: a session's Playwright (the browser tests) keeps an event loop running in this
    # one, and asyncio.run refuses to start a second loop there.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, everything()).result()
