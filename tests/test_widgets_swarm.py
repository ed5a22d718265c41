"""The swarm progress bars, driven without a browser: by a scripted swarm, then by a real one on 127.0.0.1."""

import os
from pathlib import Path

import pytest

from labkit.errors import FetchTimeout
from labkit.sharing.metainfo import TorrentFile
from labkit.sharing.swarm import LocalSwarm, PeerReport, SwarmResult
from labkit.sharing.transfer import TransferStatus
from labkit.widgets.swarm import SwarmProgress, human_bytes, swarm_progress

SIZE = 64 * 1024


def status(progress, *, complete=False, hash_failures=0):
    return TransferStatus(name="blocks.jsonl", info_hash="ab" * 20, state="downloading", progress=progress,
                          download_rate=32_768, upload_rate=0, peers=2, downloaded=int(progress * SIZE),
                          uploaded=0, hash_failures=hash_failures, banned_peers=(), elapsed=progress,
                          complete=complete)


class ScriptedSwarm:
    """Stands in for LocalSwarm: reports a few steps per peer, then returns a result."""

    def __init__(self, peers=3, fail=False):
        self.dest_dirs = [Path(f"/nonexistent/peer-{i}") for i in range(1, peers + 1)]
        self.fail = fail
        self.seen = []

    def run(self, *, timeout, progress):
        names = [f"peer {i}" for i in range(1, len(self.dest_dirs) + 1)]
        for step in (0.0, 0.25, 0.5):
            for name in names:
                progress(name, status(step))
                self.seen.append((name, step))
        if self.fail:
            raise FetchTimeout("blocks.jsonl", ["127.0.0.1:1"], timeout, 0.5)
        for name in names:
            progress(name, status(1.0, complete=True))
        torrent = TorrentFile(b"", "blocks.jsonl", SIZE, "ab" * 20, 16384, 4)
        reports = [PeerReport("seeder", "127.0.0.1:1", None, 0, SIZE, 0, Path("/x"))]
        reports += [PeerReport(n, f"127.0.0.1:{2 + i}", 0.5 + i / 10, SIZE, SIZE // 2, 0, d)
                    for i, (n, d) in enumerate(zip(names, self.dest_dirs))]
        return SwarmResult(torrent, True, 32_768, 0.7, tuple(reports))


def test_one_bar_per_peer_before_running():
    w = swarm_progress(ScriptedSwarm(4))
    assert list(w.bars) == ["peer 1", "peer 2", "peer 3", "peer 4"]
    assert all(bar.value == 0 and bar.max == 100 for bar in w.bars.values())


def test_run_drives_every_bar_to_100_and_summarises():
    swarm = ScriptedSwarm(3)
    w = swarm_progress(swarm)
    result = w.run()
    assert result is w.result and len(swarm.seen) == 9
    assert all(bar.value == 100 and bar.bar_style == "success" for bar in w.bars.values())
    assert "done in 0.50 s" in w.infos["peer 1"].value
    assert "0.70 s" in w.summary.value and "1.0× the file" in w.summary.value
    assert list(w.peers_frame().index) == ["seeder", "peer 1", "peer 2", "peer 3"]


def test_progress_updates_move_the_bar_and_show_rate_and_bad_pieces():
    w = SwarmProgress(["me"])
    w.update("me", status(0.4))
    assert w.bars["me"].value == pytest.approx(40) and "32.0 KiB/s" in w.infos["me"].value
    w.update("me", status(0.6, hash_failures=1))
    assert w.bars["me"].bar_style == "warning" and "bad piece" in w.infos["me"].value
    w.callback("other")(status(1.0, complete=True))
    assert w.bars["other"].value == 100


def test_background_run_and_wait():
    w = swarm_progress(ScriptedSwarm(2))
    assert w.run(background=True) is None
    assert w.wait().seconds == 0.7
    assert all(bar.value == 100 for bar in w.bars.values())


def test_a_failed_swarm_shows_its_error_and_raises_it():
    w = swarm_progress(ScriptedSwarm(2, fail=True))
    with pytest.raises(FetchTimeout):
        w.run()
    assert "timed out" in w.summary.value
    assert all(bar.bar_style == "danger" and bar.value == 50 for bar in w.bars.values())


def test_run_needs_a_swarm():
    with pytest.raises(ValueError):
        SwarmProgress(["a"]).run()


def test_human_bytes():
    assert [human_bytes(n) for n in (512, 1536, 5 << 20)] == ["512 B", "1.5 KiB", "5.0 MiB"]


def test_a_real_swarm_on_loopback_fills_every_bar(tmp_path):
    path = tmp_path / "blocks.jsonl"
    path.write_bytes(os.urandom(SIZE))
    w = swarm_progress(LocalSwarm(path, 3, work_dir=tmp_path / "swarm"), timeout=60)
    result = w.run()
    assert all(bar.value == 100 for bar in w.bars.values())
    assert all(p.read_bytes() == path.read_bytes() for p in result.paths)
    assert all(r.address.startswith("127.0.0.1:") for r in result.reports)


def test_peers_can_be_shown_by_name():
    w = swarm_progress(ScriptedSwarm(2), names=["bob", "carol"])
    assert list(w.bars) == ["bob", "carol"]
    w.run()
    assert all(bar.value == 100 for bar in w.bars.values()) and "done in" in w.infos["carol"].value
    with pytest.raises(ValueError):
        swarm_progress(ScriptedSwarm(2), names=["bob"])
