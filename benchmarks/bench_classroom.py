"""A class-sized room: 8, 16, 32 and 64 real ``node run`` processes, each submitting one contract (issue 20).

Every room runs in a private network namespace with only loopback (``Classroom.isolate``),
so the kernel's UDP counters of that namespace (``/proc/PID/net/snmp``, ``Udp:
OutDatagrams`` and ``InDatagrams``) count the room's datagrams and nothing else:
the DHT's look-ups and puts, and the uTP of the chain transfers. For each size:

- datagrams per node per block agreed: from the moment every node gets its contract
  until every node holds the same chain of N blocks, sent + received, divided by
  N nodes and N blocks (each datagram is sent by one node and received by another,
  so sent alone is half);
- datagrams per node per second with the room idle: sent + received over
  ``IDLE_SECONDS``, starting ``SETTLE_SECONDS`` after agreement (the pointers' 30 s
  refreshes included);
- seconds until every node agrees;
- propagation: for each block of the agreed chain, the seconds from its "mined" event
  until every node held it under a tip of the agreed chain (p50, p95);
- the CPU seconds the nodes used while agreeing (user + system, every thread, from
  ``/proc/PID/stat``), and what share of the machine's cores that is over the time to agree;
- the nodes' memory: resident set (VmRSS) per process, median and largest.

Then a room over a shared, rate-limited link, as a classroom's access point: the room
in ``LINK_GROUPS`` groups of laptops, each group a network namespace of its own
whose one link to a bridge (the access point, in a namespace of its own too) is
capped at ``LINK_RATE`` each way with ``tc qdisc ... tbf`` (netem is not available).
Every node submits one contract; the bench reports the seconds until all agree and
the links' load: bytes through the capped links (each way, all groups), its average
rate during agreement and idle, and the packets tbf dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from .common import cpu_seconds, row
except ImportError:
    from common import cpu_seconds, row

SIZES = (8, 16, 32, 64)
QUICK_SIZES = (8,)
DIFFICULTY = 3
SETTLE_SECONDS = 10.0  # after agreement, before the idle window: the look-ups slow down to their slowest
IDLE_SECONDS = 30.0
AGREE_TIMEOUT = 600.0
LINK_GROUPS = 4  # groups of laptops on the shared link, each in its own namespace
LINK_NODES = 16  # nodes in the room on the shared link
LINK_RATE = "20mbit"  # tbf's cap on each group's link, each way
HERE = Path(__file__).resolve().parent
ARTIFACTS = HERE.parent / "test-artifacts"  # where a room that did not agree leaves its logs (git ignores it)


def udp_counters(pid: int) -> dict[str, int]:
    """The UDP counters of the network namespace process ``pid`` lives in (``/proc/PID/net/snmp``)."""
    lines = [line.split() for line in Path(f"/proc/{pid}/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    names, values = lines[0][1:], lines[1][1:]
    return dict(zip(names, map(int, values)))


def datagrams(pid: int) -> int:
    counters = udp_counters(pid)
    return counters["InDatagrams"] + counters["OutDatagrams"]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of process ``pid`` (every thread) and of its children still running."""
    try:
        children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                    for c in (task / "children").read_text().split()]
        own = cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):  # it has just exited
        return 0.0
    return own + sum(tree_cpu_seconds(c) for c in children)


def room_cpu_seconds(room) -> float:
    return sum(tree_cpu_seconds(node.process.pid) for node in room.nodes.values())


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def _time(event: dict) -> float:
    return dt.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def agreed_propagation(events: list[dict], chain: list[str], nodes: list[str]) -> list[float]:
    """Per block of the agreed ``chain`` (hashes, index order): seconds from its mining until the
    last node held it, i.e. first mined or adopted a tip of the agreed chain at its height or above."""
    height = {h: i for i, h in enumerate(chain)}
    mined_at = {e["block"]: _time(e) for e in events if e["event"] == "mined" and e["block"] in height}
    held: dict[str, list[tuple[float, int]]] = {n: [] for n in nodes}  # node -> (time, height of an agreed tip)
    for e in events:
        tip = e.get("block") if e["event"] == "mined" else e.get("tip") if e["event"] == "adopted" else None
        if tip in height:
            held[e["node"]].append((_time(e), height[tip]))
    seconds = []
    for block, index in height.items():
        if block not in mined_at:
            continue
        last = max(min((t for t, h in held[n] if h >= index), default=float("inf")) for n in nodes)
        if last != float("inf"):
            seconds.append(max(0.0, last - mined_at[block]))
    return seconds


def start_room(room) -> None:
    """Start every node and wait until each has written its first status, however loaded the machine:
    ``Classroom.start`` gives each node 20 s, and 64 interpreters starting at once on 2 busy cores need more."""
    room.start(wait=False)

    def listening() -> bool:
        for name, node in room.nodes.items():
            if not node.running:
                raise RuntimeError(f"node {name} exited with code {node.process.returncode}:\n{room.log(name)[-2000:]}")
        return all((s or {}).get("listen") == room.nodes[n].address and (s or {}).get("pid") == room.nodes[n].process.pid
                   for n, s in room.statuses().items())

    room.wait_until(listening, 60 + 5 * len(room.nodes), "every node to start", every=0.5)


def load_average() -> float:
    return os.getloadavg()[0]


def keep_evidence(room, size: int) -> Path:
    """Copy what tells why a room did not agree (each node's log, events.jsonl and status.json; never a
    key) out of the room's temporary folder, into ``test-artifacts/``; return where."""
    import shutil

    ARTIFACTS.mkdir(exist_ok=True)
    kept = Path(tempfile.mkdtemp(prefix=f"bench-classroom-{size}-", dir=ARTIFACTS))
    shutil.copytree(room.folder / "logs", kept / "logs", dirs_exist_ok=True)
    for name, node in room.nodes.items():
        for file in ("events.jsonl", "status.json"):
            if (node.data / file).exists():
                (kept / name).mkdir(exist_ok=True)
                shutil.copy(node.data / file, kept / name / file)
    return kept


def class_run(folder: Path, size: int, *, idle_seconds: float = IDLE_SECONDS) -> dict:
    from labkit.blocksfile import load_blocks
    from labkit.errors import NodeError
    from labkit.fastmine import available_cores
    from labkit.node.classroom import Classroom, student_contracts
    from labkit.node.measure import percentile

    names = [f"m{i:02d}" for i in range(size)]
    room = Classroom.create(folder, names, difficulty=DIFFICULTY)
    if not room.isolate():
        raise RuntimeError("no private network namespace here (unshare -n): the UDP counters would count "
                           "the whole machine's traffic, so the class-size benchmark does not run")
    ns = room.holder.pid
    with room:
        start_room(room)
        load = load_average()
        before, cpu_before, start = datagrams(ns), room_cpu_seconds(room), time.monotonic()
        for name in names:
            room.submit(name, student_contracts(name, 1)[0])

        def agreed() -> bool:
            for name, node in room.nodes.items():  # a node that died would only look stuck in its status
                if not node.running:
                    raise RuntimeError(f"node {name} exited with code {node.process.returncode}; its log is kept in "
                                       f"{keep_evidence(room, size)}:\n{room.log(name)[-2000:]}")
            statuses = room.statuses()
            return room.converged() and all(s["height"] == size - 1 and not s["queued"] for s in statuses.values())

        try:
            room.wait_until(agreed, AGREE_TIMEOUT, f"all {size} nodes to agree on {size} blocks", every=0.2)
        except NodeError as exc:
            raise NodeError(f"{exc}\nthe nodes' logs, events and statuses are kept in {keep_evidence(room, size)}") from None
        agree_s, busy = time.monotonic() - start, datagrams(ns) - before
        cpu = room_cpu_seconds(room) - cpu_before
        time.sleep(SETTLE_SECONDS)  # a benchmark's fixed window, not a wait for an event
        idle_start, idle_at = datagrams(ns), time.monotonic()
        time.sleep(idle_seconds)
        idle = (datagrams(ns) - idle_start) / (time.monotonic() - idle_at)
        rss = [rss_bytes(node.process.pid) for node in room.nodes.values()]
        agreed_still = room.converged()
        events = room.events()
        chain = [b.hash for b in load_blocks(room.nodes[names[0]].data / "chain.jsonl").blocks]
    prop = agreed_propagation(events, chain, names)
    mined = sum(1 for e in events if e["event"] == "mined")
    return {"size": size, "agree_s": agree_s, "per_node_per_block": busy / size / size, "busy_total": busy,
            "idle_per_node_s": idle / size, "p50": statistics.median(prop), "p95": percentile(prop, 0.95),
            "measured": len(prop), "mined": mined, "rss_median": statistics.median(rss), "rss_max": max(rss),
            "agreed_after_idle": agreed_still, "load_average": load, "cpu_s": cpu,
            "cpu_share": cpu / agree_s / available_cores(), "cores": available_cores()}


def _ip(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _qdisc(dev: str, enter: tuple[str, ...] = ()) -> tuple[int, int]:
    """(bytes sent, packets dropped) by the tbf on ``dev``."""
    for q in json.loads(_ip(*enter, "tc", "-s", "-j", "qdisc", "show", "dev", dev)):
        if q.get("kind") == "tbf":
            return q["bytes"], q["drops"]
    raise RuntimeError(f"no tbf on {dev}")


def shared_link_run(folder: Path, size: int = LINK_NODES, groups: int = LINK_GROUPS,
                    idle_seconds: float = IDLE_SECONDS) -> dict:
    """The room over a shared capped link. Run inside a network namespace of its own (``--shared-link``):
    it makes a bridge here and a namespace per group, each joined to the bridge by a capped veth pair."""
    from labkit.node.classroom import Classroom, student_contracts

    holders = [subprocess.Popen(["unshare", "-n", "sleep", "3600"]) for _ in range(groups)]
    try:
        time.sleep(0.3)
        _ip("ip", "link", "set", "lo", "up")
        _ip("ip", "link", "add", "ap", "type", "bridge")
        _ip("ip", "link", "set", "ap", "up")
        enters, links = [], []
        for g, holder in enumerate(holders):
            enter = ("nsenter", "-t", str(holder.pid), "-n")
            _ip("ip", "link", "add", f"ap{g}", "type", "veth", "peer", "name", f"wifi{g}", "netns", str(holder.pid))
            _ip("ip", "link", "set", f"ap{g}", "master", "ap")
            _ip("ip", "link", "set", f"ap{g}", "up")
            _ip(*enter, "ip", "link", "set", "lo", "up")
            _ip(*enter, "ip", "addr", "add", f"10.78.0.{g + 1}/24", "dev", f"wifi{g}")
            _ip(*enter, "ip", "link", "set", f"wifi{g}", "up")
            for dev, where in ((f"ap{g}", ()), (f"wifi{g}", enter)):  # capped each way
                _ip(*where, "tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", LINK_RATE, "burst", "32kbit",
                    "latency", "100ms")
            enters.append(enter)
            links += [(f"ap{g}", ()), (f"wifi{g}", enter)]
        names = [f"m{i:02d}" for i in range(size)]
        room = Classroom.create(folder, names, difficulty=DIFFICULTY)
        for i, name in enumerate(names):
            room.place(name, host=f"10.78.0.{i % groups + 1}", prefix=enters[i % groups])

        def load() -> tuple[int, int]:
            sent = [_qdisc(dev, where) for dev, where in links]
            return sum(b for b, _ in sent), sum(d for _, d in sent)

        with room:
            start_room(room)
            before, start = load(), time.monotonic()
            for name in names:
                room.submit(name, student_contracts(name, 1)[0])
            room.wait_until(lambda: room.converged() and all(s["height"] == size - 1 and not s["queued"]
                                                             for s in room.statuses().values()),
                            AGREE_TIMEOUT, f"all {size} nodes on the shared link to agree", every=0.2)
            agree_s, busy = time.monotonic() - start, load()
            time.sleep(SETTLE_SECONDS)  # a benchmark's fixed window, not a wait for an event
            idle_start, idle_at = load(), time.monotonic()
            time.sleep(idle_seconds)
            idle, idle_s = load(), time.monotonic() - idle_at
        return {"size": size, "groups": groups, "agree_s": agree_s, "busy_bytes": busy[0] - before[0],
                "busy_mbit_s": (busy[0] - before[0]) * 8 / agree_s / 1e6 / groups,
                "idle_mbit_s": (idle[0] - idle_start[0]) * 8 / idle_s / 1e6 / groups,
                "drops": idle[1] - before[1]}
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()


def shared_link(folder: Path, quick: bool) -> dict:
    """:func:`shared_link_run` in a child with a network namespace of its own (the access point's)."""
    cmd = ["unshare", "-n", sys.executable, str(Path(__file__).resolve()), "--shared-link", str(folder),
           "8" if quick else str(LINK_NODES), "10" if quick else str(IDLE_SECONDS)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    child = subprocess.run(cmd, capture_output=True, text=True, timeout=AGREE_TIMEOUT + 300, env=env)
    if child.returncode != 0:
        raise RuntimeError(f"the shared-link room failed:\n{child.stderr[-3000:]}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def run(quick: bool = False, sizes: tuple[int, ...] | None = None) -> list[dict]:
    from labkit.errors import NodeError

    rows, results = [], {}
    sizes = sizes or (QUICK_SIZES if quick else SIZES)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-class-") as tmp:
        for size in sizes:
            group = f"classroom, {size} nodes"
            limit = {32: 30.0, 64: 60.0}.get(size)
            try:
                r = class_run(Path(tmp) / f"room{size}", size, idle_seconds=10.0 if quick else IDLE_SECONDS)
            except NodeError as exc:  # a room that does not agree is a result, and the other sizes still run
                print(f"{size} nodes: {exc}"[:3000], file=sys.stderr)
                rows.append(row(group, f"seconds until every node agrees: not within the {AGREE_TIMEOUT:g} s time-out",
                                AGREE_TIMEOUT, "s", target=f"< {limit:g} s" if limit else "", met=False))
                continue
            results[size] = r
            base = results.get(8)
            rows.append(row(group, f"UDP datagrams per node per block agreed (sent + received; {r['mined']} blocks "
                                   f"mined for {size} agreed)", r["per_node_per_block"], "datagrams",
                            baseline=base["per_node_per_block"] if base and size != 8 else None,
                            baseline_name="8 nodes", target="<= 2x the 8-node figure" if size != 8 else "",
                            met=(r["per_node_per_block"] <= 2 * base["per_node_per_block"]) if base and size != 8
                            else None))
            rows.append(row(group, "UDP datagrams per node per second, room idle (sent + received)",
                            r["idle_per_node_s"], "datagrams/s", target="< 100", met=r["idle_per_node_s"] < 100))
            rows.append(row(group, "seconds until every node agrees (each submits one contract)", r["agree_s"], "s",
                            target=f"< {limit:g} s" if limit else "", met=(r["agree_s"] < limit) if limit else None))
            rows.append(row(group, f"propagation p50 ({r['measured']} agreed blocks; machine's load average "
                                   f"{r['load_average']:.1f} when the contracts went in)", r["p50"], "s"))
            rows.append(row(group, "propagation p95", r["p95"], "s", target="< 3 s at 32 nodes" if size == 32 else "",
                            met=(r["p95"] < 3.0) if size == 32 else None))
            rows.append(row(group, f"CPU seconds the nodes used while agreeing ({r['cpu_share']:.0%} of the machine's "
                                   f"{r['cores']} cores over that time)", r["cpu_s"], "s"))
            rows.append(row(group, "node memory (VmRSS), median per process", r["rss_median"] / 2**20, "MiB"))
            rows.append(row(group, "node memory (VmRSS), largest process", r["rss_max"] / 2**20, "MiB"))
        r = shared_link(Path(tmp) / "link", quick)
        group = f"classroom, {r['size']} nodes in {r['groups']} groups on links capped at {LINK_RATE}"
        rows.append(row(group, "seconds until every node agrees (each submits one contract)", r["agree_s"], "s",
                        target="converges", met=True))
        rows.append(row(group, f"load per group's link while agreeing ({r['busy_bytes']:,} bytes, both ways, "
                               f"all links)", r["busy_mbit_s"], "Mbit/s"))
        rows.append(row(group, "load per group's link, room idle", r["idle_mbit_s"], "Mbit/s"))
        rows.append(row(group, "packets the caps dropped", r["drops"], "packets"))
    return rows


if __name__ == "__main__":
    # python benchmarks/bench_classroom.py SIZE [IDLE_S]: one room, its figures as JSON;
    # --shared-link DIR SIZE IDLE_S: the shared-link room (run by shared_link() inside unshare -n)
    if sys.argv[1] == "--shared-link":
        out = shared_link_run(Path(sys.argv[2]), int(sys.argv[3]), idle_seconds=float(sys.argv[4]))
    else:
        with tempfile.TemporaryDirectory(prefix="labkit-bench-class-") as tmp:  # the room's keys go with it
            out = class_run(Path(tmp) / "room", int(sys.argv[1]),
                            idle_seconds=float(sys.argv[2]) if len(sys.argv) > 2 else IDLE_SECONDS)
    print(json.dumps(out))
