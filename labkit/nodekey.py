"""A node's ed25519 key (BEP 44 signs DHT pointers with ed25519): the seed, its PEM file, libtorrent's form.

``NodeKey`` keeps the 32-byte seed and derives the rest (RFC 8032): the public
key, the 64-byte expanded secret libtorrent's ``dht_put_mutable_item`` wants,
signatures (with ``cryptography``, byte for byte libtorrent's), and the PKCS#8
PEM file (mode 0600) a member keeps beside the RSA wallet (labkit.node.keys).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InvalidKey, KeyFileExists

__all__ = ["MAX_KEY_FILE_BYTES", "NodeKey"]

MAX_KEY_FILE_BYTES = 4096


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
