"""A minimal KRPC client that puts BEP 44 mutable items whose value is a dict, as BEP 46 needs.

Why this module exists. BEP 46 says a pointer's ``v`` is a bencoded *dict*,
``{"ih": <20-byte info-hash>, ...}``, signed per BEP 44. libtorrent's nodes store
and return dict values, but its Python binding cannot put one:
``session.dht_put_mutable_item`` (bindings/python/src/session.cpp, ``put_string``)
sets the item to ``entry e = data``, a byte *string*, and signs that; the binding
exposes no ``dht_direct_request`` either (checked in libtorrent 2.1.1's module).
The ways left were:

- a C++ extension or a patched binding: a compiler and a build for every student;
- another DHT library in Python: a second node beside libtorrent's, with its own
  routing table, for one message;
- the BEP 44 ``put`` itself, over KRPC (BEP 5), sent from a UDP socket of ours to the
  DHT nodes the node's own libtorrent session already knows. That is two kinds of
  query, ``get`` (which hands out the write token a ``put`` must carry) and ``put``,
  and a signature labkit already knows how to make. This module does that.

:func:`put_mutable` does what libtorrent's put does: an iterative ``get`` towards
the item's target ``SHA-1(public key + salt)``, starting from the given nodes and
following the closer ``nodes`` each answer names, until the K = 8 closest nodes have
answered (the given nodes come without ids, so the first round asks K of them, and
each later round the K closest known); then ``seq`` = the highest verified seq they
hold + 1 (1 if none); then a
signed ``put`` to those K nodes, each with its own token. It returns how many
stored the item. It follows IPv4 ``nodes`` only (a classroom's; BEP 32's ``nodes6``
is not read).

Our socket is gone a moment later, so no node may put it in its routing table:
a dead entry there makes every later lookup wait for its time-out (measured: a
libtorrent put stalled past 10 s). Queries carry ``"ro": 1`` (BEP 43, read-only),
which libtorrent honours for a ``get``; but it adds the sender of any put with a
valid token (src/kademlia/node.cpp, ``node_seen`` after ``put``), read-only or not.
So each ``put`` carries, as the sender's id, the id of the node it goes to (learnt
from its ``get`` answer): a routing table never adds its own id
(routing_table.cpp, "don't add ourself"), and nothing else in a put reads the id.

Reading needs none of this: libtorrent's ``dht_get_mutable_item`` returns a dict
value as a Python dict (see :mod:`labkit.sharing.dht`).

The socket binds the same IP as the session, so the nodes' IP filters and
write tokens (bound to the requester's IP, BEP 44) treat it as the session.

References: BEP 5 (KRPC, compact node info), BEP 43 (read-only nodes), BEP 44
(``get``/``put``, tokens, the signed buffer, errors 205/206/301/302), BEP 46.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..errors import InvalidBencode, InvalidSignature
from . import bencode

__all__ = ["K", "ROUND_SECONDS", "PutResult", "signed_message", "verify", "target_of", "put_mutable"]

Address = tuple[str, int]

K = 8  # BEP 5: a put goes to the 8 nodes closest to the target
ROUND_SECONDS = 2.0  # how long a round of queries waits for slow nodes (libtorrent waits up to 15 s)
PUT_GRACE = 0.5  # seconds the puts' answers get even when the gets took the whole time-out
MAX_VALUE_BYTES = 1000  # BEP 44: the bencoded v, at most


def signed_message(salt: bytes, seq: int, value: Any) -> bytes:
    """The bytes a BEP 44 signature covers: ``4:salt<len>:<salt>3:seqi<seq>e1:v<bencoded v>``
    (the salt part only when there is a salt). ``value`` is the decoded ``v``: bytes or a dict."""
    prefix = b"4:salt%d:%s" % (len(salt), salt) if salt else b""
    return prefix + b"3:seqi%de1:v" % seq + bencode.encode(value)


def verify(public_key: bytes, salt: bytes, seq: int, value: Any, signature: bytes) -> None:
    """Raise InvalidSignature unless ``signature`` is ``public_key``'s over this item (by ``cryptography``)."""
    from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(
            bytes(signature), signed_message(bytes(salt), seq, value))
    except (CryptoInvalidSignature, ValueError, TypeError):
        signer = bytes(public_key).hex()[:16]
        raise InvalidSignature(f"the DHT item seq {seq} is not signed by {signer}…") from None


def target_of(public_key: bytes, salt: bytes) -> bytes:
    """Where a mutable item lives in the DHT (BEP 44): SHA-1 of the public key, then the salt."""
    return hashlib.sha1(bytes(public_key) + bytes(salt)).digest()


@dataclass
class PutResult:
    """What a put did: the seq it signed, how many nodes stored the item, and what the others said."""

    seq: int
    stored: int  # nodes that answered the put without an error
    asked: int  # nodes the put went to (the closest that handed out a token)
    errors: list[str] = field(default_factory=list)  # "ip:port: code message" from nodes that refused


class _Client:
    """One UDP socket sending KRPC queries and matching answers by transaction id."""

    def __init__(self, host: str):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.node_id = os.urandom(20)
        self.pending: dict[bytes, Address] = {}  # transaction id -> where the query went
        self.counter = 0

    def query(self, address: Address, method: bytes, args: dict[bytes, Any], *, as_id: bytes | None = None) -> None:
        """Send a query; ``as_id``: the sender id to give instead of ours (see the module docstring)."""
        self.counter += 1
        tid = self.counter.to_bytes(2, "big")
        message = {b"t": tid, b"y": b"q", b"q": method, b"a": {b"id": as_id or self.node_id, **args}, b"ro": 1}
        try:
            self.sock.sendto(bencode.encode(message), address)
        except OSError:  # unreachable from here: it counts as a node that did not answer
            return
        self.pending[tid] = address

    def answers(self, until: float):
        """Yield (address, message) for answers to pending queries until none is pending or ``until``."""
        while self.pending:
            left = until - time.monotonic()
            if left <= 0:
                return
            if not select.select([self.sock], [], [], left)[0]:
                continue
            data, source = self.sock.recvfrom(65536)
            try:
                message = bencode.decode(data)
            except InvalidBencode:
                continue  # not KRPC, or not canonical: ignored as a lost packet would be
            tid = message.get(b"t") if isinstance(message, dict) else None
            sent_to = self.pending.get(tid) if isinstance(tid, bytes) else None
            if sent_to is not None and _same(sent_to, source):
                del self.pending[tid]
                yield sent_to, message

    def close(self) -> None:
        self.sock.close()


def _same(sent_to: Address, source: tuple) -> bool:
    return ipaddress.ip_address(sent_to[0]) == ipaddress.ip_address(source[0]) and sent_to[1] == source[1]


def _compact_nodes(data: Any) -> list[tuple[bytes, Address]]:
    """BEP 5's compact node info: 20-byte id, 4-byte IPv4 address, 2-byte port, repeated."""
    if not isinstance(data, bytes) or len(data) % 26:
        return []
    return [(data[i:i + 20], (str(ipaddress.IPv4Address(data[i + 20:i + 24])),
                              int.from_bytes(data[i + 24:i + 26], "big")))
            for i in range(0, len(data), 26) if data[i + 24:i + 26] != b"\0\0"]


def put_mutable(nodes: Iterable[Address], key: Any, salt: bytes, value: Any, *, host: str = "127.0.0.1",
                timeout: float = 15.0, allowed: Callable[[str], bool] | None = None) -> PutResult:
    """Put ``value`` (a dict or bytes, bencoded at most 1000 bytes) under ``key`` and ``salt``.

    ``key`` is a :class:`~labkit.node.keys.NodeKey` (``public_key``, ``sign``); ``nodes`` are the
    (ip, port) DHT nodes to start from; ``host`` is the IP to send from (the session's);
    ``allowed(ip)`` says which nodes an answer names may be asked (the session's IP filter,
    so a put goes nowhere the session's own DHT would not).
    Raises ValueError if the value is too large, TimeoutError if no node answered a ``get``
    within ``timeout`` seconds. Returns a :class:`PutResult` (``stored`` 0: no node kept it).
    """
    encoded = bencode.encode(value)
    if len(encoded) > MAX_VALUE_BYTES:
        raise ValueError(f"a BEP 44 value is at most {MAX_VALUE_BYTES} bytes bencoded, this one is {len(encoded)}")
    public_key = bytes(key.public_key)
    target = target_of(public_key, salt)
    deadline = time.monotonic() + timeout
    known: dict[Address, bytes | None] = {(str(ip), int(port)): None for ip, port in nodes}
    answered: dict[Address, dict] = {}  # address -> the get's answer ("r")
    asked: set[Address] = set()

    def distance(address: Address) -> int:  # a node whose id is not known yet counts as the farthest
        node_id = known[address]
        return 1 << 160 if node_id is None else int.from_bytes(node_id, "big") ^ int.from_bytes(target, "big")

    client = _Client(host)
    try:
        while True:  # iterative get: ask the closest not yet asked until the K closest have answered
            closest = sorted(known, key=distance)[:K]
            ask = [a for a in closest if a not in asked]
            if not ask or time.monotonic() >= deadline:
                break
            args = {b"target": target}
            for address in ask:
                asked.add(address)
                client.query(address, b"get", args)
            for address, message in client.answers(min(deadline, time.monotonic() + ROUND_SECONDS)):
                answer = message.get(b"r")
                if not isinstance(answer, dict) or not isinstance(answer.get(b"id"), bytes):
                    continue
                known[address] = answer[b"id"]
                answered[address] = answer
                for node_id, found in _compact_nodes(answer.get(b"nodes")):
                    # a node given without its id (from the routing table) learns it here: left unknown, it
                    # would count as the farthest and never be asked, and the put would miss the closest
                    if (allowed is None or allowed(found[0])) and known.get(found) is None:
                        known[found] = node_id
            client.pending.clear()  # late answers to this round are not waited for
        if not answered:
            raise TimeoutError(f"no DHT node answered a get within {timeout:g} s ({len(known)} known)")
        seq = 1 + max((_verified_seq(public_key, salt, a) for a in answered.values()), default=0)
        signature = key.sign(signed_message(salt, seq, value))
        holders = [a for a in sorted(answered, key=distance) if isinstance(answered[a].get(b"token"), bytes)][:K]
        put = {b"k": public_key, b"seq": seq, b"sig": signature, b"v": value}
        if salt:
            put[b"salt"] = salt
        for address in holders:
            client.query(address, b"put", {**put, b"token": answered[address][b"token"]}, as_id=known[address])
        result = PutResult(seq, 0, len(holders))
        # the puts' answers: until the deadline, but at least PUT_GRACE (the gets may have used it up)
        now = time.monotonic()
        for address, message in client.answers(min(now + ROUND_SECONDS, max(deadline, now + PUT_GRACE))):
            if message.get(b"y") == b"r":
                result.stored += 1
            else:
                result.errors.append(f"{address[0]}:{address[1]}: {_error_text(message)}")
        return result
    finally:
        client.close()


def _verified_seq(public_key: bytes, salt: bytes, answer: dict) -> int:
    """The seq a node holds for this item, if its signature verifies (a forged seq must not push ours up)."""
    seq, value, signature = answer.get(b"seq"), answer.get(b"v"), answer.get(b"sig")
    if not isinstance(seq, int) or value is None or not isinstance(signature, bytes):
        return 0
    try:
        verify(public_key, salt, seq, value, signature)
    except InvalidSignature:
        return 0
    return seq


def _error_text(message: dict) -> str:
    error = message.get(b"e")
    if isinstance(error, list) and len(error) == 2:
        return f"{error[0]} {bytes(error[1]).decode('utf-8', 'replace') if isinstance(error[1], bytes) else error[1]}"
    return "no answer in the KRPC form"
