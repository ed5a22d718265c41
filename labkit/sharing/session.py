"""A libtorrent session that seeds and fetches single files, and the event loop that drives it.

- ``session_settings(listen)``: the libtorrent settings a session starts with.
  By default it listens on 127.0.0.1 only, with DHT, local service discovery,
  UPnP and NAT-PMP off; ``listen=`` binds a classroom LAN address instead, the
  only mode in which ``lsd=True`` may announce files on the LAN.
- ``TorrentSession``: one libtorrent session. It contacts no one but the peers
  and trackers it is given, and only those its :class:`AddressPolicy` allows
  (an IP filter enforces it); it uses a torrent's own trackers only when asked.
- Each file it fetches or shares is a :class:`~labkit.sharing.transfer.Transfer`.

A fetch ends only when every piece passed its hash check: the file is
downloaded under ``DEST/.labkit-partial/INFOHASH/``, moved into ``DEST`` when
complete, and hashed once more with :mod:`hashlib` before its path is returned.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..errors import InvalidTorrent, TorrentError
from .addresses import Address, AddressPolicy, format_address, listen_address, to_address
from .metainfo import (PARTIAL_DIR, Magnet, Source, TorrentFile, check_file, check_magnet, load_libtorrent,
                       load_source, magnet_link, make_torrent)
from .transfer import Progress, Transfer

__all__ = ["session_settings", "torrent_key", "TorrentSession"]

def torrent_key(hashes) -> str:
    """The hex info-hash labkit names a torrent by (v1 SHA-1, or SHA-256 if v2-only), from libtorrent's info_hash_t."""
    return str(hashes.v1) if hashes.has_v1() else str(hashes.v2)


def session_settings(
    listen: str | None = None,
    *,
    lsd: bool = False,
    upload_limit: int | None = None,
    download_limit: int | None = None,
) -> dict[str, Any]:
    """The libtorrent settings a TorrentSession starts with (the defaults are loopback-only).

    ``listen=None`` listens on 127.0.0.1 on a free port. A ``"HOST:PORT"``
    (HOST an address or an interface name such as eth0) is classroom LAN mode,
    the only mode in which ``lsd=True`` (local service discovery) is allowed;
    an unspecified (0.0.0.0, ::), broadcast or multicast HOST is refused.
    Limits are bytes per second (None: unlimited).
    """
    lib = load_libtorrent()
    if listen is None:
        if lsd:
            raise TorrentError("local service discovery needs classroom LAN mode: pass listen='ADDRESS:PORT' too")
        host, port = "127.0.0.1", 0
    else:
        host, port = listen_address(listen)
    category = lib.alert_category
    return {
        "listen_interfaces": format_address((host, port)),
        # outgoing connections leave from the listening address (or device), so peers can reach us back
        "outgoing_interfaces": host,
        "listen_system_port_fallback": False,  # a busy port is an error, not a silent other port
        "max_retry_port_bind": 0,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": bool(lsd),
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        # Peers may reach us by uTP (many clients prefer it); we connect out by TCP, which every client
        # accepts. Measured (tests/test_third_party.py, 4 MiB from aria2c, TCP-only): outgoing uTP first
        # waits out a uTP time-out per such peer, 5.0 s against 1.0 s; and 50 MB between two loopback
        # sessions took 0.6-4.6 s over uTP against 1.4-1.6 s over TCP on a busy 2-core machine.
        "enable_outgoing_utp": False,
        "enable_incoming_utp": True,
        # every local peer has the same IP; libtorrent would refuse the third one
        "allow_multiple_connections_per_ip": True,
        "tick_interval": 100,  # ms; the default 500 ms delays every handshake under a rate limit
        "min_reconnect_time": 1,  # s; peers of a swarm start within milliseconds of each other
        "aio_threads": 2,  # a swarm runs many sessions in one process
        "upload_rate_limit": int(upload_limit or 0),
        "download_rate_limit": int(download_limit or 0),
        # the default mask shows only errors; these carry listening, finished, hash failures, bans, moves
        "alert_mask": category.error | category.status | category.peer | category.storage | category.tracker,
        "user_agent": f"labkit libtorrent/{lib.__version__}",
    }


class TorrentSession:
    """One libtorrent session that seeds and fetches files.

    By default it listens on 127.0.0.1 only (a free port: see :attr:`address`),
    with DHT, local service discovery, UPnP and NAT-PMP off, and an IP filter
    that lets it talk to loopback addresses only: it contacts no one but the
    peers and trackers it is given. ``listen="192.168.1.10:6881"`` (or
    ``"eth0:6881"``) is classroom LAN mode: it binds that address and accepts
    private (RFC 1918, link-local) addresses plus any unicast address named
    explicitly; ``lsd=True`` then also announces its files on the LAN.

    ``upload_limit`` / ``download_limit`` (bytes/s) cap the whole session, for
    local and LAN peers too (libtorrent exempts those by default).
    ``settings`` overrides any libtorrent setting (see :func:`session_settings`).

    Use it as a context manager: on exit (errors and Ctrl-C included) it saves
    resume data for incomplete downloads, removes its torrents and shuts the
    session down. Not thread-safe: use a session from one thread.
    """

    def __init__(self, *, listen: str | None = None, lsd: bool = False,
                 upload_limit: int | None = None, download_limit: int | None = None,
                 settings: Mapping[str, Any] | None = None, listen_timeout: float = 5.0):
        lib = load_libtorrent()
        pack = session_settings(listen, lsd=lsd, upload_limit=upload_limit, download_limit=download_limit)
        pack.update(settings or {})
        self.policy = AddressPolicy(lan=listen is not None)
        self.upload_limit = upload_limit
        self.addresses: list[Address] = []  # where it listens (TCP)
        self._transfers: dict[str, Transfer] = {}
        self._closed = False
        # settings go to the constructor, so DHT, LSD, UPnP and NAT-PMP never start at all
        self._ses = lib.session(pack)
        try:
            self._apply_ip_filter()
            self._ses.set_peer_class_type_filter(self._peer_classes())
            self._wait_listening(pack["listen_interfaces"], listen_timeout)
        except BaseException:
            self._shutdown()
            raise

    # -- setup ------------------------------------------------------------------

    def _apply_ip_filter(self) -> None:
        lib = load_libtorrent()
        blocked = 1  # ip_filter.blocked
        f = lib.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", blocked)
        f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", blocked)
        for first, last in self.policy.ranges():
            f.add_rule(first, last, 0)
        self._ses.set_ip_filter(f)

    def _peer_classes(self):
        """Put every TCP/uTP peer in the global class too, so the session's rate limits apply to
        loopback and LAN peers (libtorrent's "local" class alone ignores them). Local peers stay
        in the local class as well, which keeps them unchoked at all times."""
        lib = load_libtorrent()
        f = lib.peer_class_type_filter()
        sockets = lib.peer_class_type_filter
        for socket_type in (sockets.tcp_socket, sockets.ssl_tcp_socket, sockets.i2p_socket):
            f.add(socket_type, lib.session.tcp_peer_class_id)  # libtorrent's default
        for socket_type in (sockets.tcp_socket, sockets.ssl_tcp_socket, sockets.utp_socket, sockets.ssl_utp_socket):
            f.add(socket_type, lib.session.global_peer_class_id)
        return f

    def _wait_listening(self, interfaces: str, timeout: float) -> None:
        lib = load_libtorrent()
        deadline = time.monotonic() + timeout
        failures = []
        while not self.addresses and time.monotonic() < deadline:
            self._ses.wait_for_alert(50)
            for alert in self._ses.pop_alerts():
                if isinstance(alert, lib.listen_succeeded_alert) and alert.socket_type == lib.socket_type_t.tcp:
                    self.addresses.append((alert.address, alert.port))
                elif isinstance(alert, lib.listen_failed_alert):
                    failures.append(alert.message())
            if failures and not self.addresses:
                break
        if not self.addresses:
            why = "; ".join(failures) or f"no answer within {timeout:g} s"
            raise TorrentError(f"cannot listen on {interfaces}: {why}")

    # -- properties ---------------------------------------------------------------

    @property
    def lan(self) -> bool:
        """True in classroom LAN mode."""
        return self.policy.lan

    @property
    def address(self) -> Address:
        """(host, port) where peers reach this session."""
        return self.addresses[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def transfers(self) -> list[Transfer]:
        return list(self._transfers.values())

    def settings(self) -> dict[str, Any]:
        """libtorrent's current settings for this session."""
        return dict(self._live().get_settings())

    def magnet(self, transfer: Transfer | TorrentFile) -> str:
        """A magnet link for a file this session shares, carrying this session's address."""
        torrent = transfer.torrent if isinstance(transfer, Transfer) else transfer
        if torrent is None:
            raise TorrentError("the torrent's metadata has not arrived yet")
        return magnet_link(torrent, [self.address])

    def allow(self, peer: Address | str) -> Address:
        """``peer`` as (host, port) if this session may contact it (TorrentError if not); LAN mode
        lets an address named here through its IP filter."""
        before = set(self.policy.explicit)
        address = self.policy.allow(peer)
        if self.policy.explicit != before:
            self._apply_ip_filter()
        return address

    def allow_trackers(self, urls: Iterable[str]) -> list[str]:
        """The tracker URLs, each checked against this session's policy (TorrentError for the first bad one)."""
        before = set(self.policy.explicit)
        urls = [self.policy.allow_tracker(u) for u in urls]
        if self.policy.explicit != before:
            self._apply_ip_filter()
        return urls

    # -- sharing and fetching -------------------------------------------------------

    def seed(self, path: str | os.PathLike, torrent: Source | None = None, *,
             trackers: Sequence[str] = (), upload_limit: int | None = None, pex: bool = True,
             timeout: float = 60.0) -> Transfer:
        """Share a file; return once libtorrent has checked it and is seeding.

        With ``torrent`` (a TorrentFile, a magnet link or a .torrent path), the file must be that
        torrent's (InvalidTorrent "for another file" otherwise); it may have
        another name on disk. ``trackers`` are announced to (none by default,
        not even the torrent's own). ``upload_limit`` caps this file's uploads
        (bytes/s); ``pex=False`` stops peer exchange for it.
        """
        trackers = self.allow_trackers(trackers)
        path = Path(path).resolve()
        item = None if torrent is None else load_source(torrent)
        if item is None:
            torrent = make_torrent(path)
        elif isinstance(item, TorrentFile):
            check_file(path, item)
            torrent = item
        else:
            torrent = make_torrent(path, version=item.version)
            check_magnet(path, item, torrent)
        params = self._params(torrent, path.parent, pex=pex, trackers=trackers)
        if path.name != torrent.name:
            params.renamed_files = {0: path.name}
        transfer = self._add(params, torrent.name, torrent, path.parent, None, (), upload_limit)
        deadline = time.monotonic() + timeout
        while not transfer.checked and not transfer.error:
            if time.monotonic() > deadline:
                self.remove(transfer)
                raise TorrentError(f"libtorrent did not finish checking {path} within {timeout:g} s")
            self.poll(0.05)
        if transfer.error:
            self.remove(transfer)
            raise transfer.error
        if not transfer.seeding:
            progress = transfer.status().progress
            self.remove(transfer)
            raise InvalidTorrent(f"{path} no longer matches its torrent (libtorrent's check passed "
                                 f"{progress:.0%} of it); was it changed?")
        transfer.path = path
        transfer.finished_s = 0.0
        return transfer

    def add(self, source: Source, dest_dir: str | os.PathLike, peers: Iterable[Address | str] = (), *,
            trackers: Sequence[str] = (), use_trackers: bool = False, upload_limit: int | None = None,
            pex: bool = True, overwrite: bool = False) -> Transfer:
        """Start fetching ``source`` (TorrentFile, magnet link or .torrent path) into ``dest_dir``.

        Returns at once; call :meth:`Transfer.wait` (or :meth:`poll`) to drive it.
        Peers come from ``peers`` and a magnet link's ``x.pe``; trackers from
        ``trackers`` and, with ``use_trackers``, those the torrent or magnet names.
        Every one is checked against the session's policy before anything is
        written. If ``dest_dir`` already holds the file, the transfer is complete
        at once and seeds it; if it holds another file of that name, TorrentError,
        unless ``overwrite``. A partial download left by an earlier session is resumed.
        """
        load_libtorrent()  # a clear TorrentError if libtorrent is missing
        item = load_source(source)
        peers = [to_address(p) for p in peers]
        ignored: tuple[str, ...] = ()
        if isinstance(item, Magnet):
            peers += [p for p in item.peers if p not in peers]
            ignored = item.ignored_peers
        peers = [self.allow(p) for p in peers]
        named = list(trackers) + [t for t in (item.trackers if use_trackers else ()) if t not in trackers]
        trackers = self.allow_trackers(named)
        dest_dir = Path(dest_dir).resolve()
        if dest_dir.exists() and not dest_dir.is_dir():
            raise TorrentError(f"cannot save into {dest_dir}: it is not a folder")
        name = item.name
        if name:
            target = dest_dir / name
            if target.exists() and not target.is_file():
                raise TorrentError(f"{target} is a folder (or not a regular file); cannot save {name!r} there")
        if isinstance(item, TorrentFile) and (dest_dir / item.name).exists():
            target = dest_dir / item.name
            try:
                check_file(target, item)
            except InvalidTorrent:
                if not overwrite:
                    raise TorrentError(f"{target} already exists and is another file; "
                                       f"move it away or fetch with overwrite=True") from None
            else:
                return self.seed(target, item, trackers=trackers, upload_limit=upload_limit, pex=pex)

        staging = dest_dir / PARTIAL_DIR / item.info_hash
        created = next((p for p in reversed([dest_dir, *dest_dir.parents]) if not p.exists()), None)
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TorrentError(f"cannot save into {dest_dir}: {exc.strerror or exc}") from None
        params = self._params(item, staging, pex=pex, trackers=trackers)
        resume = _read_resume(staging / "resume.dat", item.info_hash)
        if resume is not None:
            resume.save_path = params.save_path
            resume.flags = params.flags
            resume.trackers = params.trackers
            resume.url_seeds = []
            if resume.ti is None:
                resume.ti = params.ti
            params = resume
        params.peers = list(peers)
        return self._add(params, name or item.info_hash, item if isinstance(item, TorrentFile) else None,
                         dest_dir, staging, peers, upload_limit, overwrite, ignored, created)

    def fetch(self, source: Source, dest_dir: str | os.PathLike, peers: Iterable[Address | str] = (), *,
              trackers: Sequence[str] = (), use_trackers: bool = False, timeout: float = 120.0,
              progress: Progress | None = None, upload_limit: int | None = None, overwrite: bool = False) -> Path:
        """Fetch ``source`` from ``peers`` (and trackers, see :meth:`add`) into ``dest_dir``; return the file's path.

        Returns only when every piece passed its hash check (and the file was
        hashed once more after being moved into place). ``progress`` receives a
        :class:`~labkit.sharing.transfer.TransferStatus` about four times a second. Raises FetchTimeout
        after ``timeout`` seconds (a partial download stays, and a later fetch
        resumes it; one that received nothing leaves nothing behind). The file keeps being shared while the session lives.
        """
        transfer = self.add(source, dest_dir, peers, trackers=trackers, use_trackers=use_trackers,
                            upload_limit=upload_limit, overwrite=overwrite)
        try:
            return transfer.wait(timeout, progress)
        except BaseException:
            transfer.cancel()
            raise

    # -- the event loop ---------------------------------------------------------------

    @property
    def native(self):
        """The libtorrent session itself, for calls this class does not wrap (the DHT's, in labkit.node).

        Whoever pops its alerts hands each one to ``dispatch``, so transfers still see theirs.
        """
        return self._live()

    def dispatch(self, alert) -> None:
        """Hand one alert to the transfer it concerns, if any."""
        transfer = self._owner(alert)
        if transfer is not None:
            transfer.handle_alert(alert)

    def poll(self, timeout: float = 0.0) -> None:
        """Handle libtorrent's alerts (waiting up to ``timeout`` s for one) and advance transfers."""
        ses = self._live()
        if timeout > 0:
            ses.wait_for_alert(int(timeout * 1000))
        for alert in ses.pop_alerts():
            self.dispatch(alert)
        for transfer in list(self._transfers.values()):
            transfer.advance()

    # -- closing ----------------------------------------------------------------------

    def remove(self, transfer: Transfer, *, save_resume: bool = False) -> None:
        """Stop sharing or fetching ``transfer`` (saving resume data first if asked)."""
        if save_resume and not self._closed:
            self._save_resume_data([transfer], 3.0)
        handle = transfer.detach()
        if handle is not None and not self._closed:
            self._ses.remove_torrent(handle)
        self._transfers.pop(transfer.info_hash, None)

    def close(self, *, resume_timeout: float = 3.0) -> None:
        """Save resume data for incomplete downloads, remove every torrent and stop the session."""
        if self._closed:
            return
        try:
            self._save_resume_data(list(self._transfers.values()), resume_timeout)
        finally:
            for transfer in list(self._transfers.values()):
                self.remove(transfer)
            self._shutdown()

    def __enter__(self) -> "TorrentSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._shutdown()

    # -- internals ------------------------------------------------------------------------

    def _live(self):
        if self._closed:
            raise TorrentError("this TorrentSession is closed")
        return self._ses

    def _params(self, item: TorrentFile | Magnet, save_path: Path, *, pex: bool, trackers: Sequence[str]):
        lib = load_libtorrent()
        if isinstance(item, TorrentFile):
            params = lib.load_torrent_buffer(item.data)
        else:
            params = lib.parse_magnet_uri(item.to_uri())
            params.peers = []
        params.save_path = str(save_path)
        flags = lib.torrent_flags
        if isinstance(item, Magnet):
            # upload mode asks for the metadata but for no piece: the Transfer first checks the
            # metadata is a torrent labkit shares (one file, a good name), then lets the download start
            params.flags |= flags.upload_mode
        params.trackers = list(trackers)  # only the trackers the caller allowed, never the torrent's own ...
        params.url_seeds = []  # ... and never web seeds
        # not auto-managed and not paused: a queued torrent drops incoming connections until it starts
        params.flags = (params.flags & ~(flags.auto_managed | flags.paused)) | flags.apply_ip_filter
        if not pex:
            params.flags |= flags.disable_pex
        return params

    def _add(self, params, name: str, torrent: TorrentFile | None, dest_dir: Path, staging: Path | None,
             peers: Iterable[Address], upload_limit: int | None, overwrite: bool = False,
             ignored_peers: Sequence[str] = (), created: Path | None = None) -> Transfer:
        info_hash = torrent_key(params.ti.info_hashes() if params.ti is not None else params.info_hashes)
        if info_hash in self._transfers:
            raise TorrentError(f"this session already shares or fetches {name!r} ({info_hash[:12]}…)")
        try:
            handle = self._live().add_torrent(params)
        except RuntimeError as exc:
            raise TorrentError(f"libtorrent cannot add {name!r}: {exc}") from None
        if upload_limit:
            handle.set_upload_limit(int(upload_limit))
        transfer = Transfer(self, handle, name=name, info_hash=info_hash, torrent=torrent, dest_dir=dest_dir,
                            staging=staging, peers=peers, overwrite=overwrite, ignored_peers=ignored_peers,
                            created=created)
        self._transfers[info_hash] = transfer
        return transfer

    def _owner(self, alert) -> Transfer | None:
        handle = getattr(alert, "handle", None)
        if handle is None or not handle.is_valid():
            return None
        return self._transfers.get(torrent_key(handle.info_hashes()))

    def _save_resume_data(self, transfers: Sequence[Transfer], timeout: float) -> None:
        lib = load_libtorrent()
        waiting = {t.info_hash: t for t in transfers if t.request_resume_data()}
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            self._ses.wait_for_alert(50)
            for alert in self._ses.pop_alerts():
                transfer = self._owner(alert)
                if transfer is None:
                    continue
                if transfer.info_hash not in waiting:
                    transfer.handle_alert(alert)
                elif isinstance(alert, lib.save_resume_data_alert):
                    del waiting[transfer.info_hash]
                    transfer.write_resume_data(lib.write_resume_data_buf(alert.params))
                elif isinstance(alert, lib.save_resume_data_failed_alert):
                    del waiting[transfer.info_hash]  # the partial file will be rechecked instead

    def _shutdown(self) -> None:
        self._closed = True
        ses, self._ses = getattr(self, "_ses", None), None
        if ses is not None:
            ses.pause()
            del ses  # the destructor aborts the session and waits for its threads


def _read_resume(path: Path, info_hash: str):
    """Resume data saved by an earlier session, or None (libtorrent then rechecks the partial file)."""
    lib = load_libtorrent()
    try:
        params = lib.read_resume_data(path.read_bytes())
    except (OSError, RuntimeError):
        return None
    hashes = params.ti.info_hashes() if params.ti is not None else params.info_hashes
    return params if torrent_key(hashes) == info_hash else None
