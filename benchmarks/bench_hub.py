"""A class on a JupyterHub: memory and CPU per student, and how long a server takes to start.

N students (system users, made with useradd and removed after) each start a server on a real
hub (tests/hubsupport.py: JupyterHub, configurable-http-proxy, the local process spawner, the
image's install), then all run the same notebook at once in a kernel of their own server.
While they run, every student's processes are sampled every half second:

* memory: the sum of their processes' PSS (proportional set size: a page shared by k
  processes counts 1/k to each, so the class's sum is what the machine holds), peak per run;
* CPU: user + system seconds of each of their processes, summed (node processes that end
  during the run count with their last reading);
* wall: how long the notebook took for that student.

Needs root (useradd, setuid) and ``make hub-proxy``. ``python benchmarks/run.py hub``, or
``python benchmarks/bench_hub.py --students 1 5 --notebooks 00 03 05 09``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

from common import cpu_seconds, row  # noqa: E402
from hubsupport import Hub, run_all, shared_install, students  # noqa: E402

NOTEBOOKS = {"00": "00-welcome.ipynb", "03": "03-proof-of-work.ipynb", "05": "05-torrent-sharing.ipynb",
             "09": "09-the-classroom-network.ipynb"}


def pss_mb(pid: str) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    """Every ``every`` seconds, each student's total PSS and each of their processes' CPU seconds."""

    def __init__(self, people, every: float = 0.5):
        super().__init__(daemon=True)
        self.people, self.every = people, every
        self.peak_mb = {p.name: 0.0 for p in people}
        self.cpu = {p.name: {} for p in people}  # name -> {pid: last CPU seconds}
        self.done = threading.Event()

    def sample(self) -> dict[str, float]:
        uids = {p.uid: p.name for p in self.people}
        memory = {p.name: 0.0 for p in self.people}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                name = uids.get(entry.stat().st_uid)
                if name is None:
                    continue
                memory[name] += pss_mb(entry.name)
                self.cpu[name][entry.name] = cpu_seconds(entry.name)
            except (OSError, ValueError, IndexError):  # it ended while we looked
                continue
        return memory

    def run(self) -> None:
        while not self.done.is_set():
            for name, mb in self.sample().items():
                self.peak_mb[name] = max(self.peak_mb[name], mb)
            self.done.wait(self.every)

    def stop(self) -> tuple[dict[str, float], dict[str, float]]:
        self.done.set()
        self.join()
        return self.peak_mb, {name: sum(pids.values()) for name, pids in self.cpu.items()}


def measure_class(install, size: int, notebooks: list[str], state: Path) -> list[dict]:
    rows = []
    names = [f"labkit-bench-{i}" for i in range(size)]
    with students(names) as people:
        for person in people:
            link = person.home / install.notebooks.name
            link.symlink_to(install.notebooks)
            os.lchown(link, person.uid, person.gid)
        hub = Hub(install, state).start()
        try:
            with ThreadPoolExecutor(size) as pool:
                starts = list(pool.map(hub.start_server, names))
            rows.append(row("hub", f"server start, {size} at once (slowest)", max(starts), "s"))
            time.sleep(2)
            idle = Sampler(people).sample()
            rows.append(row("hub", f"idle server, {size} students (per student)", statistics.mean(idle.values()), "MB"))
            for key in notebooks:
                sampler = Sampler(people)
                sampler.sample()  # the servers' CPU so far, not the notebook's
                before = {name: sum(pids.values()) for name, pids in sampler.cpu.items()}
                sampler.start()
                results = run_all(hub, [(name, NOTEBOOKS[key]) for name in names])
                peak, cpu = sampler.stop()
                errors = [e for r in results for e in r["errors"]]
                if errors:
                    raise RuntimeError(f"{key} failed for a student: {errors}")
                label = f"{key} at {size}"
                rows.append(row("hub", f"{label}: peak memory per student (max)", max(peak.values()), "MB"))
                rows.append(row("hub", f"{label}: CPU per student (mean)",
                                statistics.mean(cpu[n] - before[n] for n in names), "s"))
                rows.append(row("hub", f"{label}: wall time per student (mean)",
                                statistics.mean(r["seconds"] for r in results), "s"))
            with ThreadPoolExecutor(size) as pool:
                list(pool.map(hub.stop_server, names))
        finally:
            hub.stop()
    return rows


def run(quick: bool = False, sizes: tuple[int, ...] = (1, 5), notebooks: tuple[str, ...] = tuple(NOTEBOOKS)) -> list[dict]:
    if os.geteuid() != 0:
        raise SystemExit("the hub benchmark makes users and spawns servers as them: run it as root")
    if quick:
        sizes, notebooks = (1,), ("00",)
    shared = Path(tempfile.mkdtemp(prefix="labkit-bench-install-"))  # made 0755 by shared_install: students read it
    state = Path(tempfile.mkdtemp(prefix="labkit-bench-hub-"))  # 0700: the hub's secrets
    try:
        begun = time.monotonic()
        install = shared_install(shared)
        rows = [row("hub", "the image's install steps (pip cache warm)", time.monotonic() - begun, "s")]
        for size in sizes:
            (state / str(size)).mkdir()
            rows += measure_class(install, size, list(notebooks), state / str(size))
        return rows
    finally:
        shutil.rmtree(shared, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--notebooks", nargs="+", choices=list(NOTEBOOKS), default=list(NOTEBOOKS))
    args = parser.parse_args()
    from run import table

    print(table(run(sizes=tuple(args.students), notebooks=tuple(args.notebooks))))
