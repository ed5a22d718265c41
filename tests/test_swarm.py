"""labkit.sharing.swarm: a seeder and N peers on 127.0.0.1, and BitTorrent against one server."""

from __future__ import annotations



from conftest import random_file
from labkit.sharing.swarm import LocalSwarm, distribute, swarm_experiment
from labkit.sharing.transfer import TransferStatus

KiB = 1024


def test_three_peer_swarm_gets_identical_copies(shared_file, tmp_path):
    seen: dict[str, TransferStatus] = {}
    result = LocalSwarm(shared_file, 3, work_dir=tmp_path / "swarm").run(
        timeout=60, progress=lambda name, status: seen.__setitem__(name, status))
    assert len(result.paths) == 3
    for path in result.paths:
        assert path.read_bytes() == shared_file.read_bytes()
    frame = result.peers_frame()
    assert list(frame.index) == ["seeder", "peer 1", "peer 2", "peer 3"]
    assert {"finished_s", "downloaded_bytes", "uploaded_bytes"} <= set(frame.columns)
    assert (frame.loc[["peer 1", "peer 2", "peer 3"], "finished_s"] > 0).all()
    size = shared_file.stat().st_size
    peers = frame.loc[["peer 1", "peer 2", "peer 3"]]
    assert (peers["downloaded_bytes"] >= size).all()
    # every byte received was sent by someone (some may still be in flight, or redundant)
    assert frame["uploaded_bytes"].sum() >= frame["downloaded_bytes"].sum() - 64 * KiB
    assert frame["uploaded_bytes"].sum() >= 3 * size - 64 * KiB
    assert result.seconds == max(r.finished_s for r in result.reports[1:])
    assert set(seen) == {"peer 1", "peer 2", "peer 3"} and all(s.complete for s in seen.values())


def test_one_server_swarm_gets_everything_from_the_seeder(shared_file, tmp_path):
    result = LocalSwarm(shared_file, 3, exchange=False, work_dir=tmp_path / "one").run(timeout=60)
    size = shared_file.stat().st_size
    assert all(r.uploaded == 0 for r in result.reports[1:])
    assert result.seeder.uploaded == 3 * size


def test_distribute_into_folders(shared_file, tmp_path):
    dests = [tmp_path / "bob", tmp_path / "carol"]
    random_file(dests[1] / "blocks.jsonl", 100)  # an older file: distribute replaces it
    result = distribute(shared_file, dests, timeout=60)
    assert result.paths == (dests[0] / "blocks.jsonl", dests[1] / "blocks.jsonl")
    for path in result.paths:
        assert path.read_bytes() == shared_file.read_bytes()
    assert [r.name for r in result.reports] == ["seeder", "peer 1", "peer 2"]


def test_small_swarm_experiment(tmp_path):
    size, limit = 256 * KiB, 1024 * KiB
    frame = swarm_experiment(size, ns=(1, 2), upload_limit=limit, work_dir=tmp_path)
    assert list(frame.columns) == ["peers", "bittorrent_s", "one_server_s", "ratio",
                                   "bittorrent_seeder_bytes", "one_server_seeder_bytes"]
    assert list(frame["peers"]) == [1, 2]
    assert (frame[["bittorrent_s", "one_server_s"]] > 0).all().all()
    assert list(frame["one_server_seeder_bytes"]) == [size, 2 * size]
    assert frame.attrs["file_size"] == size
    assert list(tmp_path.iterdir()) == []  # it cleaned up


def test_swarm_experiment_runs_one_swarm_for_a_lone_peer(tmp_path):
    # with one peer there is no one to trade with: BitTorrent and one server are the same swarm
    results = []
    frame = swarm_experiment(128 * KiB, ns=(1,), upload_limit=1024 * KiB, work_dir=tmp_path, progress=results.append)
    assert len(results) == 2 and results[0] is results[1]  # one run, reported for both columns
    row = frame.iloc[0]
    assert row["bittorrent_s"] == row["one_server_s"] == results[0].seconds
    assert row["bittorrent_seeder_bytes"] == row["one_server_seeder_bytes"] == 128 * KiB




def test_distribute_announces_the_seeders_magnet_link(shared_file, tmp_path):
    magnets: list[str] = []
    distribute(shared_file, [tmp_path / "bob"], timeout=60, announce=magnets.append)
    assert len(magnets) == 1 and magnets[0].startswith("magnet:?xt=urn:btih:") and "x.pe=127.0.0.1:" in magnets[0]


def test_the_demo_says_what_it_shares_and_follows_each_peer(tmp_path):
    from labkit.lessons.demo import run_demo

    steps: list[str] = []
    seen: dict[str, list[TransferStatus]] = {}
    run_demo(tmp_path, difficulty=1, step=steps.append,
             share_progress=lambda name, status: seen.setdefault(name, []).append(status))
    assert any("magnet:?xt=urn:btih:" in s and s.startswith("alice shares blocks.jsonl") for s in steps)
    assert set(seen) == {"bob", "carol"} and all(reports[-1].complete for reports in seen.values())
