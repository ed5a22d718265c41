"""A classroom on one machine: several ``node run`` processes, started, watched, killed and restarted.

Notebook 09, the fault tests and the network benchmark all need the same
thing: make members (RSA wallet and node key each, in ``keys/``), write the
network configuration, start one real ``python -m labkit node run`` process
per member, and read where each stands from its ``status.json``::

    room = Classroom.create("work/classroom", ["ana", "ben", "cleo", "dev"], difficulty=3)
    room.start()                       # four processes on 127.0.0.1
    room.submit("ana", {"actions": [...]})
    room.wait_until(room.converged, 30, "every node on the same tip")
    room.frame()                       # one row per node: tip, height, work, digest, queue
    room.kill("ben"); room.start("ben")
    room.close()

Each node listens on a port chosen when the room is made and kept across
restarts, so the others' bootstrap addresses stay right. A node can be placed
in a network namespace (``place``) with an address of its own: that is how the
partition test puts two groups on either side of a veth pair. What a node prints
goes to ``logs/NAME.log``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ..files import at_exit, read_regular
from ..errors import NodeError
from .journal import read_status
from .queue import submit_to

__all__ = ["Classroom", "NodeProcess", "free_port", "student_contracts", "scripted_run"]

# How long start() waits for a node that is alive but has not written its first status. A node that exits is
# reported at once (_listening); this bounds only a slow or stuck one. 20 s was too little once: in CI, with a
# hub's nine kernels and a browser beside it on two cores, a node wrote its first status 20 s after it was started.
STARTUP_SECONDS = 60.0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP and UDP port free on ``host`` right now (libtorrent listens on both)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((host, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((host, port))
                except OSError:
                    continue
            return port


def student_contracts(member: str, count: int) -> list[dict]:
    """``count`` contracts registering students whose ids name ``member``, all different."""
    return [{"actions": [{"action": "register_student",
                          "student": {"id": f"{member.upper()}{i:03d}", "name": f"Student {i} of {member}",
                                      "department": "Computer Science"}}]}
            for i in range(1, count + 1)]


@dataclass
class NodeProcess:
    """One member's node process: where it lives and listens, and the process while it runs."""

    name: str
    key: Path
    data: Path
    host: str
    port: int
    prefix: tuple[str, ...] = ()  # run through this, e.g. ("nsenter", "-t", PID, "-n") for a namespace
    args: tuple[str, ...] = ()  # more ``node run`` options for this node alone
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Classroom:
    """Member node processes sharing one network configuration, in one folder."""

    def __init__(self, folder: str | os.PathLike, names: Iterable[str], *, python: str = sys.executable,
                 extra_args: Iterable[str] = ()):
        self.folder = Path(folder)
        self.network_file = self.folder / "network.json"
        self.python = python
        self.extra_args = list(extra_args)
        self.nodes: dict[str, NodeProcess] = {}
        self.holder: subprocess.Popen | None = None  # keeps the private network namespace alive
        self._holders: list[subprocess.Popen] = []  # the same, where the clean-up at exit can see it
        taken: set[int] = set()
        for name in names:
            port = free_port()
            while port in taken:  # the system may hand out a port it just freed again
                port = free_port()
            taken.add(port)
            self.nodes[name] = NodeProcess(name, self.folder / "keys" / f"{name}.pem",
                                           self.folder / "nodes" / name, "127.0.0.1", port)
        # a kernel shut down or killed (SIGTERM) with the room open must not leave nodes running
        self._end = at_exit(self, _end_room, self.nodes, self._holders)

    @classmethod
    def create(cls, folder: str | os.PathLike, names: Iterable[str], *, difficulty: int = 3,
               bits: int = 2048, **options: Any) -> "Classroom":
        """Make the members' keys and the network configuration in ``folder`` (which must not hold one)."""
        from ..network import Member, Network
        from ..wallet import Wallet
        from .keys import write_node_key_pair

        names = list(names)
        folder = Path(folder)
        if (folder / "network.json").exists():
            raise NodeError(f"{folder} already holds a classroom (network.json); use Classroom({str(folder)!r}, ...)")
        (folder / "keys").mkdir(parents=True, exist_ok=True)
        members = []
        for name in names:
            wallet = Wallet.generate(bits, name=name, teaching=bits < 2048)
            key_file = folder / "keys" / f"{name}.pem"
            wallet.save(key_file)
            node_key = write_node_key_pair(key_file)[0]
            members.append(Member(name, wallet.public_key, node_key.public_key))
        Network.create(members, difficulty=difficulty, name="classroom").save(folder / "network.json")
        return cls(folder, names, **options)

    # --- processes ---------------------------------------------------------------------

    def isolate(self) -> bool:
        """Run every node in one private network namespace with only loopback, if the machine allows.

        Then no packet of the nodes can leave this machine, even by mistake; the notebook
        (which only reads their files) needs no network at all. As root the namespace is
        made with ``unshare -n``; as any other user (a student on a shared hub) inside a
        user namespace of its own (``unshare -rn``: the user is root there, and only
        there), which Linux allows unprivileged users unless the administrator turned
        it off. Nodes enter it with ``nsenter``. Returns False, changing nothing, where
        neither works: the nodes then run on this machine's 127.0.0.1, as they would anyway.
        """
        if self.holder is not None:
            return True
        if any(n.running for n in self.nodes.values()):
            raise NodeError("isolate() before the nodes start")
        for make, enter in _NAMESPACES[0 if os.geteuid() == 0 else 1:]:
            holder = _namespace_holder(make, enter)
            if holder is not None:
                self.holder = holder
                self._holders.append(holder)
                for node in self.nodes.values():
                    node.prefix = (*enter, str(holder.pid))
                return True
        return False

    def place(self, name: str, *, host: str, prefix: Iterable[str] = (), args: Iterable[str] = ()) -> None:
        """Where ``name``'s node runs: listening on ``host``, started through ``prefix`` (a command
        that enters a network namespace), with more ``node run`` options ``args``."""
        node = self.nodes[name]
        node.host, node.prefix, node.args = host, tuple(prefix), tuple(args)

    def command(self, name: str) -> list[str]:
        """The ``node run`` command line of one member's node."""
        node = self.nodes[name]
        cmd = [self.python, "-m", "labkit", "node", "run", "--network", str(self.network_file),
               "--key", str(node.key), "--data", str(node.data), "--listen", node.address, *self.extra_args,
               *node.args]
        for other in self.nodes.values():
            if other.name != name:
                cmd += ["--bootstrap", other.address]
        return [*node.prefix, *cmd]

    def start(self, *names: str, wait: bool = True, progress: Callable[[str], Any] | None = None) -> None:
        """Start the named nodes (all that are not running, by default); wait for their first status.

        ``progress(name)`` is called as each node is up (a notebook draws it: labkit.widgets.progress.Steps).
        """
        names = names or tuple(n for n, p in self.nodes.items() if not p.running)
        for name in names:
            node = self.nodes[name]
            if node.running:
                continue
            node.data.mkdir(parents=True, exist_ok=True)
            self.log_path(name).parent.mkdir(exist_ok=True)
            log = open(self.log_path(name), "ab")  # outside the data folder, which a test may make read-only
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            node.process = subprocess.Popen(self.command(name), stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
            log.close()
        if wait:
            for name in names:
                self.wait_until(lambda n=name: self._listening(n), STARTUP_SECONDS, f"node {name} to start")
                if progress is not None:
                    progress(name)

    def _listening(self, name: str) -> bool:
        node = self.nodes[name]
        if not node.running:
            raise NodeError(f"node {name} exited with code {node.process.returncode}:\n{self.log(name)[-2000:]}")
        status = self.status(name)
        return status is not None and status.get("listen") == node.address and status.get("pid") == node.process.pid

    def stop(self, *names: str, timeout: float = 15.0) -> None:
        """Stop nodes cleanly (SIGTERM: they cancel mining and close their sessions)."""
        for name in names or tuple(self.nodes):
            node = self.nodes[name]
            if node.running:
                node.process.send_signal(signal.SIGTERM)
        for name in names or tuple(self.nodes):
            node = self.nodes[name]
            if node.process is not None:
                try:
                    node.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    node.process.kill()
                    node.process.wait()

    def kill(self, name: str) -> None:
        """Kill a node at once (SIGKILL: no clean-up, as a crash or a closed laptop lid)."""
        node = self.nodes[name]
        if node.running:
            node.process.kill()
            node.process.wait()

    def close(self) -> None:
        """Stop every node (and end the private network namespace, if there is one)."""
        self.stop()
        for holder in self._holders:
            holder.kill()
            holder.wait()
        self._holders.clear()
        self.holder = None

    def __enter__(self) -> "Classroom":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- watching ----------------------------------------------------------------------

    def status(self, name: str) -> dict | None:
        """``name``'s status.json, or None while there is none."""
        try:
            return read_status(self.nodes[name].data)
        except NodeError:
            return None

    def statuses(self) -> dict[str, dict | None]:
        return {name: self.status(name) for name in self.nodes}

    def log_path(self, name: str) -> Path:
        return self.folder / "logs" / f"{name}.log"

    def log(self, name: str) -> str:
        """What ``name``'s node printed (its events, warnings and errors)."""
        path = self.log_path(name)
        return read_regular(path, limit=1 << 24).decode("utf-8", "replace") if path.exists() else ""

    def events(self, name: str | None = None) -> list[dict]:
        """Every event of one node (or all, merged by time), from the events.jsonl files."""
        out = []
        for node in (self.nodes.values() if name is None else [self.nodes[name]]):
            for path in (node.data / "events.1.jsonl", node.data / "events.jsonl"):  # the log rotates
                if path.exists():
                    for line in read_regular(path, limit=1 << 26).decode("utf-8").splitlines():
                        out.append({"node": node.name, **json.loads(line)})
        return sorted(out, key=lambda e: e["time"]) if name is None else out

    def converged(self, names: Iterable[str] | None = None) -> bool:
        """True when every named (by default every running) node has the same tip and state digest."""
        names = list(names) if names is not None else [n for n, p in self.nodes.items() if p.running]
        seen = {(s["tip"], s["digest"]) if s else None for s in map(self.status, names)}
        return len(seen) == 1 and None not in seen and next(iter(seen))[0] is not None

    def wait_until(self, condition: Callable[[], Any], timeout: float, what: str, *, every: float = 0.1) -> Any:
        """Poll ``condition`` until it is true; NodeError naming ``what`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                rows = "\n".join(f"  {n}: {self._line(s)}" for n, s in self.statuses().items())
                raise NodeError(f"waited {timeout:g} s for {what}; the nodes stand at:\n{rows}")
            time.sleep(every)

    @staticmethod
    def _line(status: dict | None) -> str:
        if status is None:
            return "no status yet"
        tip = (status["tip"] or "none")[:12]
        return (f"tip {tip} height {status['height']} work {status['total_work']} queued {len(status['queued'])}"
                + (f" ERROR {status['error']}" if status.get("error") else ""))

    def frame(self):
        """One row per node: running, height, tip, total work, state digest, queue, error."""
        import pandas as pd

        rows = []
        for name, node in self.nodes.items():
            s = self.status(name) or {}
            rows.append({"node": name, "running": "yes" if node.running else "no", "height": s.get("height", -1),
                         "tip": (s.get("tip") or "")[:12], "total work": s.get("total_work", 0),
                         "digest": (s.get("digest") or "")[:12], "queued": len(s.get("queued", ())),
                         "error": s.get("error") or ""})
        return pd.DataFrame(rows).set_index("node")

    # --- contracts ---------------------------------------------------------------------

    def submit(self, name: str, contract: dict) -> Path:
        """Drop a contract into ``name``'s inbox (as ``node submit`` does)."""
        return submit_to(self.nodes[name].data, contract)


# (how to make the namespace, how a node enters it: the holder's pid comes last)
_NAMESPACES = [
    (["unshare", "-n"], ["nsenter", "-n", "-t"]),  # root: a network namespace
    (["unshare", "-rn"], ["nsenter", "-U", "-n", "--preserve-credentials", "-t"]),  # anyone: in a user namespace
]


def _namespace_holder(make: list[str], enter: list[str]) -> subprocess.Popen | None:
    """A process keeping a new namespace (loopback up) alive, once a node could enter it; else None."""
    try:
        holder = subprocess.Popen([*make, "sh", "-c", "ip link set lo up && exec sleep 86400"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError:
        return None  # no unshare here
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if holder.poll() is not None:
            return None  # refused (no permission, or user namespaces turned off)
        probe = subprocess.run([*enter, str(holder.pid), "ip", "-o", "link", "show", "lo"],
                               capture_output=True, text=True)
        if probe.returncode == 0 and "UP" in probe.stdout.split("mtu")[0]:
            return holder
        time.sleep(0.05)
    holder.kill()
    holder.wait()
    return None


def _end_room(nodes: dict[str, NodeProcess], holders: list[subprocess.Popen], timeout: float = 5.0) -> None:
    """Stop a room's node processes (SIGTERM, then SIGKILL after ``timeout``) and its namespace holders."""
    running = [n.process for n in nodes.values() if n.running]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for holder in holders:
        holder.kill()
        holder.wait()
    holders.clear()


def scripted_run(folder: str | os.PathLike, names: Iterable[str] = ("ana", "ben", "cleo", "dev"), *,
                 contracts_each: int = 2, difficulty: int = 3, timeout: float = 120.0,
                 python: str = sys.executable) -> dict:
    """The classroom in one call: start a node per member, each submits ``contracts_each``
    contracts, and wait until every node shows the same tip and digest with every contract
    in the chain. Returns the statuses, the contracts, the seconds it took and the final
    state's student ids (read back from one node's chain file). Used by ``node classroom``."""
    from ..network import Network
    from ..peer import Peer

    names = list(names)
    room = Classroom.create(folder, names, difficulty=difficulty, python=python)
    contracts = {name: student_contracts(name, contracts_each) for name in names}
    blocks = len(names) * contracts_each
    start = time.monotonic()
    with room:
        room.start()
        started = time.monotonic()
        for name in names:
            for contract in contracts[name]:
                room.submit(name, contract)

        def done() -> bool:
            return room.converged() and all(s["height"] == blocks - 1 and not s["queued"]
                                            for s in room.statuses().values())

        room.wait_until(done, timeout, f"all {len(names)} nodes to agree on {blocks} blocks")
        took = time.monotonic() - started
        statuses = room.statuses()
    peer = Peer("check", Network.load(room.network_file))
    peer.receive(room.nodes[names[0]].data / "chain.jsonl")
    return {"statuses": statuses, "contracts": contracts, "seconds": took, "total_seconds": time.monotonic() - start,
            "students": sorted(peer.state["students"]), "digest": peer.digest()}
