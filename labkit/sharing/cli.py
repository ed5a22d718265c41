"""``python -m labkit share`` and ``python -m labkit fetch``: the BitTorrent commands.

``share BLOCKS_FILE`` seeds a file and prints a magnet link that carries this
peer's address; ``--torrent FILE`` also writes its .torrent (for other clients),
``--tracker URL`` announces it to a tracker the user names, ``--peer HOST:PORT``
connects out to a peer. ``fetch MAGNET_OR_TORRENT`` downloads it with a
progress bar, from the magnet link's peers, ``--peer`` and, with
``--use-trackers``, the trackers the torrent or magnet link names.
Both stay on 127.0.0.1 unless ``--listen`` asks for classroom LAN mode.

These are the only functions of the BitTorrent code that print. This module
imports libtorrent (through :mod:`labkit.sharing.session`) only when a command
runs, so registering the subcommands stays cheap.
"""

from __future__ import annotations

import argparse
import math
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence, TextIO

from .. import arguments
from ..errors import TorrentError

if TYPE_CHECKING:
    from .transfer import TransferStatus

__all__ = ["add_subcommands", "share_command", "fetch_command"]


def share_command(
    path: str | os.PathLike,
    *,
    listen: str | None = None,
    lsd: bool = False,
    trackers: Sequence[str] = (),
    peers: Sequence[str] = (),
    torrent_file: str | os.PathLike | None = None,
    progress: Callable[["TransferStatus"], None] | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Seed ``path`` until Ctrl-C (or until ``stop`` is set); print its magnet link. Returns 0.

    Without ``listen`` it shares on 127.0.0.1 only (other terminals of this
    machine); ``listen="192.168.1.10:6881"`` shares on a classroom LAN.
    ``torrent_file`` is where to write the .torrent (it names ``trackers``);
    ``peers`` ("HOST:PORT") are connected to. Every address is checked before
    anything is written. ``progress`` gets a TransferStatus every second
    (default: a status line).
    """
    from .metainfo import make_torrent
    from .session import TorrentSession

    out = out or sys.stdout
    report = progress or _status_line(out)
    _check_share_file(path)
    if torrent_file is not None:
        _check_output_file(torrent_file)
    with TorrentSession(listen=listen, lsd=lsd) as session:
        trackers = session.allow_trackers(trackers)
        addresses = [session.allow(p) for p in peers]
        torrent = make_torrent(path, trackers=trackers)
        transfer = session.seed(path, torrent, trackers=trackers)
        if torrent_file is not None:
            torrent.save(torrent_file)
        for address in addresses:
            transfer.connect(address)
        host, port = session.address
        print(f"sharing {transfer.name} ({torrent.size:,} bytes, "
              f"info-hash {transfer.info_hash}) on {host}:{port}", file=out)
        print(session.magnet(transfer), file=out)
        if torrent_file is not None:
            print(f"wrote {torrent_file}", file=out)
        for url in trackers:
            print(f"announcing to {url}", file=out)
        if listen is None:
            print("(this machine only; use --listen YOUR_LAN_ADDRESS:6881 to share on a LAN)", file=out)
        print("press Ctrl-C to stop", file=out, flush=True)
        last, told = 0.0, 0
        try:
            while not (stop and stop.is_set()):
                session.poll(0.2)  # short waits, so Ctrl-C is handled at once
                for message in transfer.tracker_errors[told:]:  # a tracker that cannot be reached says so
                    print(f"\ntracker: {message}", file=out, flush=True)
                told = len(transfer.tracker_errors)
                if time.monotonic() - last >= 1.0:
                    last = time.monotonic()
                    report(transfer.status())
        except KeyboardInterrupt:
            pass
        print("\nstopped sharing", file=out, flush=True)
    return 0


def fetch_command(
    source: str,
    peers: Sequence[str] = (),
    dest: str | os.PathLike = ".",
    timeout: float = 120.0,
    *,
    listen: str | None = None,
    trackers: Sequence[str] = (),
    use_trackers: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Fetch a magnet link or .torrent from ``peers`` ("HOST:PORT") into ``dest`` with a progress bar.

    Returns 0 once the file is complete and checked; errors (TorrentError,
    FetchTimeout) propagate to the caller, before anything is written when
    the input is bad. The session listens on 127.0.0.1 and accepts loopback
    peers only, unless ``listen`` names a LAN address (classroom LAN mode).
    Peers of a magnet link that cannot be used (a host name, a bad port) are
    reported on ``err``, one warning line each.
    """
    from tqdm import tqdm

    from .metainfo import load_source
    from .session import TorrentSession

    out, err = out or sys.stdout, err or sys.stderr
    if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise TorrentError(f"the time-out must be a positive number of seconds, not {timeout!r}")
    item = load_source(source)
    for value in getattr(item, "ignored_peers", ()):
        print(f"warning: not using x.pe={value} from the magnet link: peers must be IP:PORT "
              f"with a port 1-65535 (labkit does no DNS look-ups)", file=err)
    with TorrentSession(listen=listen) as session:
        transfer = session.add(item, dest, peers, trackers=trackers, use_trackers=use_trackers)
        bar = tqdm(total=getattr(item, "size", None), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=item.name or item.info_hash[:12], file=out)

        def show(status: "TransferStatus") -> None:
            if bar.total is None and transfer.torrent is not None:
                bar.total = transfer.torrent.size
            if bar.total:
                bar.n = int(status.progress * bar.total)
            bar.set_postfix(peers=status.peers, state=status.state, refresh=False)
            bar.refresh()

        try:
            path = transfer.wait(timeout, show)
        except BaseException:
            transfer.cancel()
            raise
        finally:
            bar.close()
    print(f"fetched {path} (every piece passed its hash check)", file=out)
    return 0


def _status_line(out: TextIO) -> Callable[["TransferStatus"], None]:
    def show(status: "TransferStatus") -> None:
        print(f"\rpeers {status.peers:3d}   uploaded {status.uploaded / 1e6:9.2f} MB   "
              f"{status.upload_rate / 1e3:8.1f} kB/s", end="", file=out, flush=True)

    return show


def _check_share_file(path: str | os.PathLike) -> None:
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise TorrentError(f"cannot share {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise TorrentError(f"cannot share {path}: it is {what}; labkit shares one file")


def _check_output_file(path: str | os.PathLike) -> None:
    path = Path(path)
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise TorrentError(f"cannot write the torrent to {path}: it is not a regular file")
    if not path.parent.is_dir():
        raise TorrentError(f"cannot write the torrent to {path}: no folder {path.parent}")


# --- argparse glue ---------------------------------------------------------------


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``share`` and ``fetch`` on the main parser's subparsers (handlers return an exit code)."""
    share = subparsers.add_parser("share", help="seed a blocks file over BitTorrent and print its magnet link")
    share.add_argument("blocks_file", metavar="BLOCKS_FILE", help="the file to share")
    share.add_argument("--listen", metavar="HOST:PORT",
                       help="classroom LAN mode: the address to listen on, e.g. 192.168.1.10:6881 "
                            "(default: 127.0.0.1 only, a free port)")
    share.add_argument("--lsd", action="store_true",
                       help="also announce the file on the LAN by local service discovery (needs --listen)")
    share.add_argument("--torrent", metavar="FILE", help="also write the .torrent to FILE (for other clients)")
    share.add_argument("--tracker", action="append", default=[], metavar="URL",
                       help="announce to this tracker, named by IP address (repeatable; none by default)")
    share.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                       help="connect to this peer (repeatable)")
    share.set_defaults(func=_share_main)

    fetch = subparsers.add_parser("fetch", help="download a file shared with `share`, checking every piece")
    fetch.add_argument("source", metavar="MAGNET_OR_TORRENT", help="a magnet link or a .torrent file")
    fetch.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                       help="a peer that has the file (repeatable; the magnet link's x.pe peers are added)")
    fetch.add_argument("--dest", default=".", metavar="DIR", help="folder to save the file in (default: .)")
    fetch.add_argument("--timeout", type=arguments.seconds(0.1, 86400), default=120.0, metavar="S",
                       help="give up after this many seconds, 0.1 to 86400 (default: 120)")
    fetch.add_argument("--listen", metavar="HOST:PORT",
                       help="classroom LAN mode: the address to listen on (default: 127.0.0.1 only)")
    fetch.add_argument("--tracker", action="append", default=[], metavar="URL",
                       help="also ask this tracker for peers (repeatable)")
    fetch.add_argument("--use-trackers", action="store_true",
                       help="ask the trackers the torrent or magnet link names (default: none)")
    fetch.set_defaults(func=_fetch_main)


def _share_main(args: argparse.Namespace) -> int:
    if args.lsd and not args.listen:
        print("error: --lsd needs --listen (local service discovery is for classroom LANs only)", file=sys.stderr)
        return 2
    return share_command(args.blocks_file, listen=args.listen, lsd=args.lsd, trackers=args.tracker,
                         peers=args.peer, torrent_file=args.torrent)


def _fetch_main(args: argparse.Namespace) -> int:
    if not (args.peer or args.tracker or args.use_trackers or args.source.startswith("magnet:")):
        print("error: give at least one --peer HOST:PORT (or --use-trackers)", file=sys.stderr)
        return 2
    return fetch_command(args.source, args.peer, args.dest, args.timeout, listen=args.listen,
                         trackers=args.tracker, use_trackers=args.use_trackers)
