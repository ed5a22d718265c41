"""Chain-tip pointers in the DHT: BEP 46 updating torrents on BEP 44 mutable items (libtorrent 2.x).

A live node tells the others where its chain is by putting a small signed
record in the BitTorrent DHT: under its ed25519 public key and a salt naming
the network it stores "my chain is the torrent with this info-hash, its tip is
at this height with this total work". Anyone who knows the public key and the
salt can get the newest record and fetch the torrent; no one without the
private key can change it.

- ``NodeKey`` (labkit.node.keys): a node's ed25519 key (a 32-byte seed), which signs the record.
- ``Pointer(info_hash, height, total_work, seq)``: the record, with ``to_dict`` (the
  item's ``v``: BEP 46's dict), ``to_value`` (its bencoding, what is signed) and
  ``from_value`` (reads either, and the old form).
- ``dht_settings(listen)``, ``bootstrap(session, nodes)``, ``wait_for_nodes``:
  a libtorrent session whose DHT talks only to the nodes it is given.
- ``publish(session, key, salt, pointer)`` (a KRPC put, :mod:`labkit.sharing.krpc`) and
  ``lookup_many(session, public_keys, salt)`` (libtorrent's gets).

How libtorrent 2.1's Python bindings do BEP 44 (read in bindings/python/src/session.cpp
and alert.cpp, src/session_impl.cpp, src/kademlia/{node,get_item,item}.cpp at v2.1.0,
and checked against the installed wheel):

- ``session.dht_put_mutable_item(private_key: bytes, public_key: bytes, data: bytes, salt: bytes)``
  returns None. ``private_key`` must be 64 bytes and ``public_key`` 32 (else ValueError).
  The 64-byte key is the "expanded" ed25519 secret of orlp/ed25519 that libtorrent
  embeds: SHA-512(seed) with the first half clamped (byte 0 &= 248, byte 31 &= 63,
  byte 31 |= 64); its halves are the RFC 8032 scalar and nonce prefix, so libtorrent's
  signatures are byte for byte those of ``cryptography``'s Ed25519 for the same seed.
  The bindings expose no ed25519 helpers (no ``ed25519_create_seed``,
  ``ed25519_create_keypair`` or ``ed25519_sign`` in the 2.x module): labkit makes keys
  with ``cryptography`` and expands the seed itself (:attr:`NodeKey.private_key`).
- The binding stores ``data`` as a bencoded *byte string* (``entry e = data`` in
  ``put_string``), never as a dict, and it has no ``dht_direct_request``: it cannot put
  BEP 46's ``v = {"ih": ...}``. So :func:`publish` does not use it: it sends BEP 44's
  ``get`` and ``put`` over KRPC itself (:mod:`labkit.sharing.krpc`, which says why that
  way) to the nodes in the session's routing table. libtorrent's nodes store the dict,
  and ``dht_get_mutable_item`` hands it back as a Python dict with bytes keys.
  Before this, labkit put the dict bencoded *inside a string* (what the binding can do);
  :meth:`Pointer.from_value` reads both, so a room of old and new nodes keeps working.
- Sequence numbers are the DHT's, not the caller's: a put first gets the item from the
  closest nodes, then signs with ``seq = highest seq found + 1`` (1 if none), as the
  binding's put does too. A caller cannot choose or rewind seq.
- ``session.dht_get_mutable_item(public_key: bytes, salt: bytes)`` returns None
  (public key of 32 bytes). Answers come as ``dht_mutable_item_alert`` with
  ``key`` (32 bytes), ``signature`` (64 bytes), ``seq`` (int), ``salt`` (bytes),
  ``item`` (the decoded ``v``: bytes for labkit's items) and ``authoritative``
  (bool): a non-authoritative alert may come each time a higher seq is seen, and one
  authoritative alert when every close node has answered. A lookup that found nothing
  ends with an authoritative alert whose ``item`` is empty and ``seq`` 0.
- ``dht_put_alert``: ``target``, ``public_key``, ``signature``, ``salt``, ``seq`` and
  ``num_success`` (how many nodes stored it; 0 means the put failed).
  ``dht_bootstrap_alert`` has no fields. These three are in ``alert_category.dht``;
  ``dht_pkt_alert`` and ``dht_log_alert`` in ``alert_category.dht_log``. The binding's
  ``dht_pkt_alert`` exposes only ``pkt_buf``: its endpoint is read from
  ``message()``, ``"==> [HOST:PORT] {...}"`` (outgoing) or ``"<== ..."``.
- Limits (BEP 44, enforced by every libtorrent node on incoming puts): the bencoded
  ``v`` is at most 1000 bytes (labkit's dict is about 130); the salt at most 64 bytes;
  seq not negative. Nodes verify the
  signature over ``4:salt<len>:<salt>3:seqi<seq>e1:v<bencoded v>`` (the salt part
  only when there is a salt) and drop items that fail, so only the private key's
  holder can write under a public key (``libtorrent`` verifies; labkit checks again
  with ``cryptography``, see :func:`verify_item`).

A loopback DHT needs these settings besides ``enable_dht`` (defaults in brackets):

- ``dht_bootstrap_nodes=""`` [dht.libtorrent.org:25401];
- ``dht_restrict_routing_ips=False`` and ``dht_restrict_search_ips=False`` [True: one
  node per /24, so a second node on 127.0.0.1 is never added];
- ``dht_block_ratelimit`` raised [5: more than 50 packets in 10 s from one IP bans
  that IP for ``dht_block_timeout`` = 300 s, and every local node has the same IP;
  measured: the fourth put in a row stalled for 15 s];
- ``dht_upload_rate_limit`` raised [8000 bytes/s for all of a node's answers: ten
  puts and gets in a row exceeded it, requests were dropped, and the next put waited
  out libtorrent's 15 s request timeout];
- ``dht_prefer_verified_node_ids=False`` [True: BEP 42 ids derive from a public IP].

``dht_ignore_dark_internet`` [True] only drops a few public class-A networks, and
``dht_enforce_node_id`` is False already; ``apply_filter_to_dht`` [True] lets a
session's IP filter fence the DHT too. Wrong key sizes raise ValueError in the
binding; a str where bytes are expected raises Boost.Python's ArgumentError.

Bootstrapping uses ``session.add_dht_node((ip, port))``, not ``dht_bootstrap_nodes``:
nodes named there are "routers", which libtorrent never puts in a routing table
(it asks them only while a search has fewer than three candidates), and on
127.0.0.1 the first node took three 5-second refresh ticks (15 s) to confirm three
others, against one tick (5 s) with ``add_dht_node``.

BEP 46's value is ``{"ih": <20-byte info-hash>}``; labkit's adds two integers,
``{"height": <index of the tip block>, "ih": ..., "work": <total work of the tip>}``,
and may add ``"peer"``: where the publisher seeds that torrent, in BEP 23's compact
form (4 address bytes and 2 port bytes, big-endian; 16 and 2 for IPv6), so a follower
can connect to it at once instead of first finding it through the DHT's get_peers.
Everything in a pointer is what its publisher says: a well-formed ``peer`` may still be
unspecified, multicast or far away, and ``height`` and ``work`` are claims. A follower
checks the peer with its own session's address policy (``labkit.node.fetch.usable_peers``)
and the claims against the blocks it fetches (labkit.node.threats).
Keys are sorted as bencoding requires and nothing else may appear (``Pointer.from_value``
refuses any other spelling).

References: BEP 5 (DHT), BEP 42 (node ids from IPs), BEP 44 (storing arbitrary
data in the DHT), BEP 46 (updating torrents via DHT mutable items), RFC 8032
(Ed25519), libtorrent's manual (https://libtorrent.org/reference-DHT.html).
"""

from __future__ import annotations

import ipaddress
import re
import time
from contextlib import closing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Iterable

from ..errors import DHTTimeout, InvalidBencode, InvalidKey, InvalidPointer, LabkitError, PublishFailed
from . import bencode

if TYPE_CHECKING:  # pragma: no cover
    from ..node.keys import NodeKey  # a pointer is signed with a node key
from .addresses import parse_ip_address, peer_address

__all__ = [
    "MAX_VALUE_BYTES",
    "MAX_SALT_BYTES",
    "Pointer",
    "signed_message",
    "verify_item",
    "dht_settings",
    "bootstrap",
    "wait_for_nodes",
    "packet_endpoint",
    "publish",
    "session_nodes",
    "lookup_many",
]

Address = tuple[str, int]  # (ip, port)
OnAlert = Callable[[Any], None]  # receives the alerts publish/lookup pop but do not use

MAX_VALUE_BYTES = 1000  # BEP 44: the bencoded v (labkit's dict) is at most 1000 bytes
MAX_SALT_BYTES = 64  # BEP 44
MAX_INT_DIGITS = 100  # height and work: far beyond any chain, short enough to parse fast
BLOCK_RATELIMIT = 10_000  # DHT packets/s one IP may send before it is banned (libtorrent: 5)
UPLOAD_RATE_LIMIT = 1_000_000  # bytes/s the DHT may answer with (libtorrent: 8000)


def signed_message(salt: bytes, seq: int, value: Any) -> bytes:
    """The bytes a BEP 44 signature covers; ``value`` is the decoded ``v`` (a dict, or bytes for the old form)."""
    from .krpc import signed_message as bep44_message

    return bep44_message(bytes(salt), seq, value)


def verify_item(public_key: bytes, salt: bytes, seq: int, value: Any, signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is ``public_key``'s over this item (by cryptography)."""
    from .krpc import verify

    verify(public_key, salt, seq, value, signature)


# --- the pointer and its value --------------------------------------------------------

_HEX40 = re.compile(r"[0-9a-f]{40}")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_KEYS = (b"height", b"ih", b"work")  # sorted, as bencoding requires
_OPTIONAL_KEYS = (b"peer", b"tip")


@dataclass(frozen=True)
class Pointer:
    """Where a node's chain is: a torrent's info-hash and the tip's height and total work."""

    info_hash: str  # hex SHA-1 of the chain torrent's info dict (BitTorrent v1), 40 lower-case digits
    height: int  # index of the tip block (0 = the first block)
    total_work: int  # the tip's total work: sum of 16^difficulty over its blocks (expected hashes)
    seq: int = 0  # BEP 44 sequence number; 0 until published: the DHT assigns it, not the caller
    peer: Address | None = None  # (ip, port) where the publisher seeds the torrent, if it says
    tip: str | None = None  # the tip block's hash (64 hex digits), so equal work can be compared by it

    def __post_init__(self) -> None:
        if not isinstance(self.info_hash, str) or not _HEX40.fullmatch(self.info_hash):
            raise InvalidPointer("info_hash must be 40 lower-case hex digits (a v1 info-hash)")
        if self.peer is not None:
            _compact(self.peer)  # raises InvalidPointer
        if self.tip is not None and not (isinstance(self.tip, str) and _HEX64.fullmatch(self.tip)):
            raise InvalidPointer("tip must be 64 lower-case hex digits (a block hash)")
        for name in ("height", "total_work", "seq"):
            value = getattr(self, name)
            if type(value) is not int:  # bool is an int, and is refused too
                raise InvalidPointer(f"{name} must be an int, not {type(value).__name__}")
            if value < 0:
                raise InvalidPointer(f"{name} must not be negative, got {value}")
            if len(str(value)) > MAX_INT_DIGITS:
                raise InvalidPointer(f"{name} has more than {MAX_INT_DIGITS} digits")

    def to_dict(self) -> dict[bytes, bytes | int]:
        """The BEP 46 dict that is the item's ``v``: height, ih (20 bytes), work, and perhaps peer and tip."""
        fields = {b"height": self.height, b"ih": bytes.fromhex(self.info_hash), b"work": self.total_work}
        if self.peer is not None:
            fields[b"peer"] = _compact(self.peer)
        if self.tip is not None:
            fields[b"tip"] = bytes.fromhex(self.tip)
        return dict(sorted(fields.items()))

    def to_value(self) -> bytes:
        """The bencoding of :meth:`to_dict`: what the signature covers after ``1:v``. The seq is not part of it."""
        return bencode.encode(self.to_dict())

    @classmethod
    def from_value(cls, value: bytes | dict, *, seq: int = 0) -> "Pointer":
        """Read an item's ``v``: the BEP 46 dict (as libtorrent hands it over, bytes keys), or bytes.

        Bytes are a bencoded dict: what :meth:`to_value` writes, and also what the old
        form's string held (labkit before BEP 46 conformance put the dict bencoded
        inside a string). Raises InvalidPointer for anything else.
        """
        if isinstance(value, (bytes, bytearray)):
            if len(value) > MAX_VALUE_BYTES:
                raise InvalidPointer(f"{len(value)} bytes: larger than BEP 44 allows ({MAX_VALUE_BYTES})")
            try:
                fields = bencode.decode(bytes(value), max_int_digits=MAX_INT_DIGITS)
            except InvalidBencode as exc:
                raise InvalidPointer(f"not a bencoded dict: {exc.reason}") from None
        elif isinstance(value, dict):
            fields = value
        else:
            raise InvalidPointer(f"a DHT value is a dict or bytes, not {type(value).__name__}")
        if not isinstance(fields, dict):
            raise InvalidPointer(f"the value is a bencoded {type(fields).__name__}, not a dict")
        if not all(isinstance(k, (bytes, str)) for k in fields):
            raise InvalidPointer("a dict's keys are strings")
        fields = {k.encode() if isinstance(k, str) else bytes(k): v for k, v in fields.items()}
        try:
            size = len(bencode.encode(fields))
        except TypeError as exc:  # a dict built in Python may hold what no DHT item can (bool, float)
            raise InvalidPointer(f"not a bencodable value: {exc}") from None
        if size > MAX_VALUE_BYTES:
            raise InvalidPointer(f"larger than BEP 44 allows ({MAX_VALUE_BYTES} bytes bencoded)")
        if set(fields) == {b"ih"}:
            raise InvalidPointer("a BEP 46 pointer without labkit's 'height' and 'work': "
                                 "it names a torrent but not how much work its chain holds")
        if not set(_KEYS) <= set(fields) <= set(_KEYS + _OPTIONAL_KEYS):
            raise InvalidPointer(f"the keys must be exactly {[k.decode() for k in _KEYS]}, and "
                                 f"perhaps 'peer' and 'tip'; got {[bytes(k).decode('latin-1') for k in fields]}")
        ih, height, work = fields[b"ih"], fields[b"height"], fields[b"work"]
        if not isinstance(ih, bytes) or len(ih) != 20:
            raise InvalidPointer("ih must be a 20-byte string (a v1 info-hash)")
        for name, number in (("height", height), ("work", work)):
            if type(number) is not int:
                raise InvalidPointer(f"{name} must be an integer")
            if number < 0 or len(str(number)) > MAX_INT_DIGITS:
                raise InvalidPointer(f"{name} must be 0 or more, with at most {MAX_INT_DIGITS} digits")
        peer = fields.get(b"peer")
        if peer is not None and not (isinstance(peer, bytes) and len(peer) in (6, 18)):
            raise InvalidPointer("peer must be a compact address: 6 bytes (IPv4) or 18 (IPv6)")
        tip = fields.get(b"tip")
        if tip is not None and not (isinstance(tip, bytes) and len(tip) == 32):
            raise InvalidPointer("tip must be a 32-byte string (a block hash)")
        address = None if peer is None else (str(ipaddress.ip_address(peer[:-2])), int.from_bytes(peer[-2:], "big"))
        return cls(ih.hex(), height, work, seq, address, None if tip is None else tip.hex())


def _compact(peer: Address) -> bytes:
    """BEP 23's compact address: the IP's bytes, then the port's two (big-endian)."""
    try:
        ip, port = peer
        if not isinstance(ip, str):
            raise TypeError(ip)
        packed = ipaddress.ip_address(ip).packed
    except (TypeError, ValueError):
        raise InvalidPointer(f"peer must be (IP address, port), not {peer!r}") from None
    if type(port) is not int or not 1 <= port <= 65535:
        raise InvalidPointer(f"the peer's port must be 1 to 65535, not {port!r}")
    return packed + port.to_bytes(2, "big")


# --- sessions -----------------------------------------------------------------------------


def dht_settings(listen: str = "127.0.0.1:0", *, log_packets: bool = False) -> dict[str, Any]:
    """Settings for a libtorrent session whose DHT runs on ``listen`` and knows no node until
    :func:`bootstrap` names some: no default routers, no LSD, UPnP or NAT-PMP, and the
    DHT's one-node-per-IP rules off so that nodes sharing 127.0.0.1 can form a DHT.

    ``listen`` is "IP:PORT" (the DHT uses the UDP socket of that port; 0 picks one).
    ``log_packets`` adds every DHT packet to the alerts (``dht_pkt_alert``), to audit who was contacted.
    """
    import libtorrent as lt

    host, port = parse_ip_address(listen)  # BadAddress, a ValueError, for a name or a bad port
    category = lt.alert_category
    mask = category.error | category.status | category.dht
    if log_packets:
        mask |= category.dht_log
    return {
        "listen_interfaces": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "outgoing_interfaces": host,
        "listen_system_port_fallback": False,
        "enable_dht": True,
        "dht_bootstrap_nodes": "",  # libtorrent's default is dht.libtorrent.org:25401
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
        # every local node has the same IP: these rules would keep only one of them
        "dht_restrict_routing_ips": False,
        "dht_restrict_search_ips": False,
        "dht_prefer_verified_node_ids": False,  # BEP 42 ids derive from a public IP
        "dht_block_ratelimit": BLOCK_RATELIMIT,  # per IP, so all local nodes share it
        # a node answering a few quick puts and gets in a row outruns 8000 B/s; the requests
        # it drops then cost their sender libtorrent's 15 s timeout
        "dht_upload_rate_limit": UPLOAD_RATE_LIMIT,
        "alert_mask": mask,
    }


def bootstrap(session: Any, nodes: Iterable[Address]) -> None:
    """Add these (ip, port) DHT nodes to the session's routing table (IPs only: no name is looked up)."""
    for node in nodes:
        session.add_dht_node(peer_address(node))  # BadAddress for a name, port 0, 0.0.0.0, multicast


def wait_for_nodes(session: Any, count: int, timeout: float = 15.0, on_alert: OnAlert | None = None) -> int:
    """Wait until the session's routing table holds ``count`` confirmed nodes; return how many it holds.

    A fresh node confirms the nodes that contacted it at its first refresh tick
    (libtorrent's fixed 5 s timer), so the first node of a network needs about 5 s.
    """
    import libtorrent as lt

    nodes, asked = 0, 0.0
    with closing(_alerts(session, time.monotonic() + timeout, on_alert)) as alerts:
        for alert in alerts:
            if isinstance(alert, lt.dht_stats_alert):
                nodes = sum(bucket["num_nodes"] for bucket in alert.routing_table)
                if nodes >= count:
                    return nodes
            elif alert is not None and on_alert is not None:
                on_alert(alert)
            if time.monotonic() - asked >= 0.25:  # ask again four times a second
                session.post_dht_stats()
                asked = time.monotonic()
    raise DHTTimeout("waiting for DHT nodes", timeout, f"{nodes} of {count} in the routing table")


def packet_endpoint(alert: Any) -> tuple[str, str, int] | None:
    """("out" or "in", ip, port) of a ``dht_pkt_alert`` (the binding exposes it only in the message)."""
    match = re.match(r"(<==|==>) \[\[?([^\]]*?)\]?:(\d+)\] ", alert.message())
    if not match:
        return None
    return ("out" if match.group(1) == "==>" else "in"), match.group(2), int(match.group(3))


def publish(session: Any, key: NodeKey, salt: bytes, pointer: Pointer, *, timeout: float = 15.0,
            on_alert: OnAlert | None = None) -> Pointer:
    """Put ``pointer`` in the DHT under ``key`` and ``salt``, as BEP 46's dict; return it with its seq.

    The put goes over KRPC from a socket of labkit's (:func:`labkit.sharing.krpc.put_mutable`:
    libtorrent's binding can only put a string) to the DHT nodes in ``session``'s
    routing table, on the session's IP, following only nodes its IP filter allows. The seq
    is the highest the nodes hold + 1.
    Raises PublishFailed if no node stored it, DHTTimeout if no node answered within
    ``timeout`` seconds. The put pops none of the session's alerts, so ``on_alert``
    (kept for the callers that pass it, as to :func:`lookup_many`) receives none.
    """
    from .krpc import put_mutable

    salt = _check_salt(salt)
    nodes = session_nodes(session)
    if not nodes:
        raise PublishFailed(0)
    try:
        result = put_mutable(nodes, key, salt, pointer.to_dict(), host=_session_host(session), timeout=timeout,
                             allowed=_session_allows(session))
    except TimeoutError:
        raise DHTTimeout("publishing a pointer", timeout, f"none of {len(nodes)} DHT nodes answered") from None
    if result.stored == 0:
        raise PublishFailed(result.seq)
    return replace(pointer, seq=result.seq)


def session_nodes(session: Any) -> list[Address]:
    """The (ip, port) of every node in the session's DHT routing table (read from its saved state)."""
    import libtorrent as lt

    state = lt.bdecode(lt.write_session_params_buf(session.session_state(), lt.save_state_flags_t.save_dht_state))
    dht = (state or {}).get(b"dht state", {})
    nodes = []
    for compact in [*dht.get(b"nodes", []), *dht.get(b"nodes6", [])]:
        if len(compact) in (6, 18):
            nodes.append((str(ipaddress.ip_address(compact[:-2])), int.from_bytes(compact[-2:], "big")))
    return nodes


def _session_allows(session: Any) -> Callable[[str], bool]:
    """Whether the session's IP filter lets its DHT talk to an IP (libtorrent: access 0 is allowed)."""
    ip_filter = session.get_ip_filter()
    return lambda ip: ip_filter.access(ip) == 0


def _session_host(session: Any) -> str:
    """The IP the session's DHT listens on (its first listen interface), to send our puts from."""
    listen = session.get_settings()["listen_interfaces"].split(",")[0].strip()
    host = listen.rpartition(":")[0].strip("[]")
    return host or "0.0.0.0"


def lookup_many(session: Any, public_keys: Iterable[bytes], salt: bytes, timeout: float = 15.0, *,
                on_alert: OnAlert | None = None) -> dict[bytes, "Pointer | None | LabkitError"]:
    """The newest pointer in the DHT under each public key and ``salt``: all the lookups run in parallel.

    Returns, for each key, the newest pointer, None if the DHT has none, or the
    error that key's item raised (DHTTimeout, InvalidSignature, InvalidPointer), so one
    bad item does not hide the others. Waits for libtorrent's authoritative answer
    for every key (every close node asked) or until ``timeout`` runs out; then a key
    that had no authoritative answer has the newest pointer seen so far, or a
    DHTTimeout if none was. Every item is checked again with ``cryptography`` and
    must be a well-formed labkit value. Other alerts go to ``on_alert``.
    """
    import libtorrent as lt

    salt = _check_salt(salt)
    keys = [bytes(k) for k in public_keys]
    for key in keys:
        if len(key) != 32:
            raise InvalidKey("an ed25519 public key is 32 bytes")
    best: dict[bytes, Any] = {}
    waiting = set(keys)
    for key in waiting:
        session.dht_get_mutable_item(key, salt)
    with closing(_alerts(session, time.monotonic() + timeout, on_alert)) as alerts:
        for alert in alerts:
            if not (isinstance(alert, lt.dht_mutable_item_alert) and bytes(alert.key) in waiting
                    and bytes(alert.salt) == salt):
                if alert is not None and on_alert is not None:
                    on_alert(alert)
                continue
            key = bytes(alert.key)
            if (alert.seq > 0 or alert.item) and not isinstance(best.get(key), LabkitError):
                try:
                    verify_item(key, salt, alert.seq, alert.item, bytes(alert.signature))
                    found = Pointer.from_value(alert.item, seq=alert.seq)
                except LabkitError as exc:
                    best[key] = exc
                else:
                    if best.get(key) is None or found.seq > best[key].seq:
                        best[key] = found
            if alert.authoritative:
                waiting.discard(key)
            if not waiting:  # stop at the last answer: the alerts after it go to on_alert, not lost
                break
    return {key: best.get(key, DHTTimeout("looking up a pointer", timeout) if key in waiting else None)
            for key in keys}


def _alerts(session: Any, deadline: float, on_alert: OnAlert | None = None):
    """Yield the session's alerts until ``deadline``, and None each 0.1 s without one.

    libtorrent pops alerts in batches; when the caller stops early, the rest of the
    batch goes to ``on_alert`` rather than being lost.
    """
    batch: list = []
    try:
        while True:
            batch = list(session.pop_alerts())
            if not batch:
                yield None
            while batch:
                yield batch.pop(0)
            left = deadline - time.monotonic()
            if left <= 0:
                return
            session.wait_for_alert(max(1, min(int(left * 1000), 100)))
    finally:
        if on_alert is not None:
            for alert in batch:
                on_alert(alert)


def _check_salt(salt: bytes) -> bytes:
    if not isinstance(salt, (bytes, bytearray)):
        raise TypeError(f"a salt is bytes, not {type(salt).__name__}")
    if len(salt) > MAX_SALT_BYTES:
        raise ValueError(f"a BEP 44 salt is at most {MAX_SALT_BYTES} bytes, got {len(salt)}")
    return bytes(salt)
