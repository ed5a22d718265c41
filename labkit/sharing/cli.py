"""``python -m labkit share`` and ``python -m labkit fetch``: the BitTorrent commands.

``share BLOCKS_FILE`` seeds a file and prints a magnet link that carries this
peer's address; ``fetch MAGNET_OR_TORRENT --peer HOST:PORT`` downloads it with
a progress bar. These are the only functions of the BitTorrent code that print.
This module imports libtorrent (through ``labkit.torrent``) only when a command
runs, so registering the subcommands stays cheap.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence, TextIO

if TYPE_CHECKING:
    from .torrent import TransferStatus

__all__ = ["add_subcommands", "share_command", "fetch_command"]


def share_command(
    path: str | os.PathLike,
    *,
    listen: str | None = None,
    lsd: bool = False,
    progress: Callable[["TransferStatus"], None] | None = None,
    stop: threading.Event | None = None,
    out: TextIO | None = None,
) -> int:
    """Seed ``path`` until Ctrl-C (or until ``stop`` is set); print its magnet link. Returns 0.

    Without ``listen`` it shares on 127.0.0.1 only (other terminals of this
    machine); ``listen="192.168.1.10:6881"`` shares on a classroom LAN.
    ``progress`` gets a TransferStatus every second (default: a status line).
    """
    from .torrent import PeerSession

    out = out or sys.stdout
    report = progress or _status_line(out)
    with PeerSession(listen=listen, lsd=lsd) as session:
        transfer = session.seed(path)
        host, port = session.address
        print(f"sharing {transfer.name} ({transfer.torrent.size:,} bytes, "
              f"info-hash {transfer.info_hash}) on {host}:{port}", file=out)
        print(session.magnet(transfer), file=out)
        if listen is None:
            print("(this machine only; use --listen YOUR_LAN_ADDRESS:6881 to share on a LAN)", file=out)
        print("press Ctrl-C to stop", file=out, flush=True)
        last = 0.0
        try:
            while not (stop and stop.is_set()):
                session.poll(0.2)  # short waits, so Ctrl-C is handled at once
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
    out: TextIO | None = None,
) -> int:
    """Fetch a magnet link or .torrent from ``peers`` ("HOST:PORT") into ``dest`` with a progress bar.

    Returns 0 once the file is complete and checked; errors (TorrentError,
    FetchTimeout) propagate to the caller. A session listens on 127.0.0.1 when
    every peer is on this machine, else on ``listen`` (default: every
    interface, port chosen by the system).
    """
    from tqdm import tqdm

    from .torrent import PeerSession, _address, _in, _LOOPBACK, _load_source

    out = out or sys.stdout
    item = _load_source(source)
    addresses = [_address(p) for p in peers]
    named = addresses + list(getattr(item, "peers", ()))
    if listen is None and any(not _in(host, _LOOPBACK) for host, _ in named):
        listen = "0.0.0.0:0"
    with PeerSession(listen=listen) as session:
        bar = tqdm(total=getattr(item, "size", None), unit="B", unit_scale=True, unit_divisor=1024,
                   desc=item.name or item.info_hash[:12], file=out)

        def show(status: "TransferStatus") -> None:
            transfer = session.transfers[0] if session.transfers else None
            if bar.total is None and transfer is not None and transfer.torrent is not None:
                bar.total = transfer.torrent.size
            if bar.total:
                bar.n = int(status.progress * bar.total)
            bar.set_postfix(peers=status.peers, state=status.state, refresh=False)
            bar.refresh()

        try:
            path = session.fetch(item, dest, addresses, timeout=timeout, progress=show)
        finally:
            bar.close()
    print(f"fetched {path} (every piece passed its SHA-1 check)", file=out)
    return 0


def _status_line(out: TextIO) -> Callable[["TransferStatus"], None]:
    def show(status: "TransferStatus") -> None:
        print(f"\rpeers {status.peers:3d}   uploaded {status.uploaded / 1e6:9.2f} MB   "
              f"{status.upload_rate / 1e3:8.1f} kB/s", end="", file=out, flush=True)

    return show


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
    share.set_defaults(func=_share_main)

    fetch = subparsers.add_parser("fetch", help="download a file shared with `share`, checking every piece")
    fetch.add_argument("source", metavar="MAGNET_OR_TORRENT", help="a magnet link or a .torrent file")
    fetch.add_argument("--peer", action="append", default=[], metavar="HOST:PORT",
                       help="a peer that has the file (repeatable; the magnet link's x.pe peers are added)")
    fetch.add_argument("--dest", default=".", metavar="DIR", help="folder to save the file in (default: .)")
    fetch.add_argument("--timeout", type=float, default=120.0, metavar="S",
                       help="give up after this many seconds (default: 120)")
    fetch.add_argument("--listen", metavar="HOST:PORT", help="the address to listen on when peers are on a LAN")
    fetch.set_defaults(func=_fetch_main)


def _share_main(args: argparse.Namespace) -> int:
    if args.lsd and not args.listen:
        print("error: --lsd needs --listen (local service discovery is for classroom LANs only)", file=sys.stderr)
        return 2
    if not Path(args.blocks_file).is_file():
        print(f"error: {args.blocks_file} is not a file", file=sys.stderr)
        return 2
    return share_command(args.blocks_file, listen=args.listen, lsd=args.lsd)


def _fetch_main(args: argparse.Namespace) -> int:
    if not args.peer and not args.source.startswith("magnet:"):
        print("error: give at least one --peer HOST:PORT", file=sys.stderr)
        return 2
    try:
        return fetch_command(args.source, args.peer, args.dest, args.timeout, listen=args.listen)
    except ValueError as exc:  # a malformed HOST:PORT
        print(f"error: {exc}", file=sys.stderr)
        return 2
