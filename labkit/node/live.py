"""A node: one member's live peer, publishing its chain and following the others' over BitTorrent.

A ``Node`` holds its member's wallet (RSA, to sign blocks) and node key
(ed25519, to sign its pointer), the network, a :class:`~labkit.peer.Peer`
(block tree, canonical chain, VM state), one libtorrent session with the DHT
on, and a data folder::

    DIR/chain.jsonl                      the canonical chain (read back when the node starts again)
    DIR/published/TIP16/chain.jsonl      a published chain, seeded as it was
    DIR/published/TIP16/chain.torrent    and its torrent
    DIR/fetched/INFOHASH/                a chain being fetched (removed once it is judged)
    DIR/events.jsonl                     what happened, one JSON line per event (labkit.node.journal)
    DIR/status.json                      where the node stands

What it does, each a method a notebook calls (and a ``node run`` loop repeats, see :meth:`Node.step`):

- ``publish()``: write the canonical chain, make its torrent, seed it and put a BEP 46
  pointer (labkit.pointer) under the node key, with a salt naming the network
  (:func:`network_salt`): info-hash, height, total work, and the session's listen
  address as ``peer``, so followers connect to it at once.
- ``follow()``: look up every other member's pointer; one that names more work than this
  node's tip is fetched by info-hash and its blocks go through ``Peer.receive``, the one
  verdict; the tree adopts the branch with most work. Pointers under a key no member has,
  pointers that go backwards (a lower seq or less work than that member said before),
  chains with a refused block and chains that cannot be fetched are logged with the
  reason and change nothing.
- ``submit(contract)`` and ``mine_once()``: mine the first queued contract on the tip with
  the fast miner, and publish. A contract the VM refuses is reported and dropped; one whose
  block is rolled back by a reorganisation goes back into the queue.
- ``status()``: member, tip, height, work, state digest, queue, the pointers seen, last events.

The session binds 127.0.0.1 and bootstraps its DHT only from the addresses given
(labkit.pointer.dht_settings: no default routers, no LSD, UPnP or NAT-PMP); its IP
filter fences the DHT as well as the peers (libtorrent's ``apply_filter_to_dht``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable

from ..blocksfile import MAX_FILE_BYTES, save_blocks
from ..chain import Entry, mine_block
from ..errors import InvalidBlock, InvalidSignature, TorrentError
from ..fastmine import mine as fast_mine
from ..network import Member, Network
from ..peer import Peer
from ..pointer import DHTTimeout, InvalidPointer, NodeKey, Pointer, bootstrap, dht_settings, lookup, publish
from ..pointer import wait_for_nodes
from ..wallet import Wallet
from .journal import Event, Journal, NodeError

__all__ = ["CHAIN_FILE", "KEEP_PUBLISHED", "network_salt", "Node"]

Address = tuple[str, int]

CHAIN_FILE = "chain.jsonl"  # the name of every chain a node shares, so the same blocks give the same torrent
KEEP_PUBLISHED = 2  # chains a node keeps seeding: the newest, and the one a follower may still be fetching
FOLLOW_TIMEOUT = 5.0  # seconds for one pointer lookup
FETCH_TIMEOUT = 30.0  # seconds for one chain to arrive


def network_salt(network: Network) -> bytes:
    """The BEP 44 salt of a network's pointers: ``labkit:`` and 32 hex digits of the secret's sha256.

    Named by the secret, not the name: two classes may both call theirs "classroom".
    The digest reveals nothing of a 32-byte random secret.
    """
    return b"labkit:" + hashlib.sha256(b"labkit pointer salt\n" + network.secret).hexdigest()[:32].encode()


def _contract_key(contract: Any) -> str:
    return json.dumps(contract, sort_keys=True, ensure_ascii=False)


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
                 lookup_timeout: float = FOLLOW_TIMEOUT, fetch_timeout: float = FETCH_TIMEOUT):
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
        self.salt = network_salt(network)
        self.folder = Path(data_dir)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.folder)
        self.peer = Peer(self.name, network, wallet=wallet)
        self.queue: list[dict] = []  # contracts waiting to be mined, first first
        self.refused_contracts: list[dict] = []  # {"contract", "rule", "reason"} for each one the VM refused
        self.pointers: dict[str, Pointer] = {}  # the newest pointer acted on, by member name
        self.refused_chains: dict[str, str] = {}  # info-hash -> why its chain was refused
        self.published: Pointer | None = None
        self.published_tip: str | None = None  # hash of the tip the last publish() pointed to
        self.session = None  # a labkit.sharing.session.TorrentSession once started
        self._seeding: dict[str, Any] = {}  # info-hash -> Transfer, oldest first
        self._ignored: set[tuple[str, int, str]] = set()  # (who, seq, why) already logged
        chain_file = self.folder / CHAIN_FILE
        if chain_file.exists():  # a node started again picks up the chain it had
            self.peer.receive(chain_file)

    # --- starting and stopping -------------------------------------------------------

    def start(self) -> "Node":
        """Open the libtorrent session (DHT on, loopback unless ``listen`` says otherwise) and bootstrap."""
        from ..sharing.metainfo import load_libtorrent
        from ..sharing.session import TorrentSession, session_settings

        if self.session is not None:
            return self
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
        """Close the session (its torrents stop) and write the last status."""
        if self.session is None:
            return
        session, self.session = self.session, None
        self._seeding.clear()
        session.close(resume_timeout=1.0)
        self.journal.log("stopped", height=self.height)
        self.write_status()

    def __enter__(self) -> "Node":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def address(self) -> Address:
        """(ip, port) where this node's session listens: its DHT node and its seeds."""
        return self._live().address

    @property
    def dht(self):
        """The libtorrent session itself, for labkit.pointer's DHT calls.

        TorrentSession keeps it private; until it offers it publicly, this is the one
        place that reaches for it.
        """
        return self._live().native

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
            "address": self.wallet.address,
            "node_key": self.node_key.public_key.hex(),
            "listen": None if self.session is None else f"{self.address[0]}:{self.address[1]}",
            "tip": None if self.tip is None else self.tip.hash,
            "height": self.height,
            "total_work": self.total_work,
            "digest": self.peer.digest(),
            "queued": list(self.queue),
            "refused_contracts": list(self.refused_contracts),
            "published": None if self.published is None else _pointer_json(self.published),
            "peers": {name: _pointer_json(p) for name, p in sorted(self.pointers.items())},
            "events": [event.to_json() for event in self.journal.recent],
        }
        return status

    def write_status(self) -> dict[str, Any]:
        status = self.status()
        self.journal.write_status(status)
        return status

    @property
    def events(self) -> list[Event]:
        """The most recent events, oldest first."""
        return list(self.journal.recent)

    # --- publishing --------------------------------------------------------------------

    def publish(self) -> Pointer:
        """Write and seed the canonical chain and point to it in the DHT; return the pointer as stored."""
        tip = self.tip
        if tip is None:
            raise NodeError("the chain is empty: there is nothing to publish")
        self.peer.save(self.folder / CHAIN_FILE)
        folder = self.folder / "published" / tip.hash[:16]
        path = folder / CHAIN_FILE
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            save_blocks(path, self.peer.chain.blocks)
        pointer = self.publish_file(path, tip.index, tip.total_work)
        self.published_tip = tip.hash
        return pointer

    def publish_file(self, path: str | os.PathLike, height: int, total_work: int) -> Pointer:
        """Seed any blocks file and point to it with this height and work (``publish`` uses it; so does a
        lesson's cheating member, whose followers must refuse what it points to)."""
        from ..sharing.metainfo import make_torrent

        path = Path(path)
        torrent = make_torrent(path)
        if not path.with_suffix(".torrent").exists():
            torrent.save(path.with_suffix(".torrent"))
        if torrent.info_hash not in self._seeding:
            self._seeding[torrent.info_hash] = self._live().seed(path, torrent)
            while len(self._seeding) > KEEP_PUBLISHED:
                old = next(iter(self._seeding))
                self._live().remove(self._seeding.pop(old))
        pointer = Pointer(torrent.info_hash, height, total_work, peer=self.address)
        self.published = publish(self.dht, self.node_key, self.salt, pointer, on_alert=self._dispatch)
        self.journal.log("published", info_hash=torrent.info_hash, height=height, total_work=total_work,
                         seq=self.published.seq, bytes=torrent.size)
        self.write_status()
        return self.published

    # --- following ---------------------------------------------------------------------

    def follow(self, keys: Iterable[bytes] = ()) -> list[Event]:
        """Look up every other member's pointer (and those under ``keys``); fetch, judge and adopt.

        Returns the events this round logged. ``keys`` are node public keys learnt
        elsewhere (a peer list, a classroom board): one that no member has is
        looked up only to log that its pointer is ignored.
        """
        first = self.journal.count
        mine = self.node_key.public_key
        for member in self.network.members:
            if member.node_key is not None and member.node_key != mine:
                self._follow_one(member.name, member.node_key)
        members = {m.node_key for m in self.network.members}
        for key in keys:
            key = bytes(key)
            if key not in members:
                self._follow_stranger(key)
        self.write_status()
        return self.journal.since(first)

    def _follow_one(self, name: str, key: bytes) -> None:
        try:
            pointer = lookup(self.dht, key, self.salt, self.lookup_timeout, on_alert=self._dispatch)
        except (DHTTimeout, InvalidSignature, InvalidPointer) as exc:
            self._ignore(name, 0, f"its pointer cannot be read: {exc}")
            return
        if pointer is not None:
            self.consider(name, pointer)

    def _follow_stranger(self, key: bytes) -> None:
        who = f"key {key.hex()[:16]}…"
        try:
            pointer = lookup(self.dht, key, self.salt, self.lookup_timeout, on_alert=self._dispatch)
        except (DHTTimeout, InvalidSignature, InvalidPointer) as exc:
            self._ignore(who, 0, f"its pointer cannot be read: {exc}")
            return
        if pointer is not None:
            self._ignore(who, pointer.seq, "not a member's node key: the network lists no such member",
                         info_hash=pointer.info_hash, total_work=pointer.total_work)

    def consider(self, name: str, pointer: Pointer) -> None:
        """Act on the pointer member ``name`` published: fetch its chain if it names more work than the tip."""
        last = self.pointers.get(name)
        if last is not None and pointer.seq == last.seq:
            return  # nothing new
        if last is not None and (pointer.seq < last.seq or pointer.total_work < last.total_work):
            self._ignore(name, pointer.seq, f"goes backwards: seq {pointer.seq} with work {pointer.total_work} "
                                            f"after seq {last.seq} with work {last.total_work}")
            return
        self.pointers[name] = pointer
        if pointer.info_hash in self.refused_chains:
            self._ignore(name, pointer.seq, f"its chain was refused before ({self.refused_chains[pointer.info_hash]})")
            return
        if pointer.total_work <= self.total_work:
            return  # this node holds as much work already
        if not self._fetch_and_receive(name, pointer):
            del self.pointers[name]  # not fetched: try again next round

    def _fetch_and_receive(self, name: str, pointer: Pointer) -> bool:
        """Fetch the chain a pointer names and give its blocks to the peer; False if it did not arrive."""
        from ..sharing.metainfo import Magnet

        session = self._live()
        dest = self.folder / "fetched" / pointer.info_hash
        start = time.monotonic()
        try:
            transfer = session.add(Magnet(pointer.info_hash, peers=(pointer.peer,) if pointer.peer else ()), dest)
        except TorrentError as exc:
            self._ignore(name, pointer.seq, f"cannot fetch its chain: {exc}", info_hash=pointer.info_hash)
            return False
        why = self._wait(transfer, start + self.fetch_timeout)
        if why is not None:
            transfer.cancel()
            shutil.rmtree(dest, ignore_errors=True)
            self._ignore(name, pointer.seq, why, info_hash=pointer.info_hash)
            if "larger than" in why:
                self.refused_chains[pointer.info_hash] = why
                return True
            return False
        fetched = transfer.status().downloaded
        self.journal.log("fetched", member=name, info_hash=pointer.info_hash, height=pointer.height,
                         bytes=fetched, size=transfer.torrent.size, seconds=round(time.monotonic() - start, 3))
        before_tip, before_reorgs = self.tip, len(self.peer.reorgs)
        try:
            reports = self.peer.receive(transfer.path)
        finally:
            session.remove(transfer)
            shutil.rmtree(dest, ignore_errors=True)
        refused = [r for r in reports if not r.accepted]
        if refused:
            first = refused[0]
            why = f"block {first.index} breaks rule {first.rule}: {first.reason}"
            self.refused_chains[pointer.info_hash] = why
            self.journal.log("refused", member=name, info_hash=pointer.info_hash, rule=first.rule,
                             reason=first.reason, index=first.index, block=first.hash, refused_blocks=len(refused))
        self._after_change(before_tip, before_reorgs, source=name)
        if not refused and pointer.total_work > self.total_work:
            self._ignore(name, pointer.seq, f"claims work {pointer.total_work}, its chain holds less",
                         info_hash=pointer.info_hash)
        return True

    def _wait(self, transfer, deadline: float) -> str | None:
        """Drive a fetch until it completes; the reason it did not, or None."""
        session = self._live()
        while not transfer.complete:
            session.poll(0.05)
            if transfer.error is not None:
                return f"its chain could not be fetched: {transfer.error}"
            if transfer.torrent is not None and transfer.torrent.size > MAX_FILE_BYTES:
                return (f"its chain is {transfer.torrent.size:,} bytes, larger than a blocks file may be "
                        f"({MAX_FILE_BYTES:,})")
            if time.monotonic() > deadline:
                got = transfer.status()
                return (f"its chain did not arrive within {self.fetch_timeout:g} s "
                        f"({got.progress:.0%}, {got.peers} peers, from {', '.join(transfer.peers_tried) or 'no one'})")
        return None

    # --- mining ------------------------------------------------------------------------

    def submit(self, contract: dict) -> int:
        """Queue a contract to be mined; return its place in the queue (0 is next)."""
        self.queue.append(contract)
        self.journal.log("queued", contract=contract, place=len(self.queue) - 1)
        self.write_status()
        return len(self.queue) - 1

    def mine_once(self, *, publish: bool = True) -> Entry | None:
        """Mine the first queued contract on the tip and (if the session is open) publish.

        Returns the new entry, or None when the queue is empty or the VM refused the
        contract (then it is dropped and listed in ``refused_contracts``).
        """
        if not self.queue:
            return None
        contract = self.queue[0]
        block = mine_block(self.network, self.wallet, contract, parent=self.tip, miner=fast_mine)
        before_tip, before_reorgs = self.tip, len(self.peer.reorgs)
        try:
            update = self.peer.receive_block(block)
        except InvalidBlock as exc:
            if exc.rule != "contract":
                raise NodeError(f"a block this node mined was refused at rule {exc.rule}: {exc.reason}") from None
            self.queue.pop(0)
            self.refused_contracts.append({"contract": contract, "rule": exc.rule, "reason": exc.reason})
            self.journal.log("contract refused", contract=contract, rule=exc.rule, reason=exc.reason)
            self.write_status()
            return None
        self.queue.pop(0)
        entry = self.peer.tree.entry(update.hash)
        self.journal.log("mined", height=entry.index, block=entry.hash, total_work=entry.total_work,
                         canonical=str(update.status))
        self._after_change(before_tip, before_reorgs, source=None)
        if publish and self.session is not None and self.tip is not None and self.tip.hash == entry.hash:
            self.publish()
        else:
            self.write_status()
        return entry

    def step(self) -> list[Event]:
        """One round of a running node: follow, mine one queued contract, publish a changed tip."""
        first = self.journal.count
        self.follow()
        if self.queue:
            self.mine_once(publish=False)
        if self.tip is not None and self.tip.hash != self.published_tip:
            self.publish()
        return self.journal.since(first)

    # --- internals -----------------------------------------------------------------------

    def _after_change(self, before_tip: Entry | None, before_reorgs: int, source: str | None) -> None:
        """Log what changed in the canonical chain; put the contracts of this node's orphaned blocks back."""
        if self.tip is not before_tip and source is not None:
            self.journal.log("adopted", member=source, height=self.height, tip=self.tip.hash,
                             total_work=self.total_work, digest=self.peer.digest())
        if self.tip is not before_tip:
            self.peer.save(self.folder / CHAIN_FILE)
        in_chain = {_contract_key(e.payload.transaction_data) for e in self.peer.chain}
        for reorg in self.peer.reorgs[before_reorgs:]:
            self.journal.log("reorganised", depth=reorg.depth, fork_index=reorg.fork_index,
                             old_work=reorg.old_work, new_work=reorg.new_work, applied=len(reorg.applied))
            queued = {_contract_key(c) for c in self.queue}
            for entry in reversed(reorg.rolled_back):  # back at the front, in their old order
                contract = entry.payload.transaction_data
                key = _contract_key(contract)
                if entry.signer == self.wallet.address and key not in in_chain and key not in queued:
                    self.queue.insert(0, contract)
                    queued.add(key)
                    self.journal.log("requeued", contract=contract, block=entry.hash, height=entry.index)

    def _ignore(self, who: str, seq: int, why: str, **detail: Any) -> None:
        """Log an ignored pointer once (a pointer seen again each round is not logged again)."""
        if (who, seq, why) in self._ignored:
            return
        self._ignored.add((who, seq, why))
        self.journal.log("ignored", member=who, seq=seq, reason=why, **detail)

    def _dispatch(self, alert: Any) -> None:
        """Hand an alert popped by a DHT call to the session, as its poll would."""
        self._live().dispatch(alert)

    def _live(self):
        if self.session is None:
            raise NodeError(f"node {self.name!r} is not started (call start(), or use it in a with block)")
        return self.session

    def __repr__(self) -> str:
        state = "running" if self.session is not None else "stopped"
        return f"Node({self.name!r}, height {self.height}, work {self.total_work}, {state})"


def _pointer_json(pointer: Pointer) -> dict[str, Any]:
    return {"info_hash": pointer.info_hash, "height": pointer.height, "total_work": pointer.total_work,
            "seq": pointer.seq, "peer": None if pointer.peer is None else f"{pointer.peer[0]}:{pointer.peer[1]}"}
