"""A node's ed25519 key, and the files a member keeps it in beside the RSA wallet.

``NodeKey`` keeps the 32-byte seed and derives the rest (RFC 8032): the public
key, the 64-byte expanded secret libtorrent's ``dht_put_mutable_item`` wants
(BEP 44 signs DHT pointers with ed25519), signatures (with ``cryptography``,
byte for byte libtorrent's), and the PKCS#8 PEM file (mode 0600).

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

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidKey, KeyFileExists
from ..files import atomic_write, read_regular
from ..wallet import one_pem_block

__all__ = ["MAX_KEY_FILE_BYTES", "NodeKey", "PRIVATE_SUFFIX", "PUBLIC_SUFFIX", "node_key_paths", "save_node_public_key",
           "load_node_public_key", "node_public_key_beside", "write_node_key_pair"]

MAX_KEY_FILE_BYTES = 4096
PRIVATE_SUFFIX = ".node"
PUBLIC_SUFFIX = ".node.pub"
MAX_PUBLIC_FILE_BYTES = 1024
_HEX64 = re.compile(r"[0-9a-f]{64}\n?")


@dataclass(frozen=True)
class NodeKey:
    """A node's ed25519 key: the 32-byte seed, from which everything else is derived (RFC 8032)."""

    seed: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.seed, bytes) or len(self.seed) != 32:
            raise InvalidKey("an ed25519 seed is 32 bytes")

    def __repr__(self) -> str:  # never the seed
        return f"NodeKey(public_key={self.public_key.hex()[:16]}…)"

    @classmethod
    def generate(cls) -> "NodeKey":
        return cls(os.urandom(32))

    @property
    def public_key(self) -> bytes:
        """The 32-byte public key: the node's name in the DHT."""
        from cryptography.hazmat.primitives import serialization

        public = self._crypto().public_key()
        return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def private_key(self) -> bytes:
        """The 64-byte expanded secret libtorrent signs with: SHA-512(seed), first half clamped."""
        expanded = bytearray(hashlib.sha512(self.seed).digest())
        expanded[0] &= 248
        expanded[31] &= 63
        expanded[31] |= 64
        return bytes(expanded)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte ed25519 signature (the same bytes libtorrent makes with :attr:`private_key`)."""
        return self._crypto().sign(message)

    def to_pem(self) -> bytes:
        """The key as unencrypted PKCS#8 PEM (``openssl pkey`` reads it)."""
        from cryptography.hazmat.primitives import serialization

        return self._crypto().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    @classmethod
    def from_pem(cls, pem: bytes) -> "NodeKey":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        pem = one_pem_block(pem)  # InvalidKey for a file of two keys: which one would sign is anyone's guess
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:  # garbage, encrypted, or an unsupported key
            raise InvalidKey(f"not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise InvalidKey(f"not an ed25519 key but {type(key).__name__}")
        return cls(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption()))

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the key as PEM with mode 0600; refuse to replace a file unless overwrite=True."""
        path = Path(path)
        target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if overwrite else path
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise KeyFileExists(f"{path} already exists; pass overwrite=True to replace it") from None
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            os.write(fd, self.to_pem())
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(target, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NodeKey":
        path = Path(path)
        with path.open("rb") as f:
            data = f.read(MAX_KEY_FILE_BYTES + 1)
        if len(data) > MAX_KEY_FILE_BYTES:
            raise InvalidKey(f"{path}: larger than {MAX_KEY_FILE_BYTES} bytes, not a key file")
        try:
            return cls.from_pem(data)
        except InvalidKey as exc:
            raise InvalidKey(f"{path}: {exc}") from None

    def _crypto(self):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(self.seed)


# --- the key files beside a member's wallet --------------------------------------------------


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
