"""A network: who its members are, its shared HS256 secret, and its difficulty.

Every peer of a classroom network holds the same configuration: the list
of members (name and RSA public key), the secret that MACs every block's
JWT, the proof-of-work difficulty, and how far ahead of a verifier's clock
a block's timestamp may be. The secret is generated (32 random bytes from
``secrets.token_bytes``) and stored in the configuration file, never written
in code. A configuration means one thing, so a network refuses:

- a secret shorter than 32 bytes (RFC 7518) or with fewer than 16 distinct
  byte values among them (``MIN_SECRET_DISTINCT``): "real entropy", simply
  put. 32 random bytes hold about 30 distinct values, and fewer than 16 with
  a chance of 3 in 10^17; an all-zero secret, a repeated pattern or a short
  word typed over and over holds a handful. (It cannot tell a random secret
  from a long passphrase; it catches placeholders, not weak choices.)
- two members whose names differ only in case (they name the same files on
  a case-insensitive file system), and names ``check_name`` refuses.

A member's name also names files (``wallet new NAME`` writes NAME.pem, the
demo a folder per peer), so ``check_name`` says what a name may be:
1 to 32 characters, ASCII letters, digits, "_", "-" and ".", starting with a
letter or a digit, not ending in ".pub". ASCII only, so "alice" and "аlice"
(a Cyrillic а) are never two members who look alike. No "/" or "\\", so a name never
places a file outside its folder; no leading "." or "-", so no hidden file
and nothing a command line takes for an option; no ".pub" ending, so a
private key is never named like a public one (``ana.pub`` would write
ana.pub.pem); no spaces or control characters.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import rsa

from .encoding import loads_strict
from .errors import ConfigError, InvalidKey, StrictJSONError, UnknownSigner
from .files import atomic_write, describe, read_regular, refused
from .pow import check_difficulty
from .wallet import Wallet, address_of, check_public_key, load_public_key, public_key_pem

__all__ = ["SECRET_BYTES", "MIN_SECRET_DISTINCT", "MAX_NAME_CHARS", "MAX_CONFIG_BYTES", "check_name", "Member",
           "Network"]

SECRET_BYTES = 32  # RFC 7518 section 3.2: an HS256 key must be at least 256 bits
MIN_SECRET_DISTINCT = 16  # distinct byte values a secret must hold (32 random bytes: about 30)
DEFAULT_CLOCK_SKEW = 300  # seconds a block may be ahead of the verifier's clock
MAX_NAME_CHARS = 32  # ASCII characters: NAME.pub.pem stays well under a file name's 255 bytes
MAX_CONFIG_BYTES = 1024 * 1024  # a configuration with a thousand 2048-bit members is about 500 KB
_NAME_PUNCTUATION = "_-."


def check_name(name: str) -> str:
    """Return ``name`` if it may name a member (and its files); raise ConfigError saying why not."""
    if not isinstance(name, str):
        raise ConfigError(f"a member name must be a string, not {type(name).__name__}")
    if not name:
        raise ConfigError("a member name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ConfigError(f"member name {name[:MAX_NAME_CHARS]!r}... is {len(name)} characters; "
                          f"the limit is {MAX_NAME_CHARS}")
    for ch in name:
        if not (ch.isascii() and ch.isalnum() or ch in _NAME_PUNCTUATION):
            what = "a slash" if ch in "/\\" else "a space" if ch.isspace() else \
                f"{unicodedata.name(ch, 'the character')} ({ch!r})" if ch.isprintable() else f"{ch!r}"
            ascii_only = ", not ASCII" if ch.isalnum() else ""
            raise ConfigError(f"member name {name!r} holds {what}{ascii_only}; a name is ASCII letters, digits, "
                              f"'_', '-' and '.'")
    if not name[0].isalnum():
        raise ConfigError(f"member name {name!r} must start with a letter or a digit")
    if name.lower().endswith(".pub"):  # NAME.pem would look like another member's public key file
        raise ConfigError(f"member name {name!r} must not end in '.pub'")
    return name


@dataclass(frozen=True)
class Member:
    name: str
    public_key: rsa.PublicKey
    node_key: bytes | None = None  # ed25519 public key (32 bytes) of the member's live node, if it has one

    @property
    def address(self) -> str:
        return address_of(self.public_key)


@dataclass(frozen=True, repr=False)
class Network:
    """The shared configuration every peer of a network holds.

    ``teaching=True`` admits the seed's weak choices (short secret, 512-bit
    keys) so its files can be read in a lesson; never use it for anything else.
    ``seed_file=True`` (see ``for_seed_file``) is the one way to read records
    that do not name their author, as the seed wrote them: the caller names
    the single member who signed them all.
    """

    name: str
    secret: bytes = field(repr=False)
    difficulty: int  # hex zeros every block's hash must start with
    members: tuple[Member, ...]
    max_clock_skew: int = DEFAULT_CLOCK_SKEW  # seconds
    teaching: bool = False
    seed_file: bool = False  # records and tokens need not name their author (one member only)

    def __post_init__(self) -> None:
        if not isinstance(self.secret, bytes) or not self.secret:
            raise ConfigError("the network secret must be non-empty bytes")
        if len(self.secret) < SECRET_BYTES and not self.teaching:
            raise ConfigError(f"the network secret must be at least {SECRET_BYTES} bytes, not {len(self.secret)}")
        if len(set(self.secret)) < MIN_SECRET_DISTINCT and not self.teaching:
            raise ConfigError(f"the network secret holds only {len(set(self.secret))} distinct byte values "
                              f"(a placeholder, not a secret: random bytes hold about 30 in 32); "
                              f"make a new network with `python -m labkit network new`")
        try:
            check_difficulty(self.difficulty)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        if isinstance(self.max_clock_skew, bool) or not isinstance(self.max_clock_skew, int) or self.max_clock_skew < 0:
            raise ConfigError("max_clock_skew must be a non-negative number of seconds")
        object.__setattr__(self, "members", tuple(self.members))
        if self.seed_file and len(self.members) != 1:
            raise ConfigError(f"a seed file has one signer, not {len(self.members)}")
        by_address: dict[str, Member] = {}
        by_name: dict[str, Member] = {}
        for member in self.members:
            check_name(member.name)
            first = by_name.get(member.name.lower())  # alice.pem and Alice.pem: one file on macOS and Windows
            if first is not None:
                also = "" if first.name == member.name else f" and {member.name!r}"
                raise ConfigError(f"two members are named {first.name!r}{also}; each member's name is its own")
            by_name[member.name.lower()] = member
            try:
                check_public_key(member.public_key, teaching=self.teaching)
            except InvalidKey as exc:
                raise ConfigError(f"member {member.name!r}: {exc}") from None
            if member.address in by_address:
                raise ConfigError(f"member {member.name!r} has the same key as {by_address[member.address].name!r}")
            by_address[member.address] = member
            if member.node_key is not None and (not isinstance(member.node_key, bytes) or len(member.node_key) != 32):
                raise ConfigError(f"member {member.name!r}: a node key is 32 bytes (an ed25519 public key)")
        node_keys = [m.node_key for m in self.members if m.node_key is not None]
        if len(set(node_keys)) != len(node_keys):
            raise ConfigError("two members have the same node key")
        object.__setattr__(self, "_by_address", by_address)

    @classmethod
    def create(
        cls,
        members: Iterable[Wallet | Member],
        *,
        difficulty: int = 2,
        name: str = "classroom",
        max_clock_skew: int = DEFAULT_CLOCK_SKEW,
    ) -> "Network":
        """A new network with a freshly generated secret."""
        as_members = tuple(
            Member(m.name, m.public_key) if isinstance(m, Wallet) else m for m in members
        )
        return cls(name, secrets.token_bytes(SECRET_BYTES), difficulty, as_members, max_clock_skew)

    @classmethod
    def for_seed_file(cls, signer: Member, secret: bytes, difficulty: int, *, name: str = "seed") -> "Network":
        """The network a file written by the seed is read in: one signer, named by the caller.

        The seed's records name no signer and its tokens no author; they are
        accepted only here, where the caller says who signed every block.
        """
        return cls(name, secret, difficulty, (signer,), teaching=True, seed_file=True)

    def with_difficulty(self, difficulty: int) -> "Network":
        return replace(self, difficulty=difficulty)

    def with_members(self, members: Iterable[Wallet | Member]) -> "Network":
        return replace(self, members=tuple(
            Member(m.name, m.public_key) if isinstance(m, Wallet) else m for m in members))

    def member(self, address: str) -> Member:
        """The member with this address; raises UnknownSigner."""
        try:
            return self._by_address[address]  # type: ignore[attr-defined]
        except (KeyError, TypeError):
            raise UnknownSigner(str(address)) from None

    def is_member(self, address: str) -> bool:
        return address in self._by_address  # type: ignore[attr-defined]

    def name_of(self, address: str) -> str:
        member = self._by_address.get(address)  # type: ignore[attr-defined]
        return member.name if member else "?"

    def __repr__(self) -> str:
        names = ", ".join(m.name for m in self.members)
        return f"Network({self.name!r}, difficulty={self.difficulty}, members=[{names}])"

    # --- configuration file --------------------------------------------------

    def to_json(self) -> str:
        return json.dumps({
            "name": self.name,
            "difficulty": self.difficulty,
            "max_clock_skew": self.max_clock_skew,
            "secret": self.secret.hex(),
            "members": [{"name": m.name, "public_key": public_key_pem(m.public_key),
                         **({"node_key": m.node_key.hex()} if m.node_key is not None else {})}
                        for m in self.members],
        }, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes) -> "Network":
        try:
            config = loads_strict(text)
        except StrictJSONError as exc:
            raise ConfigError(f"network configuration: {exc}") from None
        if not isinstance(config, dict):
            raise ConfigError("network configuration must be a JSON object")
        expected = {"name", "difficulty", "max_clock_skew", "secret", "members"}
        unknown, missing = set(config) - expected, expected - {"max_clock_skew"} - set(config)
        if unknown or missing:
            raise ConfigError(f"network configuration: unknown {sorted(unknown)}, missing {sorted(missing)}")
        if not isinstance(config["name"], str):
            raise ConfigError("network name must be a string")
        try:
            secret = bytes.fromhex(config["secret"])
        except (TypeError, ValueError):
            raise ConfigError("secret must be a hex string") from None
        if not isinstance(config["members"], list):
            raise ConfigError("members must be a list")
        members = []
        for i, entry in enumerate(config["members"]):
            if not isinstance(entry, dict) or set(entry) - {"node_key"} != {"name", "public_key"} \
                    or not isinstance(entry["name"], str) or not isinstance(entry["public_key"], str):
                raise ConfigError(f"member {i} must be {{'name': str, 'public_key': PEM str}} "
                                  f"and perhaps 'node_key': hex str")
            node_key = entry.get("node_key")
            if "node_key" in entry and not (isinstance(node_key, str) and re.fullmatch("[0-9a-f]{64}", node_key)):
                raise ConfigError(f"member {entry['name']!r}: node_key must be 64 lower-case hex digits")
            try:
                members.append(Member(entry["name"], load_public_key(entry["public_key"]),
                                      None if node_key is None else bytes.fromhex(node_key)))
            except InvalidKey as exc:
                raise ConfigError(f"member {entry['name']!r}: {exc}") from None
        return cls(config["name"], secret, config["difficulty"], tuple(members),
                   config.get("max_clock_skew", DEFAULT_CLOCK_SKEW))

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
        """Write the configuration atomically with mode 0600 (it holds the secret)."""
        try:
            return atomic_write(path, self.to_json().encode("utf-8"), mode=0o600, overwrite=overwrite)
        except FileExistsError:
            raise ConfigError(f"{path} already exists; pass overwrite=True to replace it") from None
        except OSError as exc:  # a missing or read-only folder, a full disk: say which path, in one line
            raise refused(exc.filename or path, exc) from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Network":
        """Read a configuration file; raises ConfigError naming the file (missing, not a regular file, malformed)."""
        path = Path(path)
        try:
            text = read_regular(path, limit=MAX_CONFIG_BYTES)  # never a FIFO or /dev/zero
        except OSError as exc:
            raise ConfigError(f"cannot read {describe(exc)}") from None
        try:
            return cls.from_json(text)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
