"""Bad input on the command line (issue 12): share and fetch.

Each row is one bad invocation, run through the real command line by
``badinput.run_case``: one ``error:`` line on stderr naming what is wrong,
exit 2, no traceback, no hang, and the folder exactly as it was (so a
refused fetch made no destination folder and no ``.labkit-partial``).
Every row but one is refused before a packet is sent; nothing here needs a peer
(the one fetches from a closed port until its time-out).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from pathlib import Path

import pytest

from badinput import ROOT, Case, run_case
from launcher import Launch, run_labkit

LOCAL = "127.0.0.1:6881"  # a well-formed peer; no row gets far enough to contact it
ARABIC_80 = "\u0668\u0660"  # "80" in Arabic-Indic digits: str.isdigit() says yes


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- setups ------------------------------------------------------------------------------------------


def blocks(folder: Path) -> Path:
    path = folder / "blocks.jsonl"
    path.write_bytes(random.Random(0).randbytes(40 * 1024))
    return path


def with_torrent(folder: Path, extra: bytes = b"") -> None:
    from labkit.sharing.metainfo import make_torrent

    data = make_torrent(blocks(folder)).data
    (folder / "blocks.torrent").write_bytes(data + extra)


def fifo(name: str):
    def setup(folder: Path) -> None:
        blocks(folder)
        os.mkfifo(folder / name)
    return setup


def folder_named(name: str, *, torrent: bool = False):
    def setup(folder: Path) -> None:
        (with_torrent if torrent else blocks)(folder)
        (folder / name).mkdir()
    return setup


def multi_file_torrent(folder: Path) -> None:
    import libtorrent as lt

    (folder / "one").mkdir()
    blocks(folder / "one")
    creator = lt.create_torrent(lt.list_files(str(folder / "one")), 0, lt.create_torrent.v1_only)
    lt.set_piece_hashes(creator, str(folder))
    (folder / "blocks.torrent").write_bytes(lt.bencode(creator.generate()))


def read_only_dest(folder: Path) -> None:
    with_torrent(folder)
    (folder / "dest").mkdir()
    os.chmod(folder / "dest", 0o555)


def dest_holds_a_folder(folder: Path) -> None:
    with_torrent(folder)
    (folder / "dest" / "blocks.jsonl").mkdir(parents=True)


def dest_is_a_file(folder: Path) -> None:
    with_torrent(folder)
    (folder / "dest").write_text("not a folder")


def garbage_torrent(folder: Path) -> None:
    (folder / "blocks.torrent").write_bytes(b"this is not bencoding")


MAGNET = "magnet:?xt=urn:btih:" + "ab" * 20 + "&dn=blocks.jsonl"


def share(*args: str) -> tuple[str, ...]:
    return ("share", "blocks.jsonl", *args)


def fetch(*args: str, peer: str | None = LOCAL) -> tuple[str, ...]:
    return ("fetch", "blocks.torrent", *(("--peer", peer) if peer else ()), "--dest", "new", *args)


CASES = [
    # --- share: addresses
    Case("share --listen with a port that is not a number", share("--listen", "127.0.0.1:abc"), blocks,
         error_words="port 0-65535"),
    Case("share --listen with a port out of range", share("--listen", "127.0.0.1:70000"), blocks,
         error_words="port 0-65535"),
    Case("share --listen with a negative port", share("--listen", "127.0.0.1:-1"), blocks,
         error_words="port 0-65535"),
    Case("share --listen with Arabic-Indic digits", share("--listen", f"127.0.0.1:{ARABIC_80}"), blocks,
         error_words="port 0-65535"),
    Case("share --listen with a superscript digit", share("--listen", "127.0.0.1:8\u00b2"), blocks,
         error_words="port 0-65535"),
    Case("share --listen on every interface", share("--listen", "0.0.0.0:6881"), blocks,
         error_words="cannot listen"),
    Case("share --listen on a multicast address", share("--listen", "224.0.0.1:6881"), blocks,
         error_words="cannot listen"),
    Case("share --listen on the broadcast address", share("--listen", "255.255.255.255:6881"), blocks,
         error_words="cannot listen"),
    Case("share --lsd without --listen", share("--lsd"), blocks, error_words="--lsd needs --listen"),
    Case("share --peer with port 0", share("--peer", "127.0.0.1:0"), blocks, error_words="bad peer port"),
    Case("share --peer with a host name", share("--peer", "peer.example:6881"), blocks,
         error_words="IP addresses"),
    Case("share --peer elsewhere from a loopback session", share("--peer", "192.0.2.1:6881"), blocks,
         error_words="loopback-only"),
    Case("share --tracker named by host name", share("--tracker", "http://tracker.example:6969/announce"),
         blocks, error_words="IP address"),
    Case("share --tracker elsewhere from a loopback session", share("--tracker", "http://192.0.2.1:6969/announce"),
         blocks, error_words="loopback-only"),
    Case("share --tracker that is not a tracker URL", share("--tracker", "ftp://127.0.0.1/announce"), blocks,
         error_words="not a tracker URL"),
    # --- share: files
    Case("share a file that does not exist", share(), None, error_words="cannot share"),
    Case("share a folder", ("share", "folder"), folder_named("folder"), error_words="a folder"),
    Case("share a FIFO", ("share", "pipe"), fifo("pipe"), error_words="not a regular file"),
    Case("share an empty file", ("share", "empty"), lambda f: (f / "empty").write_bytes(b""),
         error_words="empty"),
    Case("share --torrent into a FIFO", share("--torrent", "pipe"), fifo("pipe"),
         error_words="not a regular file"),
    Case("share --torrent into a folder", share("--torrent", "out"), folder_named("out"),
         error_words="not a regular file"),
    Case("share --torrent into a missing folder", share("--torrent", "nowhere/blocks.torrent"), blocks,
         error_words="no folder"),
    # --- fetch: numbers and addresses
    Case("fetch --timeout nan", fetch("--timeout", "nan"), with_torrent, error_words="time-out"),
    Case("fetch --timeout inf", fetch("--timeout", "inf"), with_torrent, error_words="time-out"),
    Case("fetch --timeout negative", fetch("--timeout", "-5"), with_torrent, error_words="time-out"),
    Case("fetch --timeout 0", fetch("--timeout", "0"), with_torrent, error_words="time-out"),
    Case("fetch --timeout in Arabic-Indic digits", fetch("--timeout", "\u0663"), with_torrent, error_words="time-out"),
    Case("fetch --timeout with an exponent", fetch("--timeout", "1e3"), with_torrent, error_words="time-out"),
    Case("fetch --peer with port 0 makes no destination", fetch(peer="127.0.0.1:0"), with_torrent,
         error_words="bad peer port"),
    Case("fetch --peer with a port that is not a number", fetch(peer="127.0.0.1:abc"), with_torrent,
         error_words="port 0-65535"),
    Case("fetch --peer with Arabic-Indic digits", fetch(peer=f"127.0.0.1:{ARABIC_80}"), with_torrent,
         error_words="port 0-65535"),
    Case("fetch --peer with a host name", fetch(peer="peer.example:6881"), with_torrent,
         error_words="IP addresses"),
    Case("fetch --peer elsewhere from a loopback session", fetch(peer="192.0.2.1:6881"), with_torrent,
         error_words="loopback-only"),
    Case("fetch --peer on the broadcast address", fetch(peer="255.255.255.255:6881"), with_torrent,
         error_words="broadcast"),
    Case("fetch --peer on an IPv4-mapped public address", fetch(peer="[::ffff:192.0.2.1]:6881"), with_torrent,
         error_words="loopback-only"),
    Case("fetch a magnet link naming a peer elsewhere", ("fetch", MAGNET + "&x.pe=192.0.2.1:6881", "--dest", "new"),
         None, error_words="loopback-only"),
    Case("fetch --listen on a multicast address", fetch("--listen", "239.1.2.3:6881"), with_torrent,
         error_words="cannot listen"),
    Case("fetch --listen with a port out of range", fetch("--listen", "127.0.0.2:65536"), with_torrent,
         error_words="port 0-65535"),
    Case("fetch --tracker named by host name", fetch("--tracker", "http://tracker.example/announce"),
         with_torrent, error_words="IP address"),
    Case("fetch a .torrent without a peer", fetch(peer=None), with_torrent, error_words="--peer"),
    # the one row that gets as far as a session: a peer that never answers, and nothing left behind
    Case("fetch that times out leaves no partial folder", fetch("--timeout", "1", peer=f"127.0.0.1:{closed_port()}"),
         with_torrent, error_words="timed out after 1 s at 0%", folder_times=False),
    # --- fetch: the .torrent
    Case("fetch a missing .torrent", fetch(), None, error_words="cannot read"),
    Case("fetch a folder as the .torrent", fetch(), folder_named("blocks.torrent"), error_words="folder"),
    Case("fetch a FIFO as the .torrent", fetch(), fifo("blocks.torrent"), error_words="special file"),
    Case("fetch a garbage .torrent", fetch(), garbage_torrent, error_words="not a valid .torrent"),
    Case("fetch a .torrent with bytes after the metainfo", fetch(), lambda f: with_torrent(f, b"junk"),
         error_words="after the metainfo"),
    Case("fetch a multi-file .torrent holding one file", fetch(), multi_file_torrent,
         error_words="one file per torrent"),
    Case("fetch a magnet link without an info-hash", ("fetch", "magnet:?dn=blocks.jsonl", "--dest", "new"), None,
         error_words="magnet link"),
    # --- fetch: the destination
    Case("fetch into a read-only folder", ("fetch", "blocks.torrent", "--peer", LOCAL, "--dest", "dest"),
         read_only_dest, error_words="cannot save into", unprivileged=True),
    Case("fetch where the file's path is a folder", ("fetch", "blocks.torrent", "--peer", LOCAL, "--dest", "dest"),
         dest_holds_a_folder, error_words="is a folder"),
    Case("fetch into a file", ("fetch", "blocks.torrent", "--peer", LOCAL, "--dest", "dest"), dest_is_a_file,
         error_words="not a folder"),
]


def test_every_row_has_its_own_name():
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_sharing_input_gets_one_error_line_and_changes_nothing(case, tmp_path):
    run_case(case, tmp_path)


def test_a_command_line_that_outlasts_its_time_out_is_killed(tmp_path):
    """The harness's own time-out (tests/launcher.py): a fetch told to wait a minute for a peer that never
    answers is killed after one second, and the test hears of it as a hang."""
    with_torrent(tmp_path)
    launch = Launch(fetch("--timeout", "60", peer=f"127.0.0.1:{closed_port()}"), str(tmp_path),
                    {**os.environ, "PYTHONPATH": str(ROOT)}, 1.0)
    with pytest.raises(subprocess.TimeoutExpired):
        run_labkit(launch)
    # and the next command line runs as ever: the server was not left waiting on the killed one
    assert run_labkit(Launch(("verify", "missing.jsonl"), str(tmp_path), launch.env, 30.0)).returncode == 2
