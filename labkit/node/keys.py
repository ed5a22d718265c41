"""A member's node key files, kept beside the member's RSA key files.

``wallet new ana --dir keys`` writes four files: ``keys/ana.pem`` (the RSA
wallet, private) and ``keys/ana.pub.pem`` (its public half), and
``keys/ana.node`` (the ed25519 node key that signs the member's BEP 46
pointers, PKCS#8 PEM, private, mode 0600) and ``keys/ana.node.pub`` (its
32-byte public key as 64 hex digits and a newline). The node files never end
in ``.pem``, so no member name can make them collide with an RSA key file
(a member called ``ana.node`` has ``ana.node.pem``).

``network new --member ana=keys/ana.pub.pem`` records ``keys/ana.node.pub``
when it is there, and ``node run --key keys/ana.pem`` finds ``keys/ana.node``:
:func:`node_key_paths` names both from either RSA file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InvalidKey
from ..files import atomic_write, read_regular
from ..pointer import NodeKey

__all__ = ["PRIVATE_SUFFIX", "PUBLIC_SUFFIX", "node_key_paths", "save_node_public_key",
           "load_node_public_key", "node_public_key_beside", "write_node_key_pair"]

PRIVATE_SUFFIX = ".node"
PUBLIC_SUFFIX = ".node.pub"
MAX_PUBLIC_FILE_BYTES = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}\n?")


def node_key_paths(key_file: str | os.PathLike) -> tuple[Path, Path]:
    """(private, public) node key files beside a member's ``NAME.pem`` or ``NAME.pub.pem``."""
    path = Path(key_file)
    name = path.name
    for suffix in (".pub.pem", ".pem"):
        if name.endswith(suffix) and len(name) > len(suffix):
            stem = name[: -len(suffix)]
            return path.with_name(stem + PRIVATE_SUFFIX), path.with_name(stem + PUBLIC_SUFFIX)
    raise InvalidKey(f"{path}: a member's key file is NAME.pem or NAME.pub.pem")


def save_node_public_key(path: str | os.PathLike, public_key: bytes) -> Path:
    """Write a node's public key as 64 hex digits and a newline; never replaces a file."""
    if not isinstance(public_key, bytes) or len(public_key) != 32:
        raise InvalidKey("an ed25519 public key is 32 bytes")
    return atomic_write(path, public_key.hex().encode("ascii") + b"\n", overwrite=False)


def load_node_public_key(path: str | os.PathLike) -> bytes:
    """The 32-byte public key in a ``NAME.node.pub`` file; InvalidKey naming the file if it is not one."""
    data = read_regular(path, limit=MAX_PUBLIC_FILE_BYTES)
    text = data.decode("ascii", errors="replace")
    if not _HEX64.fullmatch(text):
        raise InvalidKey(f"{path}: not a node public key (64 lower-case hex digits)")
    return bytes.fromhex(text[:64])


def node_public_key_beside(key_file: str | os.PathLike) -> bytes | None:
    """The node public key in the ``NAME.node.pub`` beside a member's key file, or None if there is none."""
    try:
        public = node_key_paths(key_file)[1]
    except InvalidKey:  # not named NAME.pem: no node key can be beside it
        return None
    return load_node_public_key(public) if public.exists() else None


def write_node_key_pair(key_file: str | os.PathLike) -> tuple[NodeKey, Path, Path]:
    """Make a node key beside ``key_file`` (``NAME.pem``): ``NAME.node`` (0600) and ``NAME.node.pub``.

    Refuses (KeyFileExists, FileExistsError) to replace either file, and leaves
    nothing behind when the second cannot be written.
    """
    private, public = node_key_paths(key_file)
    key = NodeKey.generate()
    key.save(private)
    try:
        save_node_public_key(public, key.public_key)
    except BaseException:
        private.unlink()
        raise
    return key, private, public
