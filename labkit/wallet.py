"""Wallets: an RSA key pair, its address, and PKCS#1 v1.5 signatures over SHA-256.

Keys are the ``rsa`` package's objects, so a notebook can show ``n``, ``e``
and ``d``. Generation and signing go through ``cryptography`` (OpenSSL),
because pure-Python 2048-bit key generation takes seconds to minutes and
signing about 40 ms. Verification is written out here, strictly, as
RFC 8017 section 8.2.2 describes it: re-encode the expected message and
compare every byte, so SHA-256 is the only hash accepted and each message
and key has exactly one valid signature.

References: RFC 8017 (PKCS #1 v2.2) sections 8.2 and 9.2;
NIST SP 800-131A (2048 bits is the minimum for signatures).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path

import rsa

from .errors import InvalidKey, InvalidSignature, KeyFileExists
from .files import atomic_write, describe, read_regular, refused

__all__ = [
    "MIN_BITS",
    "PUBLIC_EXPONENT",
    "Wallet",
    "address_of",
    "short_address",
    "check_public_key",
    "load_public_key",
    "load_public_key_file",
    "one_pem_block",
    "MAX_KEY_FILE_BYTES",
    "public_key_pem",
    "verify",
]

MIN_BITS = 2048
PUBLIC_EXPONENT = 65537
SHORT = 10  # hex digits of an address shown in tables
MAX_KEY_FILE_BYTES = 64 * 1024  # a 16384-bit private key in PEM is about 12 KiB

# DER of DigestInfo{ sha256, NULL } followed by the 32-byte digest (RFC 8017 section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def address_of(public_key: rsa.PublicKey) -> str:
    """A member's address: sha256 of the DER-encoded PKCS#1 public key, in hex."""
    return _address(public_key.n, public_key.e)


@functools.lru_cache(maxsize=4096)
def _address(n: int, e: int) -> str:
    """Kept per key: a node names every member's address in each status it writes, and the DER
    encoding is pyasn1's, about 0.1 ms a key (a room of 64 spent more on it than on mining)."""
    return hashlib.sha256(rsa.PublicKey(n, e).save_pkcs1("DER")).hexdigest()


def short_address(address: str) -> str:
    return address[:SHORT]


def check_public_key(public_key: rsa.PublicKey, *, teaching: bool = False) -> rsa.PublicKey:
    """Refuse keys under 2048 bits or with an exponent other than 65537, unless teaching."""
    if not isinstance(public_key, rsa.PublicKey):
        raise InvalidKey(f"expected an rsa.PublicKey, got {type(public_key).__name__}")
    bits = public_key.n.bit_length()
    if teaching:
        # Even a teaching key must be big enough to hold a SHA-256 DigestInfo.
        if bits < 8 * (len(_SHA256_DIGEST_INFO) + 32 + 11):
            raise InvalidKey(f"a {bits}-bit key is too small to sign SHA-256 digests at all")
        return public_key
    if bits < MIN_BITS:
        raise InvalidKey(
            f"{bits}-bit key refused: at least {MIN_BITS} bits are required "
            "(pass teaching=True to load a deliberately weak key for a lesson)"
        )
    if public_key.e != PUBLIC_EXPONENT:
        raise InvalidKey(
            f"public exponent {public_key.e} refused: only {PUBLIC_EXPONENT} is accepted "
            "(pass teaching=True for a lesson key)"
        )
    return public_key


def public_key_pem(public_key: rsa.PublicKey) -> str:
    """PKCS#1 PEM ("BEGIN RSA PUBLIC KEY"), the seed's format."""
    return public_key.save_pkcs1("PEM").decode("ascii")


def one_pem_block(data: bytes) -> bytes:
    """``data`` if it holds exactly one PEM block ("-----BEGIN ...-----"); raise InvalidKey otherwise.

    A PEM reader takes the first block and ignores the rest, so a file of two keys would mean
    whichever one its reader happened to take: labkit refuses it and says why.
    """
    count = data.count(b"-----BEGIN ") if isinstance(data, (bytes, bytearray)) else 0
    if count > 1:
        raise InvalidKey(f"holds {count} PEM blocks; a key file holds one key")
    return data


def load_public_key(pem: str | bytes, *, teaching: bool = False) -> rsa.PublicKey:
    """Read a PEM public key (PKCS#1 or SubjectPublicKeyInfo) and check its size and exponent."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

    data = one_pem_block(pem.encode("ascii", "replace") if isinstance(pem, str) else pem)
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InvalidKey(f"not a PEM public key ({exc})") from None
    if not isinstance(key, crypto_rsa.RSAPublicKey):
        raise InvalidKey(f"not an RSA key ({type(key).__name__})")
    numbers = key.public_numbers()
    return check_public_key(rsa.PublicKey(numbers.n, numbers.e), teaching=teaching)


def load_public_key_file(path: str | os.PathLike, *, teaching: bool = False) -> rsa.PublicKey:
    """Read a public key PEM file; raises InvalidKey naming the file (missing, not a regular file, not a key)."""
    try:
        data = read_regular(path, limit=MAX_KEY_FILE_BYTES)
    except OSError as exc:
        raise InvalidKey(f"cannot read {describe(exc)}") from None
    try:
        return load_public_key(data, teaching=teaching)
    except InvalidKey as exc:
        raise InvalidKey(f"{os.fspath(path)}: {exc}") from None


def verify(public_key: rsa.PublicKey, data: bytes, signature: bytes) -> None:
    """Check an RSASSA-PKCS1-v1_5 SHA-256 signature; raise InvalidSignature if it fails.

    Strict by construction (RFC 8017 section 8.2.2): the signature must be
    exactly k bytes and below n; OpenSSL computes m = s^e mod n and removes
    the padding 00 01 FF..FF 00; what remains must equal, byte for byte, the
    DER DigestInfo of SHA-256(data). The padding's length is then fixed by
    k, so exactly one encoding passes: no other hash, no shorter padding, no
    trailing garbage. (Python's own pow(s, e, n) gives the same m, ten times
    slower; notebook 01 does it by hand.)
    """
    from cryptography.exceptions import InvalidSignature as OpenSSLInvalidSignature

    if not isinstance(signature, (bytes, bytearray)):
        raise InvalidSignature(f"signature must be bytes, not {type(signature).__name__}")
    n = public_key.n
    k = (n.bit_length() + 7) // 8
    if len(signature) != k:
        raise InvalidSignature(f"signature is {len(signature)} bytes; this {n.bit_length()}-bit key makes {k}-byte signatures")
    if int.from_bytes(signature, "big") >= n:
        raise InvalidSignature("signature is not smaller than the modulus")
    digest_info = _SHA256_DIGEST_INFO + hashlib.sha256(data).digest()
    if k < len(digest_info) + 11:
        raise InvalidSignature("key too small for a SHA-256 signature")
    try:
        recovered = _openssl_public_key(n, public_key.e).recover_data_from_signature(
            bytes(signature), _pkcs1_sha256()[0], None)
    except OpenSSLInvalidSignature:
        raise InvalidSignature("signature does not match this message and key (bad padding)") from None
    if not hmac.compare_digest(recovered, digest_info):
        raise InvalidSignature("signature does not match this message and key")


@functools.lru_cache(maxsize=1024)
def _openssl_public_key(n: int, e: int):
    from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

    try:
        return crypto_rsa.RSAPublicNumbers(e, n).public_key()
    except ValueError as exc:  # e.g. an even modulus or exponent: no valid signature exists
        raise InvalidSignature(f"unusable public key ({exc})") from None


def _pkcs1_sha256():
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return padding.PKCS1v15(), hashes.SHA256()


def _crypto_key(private_key: rsa.PrivateKey):
    """The same key as a ``cryptography`` object (for OpenSSL's fast signing)."""
    from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

    pk = private_key
    public = crypto_rsa.RSAPublicNumbers(pk.e, pk.n)
    try:
        return crypto_rsa.RSAPrivateNumbers(
            pk.p, pk.q, pk.d, pk.exp1, pk.exp2, pk.coef, public
        ).private_key()
    except ValueError as exc:
        raise InvalidKey(f"inconsistent private key ({exc})") from None


@dataclass(frozen=True, repr=False)
class Wallet:
    """An RSA key pair with a name. ``Wallet.generate()`` makes a fresh one."""

    private_key: rsa.PrivateKey
    name: str = ""
    _signer: object = field(default=None, init=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, rsa.PrivateKey):
            raise InvalidKey(f"expected an rsa.PrivateKey, got {type(self.private_key).__name__}")
        object.__setattr__(self, "_signer", _crypto_key(self.private_key))

    # --- making and storing --------------------------------------------------

    @classmethod
    def generate(cls, bits: int = MIN_BITS, *, name: str = "", teaching: bool = False) -> "Wallet":
        """A new key pair: 2048 bits by default; smaller sizes only with teaching=True."""
        if bits < MIN_BITS and not teaching:
            raise InvalidKey(f"{bits}-bit keys are unsafe; pass teaching=True to make one for a lesson")
        if bits < 1024:  # OpenSSL refuses these; the pure-Python generator is quick at this size
            _, private = rsa.newkeys(bits)
            check_public_key(rsa.PublicKey(private.n, private.e), teaching=True)
            return cls(private, name)
        from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

        key = crypto_rsa.generate_private_key(public_exponent=PUBLIC_EXPONENT, key_size=bits)
        nums = key.private_numbers()
        private = rsa.PrivateKey(nums.public_numbers.n, nums.public_numbers.e, nums.d, nums.p, nums.q)
        return cls(private, name)

    @classmethod
    def from_pem(cls, pem: str | bytes, *, name: str = "", teaching: bool = False) -> "Wallet":
        """Read a PEM private key (PKCS#1 or PKCS#8, unencrypted)."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

        data = one_pem_block(pem.encode("ascii", "replace") if isinstance(pem, str) else pem)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError) as exc:
            raise InvalidKey(f"not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, crypto_rsa.RSAPrivateKey):
            raise InvalidKey(f"not an RSA key ({type(key).__name__})")
        nums = key.private_numbers()
        pub = nums.public_numbers
        check_public_key(rsa.PublicKey(pub.n, pub.e), teaching=teaching)
        return cls(rsa.PrivateKey(pub.n, pub.e, nums.d, nums.p, nums.q), name)

    def to_pem(self) -> str:
        """PKCS#1 PEM ("BEGIN RSA PRIVATE KEY"), the seed's format. Keep it secret."""
        return self.private_key.save_pkcs1("PEM").decode("ascii")

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the private key as PEM with mode 0600; refuse to replace a file unless overwrite=True."""
        try:
            return atomic_write(path, self.to_pem().encode("ascii"), mode=0o600, overwrite=overwrite)
        except FileExistsError:
            raise KeyFileExists(f"{path} already exists; pass overwrite=True to replace it") from None
        except OSError as exc:  # a missing or read-only folder, a full disk: say which path, in one line
            raise refused(exc.filename or path, exc) from None

    @classmethod
    def load(cls, path: str | os.PathLike, *, name: str | None = None, teaching: bool = False) -> "Wallet":
        """Read a private key file written by ``save`` (or any unencrypted RSA PEM)."""
        path = Path(path)
        try:
            data = read_regular(path, limit=MAX_KEY_FILE_BYTES)  # never a FIFO or /dev/zero
        except OSError as exc:
            raise InvalidKey(f"cannot read {describe(exc)}") from None
        try:
            return cls.from_pem(data, name=path.stem if name is None else name, teaching=teaching)
        except InvalidKey as exc:
            raise InvalidKey(f"{path}: {exc}") from None

    # --- using ---------------------------------------------------------------

    @property
    def public_key(self) -> rsa.PublicKey:
        return rsa.PublicKey(self.private_key.n, self.private_key.e)

    @property
    def address(self) -> str:
        return address_of(self.public_key)

    @property
    def short_address(self) -> str:
        return short_address(self.address)

    @property
    def bits(self) -> int:
        return self.private_key.n.bit_length()

    def sign(self, data: bytes) -> bytes:
        """PKCS#1 v1.5 signature over SHA-256(data)."""
        return self._signer.sign(data, *_pkcs1_sha256())

    def __repr__(self) -> str:
        name = f"{self.name!r}, " if self.name else ""
        return f"Wallet({name}address={self.short_address}…, {self.bits} bits)"
