"""A scripted BEP 44 DHT node on 127.0.0.1 for labkit.sharing.krpc's tests (a thread, one UDP socket).

It answers ``get`` with a token, the item it holds (if any) and the nodes it is told
to name, and ``put`` as BEP 44 says: a bad token is error 203, a bad signature 206, an
older seq 302. ``mode`` "silent" answers nothing; "refuse" answers every put with 203.
Every query it received is kept in ``queries`` (the decoded message and its sender).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading

from labkit.errors import InvalidSignature
from labkit.sharing import bencode
from labkit.sharing.krpc import verify


class FakeNode:
    def __init__(self, mode: str = "store", *, node_id: bytes | None = None, host: str = "127.0.0.1"):
        self.mode = mode
        self.node_id = node_id or os.urandom(20)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(0.1)  # so the thread sees close() soon
        self.closed = False
        self.address = self.sock.getsockname()
        self.items: dict[bytes, dict] = {}  # target -> {k, salt, seq, v, sig}
        self.names: list[FakeNode] = []  # nodes it names in its answers
        self.queries: list[tuple[dict, tuple]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def token_for(self, address) -> bytes:
        return hashlib.sha1(b"secret" + address[0].encode()).digest()[:8]

    def _serve(self) -> None:
        while not self.closed:
            try:
                data, source = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            message = bencode.decode(data)
            self.queries.append((message, source))
            if self.mode == "silent":
                continue
            answer = self._answer(message, source)
            self.sock.sendto(bencode.encode({b"t": message[b"t"], **answer}), source)

    def _answer(self, message: dict, source) -> dict:
        args = message[b"a"]
        if message[b"q"] == b"get":
            r = {b"id": self.node_id, b"token": self.token_for(source),
                 b"nodes": b"".join(n.node_id + socket.inet_aton(n.address[0]) + n.address[1].to_bytes(2, "big")
                                    for n in self.names)}
            held = self.items.get(args[b"target"])
            if held:
                r.update({b"k": held[b"k"], b"seq": held[b"seq"], b"sig": held[b"sig"], b"v": held[b"v"]})
            return {b"y": b"r", b"r": r}
        if message[b"q"] == b"put":
            if self.mode == "refuse" or args.get(b"token") != self.token_for(source):
                return {b"y": b"e", b"e": [203, b"bad token"]}
            salt = args.get(b"salt", b"")
            try:
                verify(args[b"k"], salt, args[b"seq"], args[b"v"], args[b"sig"])
            except InvalidSignature:
                return {b"y": b"e", b"e": [206, b"invalid signature"]}
            target = hashlib.sha1(args[b"k"] + salt).digest()
            if target in self.items and self.items[target][b"seq"] > args[b"seq"]:
                return {b"y": b"e", b"e": [302, b"sequence number less than current"]}
            self.items[target] = {k: args[k] for k in (b"k", b"seq", b"sig", b"v")}
            return {b"y": b"r", b"r": {b"id": self.node_id}}
        return {b"y": b"e", b"e": [204, b"method unknown"]}

    def close(self) -> None:
        self.closed = True
        self.thread.join(2)
        self.sock.close()
