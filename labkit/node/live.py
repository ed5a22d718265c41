"""A node: one member's live peer, publishing its chain and following the others' over BitTorrent.

A ``Node`` holds its member's wallet (RSA, to sign blocks) and node key
(ed25519, to sign its pointer), the network, a :class:`~labkit.peer.Peer`
(block tree, canonical chain, VM state), one libtorrent session with the DHT
on, and a data folder::

    DIR/node.lock                        held by the node's process (labkit.node.folder)
    DIR/chain.jsonl                      the canonical chain (read back when the node starts again)
    DIR/published/TIP16/chain.jsonl      a published chain, seeded as it was (the newest KEEP_PUBLISHED)
    DIR/published/TIP16/chain.torrent    and its torrent
    DIR/fetched/INFOHASH/                a chain being fetched (removed once it is judged)
    DIR/events.jsonl                     what happened, one JSON line per event (labkit.node.journal)
    DIR/status.json                      where the node stands

What it does, each a method a notebook calls (and a ``node run`` loop repeats, see labkit.node.run):

- ``publish()``: write the canonical chain, make its torrent, seed it and put a BEP 46
  pointer (labkit.sharing.dht) under the node key, with a salt naming the network
  (:func:`network_salt`): info-hash, height, total work, and the session's listen
  address as ``peer``, so followers connect to it at once.
- ``follow()``: look up the pointers of the members this node follows (labkit.node.gossip:
  ``ceil(log2 N)`` fingers on the ring of node keys, the members that recently mined a
  tip it adopted, and one other member a round in turn); one that names more work than this node's tip is fetched by info-hash and its blocks go through ``Peer.receive``, the one
  verdict; the tree adopts the branch with most work. Pointers under a key no member has,
  pointers that go backwards (a lower seq or less work than that member said before),
  chains with a refused block and chains that cannot be fetched are logged with the
  reason and change nothing. Everything in a pointer is input from a possibly hostile
  member (labkit.node.threats): a failure is contained to that member, which is backed
  off; only a final refusal is remembered by info-hash (labkit.node.follow does this).
- ``submit(contract)`` and ``mine_once()``: mine the first queued contract on the tip with
  the fast miner, and publish. A contract the VM refuses is reported and dropped; one whose
  block is rolled back by a reorganisation goes back into the queue.
- ``status()``: member, tip, height, work, state digest, queue, the pointers seen, last events.

The folder is the node's alone (labkit.node.folder): a second node on it, what is planted
where the node keeps its files, and a damaged ``chain.jsonl`` are refused when it starts.

The session binds 127.0.0.1 and bootstraps its DHT only from the addresses given
(labkit.sharing.dht.dht_settings: no default routers, no LSD, UPnP or NAT-PMP); its IP
filter fences the DHT as well as the peers (libtorrent's ``apply_filter_to_dht``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

from ..blocksfile import save_blocks
from ..block import Block
from ..chain import Entry, mine_block, stamp
from ..errors import (DHTTimeout, InvalidBlock, InvalidToken, LabkitError, NodeError, PublishFailed, QueueError, QueueFull,
                      TorrentError)
from ..fastmine import mine as fast_mine
from ..network import Member, Network
from ..peer import Peer
from ..sharing.dht import Pointer, bootstrap, dht_settings, lookup_many, publish, wait_for_nodes
from ..tokens import MAX_DIFFICULTY, Payload, decode_token, encode_token, format_timestamp, utc_now
from ..wallet import Wallet
from .folder import CHAIN_FILE, KEEP_PUBLISHED, load_chain, open_folder, prune_published, published_copy
from .follow import Following, Taken
from .gossip import Recent, Sweep, fingers
from .journal import Event, Journal
from .keys import NodeKey
from .queue import ContractQueue, contract_key

__all__ = ["CHAIN_FILE", "KEEP_PUBLISHED", "network_salt", "check_mineable", "Node"]

Address = tuple[str, int]

FOLLOW_TIMEOUT = 2.0  # seconds for one round of pointer lookups (unanswered ones go on in the background)
PUT_TIMEOUT = 3.0  # seconds to wait for a pointer's put to be confirmed
FETCH_TIMEOUT = 30.0  # seconds for one chain to arrive
TREE_IN_STATUS = 40  # blocks of the tree listed in status.json


def network_salt(network: Network) -> bytes:
    """The BEP 44 salt of a network's pointers: ``labkit:`` and 32 hex digits of the secret's sha256.

    Named by the secret, not the name: two classes may both call theirs "classroom".
    The digest reveals nothing of a 32-byte random secret.
    """
    return b"labkit:" + hashlib.sha256(b"labkit pointer salt\n" + network.secret).hexdigest()[:32].encode()


def check_mineable(contract: Any) -> None:
    """Raise QueueError if no block could ever carry ``contract``, with the reason.

    The token the miner would make for it (with the longest fields any block has: the
    highest difficulty, a 20-digit nonce) is encoded and read back by the very functions
    the block rules apply (``labkit.tokens.decode_token``: its size, strict JSON and its
    nesting), so a contract passes here exactly when a block can carry it. Whether the VM
    accepts it depends on the chain it lands on, and is decided when it is mined.
    """
    if not isinstance(contract, dict):
        raise QueueError(f"a contract is a JSON object, not {type(contract).__name__}")
    secret = bytes(32)  # the MAC's length does not depend on the secret
    widest = Payload(prev_hash="f" * 64, timestamp=format_timestamp(utc_now()), transaction_data=contract,
                     nonce=2**64 - 1, index=10**9, difficulty=MAX_DIFFICULTY, signer="f" * 64)
    try:
        decode_token(encode_token(widest, secret), secret)
    except InvalidToken as exc:
        raise QueueError(f"this contract can never be mined: a block carrying it breaks rule {exc.rule}: "
                         f"{exc}") from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise QueueError(f"this contract can never be mined: it cannot be written as JSON ({exc})") from None


def node_miner(template, secret, difficulty, *, progress=None, cancel=None):
    """The fast miner on this process only: a node mines in a thread beside its session, and
    forking worker processes from a process that holds a libtorrent session is not safe."""
    return fast_mine(template, secret, difficulty, progress=progress, cancel=cancel, workers=1)


class Node:
    """One member's live node: a Peer, a libtorrent session with the DHT on, and a data folder.

    ``listen`` is where the session binds (None: 127.0.0.1 on a free port);
    ``bootstrap`` the (ip, port) DHT nodes to start from (no others are ever
    contacted). A wallet that is not a member's may run a node that follows,
    but its blocks are refused by every peer, its own included.
    Use it as a context manager, or call :meth:`start` and :meth:`stop`.
    """

    def __init__(self, network: Network, wallet: Wallet, node_key: NodeKey, data_dir: str | os.PathLike, *,
                 name: str | None = None, listen: str | None = None, bootstrap: Iterable[Address] = (),
                 lookup_timeout: float = FOLLOW_TIMEOUT, fetch_timeout: float = FETCH_TIMEOUT,
                 upload_limit: int | None = None, put_timeout: float = PUT_TIMEOUT,
                 clock: Callable[[], dt.datetime] = utc_now):
        self.network = network
        self.wallet = wallet
        self.node_key = node_key
        self.member: Member | None = network.member(wallet.address) if network.is_member(wallet.address) else None
        if self.member is not None and self.member.node_key not in (None, node_key.public_key):
            raise NodeError(f"this node key is not the one the network records for {self.member.name!r}")
        self.name = name or (self.member.name if self.member else wallet.name or "non-member")
        self.listen = listen
        self.bootstrap_nodes = [(str(host), int(port)) for host, port in bootstrap]
        self.lookup_timeout = lookup_timeout
        self.fetch_timeout = fetch_timeout
        self.upload_limit = upload_limit  # bytes/s per chain seeded (None: no cap)
        self.put_timeout = put_timeout
        self.clock = clock  # the time the rules judge by (a test moves it instead of sleeping)
        self.salt = network_salt(network)
        self.folder = Path(data_dir)
        self.lock = open_folder(self.folder)  # FolderInUse, or FileRefused, before anything is read or written
        try:
            self.journal = Journal(self.folder)
            self.peer = self.make_peer()
            self.queue = ContractQueue(self.folder)  # contracts waiting to be mined, saved in queue.json
            load_chain(self.peer, self.folder / CHAIN_FILE, now=self.clock())  # a node started again picks up its chain
        except BaseException:
            self.lock.release()
            raise
        self.error: str | None = None  # why the node cannot write its folder, until it can again
        self._dht_failure: str | None = None  # why the last announce reached no DHT node
        self.following = self.make_following()  # the members' pointers, refused chains, back-offs (labkit.node.follow)
        ring = [m.node_key for m in network.members if m.node_key is not None]
        self.fingers = fingers(ring, node_key.public_key)  # the members followed always (labkit.node.gossip)
        self.recent = Recent()  # and those that recently mined a tip this node adopted
        self.sweep = Sweep(ring, node_key.public_key, self.fingers)  # and one of the others a round, in turn
        self.published: Pointer | None = None
        self.published_tip: str | None = None  # hash of the tip the last publish() pointed to
        self.confirmed = False  # whether the DHT confirmed the last put (else it is put again)
        self.published_at = 0.0  # time.monotonic() of the last put
        self.session = None  # a labkit.sharing.session.TorrentSession once started
        self._seeding: dict[str, Any] = {}  # info-hash -> Transfer, oldest first
        self._published_dirs: dict[str, Path] = {}  # info-hash -> its folder in published/, oldest first

    def make_peer(self) -> Peer:
        """The node's Peer: labkit's rules (a learner's node, labkit.node.rules, puts the learner's in)."""
        return Peer(self.name, self.network, wallet=self.wallet)

    def make_following(self) -> Following:
        """How the node follows the others (labkit.node.follow)."""
        return Following(self)

    def rules(self) -> dict[str, Any]:
        """Whose rules this node runs (its status says so): labkit's, every one."""
        return {"whose": "labkit's", "parts": {}}

    # --- starting and stopping -------------------------------------------------------

    def start(self) -> "Node":
        """Open the libtorrent session (DHT on, loopback unless ``listen`` says otherwise) and bootstrap."""
        from ..sharing.metainfo import load_libtorrent
        from ..sharing.session import TorrentSession, session_settings

        if self.session is not None:
            return self
        if not self.lock.held:  # stopped, and started again
            self.lock = open_folder(self.folder)
        lib = load_libtorrent()
        dht = {k: v for k, v in dht_settings("127.0.0.1:0").items() if k.startswith("dht_") or k == "enable_dht"}
        dht["alert_mask"] = session_settings(self.listen)["alert_mask"] | lib.alert_category.dht
        self.session = TorrentSession(listen=self.listen, settings=dht)
        bootstrap(self.dht, self.bootstrap_nodes)
        self.journal.log("started", member=self.name, listen=f"{self.address[0]}:{self.address[1]}",
                         height=self.height, bootstrap=[f"{h}:{p}" for h, p in self.bootstrap_nodes])
        self.write_status()
        return self

    def stop(self) -> None:
        """Close the session (its torrents stop), write the last status and let go of the folder."""
        if self.session is None:
            self.lock.release()
            return
        session, self.session = self.session, None
        self._seeding.clear()
        self._published_dirs.clear()
        try:
            session.close(resume_timeout=1.0)
            self.journal.log("stopped", height=self.height)
            self.write_status()
        finally:
            self.lock.release()

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> Address:
        """(ip, port) where this node's session listens: its DHT node and its seeds."""
        return self.live().address

    @property
    def dht(self):
        """The libtorrent session itself, for labkit.sharing.dht's DHT calls.

        TorrentSession keeps it private; until it offers it publicly, this is the one
        place that reaches for it.
        """
        return self.live().native

    def rebootstrap(self, nodes: Iterable[Address] | None = None) -> None:
        """Name the bootstrap nodes (or these of them) to the DHT again: after a partition heals, a
        routing table that only holds this side's nodes would otherwise never look across again."""
        bootstrap(self.dht, self.bootstrap_nodes if nodes is None else nodes)

    def wait_for_dht(self, nodes: int = 1, timeout: float = 15.0) -> int:
        """Wait until the DHT routing table holds ``nodes`` nodes (the first node of a network needs ~5 s)."""
        return wait_for_nodes(self.dht, nodes, timeout, on_alert=self._dispatch)

    # --- where the node stands ---------------------------------------------------------

    @property
    def tip(self) -> Entry | None:
        return self.peer.chain.tip

    @property
    def height(self) -> int:
        """Index of the tip block; -1 when the chain is empty."""
        return -1 if self.tip is None else self.tip.index

    @property
    def total_work(self) -> int:
        return self.peer.chain.total_work

    def status(self) -> dict[str, Any]:
        """Where the node stands (also written to ``status.json``)."""
        status = {
            "member": self.name,
            "rules": self.rules(),
            "pid": os.getpid(),
            "address": self.wallet.address,
            "node_key": self.node_key.public_key.hex(),
            "listen": None if self.session is None else f"{self.address[0]}:{self.address[1]}",
            "tip": None if self.tip is None else self.tip.hash,
            "height": self.height,
            "total_work": self.total_work,
            "digest": self.peer.digest(),
            "queued": list(self.queue.waiting),  # status.json may trim it (journal.fit_status)
            "queue_length": len(self.queue),
            "refused_contracts": list(self.queue.refused),
            "error": self.error or (None if self.queue.save_error is None else
                                    f"cannot save the queue: {self.queue.save_error}"),
            "published": None if self.published is None else _pointer_json(self.published),
            "peers": {name: _pointer_json(p) for name, p in sorted(self.pointers.items())},
            "events": [event.to_json() for event in self.journal.recent],
            "tree": self.tree_summary(),
        }
        return status

    def tree_summary(self, last: int = TREE_IN_STATUS) -> list[dict[str, Any]]:
        """The newest blocks of the tree, every branch: what a dashboard draws forks from."""
        names = {m.address: m.name for m in self.network.members}
        entries = sorted(self.peer.tree, key=lambda e: (e.index, e.hash))[-last:]
        return [{"hash": e.hash[:16], "parent": e.payload.prev_hash[:16], "index": e.index,
                 "author": names.get(e.signer, "?"), "canonical": self.peer.tree.is_canonical(e.hash)}
                for e in entries]

    def write_status(self) -> dict[str, Any]:
        status = self.status()
        self.journal.write_status(status)
        return status

    @property
    def pointers(self) -> dict[str, Pointer]:
        """The newest pointer acted on, by member name."""
        return self.following.pointers

    @property
    def refused_chains(self) -> dict[str, str]:
        """Chains refused for good: info-hash -> why (never a refusal for now)."""
        return self.following.refused_chains

    @property
    def followed(self) -> dict:
        """What the node keeps about each member it follows (labkit.node.follow.Followed)."""
        return self.following.members

    @property
    def events(self) -> list[Event]:
        """The most recent events, oldest first."""
        return list(self.journal.recent)

    # --- publishing --------------------------------------------------------------------

    def publish(self) -> Pointer | None:
        """Write and seed the canonical chain and point to it in the DHT; return the pointer as stored.

        If the data folder cannot be written (read-only, full), nothing is published: the
        error goes into the status and the log, the blocks stay in memory and in the last
        chain file written, and the next call tries again.
        """
        tip = self.tip
        if tip is None:
            raise NodeError("the chain is empty: there is nothing to publish")
        folder = self.folder / "published" / tip.hash[:16]
        try:
            path = published_copy(self.folder, tip.hash)  # what was planted there is removed first
            self.peer.save(self.folder / CHAIN_FILE)
            if not path.exists():
                folder.mkdir(parents=True, exist_ok=True)
                save_blocks(path, self.peer.chain.blocks)
            pointer = self.publish_file(path, tip.index, tip.total_work, tip.hash)
        except OSError as exc:  # FileRefused too
            if not (folder / "chain.torrent").exists():
                shutil.rmtree(folder, ignore_errors=True)  # no half-written chain is kept
            return self._failed("publish", exc)
        except (PublishFailed, DHTTimeout) as exc:  # no DHT node yet (the first node of a room, alone)
            self._wrote()  # the files were written: only the announce failed
            if self._dht_failure != str(exc):
                self._dht_failure = str(exc)
                self.journal.log("failed", action="announce", reason=str(exc))
            return None
        self._dht_failure = None
        self.published_tip = tip.hash
        self._wrote()
        return pointer

    def _wrote(self) -> None:
        """The folder could be written again: clear the error (a full disk, say) from the status."""
        if self.queue.save_error is not None:
            self.queue.save()
        if self.error is not None:
            self.journal.log("recovered", after=self.error)
            self.error = None
            self.write_status()

    def _failed(self, what: str, exc: Exception) -> None:
        why = f"cannot {what}: the data folder {self.folder} cannot be written ({exc})"
        if why != self.error:
            self.error = why
            self.journal.log("failed", action=what, reason=str(exc))
        self.write_status()
        return None

    def publish_file(self, path: str | os.PathLike, height: int, total_work: int,
                     tip_hash: str | None = None) -> Pointer:
        """Seed any blocks file and point to it with this height and work (``publish`` uses it; so does a
        lesson's cheating member, whose followers must refuse what it points to)."""
        from ..sharing.metainfo import make_torrent

        path = Path(path)
        torrent = make_torrent(path)
        if not path.with_suffix(".torrent").exists():
            torrent.save(path.with_suffix(".torrent"))
        if torrent.info_hash not in self._seeding:
            self._seeding[torrent.info_hash] = self.live().seed(path, torrent, upload_limit=self.upload_limit)
            if path.parent.parent == self.folder / "published":
                self._published_dirs[torrent.info_hash] = path.parent
            while len(self._seeding) > KEEP_PUBLISHED:
                old = next(iter(self._seeding))
                self.live().remove(self._seeding.pop(old))
                self._published_dirs.pop(old, None)
            prune_published(self.folder, keep={folder.name for folder in self._published_dirs.values()})
        pointer = Pointer(torrent.info_hash, height, total_work, peer=self.address, tip=tip_hash)
        self.published_at = time.monotonic()
        try:
            self.published = publish(self.dht, self.node_key, self.salt, pointer, timeout=self.put_timeout,
                                     on_alert=self._dispatch)
        except DHTTimeout:
            # No DHT node answered in time (a partition, a closed laptop): the pointer is unconfirmed and
            # put again after RETRY_SECONDS (node/run.py); the node goes on following and mining meanwhile.
            if self.published is None or self.published.info_hash != torrent.info_hash:
                self.published = pointer
            self.confirmed = False
            self.journal.log("published", info_hash=torrent.info_hash, height=height, total_work=total_work,
                             seq=None, bytes=torrent.size, confirmed=False)
        else:
            self.confirmed = True
            self.journal.log("published", info_hash=torrent.info_hash, height=height, total_work=total_work,
                             seq=self.published.seq, bytes=torrent.size)
        self.write_status()
        return self.published

    # --- following ---------------------------------------------------------------------

    def follow(self, keys: Iterable[bytes] = ()) -> list[Event]:
        """Look up the followed members' pointers (and those under ``keys``); fetch, judge and adopt.

        The members followed are :meth:`followed_keys`: a bounded number, so a round costs
        the same in a room of 8 and of 200 (labkit.node.gossip). The pointers are taken most
        work first; a chain that does not arrive ends the round, since the pointers left are as
        old as its own, and the next round looks them up again. Returns the events this
        round logged. ``keys`` are node public keys learnt elsewhere (a peer list, a
        classroom board): one that no member has is looked up only to log that its
        pointer is ignored; one a member has is looked up this round too.
        """
        first = self.journal.count
        mine = self.node_key.public_key
        names = {m.node_key: m.name for m in self.network.members if m.node_key not in (None, mine)}
        strangers = {bytes(k) for k in keys} - {m.node_key for m in self.network.members}
        wanted = [*self.followed_keys(), *self.sweep.next(), *(bytes(k) for k in keys if bytes(k) in names)]
        found = lookup_many(self.dht, [*dict.fromkeys(wanted), *strangers], self.salt, self.lookup_timeout,
                            on_alert=self._dispatch)
        before = None if self.tip is None else self.tip.hash
        # the pointer naming most work first: one fetch may make the others unnecessary
        order = sorted(found.items(), key=lambda kv: -kv[1].total_work if isinstance(kv[1], Pointer) else 0)
        for key, pointer in order:
            who = names.get(key, f"key {key.hex()[:16]}…")
            if isinstance(pointer, LabkitError):
                self.following.ignore(who, 0, f"its pointer cannot be read: {pointer}")
            elif pointer is None:
                continue
            elif key in strangers:
                self.following.ignore(who, pointer.seq, "not a member's node key: the network lists no such member",
                             info_hash=pointer.info_hash, total_work=pointer.total_work)
            elif self.consider(who, pointer) is Taken.LATER:
                # a chain that did not arrive (its publisher has moved on, or cannot be reached): the
                # pointers left in this round are as old as it, so the next round looks them up again
                break
        if self.tip is not None and self.tip.hash != before:
            miner = self.network.member(self.tip.signer) if self.network.is_member(self.tip.signer) else None
            if miner is not None and miner.node_key not in (None, mine):
                self.recent.saw(miner.node_key)  # it is likely to mine the next tip too: follow it directly
        self.write_status()
        return self.journal.since(first)

    def followed_keys(self) -> tuple[bytes, ...]:
        """The node keys this node follows: its fingers, then the recent miners not among them
        (a round also looks up the sweep's next member, labkit.node.gossip.Sweep)."""
        return tuple(dict.fromkeys([*self.fingers, *self.recent.keys()]))

    def consider(self, name: str, pointer: Pointer) -> Taken | None:
        """Act on the pointer member ``name`` published (labkit.node.follow: fetched if it names more work);
        what the fetch came to, or None when nothing was fetched."""
        return self.following.consider(name, pointer)

    # --- mining ------------------------------------------------------------------------

    def submit(self, contract: dict) -> int:
        """Queue a contract to be mined; return its place in the queue (0 is next).

        Raises QueueError (and queues nothing) for a contract no block could ever carry
        (:func:`check_mineable`).
        """
        check_mineable(contract)
        place = self.queue.append(contract)
        self.journal.log("queued", contract=contract, place=place)
        self.write_status()
        return place

    def take_inbox(self) -> list[dict]:
        """Queue the contracts ``node submit`` dropped into the inbox; report the files refused."""
        queued, bad = self.queue.take_inbox()
        for contract in list(queued):
            try:
                check_mineable(contract)
            except QueueError as exc:  # written by an older `node submit`, or by hand
                queued.remove(contract)
                self.refuse_contract(contract, "submit", str(exc))
                continue
            self.journal.log("queued", contract=contract, place=len(self.queue) - 1, source="inbox")
        for name, why in bad:
            self.journal.log("contract refused", file=name, rule="submit", reason=why)
        if queued or bad:
            self.write_status()
        return queued

    def mine(self, contract: dict, *, cancel=None) -> Block:
        """Mine ``contract`` on the current tip (the block is not added: see :meth:`add_mined`).

        Touches nothing of the node but reads its tip, so it may run in a thread while
        the node follows; ``cancel`` (a threading.Event) stops it with MiningCancelled.
        """
        return mine_block(self.network, self.wallet, contract, parent=self.tip, miner=node_miner, cancel=cancel,
                          timestamp=stamp(self.tip, self.clock()))

    def add_mined(self, block: Block, contract: dict, *, publish: bool = True) -> Entry | None:
        """Add a block this node mined; publish it if it became the tip.

        Returns its entry, or None when the VM refused the contract (then it is dropped
        and listed in the status's ``refused_contracts``). A block mined on a tip that
        is no longer the tip still joins the tree, on its branch.
        """
        before_tip, before_reorgs = self.tip, len(self.peer.reorgs)
        try:
            update = self.peer.receive_block(block, now=self.clock())
        except InvalidBlock as exc:
            # The VM's refusal, or (should the miner and the rules ever disagree) any other rule's:
            # the contract is refused and the queue moves on, never retried for good nor fatal.
            self.refuse_contract(contract, exc.rule, exc.reason)
            return None
        entry = self.peer.tree.entry(update.hash)
        if self.peer.tree.is_canonical(entry.hash):
            self.queue.done(contract)  # else it stays queued: mined on a tip that lost, it is mined again
        self.journal.log("mined", height=entry.index, block=entry.hash, total_work=entry.total_work,
                         canonical=str(update.status))
        self.after_change(before_tip, before_reorgs, source=None)
        if publish and self.session is not None and self.tip is not None and self.tip.hash == entry.hash:
            self.publish()
        else:
            self.write_status()
        return entry

    def refuse_contract(self, contract: dict, rule: str, reason: str) -> None:
        """Drop a queued contract that cannot be mined, say why, and let the queue move on."""
        self.queue.refuse(contract, rule, reason)
        self.journal.log("contract refused", contract=contract, rule=rule, reason=reason)
        self.write_status()

    def mine_once(self, *, publish: bool = True) -> Entry | None:
        """Mine the first queued contract on the tip, add it and (if the session is open) publish.

        Returns the new entry, or None when the queue is empty or the VM refused the contract.
        """
        contract = self.queue.first
        if contract is None:
            return None
        return self.add_mined(self.mine(contract), contract, publish=publish)

    # --- internals -----------------------------------------------------------------------

    def after_change(self, before_tip: Entry | None, before_reorgs: int, source: str | None) -> None:
        """Log what changed in the canonical chain; put the contracts of this node's orphaned blocks back."""
        if self.tip is not before_tip and source is not None:
            self.journal.log("adopted", member=source, height=self.height, tip=self.tip.hash,
                             total_work=self.total_work, digest=self.peer.digest())
        if self.tip is not before_tip:
            try:
                self.peer.save(self.folder / CHAIN_FILE)
            except OSError as exc:  # the blocks stay in the tree; publish() tries again
                self._failed("save the chain", exc)
        in_chain = {contract_key(e.payload.transaction_data) for e in self.peer.chain}
        for reorg in self.peer.reorgs[before_reorgs:]:
            self.journal.log("reorganised", depth=reorg.depth, fork_index=reorg.fork_index,
                             old_work=reorg.old_work, new_work=reorg.new_work, applied=len(reorg.applied))
            for entry in reversed(reorg.rolled_back):  # back at the front, in their old order
                contract = entry.payload.transaction_data
                if entry.signer != self.wallet.address or contract_key(contract) in in_chain:
                    continue
                try:
                    if self.queue.put_back(contract):
                        self.journal.log("requeued", contract=contract, block=entry.hash, height=entry.index)
                except QueueFull as exc:  # it stays in its block, on the side branch
                    self.journal.log("contract refused", contract=contract, rule="queue", reason=str(exc))
        # a queued contract that another member's block now carries is done
        for contract in list(self.queue.waiting):
            if contract_key(contract) in in_chain:
                self.queue.done(contract)

    def _dispatch(self, alert: Any) -> None:
        """Hand an alert popped by a DHT call to the session, as its poll would."""
        self.live().dispatch(alert)

    def live(self):
        """The open session (a labkit.sharing.session.TorrentSession); NodeError if the node is not started."""
        if self.session is None:
            raise NodeError(f"node {self.name!r} is not started (call start(), or use it in a with block)")
        return self.session

    def __repr__(self) -> str:
        state = "running" if self.session is not None else "stopped"
        return f"Node({self.name!r}, height {self.height}, work {self.total_work}, {state})"


def _pointer_json(pointer: Pointer) -> dict[str, Any]:
    return {"info_hash": pointer.info_hash, "height": pointer.height, "total_work": pointer.total_work,
            "seq": pointer.seq, "peer": None if pointer.peer is None else f"{pointer.peer[0]}:{pointer.peer[1]}"}
