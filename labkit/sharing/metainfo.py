"""What a .torrent file and a magnet link say, checked before any byte is fetched.

- ``make_torrent(path) -> TorrentFile``: the .torrent of one file. BitTorrent v1
  by default (BEP 3: a SHA-1 per piece, info-hash = SHA-1 of the bencoded info
  dict), because many clients still do not read v2; ``version="v2"`` or
  ``"hybrid"`` make BEP 52 torrents (SHA-256 merkle trees). No trackers unless given.
- ``TorrentFile.decode`` / ``load`` read v1, v2-only and hybrid torrents, and
  refuse what labkit cannot share safely: a multi-file layout (even with one
  file in it), bytes after the metainfo, a piece length that is not a power of
  two of at least 16 KiB, a name that is not a plain file name.
- ``Magnet`` / ``magnet_link(torrent, peers)``: a magnet link (BEP 9) that names
  the seeders' addresses (``x.pe=HOST:PORT``), so no tracker or DHT is needed.
  ``x.pe`` values that are not IP:PORT are kept in ``Magnet.ignored_peers``.
- ``check_file(path, torrent)``: is this file that torrent's? Checked with
  :mod:`hashlib`, independently of libtorrent.

References: BEP 3 (the protocol and .torrent files), BEP 9 (magnet links),
BEP 52 (BitTorrent v2), libtorrent's manual (https://libtorrent.org/reference.html).
"""

from __future__ import annotations

import hashlib
import html
import os
import stat
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence, Union

from ..errors import InvalidBencode, InvalidTorrent, TorrentError
from .addresses import Address, format_address, split_peers, to_address
from .bencode import encoded_length

try:
    import libtorrent as lt
except ImportError:  # the rest of labkit works without it
    lt = None

__all__ = [
    "PARTIAL_DIR",
    "MIN_PIECE_LENGTH",
    "MAX_PIECE_LENGTH",
    "load_libtorrent",
    "TorrentFile",
    "Magnet",
    "Source",
    "make_torrent",
    "check_file",
    "check_magnet",
    "merkle_root",
    "magnet_link",
    "load_source",
]

PARTIAL_DIR = ".labkit-partial"  # where incomplete downloads live, inside the destination folder
MIN_PIECE_LENGTH = 16 * 1024  # BEP 52's block; v1 allows less, but no common client makes it
MAX_PIECE_LENGTH = 128 * 1024 * 1024  # the largest piece libtorrent's create_torrent accepts
MAX_TORRENT_BYTES = 32 * 1024 * 1024  # a .torrent of a single file is a few kB; refuse to read gigabytes
BLOCK = 16 * 1024  # the leaf size of a v2 merkle tree (BEP 52)


def load_libtorrent():
    """The libtorrent module, or a TorrentError saying how to install it."""
    if lt is None:
        raise TorrentError(
            "libtorrent is not installed: run `pip install libtorrent` "
            "(wheels exist for Python 3.9-3.13)"
        )
    return lt


# --- reading metainfo ------------------------------------------------------------


def _single_file_layout(info: dict, name: bytes) -> None:
    """Raise InvalidTorrent unless the info dict describes one file, in the single-file layout."""
    if b"files" in info:  # v1 multi-file layout: NAME/ is a folder, whatever it holds
        raise InvalidTorrent(f"the torrent is a folder ({len(info[b'files'])} file(s) under "
                             f"{name.decode('utf-8', 'replace')!r}); "
                             f"labkit shares one file per torrent")
    tree = info.get(b"file tree")
    if tree is not None:  # v2: a single file is {name: {"": {length, pieces root}}}
        entry = tree.get(name) if isinstance(tree, dict) and len(tree) == 1 else None
        if not (isinstance(entry, dict) and list(entry) == [b""]):
            raise InvalidTorrent(f"the torrent's file tree is a folder, not the single file "
                                 f"{name.decode('utf-8', 'replace')!r}; "
                                 f"labkit shares one file per torrent")


def _file_length(info: dict) -> int:
    """The file's length in bytes, from a single-file info dict (v1 ``length``, or the v2 file tree)."""
    if b"length" in info:
        return info[b"length"]
    (entry,) = info[b"file tree"].values()
    return entry[b""][b"length"]


def _check_name(name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name:
        raise InvalidTorrent(f"the torrent's name {name!r} is not a plain file name")
    if name.casefold() == PARTIAL_DIR.casefold():
        raise InvalidTorrent(f"the torrent is named {name!r}, like labkit's folder of partial downloads; "
                             f"rename the file and make its torrent again")


def _check_piece_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or not (
            MIN_PIECE_LENGTH <= length <= MAX_PIECE_LENGTH and length & (length - 1) == 0):
        raise InvalidTorrent(f"the piece length must be a power of two from {MIN_PIECE_LENGTH:,} to "
                             f"{MAX_PIECE_LENGTH:,} bytes, not {length!r}")


# --- torrents and magnet links -----------------------------------------------------


@dataclass(frozen=True)
class TorrentFile:
    """A single-file torrent (v1, v2 or hybrid): what a .torrent file holds, and what it says.

    Build one with :func:`make_torrent`, or read one with :meth:`decode` / :meth:`load`.
    """

    data: bytes = field(repr=False)  # the bencoded metainfo, byte for byte the .torrent file
    name: str  # the file's name
    size: int  # bytes
    info_hash: str  # its identity: hex SHA-1 of the info dict (v1, hybrid); hex SHA-256 if v2-only
    piece_length: int  # bytes per piece (the last piece may be shorter)
    num_pieces: int
    info_hash_v2: str | None = None  # hex SHA-256 of the info dict (v2 and hybrid), else None

    @property
    def version(self) -> str:
        """'v1', 'v2' (v2-only) or 'hybrid'."""
        if self.info_hash_v2 is None:
            return "v1"
        return "v2" if self.info_hash == self.info_hash_v2 else "hybrid"

    @property
    def magnet(self) -> str:
        """A magnet link without peer addresses (see :func:`magnet_link` to add them)."""
        return magnet_link(self)

    @property
    def piece_hashes(self) -> tuple[bytes, ...]:
        """The SHA-1 digest of every piece, in order (20 bytes each; none for a v2-only torrent)."""
        pieces = load_libtorrent().bdecode(self.data)[b"info"].get(b"pieces", b"")
        return tuple(pieces[i:i + 20] for i in range(0, len(pieces), 20))

    @property
    def pieces_root(self) -> bytes | None:
        """The SHA-256 merkle root of the file's 16 KiB blocks (v2 and hybrid; None for v1)."""
        tree = load_libtorrent().bdecode(self.data)[b"info"].get(b"file tree")
        if tree is None:
            return None
        return tree[self.name.encode()][b""].get(b"pieces root")

    @property
    def trackers(self) -> tuple[str, ...]:
        """The tracker URLs the torrent names (announce and announce-list), in order."""
        return tuple(load_libtorrent().load_torrent_buffer(self.data).trackers)

    def encode(self) -> bytes:
        return self.data

    @classmethod
    def decode(cls, data: bytes) -> "TorrentFile":
        """Read the bytes of a .torrent file; raise InvalidTorrent unless labkit can share it."""
        lib = load_libtorrent()
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"a .torrent is bytes, not {type(data).__name__}")
        data = bytes(data)
        if not data:
            raise InvalidTorrent("the .torrent is empty (0 bytes)")
        try:
            end = encoded_length(data)
        except InvalidBencode as exc:
            raise InvalidTorrent(f"not a valid .torrent: {exc.reason}") from None
        if end != len(data):
            raise InvalidTorrent(f"not a valid .torrent: {len(data) - end:,} byte(s) after the metainfo")
        try:
            info = lib.torrent_info(data)
        except RuntimeError as exc:  # libtorrent reports every parse error this way
            raise InvalidTorrent(f"not a valid .torrent ({len(data)} bytes): {exc}") from None
        raw = lib.bdecode(data)[b"info"]
        _single_file_layout(raw, raw.get(b"name", b""))
        name = info.name()
        _check_name(name)
        _check_piece_length(info.piece_length())
        hashes = info.info_hashes()
        v2 = str(hashes.v2) if hashes.has_v2() else None
        return cls(
            data=data,
            name=name,
            size=_file_length(raw),
            info_hash=str(hashes.v1) if hashes.has_v1() else v2,
            piece_length=info.piece_length(),
            num_pieces=info.num_pieces(),
            info_hash_v2=v2,
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the .torrent to ``path`` (atomically; TorrentError if that is not a writable file)."""
        from ..files import atomic_write

        path = Path(path)
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise TorrentError(f"cannot write the torrent to {path}: it is not a regular file")
        try:
            return atomic_write(path, self.data)
        except OSError as exc:
            raise TorrentError(f"cannot write the torrent to {path}: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TorrentFile":
        """Read a .torrent file; TorrentError if it cannot be read, InvalidTorrent if it is not one."""
        path = Path(path)
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):  # a folder, or a FIFO whose read would wait forever
                raise TorrentError(f"{path} is not a .torrent file (it is a "
                                   f"{'folder' if stat.S_ISDIR(st.st_mode) else 'special file'})")
            if st.st_size > MAX_TORRENT_BYTES:
                raise InvalidTorrent(f"{path}: {st.st_size:,} bytes is too big for a single-file .torrent")
            data = path.read_bytes()
        except OSError as exc:
            raise TorrentError(f"cannot read {path}: {exc.strerror or exc}") from None
        try:
            return cls.decode(data)
        except InvalidTorrent as exc:
            raise InvalidTorrent(f"{path}: {exc}") from None

    def _repr_html_(self) -> str:
        return (f"<b>{html.escape(self.name)}</b>: {self.size:,} bytes in {self.num_pieces} pieces of "
                f"{self.piece_length:,} bytes; {self.version}; info-hash <code>{self.info_hash}</code>")


@dataclass(frozen=True)
class Magnet:
    """A magnet link (BEP 9): an info-hash, a name, and where to find peers."""

    info_hash: str  # as TorrentFile.info_hash: hex SHA-1, or hex SHA-256 for a v2-only torrent
    name: str | None = None
    peers: tuple[Address, ...] = ()  # x.pe: peers to ask for the metadata and the pieces
    trackers: tuple[str, ...] = ()
    info_hash_v2: str | None = None  # hex SHA-256 (xt=urn:btmh:1220...), v2 and hybrid
    ignored_peers: tuple[str, ...] = ()  # x.pe values that are not IP:PORT (host names, bad ports)

    @property
    def version(self) -> str:
        """'v1', 'v2' (v2-only) or 'hybrid', as :attr:`TorrentFile.version`."""
        if self.info_hash_v2 is None:
            return "v2" if len(self.info_hash) == 64 else "v1"
        return "v2" if self.info_hash == self.info_hash_v2 else "hybrid"

    def to_uri(self) -> str:
        parts = []
        if len(self.info_hash) == 40:
            parts.append(f"xt=urn:btih:{self.info_hash}")
        v2 = self.info_hash_v2 or (self.info_hash if len(self.info_hash) == 64 else None)
        if v2:
            parts.append(f"xt=urn:btmh:1220{v2}")
        if self.name:
            parts.append("dn=" + urllib.parse.quote(self.name, safe=""))
        parts += ["tr=" + urllib.parse.quote(t, safe="") for t in self.trackers]
        parts += ["x.pe=" + format_address(p) for p in self.peers]
        # what the link said is kept, usable or not, so parse(to_uri()) gives the same Magnet
        parts += ["x.pe=" + urllib.parse.quote(v, safe=":[]") for v in self.ignored_peers]
        return "magnet:?" + "&".join(parts)

    @classmethod
    def parse(cls, uri: str) -> "Magnet":
        """Read a magnet link; raise InvalidTorrent if it names no BitTorrent info-hash."""
        lib = load_libtorrent()
        if not isinstance(uri, str) or not uri.startswith("magnet:?"):
            raise InvalidTorrent(f"not a magnet link: {str(uri)[:60]!r}")
        try:
            params = lib.parse_magnet_uri(uri)
        except RuntimeError as exc:
            raise InvalidTorrent(f"not a valid magnet link: {exc}") from None
        hashes = params.info_hashes
        if not (hashes.has_v1() or hashes.has_v2()):
            raise InvalidTorrent("the magnet link has no BitTorrent info-hash (urn:btih or urn:btmh)")
        # libtorrent drops x.pe values it cannot use without a word; read them ourselves
        query = urllib.parse.parse_qsl(uri[len("magnet:?"):], keep_blank_values=True)
        peers, ignored = split_peers(value for key, value in query if key == "x.pe")
        v2 = str(hashes.v2) if hashes.has_v2() else None
        return cls(
            info_hash=str(hashes.v1) if hashes.has_v1() else v2,
            name=params.name or None,
            peers=peers,
            trackers=tuple(params.trackers),
            info_hash_v2=v2,
            ignored_peers=ignored,
        )


Source = Union[TorrentFile, Magnet, str, os.PathLike]  # a torrent, a magnet link, or a .torrent file


def load_source(source: Source) -> TorrentFile | Magnet:
    """A TorrentFile or Magnet from any Source (a magnet link string, or the path of a .torrent)."""
    if isinstance(source, (TorrentFile, Magnet)):
        return source
    if isinstance(source, str) and source.startswith("magnet:"):
        return Magnet.parse(source)
    if isinstance(source, (str, os.PathLike)):
        return TorrentFile.load(source)
    raise TypeError(f"expected a TorrentFile, a magnet link or a .torrent path, not {type(source).__name__}")


# --- making torrents -----------------------------------------------------------------


def make_torrent(
    path: str | os.PathLike,
    *,
    piece_length: int = 0,
    trackers: Sequence[str] = (),
    version: str = "v1",
    progress: Callable[[int, int], None] | None = None,
) -> TorrentFile:
    """Hash a file into a torrent: BitTorrent ``version`` "v1" (the default), "v2" or "hybrid".

    ``piece_length`` 0 lets libtorrent choose (16 KiB for small files); otherwise
    a power of two from 16 KiB to 128 MiB. The torrent names no trackers unless
    given; it has no creation date, so the same file always gives the same bytes.
    ``progress(pieces_hashed, num_pieces)`` is called as pieces are hashed.
    """
    lib = load_libtorrent()
    flags = {"v1": lib.create_torrent.v1_only, "v2": lib.create_torrent.v2_only, "hybrid": 0}
    if version not in flags:
        raise InvalidTorrent(f"version must be one of {', '.join(flags)}, not {version!r}")
    if piece_length != 0:
        _check_piece_length(piece_length)
    path = Path(path)
    if not path.exists():
        raise TorrentError(f"no such file: {path}")
    if not path.is_file():
        raise TorrentError(f"{path} is not a file; labkit shares one file per torrent")
    if path.stat().st_size == 0:
        raise TorrentError(f"{path} is empty; BitTorrent cannot share an empty file")
    _check_name(path.name)
    try:
        creator = lib.create_torrent(lib.list_files(str(path)), piece_length, flags[version])
    except RuntimeError as exc:
        raise TorrentError(f"cannot make a torrent of {path}: {exc}") from None
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


# --- is this file that torrent's? -----------------------------------------------------


def merkle_root(path: str | os.PathLike) -> bytes:
    """BEP 52's "pieces root" of a file: the SHA-256 merkle tree of its 16 KiB blocks, zero-padded."""
    layer = []
    with Path(path).open("rb") as f:
        while block := f.read(BLOCK):
            layer.append(hashlib.sha256(block).digest())
    width = 1
    while width < len(layer):
        width *= 2
    layer += [bytes(32)] * (width - len(layer))
    while len(layer) > 1:
        layer = [hashlib.sha256(layer[i] + layer[i + 1]).digest() for i in range(0, len(layer), 2)]
    return layer[0]


def check_file(path: str | os.PathLike, torrent: TorrentFile | Magnet | str) -> None:
    """Raise InvalidTorrent unless ``path`` is the file of ``torrent`` (a TorrentFile or magnet link).

    Against a TorrentFile it compares the size and every piece's SHA-1 (v1 and
    hybrid) or the merkle root of the file (v2), with hashlib, independently of
    libtorrent. A magnet link only carries the info-hash, so the file is hashed
    into a torrent with labkit's defaults (the file's own name, libtorrent's
    piece size) and the info-hashes compared. TorrentError if ``path`` is not a file.
    """
    path = Path(path)
    if not path.is_file():
        raise TorrentError(f"{path} is {'a folder' if path.is_dir() else 'not a file'}, not the torrent's file")
    if isinstance(torrent, (str, Magnet)):
        magnet = torrent if isinstance(torrent, Magnet) else Magnet.parse(torrent)
        check_magnet(path, magnet, make_torrent(path, version=magnet.version))
        return
    size = path.stat().st_size
    if size != torrent.size:
        raise InvalidTorrent(
            f"the torrent {torrent.name!r} is for another file: it holds {torrent.size:,} bytes, "
            f"{path} has {size:,}"
        )
    if torrent.version == "v2":
        if merkle_root(path) != torrent.pieces_root:
            raise InvalidTorrent(f"the torrent {torrent.name!r} is for another file: the SHA-256 merkle root "
                                 f"of {path} does not match")
        return
    with path.open("rb") as f:
        for index, expected in enumerate(torrent.piece_hashes):
            if hashlib.sha1(f.read(torrent.piece_length)).digest() != expected:
                raise InvalidTorrent(
                    f"the torrent {torrent.name!r} is for another file: piece {index} of {path} "
                    f"does not match its SHA-1"
                )


def check_magnet(path: Path, magnet: Magnet | str, mine: TorrentFile) -> None:
    """Raise InvalidTorrent unless ``mine`` (the torrent of ``path``) has the magnet link's info-hash."""
    magnet = magnet if isinstance(magnet, Magnet) else Magnet.parse(magnet)
    if mine.info_hash != magnet.info_hash:
        raise InvalidTorrent(
            f"the magnet link (info-hash {magnet.info_hash[:12]}…, name {magnet.name!r}) is for "
            f"another file than {path} (info-hash {mine.info_hash[:12]}…)"
        )


def magnet_link(torrent: TorrentFile, peers: Iterable[Address | str] = ()) -> str:
    """The magnet link of ``torrent``, carrying its trackers and the addresses of peers that have it (x.pe)."""
    return Magnet(torrent.info_hash, torrent.name, tuple(to_address(p) for p in peers), torrent.trackers,
                  torrent.info_hash_v2).to_uri()
