"""labkit's DHT pointers against an independent BEP 44/46 implementation: webtorrent's bittorrent-dht.

Three libtorrent sessions and one bittorrent-dht node (node.js, tests/interop/bep46.mjs, its
ed25519 from node's own crypto) bootstrap only from each other's 127.0.0.1 addresses, in a
network namespace of their own where ``unshare -n`` works (tests/netns.py). Both ways:

- labkit publishes a pointer; bittorrent-dht gets it, finds ``v`` a dict with the 20-byte
  ``ih`` and labkit's keys, and verifies the signature over BEP 44's buffer;
- bittorrent-dht puts a BEP 46 item carrying labkit's keys; labkit's ``lookup_many`` reads it.

The npm package is installed by this test's set-up from tests/interop/package-lock.json
(``npm ci``, once: node_modules is git-ignored).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from netns import run_isolated
from waiting import scaled, wait_until

from labkit.errors import InvalidPointer
from labkit.node.keys import NodeKey
from labkit.sharing.dht import (
    Pointer,
    bootstrap,
    dht_settings,
    lookup_many,
    packet_endpoint,
    publish,
    wait_for_nodes,
)

INTEROP = Path(__file__).resolve().parent / "interop"
SCRIPT = INTEROP / "bep46.mjs"
SALT = b"labkit:classroom"
OURS = "0123456789abcdef0123456789abcdef01234567"
THEIRS = "89abcdef0123456789abcdef0123456789abcdef"
TIP = "00ab" + "cd" * 30


def install_bittorrent_dht() -> None:
    """``npm ci`` in tests/interop unless bittorrent-dht is there already (node and npm must be)."""
    if (INTEROP / "node_modules" / "bittorrent-dht" / "package.json").exists():
        return
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.fail("the BEP 46 interop test needs node.js and npm (Debian: apt-get install nodejs npm)")
    done = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP, capture_output=True,
                          text=True, timeout=scaled(600))
    if done.returncode != 0:
        pytest.fail(f"npm ci in {INTEROP} failed:\n{done.stderr[-3000:]}")


class NodeDHT:
    """The bittorrent-dht node: one JSON command per line in, one JSON answer per line out."""

    def __init__(self, bootstrap_nodes: list[str]):
        self.process = subprocess.Popen(["node", str(SCRIPT), *bootstrap_nodes], cwd=INTEROP, text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        hello = self.read()
        self.port, self.key = hello["port"], bytes.fromhex(hello["key"])

    def read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"bittorrent-dht exited: {self.process.stderr.read()[-2000:]}")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"bittorrent-dht: {answer['error']}")
        return answer

    def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def scenario() -> dict:
    import libtorrent as lt

    contacted: set[str] = set()

    def audit(alert) -> None:
        if isinstance(alert, lt.dht_pkt_alert):
            endpoint = packet_endpoint(alert)
            contacted.add(endpoint[1] if endpoint else f"unparsed: {alert.message()[:60]}")

    sessions = [lt.session(dht_settings("127.0.0.1:0", log_packets=True)) for _ in range(3)]
    wait_until(lambda: all(s.is_listening() and s.listen_port() for s in sessions), timeout=10,
               what="the sessions to listen on 127.0.0.1",
               pause=lambda seconds: sessions[0].wait_for_alert(round(seconds * 1000)))
    ports = [s.listen_port() for s in sessions]
    js = NodeDHT([f"127.0.0.1:{p}" for p in ports])
    out: dict = {}
    try:
        everyone = [("127.0.0.1", p) for p in ports] + [("127.0.0.1", js.port)]
        for s in sessions:
            bootstrap(s, [a for a in everyone if a[1] != s.listen_port()])
        for s in sessions:
            wait_for_nodes(s, 3, timeout=scaled(30), on_alert=audit)
        wait_until(lambda: js.ask(op="nodes")["nodes"] >= 3, timeout=30, interval=0.2,
                   what="bittorrent-dht to learn the three libtorrent nodes")

        # labkit -> bittorrent-dht
        alice = NodeKey.generate()
        ours = Pointer(OURS, 7, 4096, peer=("127.0.0.1", 6881), tip=TIP)
        out["published"] = vars(publish(sessions[0], alice, SALT, ours, on_alert=audit))
        out["js_read"] = js.ask(op="get", k=alice.public_key.hex(), salt=SALT.hex())
        out["alice"] = alice.public_key.hex()
        again = publish(sessions[1], alice, SALT, Pointer(OURS, 8, 4112), on_alert=audit)
        out["js_read_again"] = js.ask(op="get", k=alice.public_key.hex(), salt=SALT.hex())
        out["republished_seq"] = again.seq

        # bittorrent-dht -> labkit: a BEP 46 item with labkit's keys, then one with ih alone
        theirs = {"height": {"int": 9}, "ih": {"bytes": THEIRS}, "work": {"int": 8192}}
        out["js_put"] = js.ask(op="put", salt=SALT.hex(), seq=1, v=theirs)
        out["labkit_read"] = vars(lookup_many(sessions[2], [js.key], SALT, on_alert=audit)[js.key])
        other_salt = b"labkit:plain-bep46"
        out["js_put_plain"] = js.ask(op="put", salt=other_salt.hex(), seq=1, v={"ih": {"bytes": THEIRS}})
        plain = lookup_many(sessions[1], [js.key], other_salt, on_alert=audit)[js.key]
        if isinstance(plain, InvalidPointer):
            out["plain_refused"] = plain.reason
        out["js_key"] = js.key.hex()
    finally:
        js.close()
    out["contacted"] = sorted(contacted)
    return out


@pytest.fixture(scope="module")
def interop():
    pytest.importorskip("libtorrent")
    install_bittorrent_dht()
    return run_isolated(str(Path(__file__).resolve()), [], scenario, what="BEP 46 interop scenario", timeout=180)


def test_it_runs_in_a_loopback_only_namespace(interop):
    assert interop["netns"] is True, "as root (CI) the scenario must run in a network namespace"
    assert interop["contacted"] and all(ipaddress.ip_address(h).is_loopback for h in interop["contacted"])


def test_bittorrent_dht_reads_labkits_pointer_as_a_bep46_dict(interop):
    read = interop["js_read"]
    assert read["found"], "bittorrent-dht found no item that verifies under labkit's key"
    assert read["v_is_dict"] is True
    assert read["v"]["dict"]["ih"] == {"bytes": OURS}  # 20 raw bytes
    assert read["v"]["dict"]["height"] == {"int": 7} and read["v"]["dict"]["work"] == {"int": 4096}
    assert read["v"]["dict"]["tip"] == {"bytes": TIP}
    assert read["v"]["dict"]["peer"] == {"bytes": "7f0000011ae1"}  # 127.0.0.1:6881, BEP 23
    assert read["seq"] == interop["published"]["seq"] == 1 and read["k"] == interop["alice"]
    assert read["v_bytes"] < 1000


def test_bittorrent_dht_verifies_labkits_signature(interop):
    read = interop["js_read"]
    assert read["sig_ok"] is True
    assert read["flipped_sig_ok"] is False  # its verify is not a rubber stamp
    assert read["held_here"] is True  # as a storing node it verified labkit's put and kept it


def test_a_newer_pointer_from_another_session_supersedes_it_for_bittorrent_dht(interop):
    assert interop["republished_seq"] == 2
    again = interop["js_read_again"]
    assert again["seq"] == 2 and again["sig_ok"] and again["v"]["dict"]["height"] == {"int": 8}


def test_labkit_reads_a_pointer_bittorrent_dht_put(interop):
    assert interop["js_put"]["stored"] >= 1
    assert interop["labkit_read"] == {"info_hash": THEIRS, "height": 9, "total_work": 8192, "seq": 1,
                                      "peer": None, "tip": None}


def test_labkit_says_why_a_bare_bep46_pointer_is_not_enough(interop):
    assert interop["js_put_plain"]["stored"] >= 1
    assert "without labkit's 'height' and 'work'" in interop["plain_refused"]


if __name__ == "__main__":  # the child process of the ``interop`` fixture
    print(json.dumps(scenario()))
