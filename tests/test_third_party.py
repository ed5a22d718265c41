"""labkit and another BitTorrent client, aria2c, exchange a file both ways on 127.0.0.1.

1. ``labkit share FILE --torrent T --tracker URL`` seeds; aria2c reads T, asks the
   tracker for peers and downloads from labkit.
2. aria2c seeds; ``labkit fetch T --use-trackers`` asks the same tracker and downloads from aria2c.

The tracker is a few dozen lines of http.server below (BEP 3 announces with
BEP 23 compact peer lists), bound to 127.0.0.1. aria2c runs with DHT, local
peer discovery and peer exchange off, IPv6 off, bound to 127.0.0.1, and reads no
configuration file. Where the machine allows it (``unshare -n`` works, as root
in most containers), each scenario runs in its own network namespace that has
only a loopback interface, so nothing can leave the machine whatever a client does.

Without aria2c the tests skip with the command that installs it, except when
``CI`` (or ``LABKIT_REQUIRE_ARIA2``) is set: there a missing aria2c fails.
Run as a script (``python tests/test_third_party.py to-aria2 DIR [MiB]``) a scenario
prints its timings as JSON; that is how the tests run it.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from waiting import scaled, wait_until

ROOT = Path(__file__).resolve().parents[1]
SIZE_MIB = 4  # the file the tests exchange


# --- a tracker on 127.0.0.1 ------------------------------------------------------------------


def bencode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


class Tracker(http.server.ThreadingHTTPServer):
    """A BitTorrent tracker: ``/announce`` remembers who asked and answers with the others (compact)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Announce)
        self.swarms: dict[bytes, dict[tuple[str, int], float]] = {}  # info-hash -> {(ip, port): last seen}
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up early is no news
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/announce"

    def peers(self, info_hash: bytes) -> list[tuple[str, int]]:
        with self.lock:
            return list(self.swarms.get(info_hash, {}))


class _Announce(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urllib.parse.urlsplit(self.path)
        # info_hash and peer_id are raw bytes, percent-encoded: split the query by hand
        query = {k: urllib.parse.unquote_to_bytes(v) for k, _, v in (p.partition("=") for p in url.query.split("&"))}
        if url.path != "/announce" or len(query.get("info_hash", b"")) != 20 or not query.get("port"):
            body = bencode({"failure reason": "bad announce"})
        else:
            tracker: Tracker = self.server  # type: ignore[assignment]
            me = (self.client_address[0], int(query["port"]))
            with tracker.lock:
                swarm = tracker.swarms.setdefault(query["info_hash"], {})
                if query.get("event") == b"stopped":
                    swarm.pop(me, None)
                else:
                    swarm[me] = time.monotonic()
                others = [p for p in swarm if p != me]
            compact = b"".join(socket.inet_aton(ip) + port.to_bytes(2, "big") for ip, port in others)
            body = bencode({"interval": 5, "min interval": 1, "peers": compact})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # quiet
        pass


# --- the two scenarios (run inside the network namespace) ------------------------------------------


ARIA2_SAFE = [
    "--no-conf=true", "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
    "--enable-peer-exchange=false", "--disable-ipv6=true", "--interface=127.0.0.1",
    "--bt-external-ip=127.0.0.1", "--async-dns=false", "--file-allocation=none",
    "--summary-interval=0", "--console-log-level=warn", "--download-result=hide",
    "--bt-tracker-interval=1", "--seed-ratio=0.0",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def labkit(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "labkit", *args], cwd=ROOT, text=True, **kwargs)


def make_file(work: Path, mib: int) -> Path:
    path = work / "src" / "blocks.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(7).randbytes(mib << 20))
    return path


def info_hash_of(torrent: Path) -> bytes:
    from labkit.sharing.metainfo import TorrentFile

    return bytes.fromhex(TorrentFile.load(torrent).info_hash)


def to_aria2(work: Path, mib: int) -> dict:
    """labkit shares through the tracker; aria2c downloads."""
    tracker, src = Tracker(), make_file(work, mib)
    torrent = work / "blocks.torrent"
    sharer = labkit("share", str(src), "--torrent", str(torrent), "--tracker", tracker.url,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for line in sharer.stdout:  # type: ignore[union-attr]
            if line.startswith("press Ctrl-C"):
                break
        else:
            raise RuntimeError(f"labkit share stopped: {sharer.stderr.read()}")  # type: ignore[union-attr]
        wait_until(lambda: tracker.peers(info_hash_of(torrent)), timeout=30, what="labkit's announce")
        start = time.monotonic()
        got = subprocess.run(["aria2c", *ARIA2_SAFE, f"--listen-port={free_port()}", "--seed-time=0",
                              f"--dir={work / 'aria2'}", str(torrent)],
                             capture_output=True, text=True, timeout=scaled(120))
        seconds = time.monotonic() - start
        if got.returncode != 0:
            raise RuntimeError(f"aria2c failed ({got.returncode}): {got.stdout}{got.stderr}")
    finally:
        sharer.terminate()
        sharer.wait(scaled(30))
    same = (work / "aria2" / src.name).read_bytes() == src.read_bytes()
    return {"direction": "labkit share -> aria2c", "mib": mib, "seconds": seconds, "identical": same}


def from_aria2(work: Path, mib: int) -> dict:
    """aria2c seeds and announces; labkit fetch --use-trackers downloads from it."""
    from labkit.sharing.metainfo import make_torrent

    tracker, src = Tracker(), make_file(work, mib)
    torrent = make_torrent(src, trackers=[tracker.url]).save(work / "blocks.torrent")
    seeder = subprocess.Popen(["aria2c", *ARIA2_SAFE, f"--listen-port={free_port()}", "--check-integrity=true",
                               f"--dir={src.parent}", str(torrent)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: tracker.peers(info_hash_of(torrent)) or seeder.poll() is not None, timeout=30,
                   what="aria2c's announce")
        if seeder.poll() is not None:
            raise RuntimeError(f"aria2c stopped ({seeder.returncode}): {seeder.stderr.read()}")  # type: ignore
        start = time.monotonic()
        got = labkit("fetch", str(torrent), "--use-trackers", "--dest", str(work / "labkit"),
                     "--timeout", f"{scaled(120):g}",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = got.communicate(timeout=scaled(150))
        seconds = time.monotonic() - start
        if got.returncode != 0:
            raise RuntimeError(f"labkit fetch failed ({got.returncode}): {err}")
    finally:
        seeder.terminate()
        seeder.wait(scaled(30))
    same = (work / "labkit" / src.name).read_bytes() == src.read_bytes()
    return {"direction": "aria2c -> labkit fetch", "mib": mib, "seconds": seconds, "identical": same}


SCENARIOS = {"to-aria2": to_aria2, "from-aria2": from_aria2}


def loopback_only_namespace() -> list[str]:
    """The command prefix that runs a process in a new network namespace with only loopback, or []."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return []
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True)
    return ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] if probe.returncode == 0 else []


def run_scenario(name: str, work: Path, mib: int = SIZE_MIB) -> dict:
    """Run a scenario in its own process (in a loopback-only network namespace if possible); its result."""
    prefix = loopback_only_namespace()
    done = subprocess.run([*prefix, sys.executable, __file__, name, str(work), str(mib)], cwd=ROOT,
                          capture_output=True, text=True, timeout=scaled(300))
    if done.returncode != 0:
        raise AssertionError(f"{name} failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["namespace"] = bool(prefix)
    return result


# --- the tests ------------------------------------------------------------------------------------------


if __name__ != "__main__":
    import pytest

    @pytest.fixture(scope="module")
    def aria2c() -> str:
        path = shutil.which("aria2c")
        if path is None:
            if os.environ.get("CI") or os.environ.get("LABKIT_REQUIRE_ARIA2"):
                pytest.fail("aria2c must be installed in CI (CI or LABKIT_REQUIRE_ARIA2 is set): "
                            "apt-get install aria2", pytrace=False)
            pytest.skip("apt-get install aria2")
        return path

    def test_aria2c_downloads_what_labkit_shares(aria2c, tmp_path):
        result = run_scenario("to-aria2", tmp_path)
        assert result["identical"], result

    def test_labkit_fetches_what_aria2c_seeds(aria2c, tmp_path):
        result = run_scenario("from-aria2", tmp_path)
        assert result["identical"], result

    def test_the_tracker_answers_with_the_other_peers():
        tracker = Tracker()
        try:
            import urllib.request

            ih = urllib.parse.quote_from_bytes(bytes(range(20)))
            first = urllib.request.urlopen(f"{tracker.url}?info_hash={ih}&port=6881", timeout=5).read()
            second = urllib.request.urlopen(f"{tracker.url}?info_hash={ih}&port=6882", timeout=5).read()
        finally:
            tracker.shutdown()
        assert first.endswith(b"5:peers0:e")
        assert second.endswith(b"5:peers6:" + socket.inet_aton("127.0.0.1") + (6881).to_bytes(2, "big") + b"e")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    scenario, folder = sys.argv[1], Path(sys.argv[2])
    print(json.dumps(SCENARIOS[scenario](folder, int(sys.argv[3]) if len(sys.argv) > 3 else SIZE_MIB)))
