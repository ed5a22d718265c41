"""Tests for labkit.sharing: metainfo, magnet links, addresses, loopback sessions and faults.

Every session listens on 127.0.0.x; nothing here contacts another address.
Waits are on conditions (alerts, status polling) with generous time-outs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import socket
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest

import libtorrent as lt  # a hard dependency: a broken install must fail, not skip

from conftest import random_file
from waiting import scaled, wait_until
from labkit.errors import FetchTimeout, InvalidTorrent, TorrentError  # noqa: E402
from labkit.sharing.addresses import AddressPolicy, is_loopback, parse_address, split_peers  # noqa: E402
from labkit.sharing.metainfo import (  # noqa: E402
    PARTIAL_DIR,
    Magnet,
    TorrentFile,
    check_file,
    magnet_link,
    make_torrent,
)
from labkit.sharing.session import TorrentSession, session_settings  # noqa: E402
from labkit.sharing.transfer import TransferStatus  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KiB = 1024


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A second bencoder, to check libtorrent's info-hash against hashlib without libtorrent.
def bencode(value) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, str):
        return bencode(value.encode())
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        return b"d" + b"".join(bencode(k) + bencode(value[k]) for k in sorted(value)) + b"e"
    raise TypeError(type(value))


# --- metainfo ---------------------------------------------------------------------


def test_torrent_is_v1_only_and_its_info_hash_is_sha1_of_the_info_dict(shared_file):
    t = make_torrent(shared_file)
    meta = lt.bdecode(t.data)
    info = meta[b"info"]
    assert b"piece layers" not in meta
    assert b"meta version" not in info and b"file tree" not in info
    assert set(info) == {b"name", b"length", b"piece length", b"pieces"}
    assert b"announce" not in meta and b"announce-list" not in meta  # no trackers by default
    assert info[b"name"] == b"blocks.jsonl" and info[b"length"] == shared_file.stat().st_size
    assert len(t.info_hash) == 40
    assert t.info_hash == hashlib.sha1(bencode(info)).hexdigest()
    assert lt.torrent_info(t.data).info_hashes().has_v2() is False


def test_piece_hashes_agree_with_hashlib(shared_file):
    t = make_torrent(shared_file)
    data = shared_file.read_bytes()
    expected = [hashlib.sha1(data[i:i + t.piece_length]).digest() for i in range(0, len(data), t.piece_length)]
    assert list(t.piece_hashes) == expected
    assert t.num_pieces == len(expected) and t.size == len(data)


def test_torrentfile_round_trips_and_is_deterministic(shared_file, tmp_path):
    t = make_torrent(shared_file)
    assert TorrentFile.decode(t.encode()) == t
    assert TorrentFile.load(t.save(tmp_path / "blocks.torrent")) == t
    assert make_torrent(shared_file) == t  # no creation date: same file, same bytes
    assert dataclasses.is_dataclass(t)
    with pytest.raises(dataclasses.FrozenInstanceError):
        t.name = "other"  # type: ignore[misc]


def test_trackers_only_when_asked(shared_file):
    t = make_torrent(shared_file, trackers=["http://tracker.invalid/announce"])
    assert lt.bdecode(t.data)[b"announce"] == b"http://tracker.invalid/announce"
    assert "tr=http%3A%2F%2Ftracker.invalid%2Fannounce" in t.magnet


@pytest.mark.parametrize("cut", ["empty", "garbage", "truncated", "half", "no info"])
def test_bad_torrents_raise_invalid_torrent(shared_file, tmp_path, cut):
    good = make_torrent(shared_file).data
    data = {"empty": b"", "garbage": b"this is not bencoding", "truncated": good[:-1],
            "half": good[: len(good) // 2], "no info": b"d3:fooi1ee"}[cut]
    path = tmp_path / "bad.torrent"
    path.write_bytes(data)
    with pytest.raises(InvalidTorrent) as info:
        TorrentFile.load(path)
    assert str(path) in str(info.value)
    assert "Traceback" not in str(info.value)


def test_decode_wants_bytes():
    with pytest.raises(TypeError):
        TorrentFile.decode("d4:infode")  # type: ignore[arg-type]


def test_cannot_share_empty_file_or_folder(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(TorrentError):
        make_torrent(tmp_path / "empty")
    with pytest.raises(TorrentError):
        make_torrent(tmp_path)
    with pytest.raises(TorrentError, match="no such file"):
        make_torrent(tmp_path / "missing")


def test_check_file_accepts_the_file_and_rejects_others(shared_file, tmp_path):
    t = make_torrent(shared_file)
    check_file(shared_file, t)
    check_file(shared_file, t.magnet)
    shorter = random_file(tmp_path / "shorter", t.size - 1)
    with pytest.raises(InvalidTorrent, match="another file"):
        check_file(shorter, t)
    flipped = bytearray(shared_file.read_bytes())
    flipped[-1] ^= 1
    (tmp_path / "flipped").write_bytes(flipped)
    with pytest.raises(InvalidTorrent, match=f"piece {t.num_pieces - 1}"):
        check_file(tmp_path / "flipped", t)


def test_magnet_whose_info_hash_does_not_match_the_file(shared_file, tmp_path):
    other = make_torrent(random_file(tmp_path / "other" / "blocks.jsonl", 300 * KiB, seed=1))
    with pytest.raises(InvalidTorrent, match="another file"):
        check_file(shared_file, other.magnet)
    with TorrentSession() as s:
        with pytest.raises(InvalidTorrent):
            s.seed(shared_file, other.magnet)
        with pytest.raises(InvalidTorrent):
            s.seed(shared_file, other)
        assert s.transfers == []


# --- magnet links ------------------------------------------------------------------


def test_magnet_round_trip_with_peers():
    m = Magnet("0123456789abcdef0123456789abcdef01234567", "blocks & more.jsonl",
               (("127.0.0.2", 6881), ("::1", 7000)))
    assert Magnet.parse(m.to_uri()) == m
    parsed = lt.parse_magnet_uri(m.to_uri())  # a second reader agrees
    assert str(parsed.info_hashes.v1) == m.info_hash
    assert parsed.name == m.name
    assert parsed.peers == [("127.0.0.2", 6881), ("::1", 7000)]


def test_magnet_link_agrees_with_libtorrent(shared_file):
    t = make_torrent(shared_file)
    ours = Magnet.parse(t.magnet)
    theirs = Magnet.parse(lt.make_magnet_uri(lt.torrent_info(t.data)))
    assert ours == theirs == Magnet(t.info_hash, "blocks.jsonl")
    assert "x.pe=127.0.0.2:6881" in magnet_link(t, [("127.0.0.2", 6881)])


@pytest.mark.parametrize("uri", ["", "http://example.invalid/", "magnet:?xt=urn:btih:zz", "magnet:?dn=x"])
def test_bad_magnets(uri):
    with pytest.raises(InvalidTorrent):
        Magnet.parse(uri)


# --- sessions ----------------------------------------------------------------------


def test_default_session_is_loopback_only_with_discovery_off():
    with TorrentSession() as s:
        settings = s.settings()
        for key in ("enable_dht", "enable_lsd", "enable_upnp", "enable_natpmp"):
            assert settings[key] is False, key
        assert settings["listen_interfaces"] == "127.0.0.1:0"
        assert settings["enable_incoming_utp"] is True  # clients that prefer uTP can reach us ...
        assert settings["enable_outgoing_utp"] is False  # ... and we connect out by TCP (see session_settings)
        assert settings["alert_mask"] & lt.alert_category.status
        host, port = s.address
        assert s.addresses == [("127.0.0.1", port)] and port > 0
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        with pytest.raises(OSError):  # not listening on any other address
            socket.create_connection(("127.0.0.2", port), timeout=5).close()


def test_a_peer_that_connects_by_utp_only_gets_the_file(shared_file, tmp_path):
    with TorrentSession() as seeder, TorrentSession(settings={"enable_outgoing_utp": True,
                                                              "enable_outgoing_tcp": False}) as peer:
        seeder.seed(shared_file)
        path = peer.fetch(make_torrent(shared_file), tmp_path / "dest", [seeder.address], timeout=scaled(60))
    assert path.read_bytes() == shared_file.read_bytes()


def test_loopback_session_refuses_peers_elsewhere(shared_file, tmp_path):
    t = make_torrent(shared_file)
    with TorrentSession() as s:
        with pytest.raises(TorrentError, match="loopback"):
            s.add(t, tmp_path / "dest", peers=[("192.0.2.1", 6881)])  # refused before any packet
        assert s.transfers == []


def test_lsd_only_in_lan_mode():
    with pytest.raises(TorrentError, match="LAN"):
        TorrentSession(lsd=True)
    assert session_settings(lsd=False)["enable_lsd"] is False
    lan = session_settings("127.0.0.2:6881", lsd=True)  # built, not started: LSD would multicast
    assert lan["enable_lsd"] is True and lan["listen_interfaces"] == "127.0.0.2:6881"
    assert session_settings("127.0.0.2")["listen_interfaces"] == "127.0.0.2:6881"


def test_lan_mode_binds_the_address_and_the_magnet_carries_it(shared_file, tmp_path):
    with TorrentSession(listen="127.0.0.2:0") as teacher, TorrentSession() as student:
        host, port = teacher.address
        assert host == "127.0.0.2" and port > 0
        shared = teacher.seed(shared_file)
        magnet = teacher.magnet(shared)
        assert f"x.pe=127.0.0.2:{port}" in magnet
        path = student.fetch(magnet, tmp_path / "student", timeout=scaled(60))
        assert path.read_bytes() == shared_file.read_bytes()


def test_busy_port_is_an_error():
    with TorrentSession() as s:
        with pytest.raises(TorrentError, match="cannot listen"):
            TorrentSession(listen=f"127.0.0.1:{s.port}")


def test_fetch_reports_progress_and_leaves_no_partial_file(shared_file, tmp_path):
    seen: list[TransferStatus] = []
    with TorrentSession() as seeder, TorrentSession() as peer:
        seeder.seed(shared_file)
        path = peer.fetch(make_torrent(shared_file), tmp_path / "dest", [seeder.address], timeout=scaled(60),
                          progress=seen.append)
    assert path == tmp_path / "dest" / "blocks.jsonl"
    assert path.read_bytes() == shared_file.read_bytes()
    assert not (tmp_path / "dest" / PARTIAL_DIR).exists()
    assert seen and seen[-1].complete and seen[-1].progress == 1.0
    assert all(0.0 <= s.progress <= 1.0 for s in seen)
    with pytest.raises(dataclasses.FrozenInstanceError):
        seen[-1].progress = 0.5  # type: ignore[misc]


def test_existing_files_at_the_destination(shared_file, tmp_path):
    t = make_torrent(shared_file)
    dest = tmp_path / "dest"
    random_file(dest / "blocks.jsonl", 10)  # another file of that name
    with TorrentSession() as seeder, TorrentSession() as peer:
        seeder.seed(shared_file)
        with pytest.raises(TorrentError, match="already exists"):
            peer.add(t, dest, [seeder.address])
        assert (dest / "blocks.jsonl").stat().st_size == 10  # untouched
        path = peer.fetch(t, dest, [seeder.address], timeout=scaled(60), overwrite=True)
        assert path.read_bytes() == shared_file.read_bytes()
    with TorrentSession() as peer:  # the same file already there: complete at once, nothing to download
        transfer = peer.add(t, dest, [("127.0.0.1", closed_port())])
        assert transfer.complete and transfer.status().downloaded == 0


def test_seed_checks_the_file_against_a_torrent_path_or_a_magnet(shared_file, tmp_path):
    t = make_torrent(shared_file)
    saved = t.save(tmp_path / "blocks.torrent")
    other = random_file(tmp_path / "other" / "blocks.jsonl", 1000, seed=3)
    with TorrentSession() as s:
        assert s.seed(shared_file, saved).torrent == t
        with pytest.raises(InvalidTorrent, match="another file"):
            s.seed(other, str(saved))
        with pytest.raises(InvalidTorrent, match="another file"):
            s.seed(other, t.magnet)


def test_seed_a_copy_with_another_name(shared_file, tmp_path):
    t = make_torrent(shared_file)
    copy = tmp_path / "mine" / "blocks (1).jsonl"
    copy.parent.mkdir()
    copy.write_bytes(shared_file.read_bytes())
    with TorrentSession() as helper, TorrentSession() as peer:
        helper.seed(copy, t)
        path = peer.fetch(t, tmp_path / "dest", [helper.address], timeout=scaled(60))
    assert path.name == "blocks.jsonl" and path.read_bytes() == shared_file.read_bytes()


# --- faults ------------------------------------------------------------------------


def test_no_peer_answers_raises_fetch_timeout(shared_file, tmp_path):
    t = make_torrent(shared_file)
    port = closed_port()
    with TorrentSession() as s:
        with pytest.raises(FetchTimeout) as info:
            s.fetch(t, tmp_path / "dest", [("127.0.0.1", port)], timeout=1.5)
        assert s.transfers == []  # the failed fetch left the session
    err = info.value
    assert err.name == "blocks.jsonl" and err.peers == [f"127.0.0.1:{port}"]
    assert err.seconds == 1.5 and err.progress == 0.0
    assert "blocks.jsonl" in str(err) and f"127.0.0.1:{port}" in str(err)
    assert not (tmp_path / "dest").exists()  # nothing arrived, so nothing stays: no .labkit-partial/HASH


def test_magnet_timeout_names_the_magnet(shared_file, tmp_path):
    magnet = magnet_link(make_torrent(shared_file), [("127.0.0.1", closed_port())])
    with TorrentSession() as s, pytest.raises(FetchTimeout, match="blocks.jsonl"):
        s.fetch(magnet, tmp_path / "dest", timeout=1.0)


def test_seeder_killed_mid_transfer_download_completes_from_the_other(tmp_path):
    src = random_file(tmp_path / "a" / "blocks.jsonl", 512 * KiB)
    copy = random_file(tmp_path / "b" / "blocks.jsonl", 512 * KiB)  # same seed: the same bytes
    t = make_torrent(src)
    first = TorrentSession(upload_limit=128 * KiB)
    with first, TorrentSession(upload_limit=128 * KiB) as second, TorrentSession() as peer:
        first.seed(src, t)
        second.seed(copy, t)
        transfer = peer.add(t, tmp_path / "dest", [first.address, second.address])
        wait_until(lambda: transfer.status().progress >= 0.2, timeout=30, what="a fifth of the file from the seeders",
                   pause=peer.poll)
        progress_at_kill = transfer.status().progress
        first.close()  # the first seeder leaves mid-transfer
        path = transfer.wait(timeout=scaled(60))
    assert progress_at_kill < 0.9
    assert path.read_bytes() == src.read_bytes()


def test_corrupt_peer_is_detected_banned_and_the_file_is_still_right(tmp_path):
    good = random_file(tmp_path / "good" / "blocks.jsonl", 512 * KiB)
    bad = random_file(tmp_path / "bad" / "blocks.jsonl", 512 * KiB)
    t = make_torrent(good)
    with TorrentSession() as liar, TorrentSession(upload_limit=256 * KiB) as honest, TorrentSession() as peer:
        liar.seed(bad, t)  # libtorrent checks the file: every piece is right ...
        data = bytearray(bad.read_bytes())
        for start in range(0, len(data), t.piece_length):
            data[start + 7] ^= 0xFF
        with bad.open("r+b") as f:  # ... then the disk "rots" under it, and it serves bad pieces
            f.write(data)
        honest.seed(good, t)
        transfer = peer.add(t, tmp_path / "dest", [liar.address, honest.address])
        path = transfer.wait(timeout=scaled(60))
        status = transfer.status()
    assert status.hash_failures >= 1 and transfer.failed_pieces
    liar_address = f"{liar.address[0]}:{liar.address[1]}"
    assert liar_address in status.banned_peers
    assert path.read_bytes() == good.read_bytes()
    check_file(path, t)


class _StallsAtFull:
    """A torrent handle that, until something calls force_recheck, reports every piece passed but the
    download never finished: the state the corrupt-peer test once timed out in (transfer.STALL_SECONDS)."""

    def __init__(self, handle):
        self._real, self.rechecks = handle, 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def force_recheck(self):
        self.rechecks += 1
        self._real.force_recheck()

    def status(self):
        real = self._real.status()
        if self.rechecks or real.progress < 1.0:
            return real
        return types.SimpleNamespace(progress=1.0, state="downloading", is_seeding=False, is_finished=False,
                                     has_metadata=True, pieces=[True] * len(real.pieces),
                                     moving_storage=False, save_path=real.save_path)


def test_a_download_stalled_with_every_piece_is_rechecked_and_completes(tmp_path):
    src = random_file(tmp_path / "src" / "blocks.jsonl", 256 * KiB)
    t = make_torrent(src)
    with TorrentSession() as seeder, TorrentSession() as peer:
        seeder.seed(src, t)
        transfer = peer.add(t, tmp_path / "dest", [seeder.address])
        real = transfer._handle
        transfer._handle = stalled = _StallsAtFull(real)
        try:
            path = transfer.wait(timeout=scaled(60))
        finally:
            transfer._handle = real  # the session removes the real handle when it closes
    assert stalled.rechecks == transfer.rechecks == 1
    assert path.read_bytes() == src.read_bytes()


@pytest.mark.parametrize("source", ["magnet", "torrent"])
def test_a_magnet_fetch_connects_again_to_the_seeds_its_metadata_check_dropped(tmp_path, source):
    """A magnet starts in upload mode, where libtorrent drops every seed as an "upload to upload"
    connection once the metadata arrives; the transfer reconnects at once (Transfer._reconnect),
    rather than after libtorrent's next second tick. A .torrent never was in upload mode. The seeder
    never connects out, so only the fetcher can connect again."""
    src = random_file(tmp_path / "src" / "blocks.jsonl", 24 * KiB)
    t = make_torrent(src)
    with TorrentSession(settings={"seeding_outgoing_connections": False}) as seeder, TorrentSession() as peer:
        seeder.seed(src, t)
        item = Magnet(t.info_hash, "blocks.jsonl") if source == "magnet" else t
        transfer = peer.add(item, tmp_path / "dest", [seeder.address])
        path = transfer.wait(timeout=scaled(30), interval=0.01)
    assert path.read_bytes() == src.read_bytes()
    assert transfer.reconnects == (1 if source == "magnet" else 0)


@pytest.mark.parametrize("how", ["resume data", "recheck"])
def test_interrupted_download_resumes(tmp_path, how):
    src = random_file(tmp_path / "src" / "blocks.jsonl", 512 * KiB)
    t = make_torrent(src)
    dest = tmp_path / "dest"
    staging = dest / PARTIAL_DIR / t.info_hash
    with TorrentSession(upload_limit=256 * KiB) as seeder:
        seeder.seed(src, t)
        with TorrentSession() as first:
            transfer = first.add(t, dest, [seeder.address])
            wait_until(lambda: transfer.status().progress >= 0.4, timeout=30, what="two fifths of the file",
                       pause=first.poll)
        before = transfer.status()  # the last status, kept after the session closed
        assert before.progress < 1.0
        assert (staging / "resume.dat").exists() and not (dest / "blocks.jsonl").exists()
        if how == "recheck":
            (staging / "resume.dat").unlink()
        with TorrentSession() as second:
            again = second.add(t, dest, [seeder.address])
            path = again.wait(timeout=scaled(60))
            downloaded = again.status().downloaded
    assert path.read_bytes() == src.read_bytes()
    assert downloaded <= t.size - 0.3 * t.size  # it did not start over
    assert not staging.exists()


def test_ctrl_c_during_fetch_closes_cleanly_and_keeps_resume_data(tmp_path):
    src = random_file(tmp_path / "src" / "blocks.jsonl", 512 * KiB)
    t = make_torrent(src)

    def interrupt(status: TransferStatus) -> None:
        if status.progress > 0.1:
            raise KeyboardInterrupt

    with TorrentSession(upload_limit=256 * KiB) as seeder:
        seeder.seed(src, t)
        peer = TorrentSession()
        with pytest.raises(KeyboardInterrupt):
            with peer:
                peer.fetch(t, tmp_path / "dest", [seeder.address], timeout=scaled(60), progress=interrupt)
    assert peer.transfers == []
    with pytest.raises(TorrentError, match="closed"):
        peer.poll()
    assert (tmp_path / "dest" / PARTIAL_DIR / t.info_hash / "resume.dat").exists()


# --- imports and the command line -------------------------------------------------------


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=scaled(60))


def test_import_labkit_does_not_load_libtorrent():
    done = run_python("import sys, labkit, labkit.sharing, labkit.sharing.cli; print('libtorrent' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_missing_libtorrent_says_how_to_install_it():
    done = run_python(
        "import sys; sys.modules['libtorrent'] = None\n"
        "import labkit.sharing.session as s\nfrom labkit.errors import TorrentError\n"
        "try:\n    s.TorrentSession()\nexcept TorrentError as e:\n    print(e)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "pip install libtorrent" in done.stdout


def test_cli_share_and_fetch(shared_file, tmp_path):
    from labkit.sharing.cli import fetch_command, share_command

    out, stop = io.StringIO(), threading.Event()
    sharer = threading.Thread(target=share_command, args=(shared_file,),
                              kwargs={"stop": stop, "out": out, "progress": lambda status: None})
    sharer.start()
    try:
        wait_until(lambda: "magnet:?" in out.getvalue() or not sharer.is_alive(), timeout=30,
                   what="share to print its magnet link")
        assert sharer.is_alive(), out.getvalue()
        magnet = next(line for line in out.getvalue().splitlines() if line.startswith("magnet:?"))
        assert "x.pe=127.0.0.1:" in magnet
        assert fetch_command(magnet, [], tmp_path / "dest", 60, out=io.StringIO()) == 0
    finally:
        stop.set()
        sharer.join(scaled(30))
    assert not sharer.is_alive()
    assert (tmp_path / "dest" / "blocks.jsonl").read_bytes() == shared_file.read_bytes()


def test_cli_share_writes_the_torrent_and_connects_out_to_peers(shared_file, tmp_path):
    from labkit.sharing.cli import share_command

    out, stop = io.StringIO(), threading.Event()
    with TorrentSession() as peer:
        transfer = peer.add(make_torrent(shared_file), tmp_path / "dest")  # knows no one: the sharer calls it
        sharer = threading.Thread(target=share_command, args=(shared_file,),
                                  kwargs={"stop": stop, "out": out, "progress": lambda status: None,
                                          "peers": [f"127.0.0.1:{peer.port}"],
                                          "torrent_file": tmp_path / "blocks.torrent"})
        sharer.start()
        try:
            path = transfer.wait(timeout=scaled(60))
        finally:
            stop.set()
            sharer.join(scaled(30))
    assert path.read_bytes() == shared_file.read_bytes()
    assert TorrentFile.load(tmp_path / "blocks.torrent") == make_torrent(shared_file)
    assert f"wrote {tmp_path / 'blocks.torrent'}" in out.getvalue()


def test_cli_share_says_when_a_tracker_cannot_be_reached(shared_file):
    from labkit.sharing.cli import share_command

    out, stop = io.StringIO(), threading.Event()
    url = f"http://127.0.0.1:{closed_port()}/announce"
    sharer = threading.Thread(target=share_command, args=(shared_file,),
                              kwargs={"stop": stop, "out": out, "progress": lambda status: None, "trackers": [url]})
    sharer.start()
    try:
        wait_until(lambda: "tracker: " in out.getvalue() or not sharer.is_alive(), timeout=30,
                   what=lambda: f"share to report the tracker; it printed {out.getvalue()!r}")
        assert sharer.is_alive(), out.getvalue()
    finally:
        stop.set()
        sharer.join(scaled(30))
    assert f"announcing to {url}" in out.getvalue() and "tr=http%3A%2F%2F127.0.0.1" in out.getvalue()


def test_cli_subcommands_are_registered(tmp_path):
    import argparse

    from labkit.sharing.cli import add_subcommands

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["fetch", "x.torrent", "--peer", "127.0.0.1:6881", "--peer", "127.0.0.2:6882",
                              "--dest", str(tmp_path), "--timeout", "5"])
    assert args.peer == ["127.0.0.1:6881", "127.0.0.2:6882"] and args.timeout == 5.0
    args = parser.parse_args(["share", "blocks.jsonl", "--listen", "127.0.0.2:6881", "--lsd"])
    assert args.listen == "127.0.0.2:6881" and args.lsd
    assert parser.parse_args(["share", "blocks.jsonl", "--lsd"]).func(
        parser.parse_args(["share", "blocks.jsonl", "--lsd"])) == 2  # LSD needs --listen


def test_cli_fetch_of_a_bad_torrent_fails_cleanly(tmp_path):
    (tmp_path / "bad.torrent").write_bytes(b"garbage")
    done = subprocess.run([sys.executable, "-m", "labkit", "fetch", str(tmp_path / "bad.torrent"),
                           "--peer", "127.0.0.1:1", "--dest", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 2
    assert "not a valid .torrent" in done.stderr and "Traceback" not in done.stderr


# --- what a .torrent may hold (issue 12) ----------------------------------------------------


def hand_made(info: dict, extra: bytes = b"") -> bytes:
    return bencode({"info": info}) + extra


def v1_info(data: bytes, piece_length: int, name: str = "blocks.jsonl") -> dict:
    pieces = b"".join(hashlib.sha1(data[i:i + piece_length]).digest() for i in range(0, len(data), piece_length))
    return {"name": name, "length": len(data), "piece length": piece_length, "pieces": pieces}


def folder_torrent(tmp_path: Path, version: str) -> bytes:
    """A torrent of a folder holding one file: the multi-file layout, with a single file."""
    folder = tmp_path / "folder"
    random_file(folder / "blocks.jsonl", 40 * KiB)
    flags = {"v1": lt.create_torrent.v1_only, "v2": lt.create_torrent.v2_only, "hybrid": 0}[version]
    creator = lt.create_torrent(lt.list_files(str(folder)), 0, flags)
    lt.set_piece_hashes(creator, str(tmp_path))
    return lt.bencode(creator.generate())


@pytest.mark.parametrize("version", ["v1", "v2", "hybrid"])
def test_a_multi_file_layout_is_refused_when_read_even_with_one_file(tmp_path, version):
    data = folder_torrent(tmp_path, version)
    assert lt.torrent_info(data).num_files() >= 1  # libtorrent itself reads it
    with pytest.raises(InvalidTorrent, match="folder|one file per torrent"):
        TorrentFile.decode(data)
    (tmp_path / "folder.torrent").write_bytes(data)
    with TorrentSession() as s:
        with pytest.raises(InvalidTorrent):
            s.add(tmp_path / "folder.torrent", tmp_path / "dest", [("127.0.0.1", closed_port())])
        assert s.transfers == []
    assert not (tmp_path / "dest").exists()  # refused before anything was written


def test_a_magnet_whose_metadata_is_a_folder_is_refused_and_leaves_nothing(tmp_path):
    data = folder_torrent(tmp_path, "v1")
    ti = lt.torrent_info(data)
    raw = lt.session(session_settings())  # a plain libtorrent seeder on 127.0.0.1, which shares folders
    try:
        params = lt.add_torrent_params()
        params.ti, params.save_path = ti, str(tmp_path)
        raw.add_torrent(params)
        wait_until(lambda: raw.get_torrents()[0].status().is_seeding, timeout=30, what="libtorrent to seed the folder")
        port = raw.listen_port()
        magnet = Magnet(str(ti.info_hashes().v1), "folder", (("127.0.0.1", port),)).to_uri()
        with TorrentSession() as s:
            with pytest.raises(InvalidTorrent, match="folder"):
                s.fetch(magnet, tmp_path / "dest", timeout=scaled(30))
            assert s.transfers == []
    finally:
        raw.pause()
        del raw
    assert not (tmp_path / "dest").exists()  # no partial folder, no file left behind, no new folder


def test_trailing_bytes_after_the_metainfo_are_refused(shared_file):
    good = make_torrent(shared_file).data
    for extra in (b"x", b"\n", b"d3:fooi1ee"):
        with pytest.raises(InvalidTorrent, match="after the metainfo"):
            TorrentFile.decode(good + extra)


@pytest.mark.parametrize("piece_length", [8 * KiB, 48 * KiB, 16 * KiB + 1, 2**29])
def test_piece_lengths_must_be_powers_of_two_of_at_least_16_kib(piece_length):
    data = b"x" * (40 * KiB)
    with pytest.raises(InvalidTorrent, match="piece length"):
        TorrentFile.decode(hand_made(v1_info(data, piece_length)))


def test_a_hand_made_torrent_with_a_good_piece_length_is_read():
    data = b"x" * (40 * KiB)
    t = TorrentFile.decode(hand_made(v1_info(data, 16 * KiB)))
    assert (t.name, t.size, t.num_pieces, t.version) == ("blocks.jsonl", len(data), 3, "v1")


@pytest.mark.parametrize("piece_length", [2**31, 2**40, 12345, 8 * KiB, -16384, True])
def test_make_torrent_refuses_bad_piece_lengths_with_a_labkit_error(shared_file, piece_length):
    with pytest.raises(InvalidTorrent, match="piece length"):
        make_torrent(shared_file, piece_length=piece_length)


@pytest.mark.parametrize("name", [PARTIAL_DIR, PARTIAL_DIR.upper(), "..", "."])
def test_a_torrent_named_like_the_staging_folder_is_refused(name):
    with pytest.raises(InvalidTorrent, match="partial downloads|plain file name|not a valid"):
        TorrentFile.decode(hand_made(v1_info(b"x" * 100, 16 * KiB, name=name)))


def test_make_torrent_of_a_file_named_like_the_staging_folder(tmp_path):
    with pytest.raises(InvalidTorrent, match="partial downloads"):
        make_torrent(random_file(tmp_path / PARTIAL_DIR, 100))


def test_load_refuses_folders_fifos_and_missing_files_with_labkit_errors(tmp_path):
    import os

    os.mkfifo(tmp_path / "fifo.torrent")
    (tmp_path / "folder.torrent").mkdir()
    for path, why in [(tmp_path / "folder.torrent", "folder"), (tmp_path / "fifo.torrent", "special file"),
                      (tmp_path / "missing.torrent", "cannot read")]:
        with pytest.raises(TorrentError, match=why) as info:
            TorrentFile.load(path)
        assert not isinstance(info.value, OSError)


def test_a_destination_whose_file_path_is_a_folder_is_refused(shared_file, tmp_path):
    t = make_torrent(shared_file)
    dest = tmp_path / "dest"
    (dest / "blocks.jsonl").mkdir(parents=True)
    with TorrentSession() as s:
        for overwrite in (False, True):
            with pytest.raises(TorrentError, match="is a folder"):
                s.add(t, dest, [("127.0.0.1", closed_port())], overwrite=overwrite)
            with pytest.raises(TorrentError, match="is a folder"):
                s.add(Magnet.parse(magnet_link(t, [("127.0.0.1", closed_port())])), dest)
        assert s.transfers == []
    assert sorted(p.name for p in dest.iterdir()) == ["blocks.jsonl"]  # nothing else was made


def test_check_file_of_a_folder_is_a_labkit_error(shared_file, tmp_path):
    with pytest.raises(TorrentError, match="folder"):
        check_file(tmp_path, make_torrent(shared_file))


# --- BitTorrent v2 and hybrid torrents -----------------------------------------------------


@pytest.mark.parametrize("version", ["v2", "hybrid"])
def test_v2_and_hybrid_torrents_round_trip_and_check_files(shared_file, tmp_path, version):
    t = make_torrent(shared_file, version=version)
    assert t.version == version and len(t.info_hash_v2) == 64
    assert t.info_hash == (t.info_hash_v2 if version == "v2" else str(lt.torrent_info(t.data).info_hashes().v1))
    assert TorrentFile.decode(t.data) == t and t.size == shared_file.stat().st_size
    check_file(shared_file, t)
    check_file(shared_file, t.magnet)
    assert Magnet.parse(t.magnet).info_hash == t.info_hash
    flipped = bytearray(shared_file.read_bytes())
    flipped[-1] ^= 1
    (tmp_path / "flipped").write_bytes(flipped)
    with pytest.raises(InvalidTorrent, match="another file"):
        check_file(tmp_path / "flipped", t)


def test_the_merkle_root_agrees_with_libtorrent(tmp_path):
    from labkit.sharing.metainfo import merkle_root

    for size in (10, 16 * KiB, 20_000, 300 * KiB):
        path = random_file(tmp_path / f"f{size}", size)
        info = lt.bdecode(make_torrent(path, version="v2").data)[b"info"]
        assert merkle_root(path) == info[b"file tree"][path.name.encode()][b""][b"pieces root"]


@pytest.mark.parametrize("version", ["v2", "hybrid"])
@pytest.mark.parametrize("how", ["torrent", "magnet"])
def test_v2_and_hybrid_torrents_are_fetched(shared_file, tmp_path, version, how):
    t = make_torrent(shared_file, version=version)
    with TorrentSession() as seeder, TorrentSession() as peer:
        shared = seeder.seed(shared_file, t)
        source = t if how == "torrent" else seeder.magnet(shared)
        path = peer.fetch(source, tmp_path / "dest", [seeder.address] if how == "torrent" else [], timeout=scaled(60))
        assert peer.transfers[0].torrent.info_hash == t.info_hash
    assert path.read_bytes() == shared_file.read_bytes()
    assert not (tmp_path / "dest" / PARTIAL_DIR).exists()


# --- addresses and the network policy (issue 12) --------------------------------------------------


def test_ipv4_mapped_loopback_is_loopback():
    assert is_loopback("::ffff:127.0.0.1") and is_loopback("127.3.4.5") and is_loopback("::1")
    assert not is_loopback("::ffff:192.0.2.1") and not is_loopback("localhost")
    assert AddressPolicy().allow(("::ffff:127.0.0.1", 6881)) == ("127.0.0.1", 6881)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "255.255.255.255", "224.0.0.1", "239.1.2.3", "ff02::1",
                                  "::ffff:0.0.0.0", "::ffff:224.0.0.1"])
@pytest.mark.parametrize("lan", [False, True])
def test_unspecified_broadcast_and_multicast_peers_are_refused(host, lan):
    policy = AddressPolicy(lan=lan)
    with pytest.raises(TorrentError, match="unspecified, broadcast or multicast"):
        policy.allow((host, 6881))
    assert policy.explicit == set()


def test_lan_mode_allows_private_and_named_unicast_addresses():
    policy = AddressPolicy(lan=True)
    assert policy.allow("192.168.1.5:6881") == ("192.168.1.5", 6881)
    assert policy.explicit == set()
    assert policy.allow("198.51.100.7:6881") == ("198.51.100.7", 6881)  # named by the user
    assert policy.explicit == {"198.51.100.7"} and ("198.51.100.7", "198.51.100.7") in policy.ranges()
    with pytest.raises(TorrentError, match="loopback-only"):
        AddressPolicy().allow("192.168.1.5:6881")


@pytest.mark.parametrize("listen", ["0.0.0.0:6881", "[::]:6881", "255.255.255.255:6881", "224.0.0.1:6881",
                                    "0.0.0.0"])
def test_lan_mode_refuses_to_listen_on_unspecified_broadcast_or_multicast(listen):
    with pytest.raises(TorrentError, match="cannot listen"):
        session_settings(listen)


@pytest.mark.parametrize("text", ["127.0.0.1:abc", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:\u0668\u0660",
                                  "127.0.0.1:\u00b2", "127.0.0.1", ":6881", "127.0.0.1:6881\x00"])
def test_bad_addresses_are_labkit_errors(text):
    with pytest.raises(TorrentError):
        parse_address(text)


def test_magnet_peers_with_host_names_or_bad_ports_are_reported():
    good, bad = split_peers(["127.0.0.1:6881", "peer.example:6881", "127.0.0.1:0", "127.0.0.1:99999",
                             "[::1]:7000", "127.0.0.1"])
    assert good == (("127.0.0.1", 6881), ("::1", 7000))
    assert bad == ("peer.example:6881", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1")
    m = Magnet.parse("magnet:?xt=urn:btih:" + "ab" * 20 + "&x.pe=peer.example:6881&x.pe=127.0.0.1:6881")
    assert m.peers == (("127.0.0.1", 6881),) and m.ignored_peers == ("peer.example:6881",)
    assert Magnet.parse(m.to_uri()) == m  # kept, not dropped


@pytest.mark.parametrize("version", ["v2", "hybrid"])
def test_seed_a_v2_file_from_its_magnet_link(shared_file, tmp_path, version):
    t = make_torrent(shared_file, version=version)
    assert Magnet.parse(t.magnet).version == version
    assert Magnet(t.info_hash_v2).to_uri() == f"magnet:?xt=urn:btmh:1220{t.info_hash_v2}"
    with TorrentSession() as seeder, TorrentSession() as peer:
        seeder.seed(shared_file, t.magnet)
        path = peer.fetch(t, tmp_path / "dest", [seeder.address], timeout=scaled(60))
    assert path.read_bytes() == shared_file.read_bytes()


def test_fetch_with_a_magnet_naming_a_lan_peer_stays_on_loopback_and_refuses(shared_file, tmp_path):
    from labkit.sharing.cli import fetch_command

    magnet = magnet_link(make_torrent(shared_file), [("192.0.2.1", 6881)])
    with pytest.raises(TorrentError, match="loopback-only"):
        fetch_command(magnet, [], tmp_path / "dest", 5, out=io.StringIO(), err=io.StringIO())
    assert not (tmp_path / "dest").exists()


def test_fetch_warns_about_magnet_peers_it_cannot_use(shared_file, tmp_path):
    from labkit.sharing.cli import fetch_command

    magnet = magnet_link(make_torrent(shared_file), [("127.0.0.1", closed_port())]) + "&x.pe=peer.example:6881"
    err = io.StringIO()
    with pytest.raises(FetchTimeout):
        fetch_command(magnet, [], tmp_path / "dest", 1, out=io.StringIO(), err=err)
    assert err.getvalue().count("warning:") == 1 and "x.pe=peer.example:6881" in err.getvalue()


def test_tracker_urls_follow_the_policy():
    policy = AddressPolicy()
    assert policy.allow_tracker("http://127.0.0.1:6969/announce") == "http://127.0.0.1:6969/announce"
    for url, why in [("http://tracker.example:6969/announce", "IP address"),
                     ("http://192.0.2.1:6969/announce", "loopback-only"),
                     ("ftp://127.0.0.1/announce", "not a tracker URL"),
                     ("udp://127.0.0.1/announce", "no port"),
                     ("http://127.0.0.1:99999/announce", "bad port")]:
        with pytest.raises(TorrentError, match=why):
            policy.allow_tracker(url)


def test_a_torrents_trackers_are_used_only_when_asked(shared_file, tmp_path):
    t = make_torrent(shared_file, trackers=["http://127.0.0.1:9/announce"])
    with TorrentSession() as s:
        transfer = s.add(t, tmp_path / "a", [("127.0.0.1", closed_port())])
        assert transfer.trackers == []
        s.remove(transfer)
        transfer = s.add(t, tmp_path / "b", use_trackers=True)
        assert transfer.trackers == ["http://127.0.0.1:9/announce"]
    with TorrentSession() as s, pytest.raises(TorrentError, match="IP address"):
        s.add(make_torrent(shared_file, trackers=["http://tracker.example/announce"]), tmp_path / "c",
              use_trackers=True)
    assert not (tmp_path / "c").exists()

