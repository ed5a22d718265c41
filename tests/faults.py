"""The classroom network's faults, each a scenario with real ``node run`` processes.

Run as ``python tests/faults.py SCENARIO WORKDIR``: the scenario prints one JSON
line with what it saw, which tests/test_faults.py checks. test_faults runs each
in a child with a network namespace of its own (only loopback; the partition
scenario adds a veth pair to a second namespace) and, for the disk scenario, a
mount namespace of its own, so no packet leaves and no mount outlives the test.
Every wait is bounded and names what it waited for (Classroom.wait_until).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from labkit.node.classroom import Classroom, student_contracts
from waiting import scaled, wait_until

SCENARIOS = {}


def scenario(function):
    SCENARIOS[function.__name__] = function
    return function


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def heights(room: Classroom) -> dict:
    return {n: (s or {}).get("height") for n, s in room.statuses().items()}


def all_at(room: Classroom, height: int, names=None):
    names = list(names or room.nodes)
    return lambda: room.converged(names) and all(room.status(n)["height"] == height for n in names)


def premine(room: Classroom, name: str, count: int) -> None:
    """Give ``name`` a chain of ``count`` blocks before its node starts (read back from its data folder)."""
    from labkit.blocksfile import save_blocks
    from labkit.chain import mine_block
    from labkit.network import Network
    from labkit.wallet import Wallet

    network = Network.load(room.network_file)
    wallet = Wallet.load(room.nodes[name].key)
    blocks, parent = [], None
    from labkit.peer import Peer

    peer = Peer(name, network)
    for contract in student_contracts(name, count):
        block = mine_block(network, wallet, contract, parent=parent)
        peer.receive_block(block)
        parent = peer.chain.tip
        blocks.append(block)
    room.nodes[name].data.mkdir(parents=True, exist_ok=True)
    save_blocks(room.nodes[name].data / "chain.jsonl", blocks)


@scenario
def restart(workdir: Path) -> dict:
    """A node killed in the middle of a download resumes from its data folder and catches up."""
    room = Classroom.create(workdir, ["ana", "ben"], difficulty=1)
    premine(room, "ana", 60)
    room.place("ana", host="127.0.0.1", args=["--upload-limit", "8000"])  # about 9 s for the chain
    out: dict = {}
    with room:
        room.start("ana")
        room.start("ben")
        partial = room.nodes["ben"].data / "fetched"
        room.wait_until(lambda: any(e["event"] == "published" for e in room.events("ana")), scaled(20),
                        "ana to publish")
        # wait until ben has received at least two 16 KiB pieces, then kill it mid-download
        room.wait_until(lambda: _pieces_on_disk(partial)[0] >= 2, scaled(30), "ben to hold two pieces of ana's chain")
        room.kill("ben")
        out["pieces_before_kill"], out["held_bytes"] = _pieces_on_disk(partial)
        out["ben_height_when_killed"] = (room.status("ben") or {}).get("height")
        room.start("ben")
        room.wait_until(all_at(room, 59), scaled(60), "ben to catch up with ana's 60 blocks")
        out["statuses"] = room.statuses()
        # one more block: ben holds the first 60, so only the pieces at the end should move
        room.submit("ana", student_contracts("ana", 61)[-1])
        room.wait_until(all_at(room, 60), scaled(30), "ben to take ana's 61st block")
        out["ben_events"] = room.events("ben")
        out["piece_length"] = _piece_length(room.nodes["ana"].data)
    return out


def _piece_length(data: Path) -> int:
    from labkit.sharing.metainfo import TorrentFile

    newest = max((data / "published").glob("*/chain.torrent"), key=lambda p: p.stat().st_mtime)
    return TorrentFile.load(newest).piece_length


def _pieces_on_disk(folder: Path, piece: int = 16384) -> tuple[int, int]:
    """(count, bytes) of the whole pieces in the partial chain file: libtorrent writes blocks in place,
    and a chain file holds no NUL byte, so a piece without one has all its data (the last may be short)."""
    files = list(folder.rglob("chain.jsonl")) if folder.exists() else []
    if not files:
        return 0, 0
    data = files[0].read_bytes()
    whole = [len(data[i:i + piece]) for i in range(0, len(data), piece) if b"\0" not in data[i:i + piece]]
    return len(whole), sum(whole)


def _netns_of(pid: str) -> str | None:
    """The network namespace process ``pid`` is in (``net:[inode]``), None once it has gone."""
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


@scenario
def partition(workdir: Path) -> dict:
    """Two groups on either side of a veth pair mine apart; after healing all adopt the most work."""
    holder = subprocess.Popen(["unshare", "-n", "sleep", "600"])
    try:
        pid = str(holder.pid)
        ours = os.readlink("/proc/self/ns/net")
        wait_until(lambda: _netns_of(pid) not in (None, ours), timeout=10, what="unshare -n to make its namespace")
        enter = ["nsenter", "-t", pid, "-n"]
        # Each side's address sits on its end of a veth pair, and the other side's address is routed
        # over the pair. The partition drops every packet either end sends (see Link); healing lets
        # them through again. Taking the link itself down would also cut the nodes of one side off
        # from each other: Linux drops the local address's routes with the link.
        run("ip", "link", "add", "lk-a", "type", "veth", "peer", "name", "lk-b", "netns", pid)
        run("ip", "addr", "add", "10.77.0.1/32", "dev", "lk-a")
        run("ip", "link", "set", "lk-a", "up")
        run(*enter, "ip", "link", "set", "lo", "up")
        run(*enter, "ip", "addr", "add", "10.77.0.2/32", "dev", "lk-b")
        run(*enter, "ip", "link", "set", "lk-b", "up")
        link = Link(enter)
        link.up()
        return _partition(workdir, enter, link)
    finally:
        holder.kill()
        holder.wait()


def _now() -> str:
    """The time as a node's journal writes it (comparable with its events' ``time``)."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Link:
    """The veth pair between the sides: ``down()`` partitions them, ``up()`` heals them.

    The cut is a token bucket too small for any packet (``tbf`` drops a packet larger than its
    burst) on each end's way out, as a dead access point drops everything. Removing the routes
    instead does not cut it: libtorrent binds its sockets to the listen address's device
    (``SO_BINDTODEVICE``), and Linux sends a device-bound socket's datagram for which no route
    exists straight onto that device ("assume the destination is on link"). The DHT's puts
    and gets went on crossing, each side learnt the other's pointers while apart, and after
    the heal a side could build on a branch the other had left (one run in five under load).
    """

    def __init__(self, enter: list[str]):
        self.enter = enter
        self.cut = False

    def up(self) -> None:
        run("ip", "route", "replace", "10.77.0.2/32", "dev", "lk-a")
        run(*self.enter, "ip", "route", "replace", "10.77.0.1/32", "dev", "lk-b")
        if self.cut:
            run("tc", "qdisc", "del", "dev", "lk-a", "root")
            run(*self.enter, "tc", "qdisc", "del", "dev", "lk-b", "root")
            self.cut = False

    def down(self) -> None:
        drop_all = ["root", "tbf", "rate", "8bit", "burst", "1", "limit", "1"]
        run("tc", "qdisc", "replace", "dev", "lk-a", *drop_all)
        run(*self.enter, "tc", "qdisc", "replace", "dev", "lk-b", *drop_all)
        self.cut = True


def _partition(workdir: Path, enter: list[str], link: "Link") -> dict:
    from labkit.node.classroom import free_port

    room = Classroom.create(workdir, ["ana", "ben", "cleo", "dev"], difficulty=2)
    taken = {node.port for node in room.nodes.values()}
    for name in ("ana", "ben"):
        room.place(name, host="10.77.0.1")
        port = free_port("10.77.0.1")
        while port in taken:  # two nodes on one address need two ports
            port = free_port("10.77.0.1")
        taken.add(port)
        room.nodes[name].port = port
    for name in ("cleo", "dev"):
        room.place(name, host="10.77.0.2", prefix=enter)
    out: dict = {}
    with room:
        room.start()
        room.submit("ana", student_contracts("ana", 1)[0])
        room.wait_until(all_at(room, 0), scaled(30), "every node to hold ana's first block")
        link.down()  # the partition
        out["cut_at"] = _now()
        side_a = [*student_contracts("ana", 3)[1:], student_contracts("ben", 1)[0]]  # three blocks
        side_b = [student_contracts("cleo", 1)[0], student_contracts("dev", 1)[0]]  # two blocks
        room.submit("ana", side_a[0])
        room.submit("ana", side_a[1])
        room.submit("ben", side_a[2])
        room.submit("cleo", side_b[0])
        room.submit("dev", side_b[1])
        room.wait_until(all_at(room, 3, ["ana", "ben"]), scaled(40), "ana and ben to agree on three more blocks")
        room.wait_until(all_at(room, 2, ["cleo", "dev"]), scaled(40), "cleo and dev to agree on two more blocks")
        out["apart"] = room.statuses()
        healed = time.monotonic()
        out["healed_at"] = _now()
        link.up()  # healed
        room.wait_until(all_at(room, 5), scaled(60), "all four to agree on six blocks, cleo's and dev's mined again")
        out["converged_s"] = time.monotonic() - healed
        out["statuses"] = room.statuses()
        out["events"] = room.events()
        out["contracts"] = [*student_contracts("ana", 1)[:1], *side_a, *side_b]
    return out


@scenario
def bad_publishers(workdir: Path) -> dict:
    """A member publishes a chain with a block the rules refuse; a non-member publishes a pointer."""
    from labkit.blocksfile import save_blocks
    from labkit.chain import Link, mine_block
    from labkit.network import Network
    from labkit.node.cli import load_node
    from labkit.node.live import Node
    from labkit.node.keys import NodeKey
    from labkit.wallet import Wallet

    room = Classroom.create(workdir, ["ana", "ben", "cleo", "mal"], difficulty=1)
    stranger_key = NodeKey.generate()
    for name in ("ana", "ben", "cleo"):
        room.place(name, host="127.0.0.1", args=["--watch", stranger_key.public_key.hex()])
    honest = ["ana", "ben", "cleo"]
    network = Network.load(room.network_file)
    out: dict = {}
    with room:
        room.start(*honest)
        room.submit("ana", student_contracts("ana", 1)[0])
        room.wait_until(all_at(room, 0, honest), scaled(30), "the honest nodes to hold ana's block")
        before = {n: room.status(n)["tip"] for n in honest}
        boot = [tuple(room.nodes[n].address.rsplit(":", 1)) for n in honest]
        boot = [(h, int(p)) for h, p in boot]
        # mal, a member, runs a node of its own that publishes a chain whose new block the VM refuses
        mal = load_node(room.network_file, room.nodes["mal"].key, room.nodes["mal"].data, bootstrap=boot)
        with mal:
            mal.wait_for_dht(2, timeout=scaled(20))
            mal.follow()
            out["mal_height"] = mal.height
            again = student_contracts("ana", 1)[0]  # registering ANA001 a second time: the VM refuses it
            bad = mine_block(network, mal.wallet, again, parent=mal.tip)
            child = mine_block(network, mal.wallet, student_contracts("mal", 1)[0],
                               parent=Link(mal.tip.index + 1, bad.hash, None))
            (mal.folder / "forged").mkdir()
            path = save_blocks(mal.folder / "forged" / "chain.jsonl", [*mal.peer.chain.blocks, bad, child])
            mal.publish_file(path, mal.height + 2, mal.total_work * 10)
            out["forged_block"] = bad.hash
            # a stranger (no member's key) publishes a pointer with even more work
            stranger = Node(network, Wallet.generate(name="eve"), stranger_key, workdir / "eve", bootstrap=boot)
            with stranger:
                stranger.wait_for_dht(2, timeout=scaled(20))
                stranger.publish_file(path, 99, 10**9)
                room.wait_until(lambda: all(_logged(room, n, "refused") for n in honest), scaled(30),
                                "every honest node to log the refused chain")
                room.wait_until(lambda: all(_logged(room, n, "ignored", "not a member") for n in honest), scaled(30),
                                "every honest node to log the stranger's pointer as ignored")
        out["before"] = before
        out["after"] = room.statuses()
        out["events"] = {n: room.events(n) for n in honest}
    return out


def _logged(room: Classroom, name: str, kind: str, text: str = "") -> bool:
    return any(e["event"] == kind and text in json.dumps(e) for e in room.events(name))


@scenario
def disk(workdir: Path) -> dict:
    """The folder a node publishes into fills up, then turns read-only: it says so and loses no block."""
    room = Classroom.create(workdir, ["ana", "ben"], difficulty=1)
    store = room.nodes["ana"].data / "published"
    store.mkdir(parents=True)
    run("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(store))
    out: dict = {}
    try:
        with room:
            room.start()
            contracts = student_contracts("ana", 4)
            room.submit("ana", contracts[0])
            room.wait_until(all_at(room, 0), scaled(30), "ben to hold ana's first block")
            filler = store / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)  # until full
            room.submit("ana", contracts[1])
            room.wait_until(lambda: (room.status("ana") or {}).get("error"), scaled(30), "ana to report the full disk")
            out["full"] = room.status("ana")
            out["ben_while_full"] = room.status("ben")
            room.kill("ana")  # and a crash on top: the block must still be there
            room.start("ana")
            room.wait_until(lambda: room.status("ana")["height"] == 1, scaled(20), "ana to read back its block")
            filler.unlink()
            room.wait_until(all_at(room, 1), scaled(30), "ana to publish again once there is room, and ben to follow")
            out["recovered"] = room.status("ana")
            run("mount", "-o", "remount,ro", str(store))
            room.submit("ana", contracts[2])
            room.wait_until(lambda: "read-only" in ((room.status("ana") or {}).get("error") or "").lower(), scaled(30),
                            "ana to report the read-only folder")
            out["read_only"] = room.status("ana")
            run("mount", "-o", "remount,rw", str(store))
            room.wait_until(all_at(room, 2), scaled(30), "ana to publish after the folder is writable again")
            out["end"] = room.statuses()
            out["events"] = room.events("ana")
    finally:
        subprocess.run(["umount", "-l", str(store)], capture_output=True)
    return out


@scenario
def classroom(workdir: Path) -> dict:
    """The scripted run: four nodes, two contracts each, until all four agree."""
    from labkit.node.classroom import scripted_run

    return scripted_run(workdir / "room", contracts_each=2, difficulty=3, timeout=90)


if __name__ == "__main__":
    name, workdir = sys.argv[1], Path(sys.argv[2])
    result = SCENARIOS[name](workdir)
    print(json.dumps(result, default=str))
