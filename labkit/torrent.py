"""Share a file between peers with BitTorrent (libtorrent 2.x), on this machine or a classroom LAN.

A peer that mined blocks shares its blocks file; the others fetch it and keep
sharing the pieces they have, so the miner uploads each piece about once however
many peers there are. This module wraps libtorrent so that a notebook can show it:

- ``make_torrent(path) -> TorrentFile``: the .torrent of one file, BitTorrent v1
  only (BEP 3: a SHA-1 per piece, info-hash = SHA-1 of the bencoded info dict),
  because many clients still do not read v2 or hybrid torrents. No trackers.
- ``Magnet`` / ``magnet_link(torrent, peers)``: a magnet link that names the
  seeders' addresses (``x.pe=HOST:PORT``), so no tracker or DHT is needed.
- ``PeerSession``: one libtorrent session. By default it listens on 127.0.0.1
  only, with DHT, local service discovery, UPnP and NAT-PMP off, and connects
  to no one but the peers it is given (an IP filter enforces it). ``listen=``
  binds a classroom LAN address instead; only then may ``lsd=True`` announce
  the file on the LAN.

Swarms of local peers (``LocalSwarm``, ``swarm_experiment``, ``distribute``)
are built on these sessions in :mod:`labkit.swarm`.

A fetch ends only when every piece passed its SHA-1 check: the file is
downloaded under ``DEST/.labkit-partial/INFOHASH/``, moved into ``DEST`` when
complete, and hashed once more with :mod:`hashlib` before its path is returned.

References: BEP 3 (the protocol and .torrent files), BEP 9 (magnet links and
metadata exchange), BEP 11 (peer exchange), BEP 14 (local service discovery),
libtorrent's manual (https://libtorrent.org/reference.html).
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

from .errors import FetchTimeout, InvalidTorrent, TorrentError

try:
    import libtorrent as lt
except ImportError:  # the rest of labkit works without it
    lt = None

__all__ = [
    "TorrentFile",
    "Magnet",
    "make_torrent",
    "check_file",
    "magnet_link",
    "session_settings",
    "TransferStatus",
    "Transfer",
    "PeerSession",
]

Address = tuple[str, int]  # (host, port)
Source = Union["TorrentFile", "Magnet", str, os.PathLike]  # a torrent, a magnet link, or a .torrent file
Progress = Callable[["TransferStatus"], None]

LAN_PORT = 6881  # the classic BitTorrent port, used when listen= names no port
PARTIAL_DIR = ".labkit-partial"  # where incomplete downloads live, inside the destination folder

_LOOPBACK = ("127.0.0.0/8", "::1/128")
# Classroom LAN mode accepts these besides the peers it is given: RFC 1918,
# link-local, and IPv6 unique-local and link-local addresses.
_LAN = _LOOPBACK + ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
                    "fc00::/7", "fe80::/10")


def _lt():
    """The libtorrent module, or a TorrentError saying how to install it."""
    if lt is None:
        raise TorrentError(
            "libtorrent is not installed: run `pip install libtorrent` "
            "(wheels exist for Python 3.9-3.13)"
        )
    return lt


# --- torrents and magnet links -------------------------------------------------


@dataclass(frozen=True)
class TorrentFile:
    """A single-file BitTorrent v1 torrent: what a .torrent file holds, and what it says.

    Build one with :func:`make_torrent`, or read one with :meth:`decode` / :meth:`load`.
    """

    data: bytes = field(repr=False)  # the bencoded metainfo, byte for byte the .torrent file
    name: str  # the file's name
    size: int  # bytes
    info_hash: str  # hex SHA-1 of the bencoded info dict (BitTorrent v1)
    piece_length: int  # bytes per piece (the last piece may be shorter)
    num_pieces: int

    @property
    def magnet(self) -> str:
        """A magnet link without peer addresses (see :func:`magnet_link` to add them)."""
        return magnet_link(self)

    @property
    def piece_hashes(self) -> tuple[bytes, ...]:
        """The SHA-1 digest of every piece, in order (20 bytes each)."""
        info = _lt().bdecode(self.data)[b"info"]
        pieces = info[b"pieces"]
        return tuple(pieces[i:i + 20] for i in range(0, len(pieces), 20))

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, data: bytes) -> "TorrentFile":
        """Read the bytes of a .torrent file; raise InvalidTorrent unless it is a usable v1 torrent."""
        lib = _lt()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a .torrent is bytes, not {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise InvalidTorrent("the .torrent is empty (0 bytes)")
        try:
            info = lib.torrent_info(data)
        except RuntimeError as exc:  # libtorrent reports every parse error this way
            raise InvalidTorrent(f"not a valid .torrent ({len(data)} bytes): {exc}") from None
        hashes = info.info_hashes()
        if not hashes.has_v1():
            raise InvalidTorrent("a BitTorrent v2-only torrent: labkit reads v1 (and hybrid) torrents")
        if info.num_files() != 1:
            raise InvalidTorrent(f"the torrent holds {info.num_files()} files; labkit shares one file per torrent")
        return cls(
            data=data,
            name=info.name(),
            size=info.total_size(),
            info_hash=str(hashes.v1),
            piece_length=info.piece_length(),
            num_pieces=info.num_pieces(),
        )

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_bytes(self.data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TorrentFile":
        path = Path(path)
        try:
            return cls.decode(path.read_bytes())
        except InvalidTorrent as exc:
            raise InvalidTorrent(f"{path}: {exc}") from None

    def _repr_html_(self) -> str:
        return (f"<b>{_html(self.name)}</b>: {self.size:,} bytes in {self.num_pieces} pieces of "
                f"{self.piece_length:,} bytes; info-hash <code>{self.info_hash}</code>")


@dataclass(frozen=True)
class Magnet:
    """A magnet link (BEP 9): an info-hash, a name, and where to find peers."""

    info_hash: str  # hex SHA-1, lower case
    name: str | None = None
    peers: tuple[Address, ...] = ()  # x.pe: peers to ask for the metadata and the pieces
    trackers: tuple[str, ...] = ()

    def to_uri(self) -> str:
        parts = [f"xt=urn:btih:{self.info_hash}"]
        if self.name:
            parts.append("dn=" + urllib.parse.quote(self.name, safe=""))
        parts += ["tr=" + urllib.parse.quote(t, safe="") for t in self.trackers]
        parts += ["x.pe=" + _format_address(p) for p in self.peers]
        return "magnet:?" + "&".join(parts)

    @classmethod
    def parse(cls, uri: str) -> "Magnet":
        """Read a magnet link; raise InvalidTorrent if it is not one with a v1 info-hash."""
        lib = _lt()
        if not isinstance(uri, str) or not uri.startswith("magnet:?"):
            raise InvalidTorrent(f"not a magnet link: {str(uri)[:60]!r}")
        try:
            params = lib.parse_magnet_uri(uri)
        except RuntimeError as exc:
            raise InvalidTorrent(f"not a valid magnet link: {exc}") from None
        if not params.info_hashes.has_v1():
            raise InvalidTorrent("the magnet link has no BitTorrent v1 info-hash (urn:btih)")
        return cls(
            info_hash=str(params.info_hashes.v1),
            name=params.name or None,
            peers=tuple((host, int(port)) for host, port in params.peers),
            trackers=tuple(params.trackers),
        )


def make_torrent(
    path: str | os.PathLike,
    *,
    piece_length: int = 0,
    trackers: Sequence[str] = (),
    progress: Callable[[int, int], None] | None = None,
) -> TorrentFile:
    """Hash a file into a BitTorrent v1 torrent (``create_torrent.v1_only``).

    ``piece_length`` 0 lets libtorrent choose (16 KiB for small files); otherwise
    a power of two of at least 16 KiB. The torrent names no trackers unless
    given; it has no creation date, so the same file always gives the same bytes.
    ``progress(pieces_hashed, num_pieces)`` is called as pieces are hashed.
    """
    lib = _lt()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise TorrentError(f"{path} is not a file; labkit shares one file per torrent")
    if path.stat().st_size == 0:
        raise TorrentError(f"{path} is empty; BitTorrent cannot share an empty file")
    if piece_length and (piece_length < 16384 or piece_length & (piece_length - 1)):
        raise ValueError(f"piece_length must be 0 or a power of two >= 16384, not {piece_length}")
    creator = lib.create_torrent(lib.list_files(str(path)), piece_length, lib.create_torrent.v1_only)
    for tier, url in enumerate(trackers):
        creator.add_tracker(url, tier)
    creator.set_creator("labkit")
    creator.set_creation_date(0)  # 0 leaves the date out
    total = creator.num_pieces()
    callback = (lambda piece: progress(piece + 1, total)) if progress else (lambda piece: None)
    try:
        lib.set_piece_hashes(creator, str(path.parent), callback)
    except RuntimeError as exc:
        raise TorrentError(f"cannot hash {path}: {exc}") from None
    # create_torrent.generate_buf() is broken in the 2.1 wheels (it decodes the bytes as UTF-8).
    return TorrentFile.decode(lib.bencode(creator.generate()))


def check_file(path: str | os.PathLike, torrent: TorrentFile | Magnet | str) -> None:
    """Raise InvalidTorrent unless ``path`` is the file of ``torrent`` (a TorrentFile or magnet link).

    Against a TorrentFile it compares the size and every piece's SHA-1 (with
    hashlib, independently of libtorrent). A magnet link only carries the
    info-hash, so the file is hashed into a torrent with labkit's defaults (the
    file's own name, libtorrent's piece size) and the info-hashes compared.
    """
    path = Path(path)
    if isinstance(torrent, (str, Magnet)):
        _check_magnet(path, torrent, make_torrent(path))
        return
    size = path.stat().st_size
    if size != torrent.size:
        raise InvalidTorrent(
            f"the torrent {torrent.name!r} is for another file: it holds {torrent.size:,} bytes, "
            f"{path} has {size:,}"
        )
    with path.open("rb") as f:
        for index, expected in enumerate(torrent.piece_hashes):
            if hashlib.sha1(f.read(torrent.piece_length)).digest() != expected:
                raise InvalidTorrent(
                    f"the torrent {torrent.name!r} is for another file: piece {index} of {path} "
                    f"does not match its SHA-1"
                )


def _check_magnet(path: Path, magnet: Magnet | str, mine: TorrentFile) -> None:
    magnet = magnet if isinstance(magnet, Magnet) else Magnet.parse(magnet)
    if mine.info_hash != magnet.info_hash:
        raise InvalidTorrent(
            f"the magnet link (info-hash {magnet.info_hash[:12]}…, name {magnet.name!r}) is for "
            f"another file than {path} (info-hash {mine.info_hash[:12]}…)"
        )


def magnet_link(torrent: TorrentFile, peers: Iterable[Address] = ()) -> str:
    """The magnet link of ``torrent``, carrying the addresses of peers that have it (x.pe)."""
    trackers = tuple(_lt().load_torrent_buffer(torrent.data).trackers)
    return Magnet(torrent.info_hash, torrent.name, tuple(_address(p) for p in peers), trackers).to_uri()


def _load_source(source: Source) -> TorrentFile | Magnet:
    if isinstance(source, (TorrentFile, Magnet)):
        return source
    if isinstance(source, str) and source.startswith("magnet:"):
        return Magnet.parse(source)
    if isinstance(source, (str, os.PathLike)):
        return TorrentFile.load(source)
    raise TypeError(f"expected a TorrentFile, a magnet link or a .torrent path, not {type(source).__name__}")


# --- addresses -----------------------------------------------------------------


def _format_address(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _parse_address(text: str, default_port: int | None = None) -> Address:
    """'HOST:PORT', '[V6]:PORT' (or 'HOST' when a default port is given) -> (host, port)."""
    text = text.strip()
    host, sep, port = text.rpartition(":")
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        sep = ":" if port else ""
    elif not sep or (":" in host):  # no port, or a bare IPv6 address
        host, port = text, ""
    if not port:
        if default_port is None:
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        port = str(default_port)
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT with a port 0-65535, got {text!r}")
    return host, int(port)


def _address(peer: Address | str) -> Address:
    host, port = _parse_address(peer) if isinstance(peer, str) else (str(peer[0]), int(peer[1]))
    return ("127.0.0.1" if host == "localhost" else host), port


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in(host: str, networks: Sequence[str]) -> bool:
    ip = _ip(host)
    return ip is not None and any(ip in ipaddress.ip_network(n) for n in networks)


# --- sessions ------------------------------------------------------------------


def session_settings(
    listen: str | None = None,
    *,
    lsd: bool = False,
    upload_limit: int | None = None,
    download_limit: int | None = None,
) -> dict[str, Any]:
    """The libtorrent settings a PeerSession starts with (the defaults are loopback-only).

    ``listen=None`` listens on 127.0.0.1 on a free port. A ``"HOST:PORT"``
    (HOST an address or an interface name such as eth0) is classroom LAN mode,
    the only mode in which ``lsd=True`` (local service discovery) is allowed.
    Limits are bytes per second (None: unlimited).
    """
    lib = _lt()
    if listen is None:
        if lsd:
            raise TorrentError("local service discovery needs classroom LAN mode: pass listen='ADDRESS:PORT' too")
        host, port = "127.0.0.1", 0
    else:
        host, port = _parse_address(listen, LAN_PORT)
    ip = _ip(host)
    unspecified = ip is not None and ip.is_unspecified
    category = lib.alert_category
    return {
        "listen_interfaces": _format_address((host, port)),
        # outgoing connections leave from the listening address (or device), so peers can reach us back
        "outgoing_interfaces": "" if unspecified else host,
        "listen_system_port_fallback": False,  # a busy port is an error, not a silent other port
        "max_retry_port_bind": 0,
        "enable_dht": False,
        "dht_bootstrap_nodes": "",
        "enable_lsd": bool(lsd),
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        # TCP only: a uTP connection to a torrent that is still starting can stall for 15 s
        "enable_outgoing_utp": False,
        "enable_incoming_utp": False,
        # every local peer has the same IP; libtorrent would refuse the third one
        "allow_multiple_connections_per_ip": True,
        "tick_interval": 100,  # ms; the default 500 ms delays every handshake under a rate limit
        "min_reconnect_time": 1,  # s; peers of a swarm start within milliseconds of each other
        "aio_threads": 2,  # a swarm runs many sessions in one process
        "upload_rate_limit": int(upload_limit or 0),
        "download_rate_limit": int(download_limit or 0),
        # the default mask shows only errors; these carry listening, finished, hash failures, bans, moves
        "alert_mask": category.error | category.status | category.peer | category.storage,
        "user_agent": f"labkit libtorrent/{lib.__version__}",
    }


@dataclass(frozen=True)
class TransferStatus:
    """A snapshot of one file being fetched or shared, as progress callbacks receive it."""

    name: str
    info_hash: str  # hex SHA-1
    state: str  # libtorrent's: checking_files, downloading_metadata, downloading, finished, seeding...
    progress: float  # 0..1, the share of the file whose pieces passed their SHA-1 check
    download_rate: int  # bytes/s of file data
    upload_rate: int  # bytes/s of file data
    peers: int  # connected peers
    downloaded: int  # bytes of file data received since this session added the torrent
    uploaded: int  # bytes of file data sent since this session added the torrent
    hash_failures: int  # pieces that failed their SHA-1 check (and were downloaded again)
    banned_peers: tuple[str, ...]  # "host:port" of peers banned for sending bad data
    elapsed: float  # seconds since the transfer started
    complete: bool  # every piece passed its check and the file is in its final place


class Transfer:
    """One file shared or fetched by a :class:`PeerSession` (a live handle; see :meth:`status`)."""

    def __init__(self, session: "PeerSession", handle: Any, *, name: str, info_hash: str,
                 torrent: TorrentFile | None, dest_dir: Path, staging: Path | None,
                 peers: Iterable[Address], overwrite: bool = False):
        self.session = session
        self.torrent = torrent  # None until a magnet link's metadata arrives
        self.dest_dir = dest_dir
        self.info_hash = info_hash
        self.peers_tried: list[str] = [_format_address(p) for p in peers]
        self.hash_failures = 0
        self.failed_pieces: list[int] = []
        self.banned_peers: list[str] = []
        self.finished_s: float | None = None  # seconds from start until every piece had passed its check
        self.path: Path | None = None  # set once the file is complete, moved and re-hashed
        self.error: TorrentError | None = None
        self._name = name
        self._handle = handle
        self._staging = staging
        self._overwrite = overwrite
        self._moving = False
        self._checked = False  # libtorrent has checked the files on disk
        self._started = time.monotonic()
        self._last: TransferStatus | None = None

    def __repr__(self) -> str:
        return f"<Transfer {self.name!r} {self.info_hash[:12]}… {'complete' if self.complete else 'incomplete'}>"

    @property
    def name(self) -> str:
        return self.torrent.name if self.torrent else self._name

    @property
    def complete(self) -> bool:
        return self.path is not None

    def status(self) -> TransferStatus:
        """The transfer's current status (its last one once the session has closed)."""
        if self._handle is None or not self._handle.is_valid():
            if self._last is None:
                raise TorrentError(f"{self.name!r} is no longer in a session")
            return self._last
        st = self._handle.status()
        self._last = TransferStatus(
            name=self.name,
            info_hash=self.info_hash,
            state="error" if self.error else str(st.state),
            progress=float(st.progress),
            download_rate=int(st.download_payload_rate),
            upload_rate=int(st.upload_payload_rate),
            peers=int(st.num_peers),
            downloaded=int(st.total_payload_download),
            uploaded=int(st.total_payload_upload),
            hash_failures=self.hash_failures,
            banned_peers=tuple(self.banned_peers),
            elapsed=time.monotonic() - self._started,
            complete=self.complete,
        )
        return self._last

    def connect(self, peer: Address | str) -> None:
        """Ask this transfer to connect to one more peer."""
        host, port = self.session._allow(_address(peer))
        self.peers_tried.append(_format_address((host, port)))
        self._handle.connect_peer((host, port))

    def wait(self, timeout: float = 120.0, progress: Progress | None = None, *, interval: float = 0.25) -> Path:
        """Block until the file is complete and verified; return its path.

        Raises FetchTimeout after ``timeout`` seconds, TorrentError if the
        download fails. ``progress`` gets a TransferStatus every ``interval`` s.
        """
        deadline = time.monotonic() + timeout
        last_report = 0.0
        while True:
            self.session.poll(0.05)
            if self.error:
                raise self.error
            now = time.monotonic()
            if self.path is not None or (progress and now - last_report >= interval):
                last_report = now
                if progress:
                    progress(self.status())
            if self.path is not None:
                return self.path
            if now >= deadline:
                status = self.status()
                detail = ""
                if status.progress >= 1.0:  # every piece is here, yet the file was not handed over
                    st = self._handle.status()
                    detail = (f"all pieces arrived but the file was not moved into place: state {st.state}, "
                              f"moving {self._moving}/{st.moving_storage}, save path {st.save_path}")
                raise FetchTimeout(self.name, self.peers_tried, timeout, status.progress, detail)

    def cancel(self) -> None:
        """Stop the transfer and remove it from its session (a partial download keeps its resume data)."""
        self.session._remove(self, save_resume=True)

    # -- driven by PeerSession.poll --------------------------------------------

    def _advance(self) -> None:
        """Move a finished download into place and verify it (called by the session's poll)."""
        if self.path is not None or self.error or self._staging is None:
            return
        st = self._handle.status()
        if self._moving:
            # The storage_moved alert normally finishes the move; should it be missed, the
            # handle itself says when the files sit in the destination (seen once in CI).
            if not st.moving_storage and Path(st.save_path).resolve() == self.dest_dir:
                self._on_moved()
            return
        if not st.has_metadata:
            return
        if self.torrent is None:
            self._on_metadata()
        if not ((st.is_seeding or st.is_finished) and st.pieces and all(st.pieces)):
            return
        if self.finished_s is None:
            self.finished_s = time.monotonic() - self._started
        target = self.dest_dir / self.name
        flags = _lt().move_flags_t
        if target.exists() and not self._overwrite:
            try:
                check_file(target, self.torrent)
            except InvalidTorrent:
                self.error = TorrentError(f"{target} already exists and is another file; "
                                          f"move it away or fetch with overwrite=True")
                return
            mode = flags.dont_replace  # the same file is already there: keep it and seed from it
        else:
            mode = flags.always_replace_files if self._overwrite else flags.fail_if_exist
        self._moving = True
        self._handle.move_storage(str(self.dest_dir), mode)

    def _on_metadata(self) -> None:
        info = self._handle.torrent_file()
        # the info dict libtorrent checked against the info-hash, wrapped as a .torrent
        torrent = TorrentFile.decode(b"d4:info" + info.info_section() + b"e")
        self.torrent = torrent

    def _on_moved(self) -> None:
        if self.path is not None:  # already finished (the alert came after the handle said so)
            return
        self._moving = False
        target = self.dest_dir / self.name
        try:
            check_file(target, self.torrent)  # a second opinion, with hashlib
        except (InvalidTorrent, OSError) as exc:
            self.error = TorrentError(f"{target} failed its final check: {exc}")
            return
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            try:
                self._staging.parent.rmdir()  # .labkit-partial, if nothing else is in it
            except OSError:
                pass
        self.path = target


class PeerSession:
    """A BitTorrent peer: one libtorrent session that seeds and fetches files.

    By default it listens on 127.0.0.1 only (a free port: see :attr:`address`),
    with DHT, local service discovery, UPnP and NAT-PMP off, and an IP filter
    that lets it talk to loopback addresses only: it contacts no one but the
    peers it is given. ``listen="192.168.1.10:6881"`` (or ``"eth0:6881"``) is
    classroom LAN mode: it binds that address and accepts private (RFC 1918,
    link-local) addresses plus any peer named explicitly; ``lsd=True`` then
    also announces its files on the LAN.

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
        lib = _lt()
        pack = session_settings(listen, lsd=lsd, upload_limit=upload_limit, download_limit=download_limit)
        pack.update(settings or {})
        self.lan = listen is not None
        self.upload_limit = upload_limit
        self.addresses: list[Address] = []  # where it listens (TCP)
        self._transfers: dict[str, Transfer] = {}
        self._explicit: set[str] = set()
        self._closed = False
        # settings go to the constructor, so DHT, LSD, UPnP and NAT-PMP never start at all
        self._ses = lib.session(pack)
        try:
            self._ses.set_ip_filter(self._ip_filter())
            self._ses.set_peer_class_type_filter(self._peer_classes())
            self._wait_listening(pack["listen_interfaces"], listen_timeout)
        except BaseException:
            self._shutdown()
            raise

    # -- setup ------------------------------------------------------------------

    def _ip_filter(self):
        lib = _lt()
        blocked = 1  # ip_filter.blocked
        f = lib.ip_filter()
        f.add_rule("0.0.0.0", "255.255.255.255", blocked)
        f.add_rule("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", blocked)
        for network in (_LAN if self.lan else _LOOPBACK):
            net = ipaddress.ip_network(network)
            f.add_rule(str(net[0]), str(net[-1]), 0)
        for host in self._explicit:
            f.add_rule(host, host, 0)
        return f

    def _peer_classes(self):
        """Put every TCP/uTP peer in the global class too, so the session's rate limits apply to
        loopback and LAN peers (libtorrent's "local" class alone ignores them). Local peers stay
        in the local class as well, which keeps them unchoked at all times."""
        lib = _lt()
        f = lib.peer_class_type_filter()
        sockets = lib.peer_class_type_filter
        for socket_type in (sockets.tcp_socket, sockets.ssl_tcp_socket, sockets.i2p_socket):
            f.add(socket_type, lib.session.tcp_peer_class_id)  # libtorrent's default
        for socket_type in (sockets.tcp_socket, sockets.ssl_tcp_socket, sockets.utp_socket, sockets.ssl_utp_socket):
            f.add(socket_type, lib.session.global_peer_class_id)
        return f

    def _wait_listening(self, interfaces: str, timeout: float) -> None:
        lib = _lt()
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
        host, port = self.address
        ip = _ip(host)
        if ip is not None and ip.is_unspecified:
            raise TorrentError(f"this session listens on every interface ({host}); pass "
                               f"listen='<this machine's LAN address>:{port}' so the magnet link can name it")
        return magnet_link(torrent, [(host, port)])

    # -- sharing and fetching -------------------------------------------------------

    def seed(self, path: str | os.PathLike, torrent: TorrentFile | Magnet | str | None = None, *,
             upload_limit: int | None = None, pex: bool = True, timeout: float = 60.0) -> Transfer:
        """Share a file; return once libtorrent has checked it and is seeding.

        With ``torrent`` (a TorrentFile or a magnet link), the file must be that
        torrent's (InvalidTorrent "for another file" otherwise); it may have
        another name on disk. ``upload_limit`` caps this file's uploads
        (bytes/s); ``pex=False`` stops peer exchange for it.
        """
        path = Path(path).resolve()
        if isinstance(torrent, TorrentFile):
            check_file(path, torrent)
        else:
            mine = make_torrent(path)
            if torrent is not None:
                _check_magnet(path, torrent, mine)
            torrent = mine
        params = self._params(torrent, path.parent, pex=pex)
        if path.name != torrent.name:
            params.renamed_files = {0: path.name}
        transfer = self._add(params, torrent.name, torrent, path.parent, None, (), upload_limit)
        deadline = time.monotonic() + timeout
        while not transfer._checked and not transfer.error:
            if time.monotonic() > deadline:
                self._remove(transfer)
                raise TorrentError(f"libtorrent did not finish checking {path} within {timeout:g} s")
            self.poll(0.05)
        if transfer.error:
            self._remove(transfer)
            raise transfer.error
        st = transfer._handle.status()
        if not st.is_seeding:
            self._remove(transfer)
            raise InvalidTorrent(f"{path} no longer matches its torrent (libtorrent's check passed "
                                 f"{st.progress:.0%} of it); was it changed?")
        transfer.path = path
        transfer.finished_s = 0.0
        return transfer

    def add(self, source: Source, dest_dir: str | os.PathLike, peers: Iterable[Address | str] = (), *,
            upload_limit: int | None = None, pex: bool = True, overwrite: bool = False) -> Transfer:
        """Start fetching ``source`` (TorrentFile, magnet link or .torrent path) into ``dest_dir``.

        Returns at once; call :meth:`Transfer.wait` (or :meth:`poll`) to drive it.
        If ``dest_dir`` already holds the file, the transfer is complete at once
        and seeds it; if it holds another file of that name, TorrentError,
        unless ``overwrite``. A partial download left by an earlier session is resumed.
        """
        _lt()  # a clear TorrentError if libtorrent is missing
        item = _load_source(source)
        dest_dir = Path(dest_dir).resolve()
        dest_dir.mkdir(parents=True, exist_ok=True)
        peers = [_address(p) for p in peers]
        if isinstance(item, Magnet):
            peers += [p for p in item.peers if p not in peers]
        peers = [self._allow(p) for p in peers]

        if isinstance(item, TorrentFile):
            target = dest_dir / item.name
            if target.exists():
                try:
                    check_file(target, item)
                except InvalidTorrent:
                    if not overwrite:
                        raise TorrentError(f"{target} already exists and is another file; "
                                           f"move it away or fetch with overwrite=True") from None
                else:
                    return self.seed(target, item, upload_limit=upload_limit, pex=pex)

        staging = dest_dir / PARTIAL_DIR / item.info_hash
        staging.mkdir(parents=True, exist_ok=True)
        params = self._params(item, staging, pex=pex)
        resume = _read_resume(staging / "resume.dat", item.info_hash)
        if resume is not None:
            resume.save_path = params.save_path
            resume.flags = params.flags
            resume.trackers = []
            resume.url_seeds = []
            if resume.ti is None:
                resume.ti = params.ti
            params = resume
        params.peers = list(peers)
        name = item.name or item.info_hash
        transfer = self._add(params, name, item if isinstance(item, TorrentFile) else None, dest_dir,
                             staging, peers, upload_limit, overwrite)
        return transfer

    def fetch(self, source: Source, dest_dir: str | os.PathLike, peers: Iterable[Address | str] = (), *,
              timeout: float = 120.0, progress: Progress | None = None, upload_limit: int | None = None,
              overwrite: bool = False) -> Path:
        """Fetch ``source`` from ``peers`` into ``dest_dir`` and return the file's path.

        Returns only when every piece passed its SHA-1 check (and the file was
        hashed once more after being moved into place). ``progress`` receives a
        :class:`TransferStatus` about four times a second. Raises FetchTimeout
        after ``timeout`` seconds (the partial download stays, and a later fetch
        resumes it). The file keeps being shared while the session lives.
        """
        transfer = self.add(source, dest_dir, peers, upload_limit=upload_limit, overwrite=overwrite)
        try:
            return transfer.wait(timeout, progress)
        except BaseException:
            transfer.cancel()
            raise

    # -- the event loop ---------------------------------------------------------------

    def poll(self, timeout: float = 0.0) -> None:
        """Handle libtorrent's alerts (waiting up to ``timeout`` s for one) and advance transfers."""
        ses = self._live()
        if timeout > 0:
            ses.wait_for_alert(int(timeout * 1000))
        for alert in ses.pop_alerts():
            self._dispatch(alert)
        for transfer in list(self._transfers.values()):
            transfer._advance()

    def _dispatch(self, alert) -> None:
        lib = _lt()
        transfer = self._owner(alert)
        if transfer is None:
            return
        if isinstance(alert, lib.torrent_checked_alert):
            transfer._checked = True
        elif isinstance(alert, lib.hash_failed_alert):
            transfer.hash_failures += 1
            transfer.failed_pieces.append(alert.piece_index)
        elif isinstance(alert, lib.peer_ban_alert):
            who = _format_address(alert.endpoint)
            if who not in transfer.banned_peers:
                transfer.banned_peers.append(who)
        elif isinstance(alert, lib.storage_moved_alert):
            transfer._on_moved()
        elif isinstance(alert, lib.storage_moved_failed_alert):
            transfer._moving = False
            transfer.error = TorrentError(f"cannot move {transfer.name!r} into {transfer.dest_dir}: "
                                          f"{alert.message()}")
        elif isinstance(alert, (lib.torrent_error_alert, lib.file_error_alert)):
            transfer.error = TorrentError(f"{transfer.name!r}: {alert.message()}")

    # -- closing ----------------------------------------------------------------------

    def close(self, *, resume_timeout: float = 3.0) -> None:
        """Save resume data for incomplete downloads, remove every torrent and stop the session."""
        if self._closed:
            return
        try:
            self._save_resume_data(list(self._transfers.values()), resume_timeout)
        finally:
            for transfer in list(self._transfers.values()):
                self._remove(transfer)
            self._shutdown()

    def __enter__(self) -> "PeerSession":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._shutdown()

    # -- internals ------------------------------------------------------------------------

    def _live(self):
        if self._closed:
            raise TorrentError("this PeerSession is closed")
        return self._ses

    def _allow(self, peer: Address) -> Address:
        host, port = peer
        if not 0 < port < 65536:
            raise ValueError(f"bad peer port {port} in {_format_address(peer)}")
        if _ip(host) is None:
            raise ValueError(f"peer addresses must be IP addresses, not {host!r}")
        if not self.lan and not _in(host, _LOOPBACK):
            raise TorrentError(f"{_format_address(peer)} is not on this machine; this session is loopback-only, "
                               f"use PeerSession(listen='YOUR_LAN_ADDRESS:PORT') for a classroom LAN")
        if self.lan and not _in(host, _LAN) and host not in self._explicit:
            self._explicit.add(host)  # a peer named explicitly may be outside the private ranges
            self._ses.set_ip_filter(self._ip_filter())
        return host, port

    def _params(self, item: TorrentFile | Magnet, save_path: Path, *, pex: bool):
        lib = _lt()
        if isinstance(item, TorrentFile):
            params = lib.load_torrent_buffer(item.data)
        else:
            params = lib.parse_magnet_uri(item.to_uri())
            params.peers = []
        params.save_path = str(save_path)
        params.trackers = []  # labkit talks to the peers it is given, never to trackers ...
        params.url_seeds = []  # ... or web seeds
        flags = lib.torrent_flags
        # not auto-managed and not paused: a queued torrent drops incoming connections until it starts
        params.flags = (params.flags & ~(flags.auto_managed | flags.paused)) | flags.apply_ip_filter
        if not pex:
            params.flags |= flags.disable_pex
        return params

    def _add(self, params, name: str, torrent: TorrentFile | None, dest_dir: Path, staging: Path | None,
             peers: Iterable[Address], upload_limit: int | None, overwrite: bool = False) -> Transfer:
        info_hash = str(params.ti.info_hashes().v1) if params.ti is not None else str(params.info_hashes.v1)
        if info_hash in self._transfers:
            raise TorrentError(f"this session already shares or fetches {name!r} ({info_hash[:12]}…)")
        try:
            handle = self._live().add_torrent(params)
        except RuntimeError as exc:
            raise TorrentError(f"libtorrent cannot add {name!r}: {exc}") from None
        if upload_limit:
            handle.set_upload_limit(int(upload_limit))
        transfer = Transfer(self, handle, name=name, info_hash=info_hash, torrent=torrent, dest_dir=dest_dir,
                            staging=staging, peers=peers, overwrite=overwrite)
        self._transfers[info_hash] = transfer
        return transfer

    def _owner(self, alert) -> Transfer | None:
        handle = getattr(alert, "handle", None)
        if handle is None or not handle.is_valid():
            return None
        return self._transfers.get(str(handle.info_hashes().v1))

    def _save_resume_data(self, transfers: Sequence[Transfer], timeout: float) -> None:
        lib = _lt()
        flags = lib.save_resume_flags_t
        waiting = {}
        for transfer in transfers:
            handle = transfer._handle
            if transfer._staging is None or transfer.complete or handle is None or not handle.is_valid():
                continue
            if not handle.status().has_metadata:
                continue
            handle.save_resume_data(flags.flush_disk_cache | flags.save_info_dict)
            waiting[transfer.info_hash] = transfer
        deadline = time.monotonic() + timeout
        while waiting and time.monotonic() < deadline:
            self._ses.wait_for_alert(50)
            for alert in self._ses.pop_alerts():
                transfer = self._owner(alert)
                if transfer is None or transfer.info_hash not in waiting:
                    self._dispatch(alert)
                    continue
                if isinstance(alert, lib.save_resume_data_alert):
                    del waiting[transfer.info_hash]
                    try:
                        (transfer._staging / "resume.dat").write_bytes(lib.write_resume_data_buf(alert.params))
                    except OSError:
                        # The staging folder is gone (deleted under us): there is nothing to resume,
                        # and closing must not hide the error that made the caller close.
                        pass
                elif isinstance(alert, lib.save_resume_data_failed_alert):
                    del waiting[transfer.info_hash]  # the partial file will be rechecked instead

    def _remove(self, transfer: Transfer, *, save_resume: bool = False) -> None:
        if save_resume and not self._closed:
            self._save_resume_data([transfer], 3.0)
        handle = transfer._handle
        if handle is not None and handle.is_valid():
            try:
                transfer.status()  # keep a last snapshot for callers
            except TorrentError:
                pass
            if not self._closed:
                self._ses.remove_torrent(handle)
        transfer._handle = None
        self._transfers.pop(transfer.info_hash, None)

    def _shutdown(self) -> None:
        self._closed = True
        ses, self._ses = getattr(self, "_ses", None), None
        if ses is not None:
            ses.pause()
            del ses  # the destructor aborts the session and waits for its threads


def _read_resume(path: Path, info_hash: str):
    """Resume data saved by an earlier session, or None (libtorrent then rechecks the partial file)."""
    lib = _lt()
    try:
        params = lib.read_resume_data(path.read_bytes())
    except (OSError, RuntimeError):
        return None
    hashes = params.ti.info_hashes() if params.ti is not None else params.info_hashes
    return params if hashes.has_v1() and str(hashes.v1) == info_hash else None


def _html(text: str) -> str:
    import html

    return html.escape(text)
