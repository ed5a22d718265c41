"""One file moving by BitTorrent: ``Transfer``, and ``TransferStatus``, a snapshot of it.

A :class:`~labkit.sharing.session.TorrentSession` makes a Transfer for every
file it seeds or fetches, hands it libtorrent's alerts about that file
(:meth:`Transfer.handle_alert`, a table from alert class to method) and lets it
advance on every poll: when every piece has passed its hash check, the
Transfer moves the file from ``DEST/.labkit-partial/INFOHASH/`` into ``DEST``,
hashes it once more with :mod:`hashlib`, and only then sets :attr:`Transfer.path`.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..errors import FetchTimeout, InvalidTorrent, TorrentError
from .addresses import Address, format_address
from .metainfo import TorrentFile, check_file, load_libtorrent

if TYPE_CHECKING:
    from .session import TorrentSession

__all__ = ["TransferStatus", "Transfer", "Progress"]

Progress = Callable[["TransferStatus"], None]

# Progress 1.0, yet libtorrent has not called the download finished: seen once in the suite's many runs,
# in the test where a lying peer is banned (libtorrent's author describes pieces stuck between failed and
# had in qBittorrent issue 7893; the cause here is not known). After this many seconds stalled so, the
# transfer asks libtorrent to hash the staged file again, which settles what is really on the disk.
STALL_SECONDS = 5.0


@dataclass(frozen=True)
class TransferStatus:
    """A snapshot of one file being fetched or shared, as progress callbacks receive it."""

    name: str
    info_hash: str  # hex, as TorrentFile.info_hash
    state: str  # libtorrent's: checking_files, downloading_metadata, downloading, finished, seeding...
    progress: float  # 0..1, the share of the file whose pieces passed their hash check
    download_rate: int  # bytes/s of file data
    upload_rate: int  # bytes/s of file data
    peers: int  # connected peers
    downloaded: int  # bytes of file data received since this session added the torrent
    uploaded: int  # bytes of file data sent since this session added the torrent
    hash_failures: int  # pieces that failed their hash check (and were downloaded again)
    banned_peers: tuple[str, ...]  # "host:port" of peers banned for sending bad data
    elapsed: float  # seconds since the transfer started
    complete: bool  # every piece passed its check and the file is in its final place


class Transfer:
    """One file shared or fetched by a :class:`TorrentSession` (a live handle; see :meth:`status`)."""

    def __init__(self, session: "TorrentSession", handle: Any, *, name: str, info_hash: str,
                 torrent: TorrentFile | None, dest_dir: Path, staging: Path | None,
                 peers: Iterable[Address], overwrite: bool = False, ignored_peers: Sequence[str] = (),
                 created: Path | None = None):
        self.session = session
        self.torrent = torrent  # None until a magnet link's metadata arrives
        self.dest_dir = dest_dir
        self.info_hash = info_hash
        self.peers_tried: list[str] = [format_address(p) for p in peers]
        self.ignored_peers: list[str] = list(ignored_peers)  # x.pe values of the magnet link not used
        self.tracker_errors: list[str] = []  # what trackers answered when an announce failed
        self.hash_failures = 0
        self.failed_pieces: list[int] = []
        self.banned_peers: list[str] = []
        self.finished_s: float | None = None  # seconds from start until every piece had passed its check
        self.path: Path | None = None  # set once the file is complete, moved and re-hashed
        self.error: TorrentError | None = None
        self.checked = False  # libtorrent has checked the files on disk
        self.created = created  # the top folder of dest_dir that fetching created, if any
        self._name = name
        self._handle = handle
        self._staging = staging
        self._overwrite = overwrite
        self._moving = False
        # discard the staging folder (and the folders fetching made) when the transfer leaves: the metadata
        # that arrived is not a torrent labkit shares, or the fetch timed out before anything arrived
        self._discard = False
        self._held = torrent is None  # a magnet link starts in upload mode until its metadata is checked
        self._started = time.monotonic()
        self._last: TransferStatus | None = None
        self.rechecks = 0  # times a transfer stalled at 100 % was rechecked (STALL_SECONDS)
        self.reconnects = 0  # times a magnet's peers were connected again after its metadata (_reconnect)
        self._reconnect_due = False  # upload mode has ended: reconnect once the files are checked
        self._stalled_since: float | None = None

    def __repr__(self) -> str:
        return f"<Transfer {self.name!r} {self.info_hash[:12]}… {'complete' if self.complete else 'incomplete'}>"

    @property
    def name(self) -> str:
        return self.torrent.name if self.torrent else self._name

    @property
    def complete(self) -> bool:
        return self.path is not None

    @property
    def seeding(self) -> bool:
        """libtorrent has every piece and serves them."""
        return self._live_handle() is not None and bool(self._handle.status().is_seeding)

    @property
    def trackers(self) -> list[str]:
        """The tracker URLs this transfer announces to (none unless the caller named or allowed them)."""
        handle = self._live_handle()
        return [entry["url"] for entry in handle.trackers()] if handle is not None else []

    def status(self) -> TransferStatus:
        """The transfer's current status (its last one once the session has closed)."""
        if self._live_handle() is None:
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
        """Ask this transfer to connect to one more peer (if the session's policy allows it)."""
        host, port = self.session.allow(peer)
        self.peers_tried.append(format_address((host, port)))
        if self._live_handle() is not None:
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
                if status.progress == 0.0 and status.downloaded == 0:  # nothing to resume: leave nothing behind
                    self._discard = True
                detail = ""
                if status.progress >= 1.0:  # every piece is here, yet the file was not handed over
                    st = self._handle.status()
                    detail = (f"all pieces arrived but the file was not moved into place: state {st.state}, "
                              f"moving {self._moving}/{st.moving_storage}, save path {st.save_path}")
                raise FetchTimeout(self.name, self.peers_tried, timeout, status.progress, detail)

    def cancel(self) -> None:
        """Stop the transfer and remove it from its session.

        A partial download keeps its resume data; a fetch that timed out before anything arrived
        leaves nothing behind (no ``.labkit-partial`` folder, no destination folder it made).
        """
        self.session.remove(self, save_resume=not self._discard)

    # -- called by the session ------------------------------------------------------

    def handle_alert(self, alert) -> None:
        """Take in one of libtorrent's alerts about this transfer (see ``_ALERTS``)."""
        method = _ALERTS.get(type(alert).__name__)
        if method is not None:
            method(self, alert)

    def advance(self) -> None:
        """Move a finished download into place and verify it (called by the session's poll)."""
        if self.path is not None or self.error or self._staging is None or self._live_handle() is None:
            return
        st = self._handle.status()
        if self._moving:
            # The storage_moved alert normally finishes the move; should it be missed, the
            # handle itself says when the files sit in the destination (seen once in CI).
            if not st.moving_storage and Path(st.save_path).resolve() == self.dest_dir:
                self._on_moved(None)
            return
        if not st.has_metadata:
            return
        if self.torrent is None and not self._on_metadata():
            return
        lib = load_libtorrent()
        if self._held:  # a magnet link's metadata passed its checks: now download the pieces
            self._held = False
            self._handle.unset_flags(lib.torrent_flags.upload_mode)
            self._reconnect_due = True
            return
        if self._reconnect_due and not str(st.state).startswith("checking"):
            self._reconnect_due = False
            if st.num_peers == 0:
                self._reconnect()
        if not ((st.is_seeding or st.is_finished) and st.pieces and all(st.pieces)):
            self._watch_stall(st)
            return
        if self.finished_s is None:
            self.finished_s = time.monotonic() - self._started
        target = self.dest_dir / self.name
        flags = lib.move_flags_t
        if target.exists() and not self._overwrite:
            try:
                check_file(target, self.torrent)
            except InvalidTorrent:
                self.error = TorrentError(f"{target} already exists and is another file; "
                                          f"move it away or fetch with overwrite=True")
                return
            except TorrentError as exc:  # a folder has appeared there
                self.error = exc
                return
            mode = flags.dont_replace  # the same file is already there: keep it and seed from it
        else:
            mode = flags.always_replace_files if self._overwrite else flags.fail_if_exist
        self._moving = True
        self._handle.move_storage(str(self.dest_dir), mode)

    def _reconnect(self) -> None:
        """Connect again at once to the peers that left while the metadata was checked.

        In upload mode a seed is an "upload to upload" connection, so libtorrent drops every
        seed the moment the metadata arrives, and counts none of them as a peer to connect
        to. Leaving upload mode does not count them again: only libtorrent's once-a-second
        tick does, so every magnet fetch waited about a second with no peer (0.05 s instead,
        measured by ``make bench``'s torrent suite). Pausing and resuming a torrent with no
        connection loses nothing and makes libtorrent count its peers at once; done after the
        check of the files (a torrent being checked connects to no one).
        """
        self.reconnects += 1
        self._handle.pause()
        self._handle.resume()

    def _watch_stall(self, st: Any) -> None:
        """Recheck the staged file once a download has sat at 100 % unfinished for STALL_SECONDS."""
        if st.progress < 1.0 or st.is_seeding or st.is_finished or str(st.state) != "downloading":
            self._stalled_since = None
            return
        now = time.monotonic()
        if self._stalled_since is None:
            self._stalled_since = now
        elif now - self._stalled_since >= STALL_SECONDS:
            self._stalled_since = None
            self.rechecks += 1
            self._handle.force_recheck()

    def request_resume_data(self) -> bool:
        """Ask libtorrent for this download's resume data; False if there is nothing to resume."""
        if self._staging is None or self.complete or self._discard or self._live_handle() is None:
            return False
        if not self._handle.status().has_metadata:
            return False
        flags = load_libtorrent().save_resume_flags_t
        self._handle.save_resume_data(flags.flush_disk_cache | flags.save_info_dict)
        return True

    def write_resume_data(self, data: bytes) -> None:
        """Keep resume data in the staging folder, so a later session resumes instead of starting over."""
        try:
            (self._staging / "resume.dat").write_bytes(data)
        except OSError:
            # The staging folder is gone (deleted under us): there is nothing to resume,
            # and closing must not hide the error that made the caller close.
            pass

    def detach(self):
        """Leave the session: keep a last status, and return libtorrent's handle for it to remove (or None)."""
        handle = self._live_handle()
        if handle is not None:
            self.status()  # the last snapshot, kept for callers
        self._handle = None
        if self._discard:  # nothing of it stays: no partial folder, no new destination
            self._discard_staging()
            folder = self.dest_dir
            while self.created is not None and folder.is_relative_to(self.created):
                try:
                    folder.rmdir()  # only if empty
                except OSError:
                    break
                folder = folder.parent
        return handle

    # -- the alerts -------------------------------------------------------------------

    def _live_handle(self):
        return self._handle if self._handle is not None and self._handle.is_valid() else None

    def _on_checked(self, alert) -> None:
        self.checked = True

    def _on_hash_failed(self, alert) -> None:
        self.hash_failures += 1
        self.failed_pieces.append(alert.piece_index)

    def _on_peer_ban(self, alert) -> None:
        who = format_address(alert.endpoint)
        if who not in self.banned_peers:
            self.banned_peers.append(who)

    def _on_move_failed(self, alert) -> None:
        self._moving = False
        self.error = TorrentError(f"cannot move {self.name!r} into {self.dest_dir}: {alert.message()}")

    def _on_error(self, alert) -> None:
        self.error = TorrentError(f"{self.name!r}: {alert.message()}")

    def _on_tracker_error(self, alert) -> None:
        self.tracker_errors.append(alert.message())

    def _on_metadata(self) -> bool:
        """Read the info dict a magnet link's peers sent; refuse it as a .torrent would be refused."""
        info = self._handle.torrent_file()
        try:
            # the info dict libtorrent checked against the info-hash, wrapped as a .torrent
            torrent = TorrentFile.decode(b"d4:info" + info.info_section() + b"e")
            target = self.dest_dir / torrent.name
            if target.exists() and not target.is_file():
                raise TorrentError(f"{target} is a folder (or not a regular file); "
                                   f"cannot save {torrent.name!r} there")
        except TorrentError as exc:
            self._handle.pause()
            self._discard = True
            self.error = exc
            return False
        self.torrent = torrent
        return True

    def _on_moved(self, alert) -> None:
        if self.path is not None:  # already finished (the alert came after the handle said so)
            return
        self._moving = False
        target = self.dest_dir / self.name
        try:
            check_file(target, self.torrent)  # a second opinion, with hashlib
        except (TorrentError, OSError) as exc:
            self.error = TorrentError(f"{target} failed its final check: {exc}")
            return
        self._discard_staging()
        self.path = target

    def _discard_staging(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            try:
                self._staging.parent.rmdir()  # .labkit-partial, if nothing else is in it
            except OSError:
                pass


# libtorrent's alert class -> what a Transfer does with it
_ALERTS: dict[str, Callable[[Transfer, Any], None]] = {
    "torrent_checked_alert": Transfer._on_checked,
    "hash_failed_alert": Transfer._on_hash_failed,
    "peer_ban_alert": Transfer._on_peer_ban,
    "storage_moved_alert": Transfer._on_moved,
    "storage_moved_failed_alert": Transfer._on_move_failed,
    "torrent_error_alert": Transfer._on_error,
    "file_error_alert": Transfer._on_error,
    "tracker_error_alert": Transfer._on_tracker_error,
}
