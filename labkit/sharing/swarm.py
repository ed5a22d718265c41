"""A swarm on this machine: one seeder and N peers on 127.0.0.1, and what BitTorrent buys.

``LocalSwarm`` runs one seeder and N peers, each its own
:class:`~labkit.sharing.session.TorrentSession`, and reports when each peer finished and
what each uploaded. ``swarm_experiment`` measures, for N = 1, 2, 4, 8, the
time for all peers to get a file from a seeder with a capped upload, with
BitTorrent (peers trade pieces) against one server (peers can only ask the
seeder), both for real. ``distribute`` is how ``python -m labkit demo`` hands
the blocks file to the other peers.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import FetchTimeout
from .addresses import format_address
from .metainfo import TorrentFile, make_torrent
from .session import TorrentSession
from .transfer import TransferStatus

if TYPE_CHECKING:
    import pandas

__all__ = [
    "PeerReport",
    "SwarmResult",
    "LocalSwarm",
    "SWARM_SEEDER_SETTINGS",
    "SWARM_PEER_SETTINGS",
    "swarm_experiment",
    "distribute",
]


@dataclass(frozen=True)
class PeerReport:
    """What one peer of a swarm did."""

    name: str  # "seeder", "peer 1", "peer 2", ...
    address: str  # "127.0.0.1:PORT"
    finished_s: float | None  # seconds from the start until it had every piece (None for the seeder)
    downloaded: int  # bytes of file data received
    uploaded: int  # bytes of file data sent
    hash_failures: int
    path: Path


@dataclass(frozen=True)
class SwarmResult:
    """The outcome of a :class:`LocalSwarm` run."""

    torrent: TorrentFile
    exchange: bool  # True: BitTorrent (peers trade pieces); False: one server
    upload_limit: int | None  # the seeder's upload cap, bytes/s
    seconds: float  # from the start until the last peer had the whole file
    reports: tuple[PeerReport, ...]  # the seeder first, then the peers

    @property
    def paths(self) -> tuple[Path, ...]:
        """The peers' copies of the file, in the order of their destinations."""
        return tuple(r.path for r in self.reports[1:])

    @property
    def seeder(self) -> PeerReport:
        return self.reports[0]

    def peers_frame(self) -> "pandas.DataFrame":
        """One row per peer, the seeder first: when it finished, what it downloaded and uploaded."""
        import pandas as pd

        frame = pd.DataFrame(
            [(r.name, r.address, r.finished_s, r.downloaded, r.uploaded, r.hash_failures) for r in self.reports],
            columns=["peer", "address", "finished_s", "downloaded_bytes", "uploaded_bytes", "hash_failures"],
        ).set_index("peer")
        frame.attrs.update(file_size=self.torrent.size, exchange=self.exchange, upload_limit=self.upload_limit,
                           seconds=self.seconds)
        return frame


# A seeder that queues only a few requests per peer, so peers cannot reserve seconds of its
# pieces ahead (slow start grows a peer's queue up to what the seeder accepts, 2000 by default).
SWARM_SEEDER_SETTINGS: Mapping[str, Any] = {"max_allowed_in_request_queue": 4}
# Peers that pick pieces rarest-first one by one, not in contiguous runs (which libtorrent
# prefers from fast peers, and which makes every peer ask the seeder for the same pieces).
SWARM_PEER_SETTINGS: Mapping[str, Any] = {"whole_pieces_threshold": 0}


class LocalSwarm:
    """One seeder and N peers, each its own TorrentSession on 127.0.0.1, fetching one file.

    ``exchange=True`` is BitTorrent: every peer is told every other peer's
    address (as a tracker would) and peer exchange is on, so peers trade the
    pieces they already have. ``exchange=False`` is the one-server baseline:
    peers know only the seeder, and peer exchange is off on every torrent (the
    seeder would otherwise tell peers about each other), so with DHT and LSD
    off no peer can learn another's address and every byte comes from the
    seeder; the result reports each peer's upload, which is then 0.

    ``upload_limit`` caps the seeder's upload (bytes/s, whole session); peers
    are not capped. Copies go to ``dest_dirs`` or to ``work_dir/peer-N/``
    (a new temporary folder by default, left for you to look at).

    With libtorrent's defaults a rate-limited seeder sends the file 1.6-2.5
    times over (measured, 4 MiB at 1 MiB/s, 2-8 peers): peers reserve seconds'
    worth of its pieces ahead and pick them in contiguous runs, so they ask it
    for the same pieces. ``SWARM_SEEDER_SETTINGS`` and ``SWARM_PEER_SETTINGS``
    (the defaults) fix both, and the seeder sends each piece about once (1.0-1.4 times).
    """

    def __init__(self, path: str | os.PathLike, peers: int = 3, *,
                 dest_dirs: Sequence[str | os.PathLike] | None = None, upload_limit: int | None = None,
                 exchange: bool = True, work_dir: str | os.PathLike | None = None, overwrite: bool = False,
                 seeder_settings: Mapping[str, Any] = SWARM_SEEDER_SETTINGS,
                 peer_settings: Mapping[str, Any] = SWARM_PEER_SETTINGS):
        self.path = Path(path)
        self.seeder_settings = dict(seeder_settings)
        self.peer_settings = dict(peer_settings)
        if dest_dirs is None:
            if peers < 1:
                raise ValueError("a swarm needs at least one peer")
            root = Path(work_dir) if work_dir is not None else Path(tempfile.mkdtemp(prefix="labkit-swarm-"))
            dest_dirs = [root / f"peer-{i}" for i in range(1, peers + 1)]
        if not dest_dirs:
            raise ValueError("a swarm needs at least one destination")
        self.dest_dirs = [Path(d) for d in dest_dirs]
        self.upload_limit = upload_limit
        self.exchange = exchange
        self.overwrite = overwrite

    def run(self, *, timeout: float = 120.0, torrent: TorrentFile | None = None,
            progress: Callable[[str, TransferStatus], None] | None = None, interval: float = 0.25,
            announce: Callable[[str], None] | None = None) -> SwarmResult:
        """Seed, let every peer fetch, and report; ``progress(peer_name, status)`` for each peer.

        ``announce(magnet)`` receives the seeder's magnet link as soon as it seeds.
        """
        torrent = torrent or make_torrent(self.path)
        names = [f"peer {i}" for i in range(1, len(self.dest_dirs) + 1)]
        with ExitStack() as stack:
            seeder = stack.enter_context(TorrentSession(upload_limit=self.upload_limit, settings=self.seeder_settings))
            seed = seeder.seed(self.path, torrent, pex=self.exchange)
            if announce:
                announce(seeder.magnet(seed))
            sessions = [stack.enter_context(TorrentSession(settings=self.peer_settings)) for _ in self.dest_dirs]
            start = time.monotonic()
            transfers = [s.add(torrent, d, pex=self.exchange, overwrite=self.overwrite)
                         for s, d in zip(sessions, self.dest_dirs)]
            # connect only once every peer has the torrent, so no first handshake is refused
            for i, transfer in enumerate(transfers):
                if not transfer.complete:
                    transfer.connect(seeder.address)
                    if self.exchange:
                        for j, other in enumerate(sessions):
                            if j != i:
                                transfer.connect(other.address)
            deadline = start + timeout
            last_report = 0.0
            while not all(t.complete for t in transfers):
                seeder.poll(0.02)
                for session in sessions:
                    session.poll()
                for transfer in transfers:
                    if transfer.error:
                        raise transfer.error
                now = time.monotonic()
                if progress and now - last_report >= interval:
                    last_report = now
                    for name, transfer in zip(names, transfers):
                        progress(name, transfer.status())
                if now > deadline:
                    worst = min(transfers, key=lambda t: t.status().progress)
                    raise FetchTimeout(worst.name, worst.peers_tried, timeout, worst.status().progress)
            seconds = max(t.finished_s or 0.0 for t in transfers)
            if progress:
                for name, transfer in zip(names, transfers):
                    progress(name, transfer.status())
            st = seed.status()
            reports = [PeerReport("seeder", format_address(seeder.address), None, st.downloaded, st.uploaded,
                                  st.hash_failures, self.path)]
            for name, session, transfer in zip(names, sessions, transfers):
                st = transfer.status()
                reports.append(PeerReport(name, format_address(session.address), transfer.finished_s,
                                          st.downloaded, st.uploaded, st.hash_failures, transfer.path))
        return SwarmResult(torrent, self.exchange, self.upload_limit, seconds, tuple(reports))


def distribute(path: str | os.PathLike, dest_dirs: Sequence[str | os.PathLike], *,
               upload_limit: int | None = None, timeout: float = 120.0, overwrite: bool = True,
               progress: Callable[[str, TransferStatus], None] | None = None,
               announce: Callable[[str], None] | None = None) -> SwarmResult:
    """Share ``path`` by BitTorrent on 127.0.0.1 into every folder of ``dest_dirs``.

    The file's owner seeds it; one peer per destination fetches it (the peers
    trade pieces) and checks every piece. ``result.paths`` are the copies, in
    the order of ``dest_dirs``; ``result.reports`` the per-peer figures. An older
    file of the same name in a destination is replaced (``overwrite=False``
    raises TorrentError instead). ``progress`` and ``announce`` are :meth:`LocalSwarm.run`'s.
    """
    swarm = LocalSwarm(path, dest_dirs=dest_dirs, upload_limit=upload_limit, exchange=True, overwrite=overwrite)
    return swarm.run(timeout=timeout, progress=progress, announce=announce)


def swarm_experiment(
    source: int | str | os.PathLike = 2 << 20,
    ns: Sequence[int] = (1, 2, 4, 8),
    *,
    upload_limit: int = 1 << 20,
    work_dir: str | os.PathLike | None = None,
    timeout: float = 120.0,
    progress: Callable[[SwarmResult], None] | None = None,
) -> "pandas.DataFrame":
    """Time BitTorrent against one server for N = each of ``ns`` peers, measured for real.

    ``source`` is a file, or a size in bytes for a file of random bytes (fixed
    seed). For each N, two :class:`LocalSwarm` runs with the same seeder upload
    cap (``upload_limit`` bytes/s): peers that trade pieces (BitTorrent) and
    peers that can only ask the seeder (one server). With N = 1 the two are the
    same swarm (a lone peer has no one to trade with, so it gets every byte from
    the seeder either way): it runs once and fills both columns. Expect
    BitTorrent to stay near size/cap as N grows while one server grows like
    N x size/cap.

    Columns: peers, bittorrent_s, one_server_s, ratio (one_server_s /
    bittorrent_s), bittorrent_seeder_bytes, one_server_seeder_bytes (what the
    seeder uploaded). The defaults (2 MiB at 1 MiB/s, N up to 8) take about 50 s on a
    2-core machine, most of it the one-server run with 8 peers (~17 s).
    ``progress(result)`` is called once per column filled, 2 x len(ns) times in
    all (twice with the same result for N = 1).
    """
    import pandas as pd

    with tempfile.TemporaryDirectory(prefix="labkit-experiment-", dir=work_dir) as tmp:
        root = Path(tmp)
        if isinstance(source, int):
            if source <= 0:
                raise ValueError("the file size must be positive")
            path = root / "blocks.bin"
            path.write_bytes(random.Random(0).randbytes(source))
        else:
            path = Path(source)
        torrent = make_torrent(path)
        rows = []
        for n in ns:
            row: dict[str, Any] = {"peers": n}
            result = None
            for exchange, label in ((True, "bittorrent"), (False, "one_server")):
                if result is None or n > 1:  # a lone peer has no one to trade with: one run is both
                    swarm = LocalSwarm(path, n, upload_limit=upload_limit, exchange=exchange,
                                       work_dir=root / f"{label}-{n}")
                    result = swarm.run(timeout=timeout, torrent=torrent)
                    shutil.rmtree(root / f"{label}-{n}", ignore_errors=True)
                row[f"{label}_s"] = result.seconds
                row[f"{label}_seeder_bytes"] = result.seeder.uploaded
                if progress:
                    progress(result)
            row["ratio"] = row["one_server_s"] / row["bittorrent_s"]
            rows.append(row)
    frame = pd.DataFrame(rows, columns=["peers", "bittorrent_s", "one_server_s", "ratio",
                                        "bittorrent_seeder_bytes", "one_server_seeder_bytes"])
    frame.attrs.update(file_size=torrent.size, upload_limit=upload_limit)
    return frame
