"""A block record: the JWT, the author's RSA signature over it, and the author's address.

On disk a block is one JSON line, the seed's record plus one field::

    {"token": "<JWT>", "signature": "<hex RSA signature over the token>", "signer": "<address>"}

The seed's reader only looks at ``token`` and ``signature``, so it still
reads labkit's files. A record written by the seed has no ``signer``;
labkit then needs to be told whose key to check it with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from .encoding import loads_strict
from .errors import InvalidRecord, StrictJSONError
from .pow import token_hash
from .tokens import MAX_TOKEN_BYTES, Payload, decode_token
from .wallet import Wallet

__all__ = ["Block", "MAX_LINE_BYTES"]

MAX_LINE_BYTES = MAX_TOKEN_BYTES + 8 * 1024  # token, signature up to 16384-bit keys, signer
_HEX = re.compile(r"(?:[0-9a-f]{2})+")
_ADDRESS = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("token", "signature", "signer")


@dataclass(frozen=True)
class Block:
    token: str  # the JWT, exactly as signed and hashed
    signature: bytes  # RSA PKCS#1 v1.5 SHA-256 signature over the token's ASCII bytes
    signer: str | None = None  # address of the author; None in records the seed wrote

    def __post_init__(self) -> None:
        if not isinstance(self.token, str) or not self.token:
            raise InvalidRecord("token must be a non-empty string")
        if len(self.token) > MAX_TOKEN_BYTES:
            raise InvalidRecord(f"token is {len(self.token):,} characters; the limit is {MAX_TOKEN_BYTES:,}")
        if not self.token.isascii():
            raise InvalidRecord("token must be ASCII (a JWT is base64url and dots)")
        if not isinstance(self.signature, bytes) or not self.signature:
            raise InvalidRecord("signature must be non-empty bytes")
        if self.signer is not None and (not isinstance(self.signer, str) or not _ADDRESS.fullmatch(self.signer)):
            raise InvalidRecord("signer must be an address: 64 lowercase hex digits")

    @classmethod
    def create(cls, token: str, wallet: Wallet) -> "Block":
        """Sign a mined token with the author's wallet."""
        return cls(token, wallet.sign(token.encode("ascii")), wallet.address)

    @cached_property
    def hash(self) -> str:
        """sha256 hex of the token: what the next block's prev_hash names."""
        return token_hash(self.token)

    def payload(self, secret: bytes) -> Payload:
        """Decode the token (raises InvalidToken)."""
        return decode_token(self.token, secret)

    def _repr_html_(self) -> str:
        signer = "no signer named (a seed record)" if self.signer is None else f"signer <code>{self.signer[:10]}…</code>"
        return (f"<b>Block</b> <code>{self.hash[:16]}…</code>: {signer}, a {len(self.token)}-character token, "
                f"a {len(self.signature) * 8}-bit signature")

    # --- codec ---------------------------------------------------------------

    def to_dict(self) -> dict:
        record = {"token": self.token, "signature": self.signature.hex()}
        if self.signer is not None:
            record["signer"] = self.signer
        return record

    def to_line(self) -> str:
        """One JSON line (without the newline)."""
        import json

        return json.dumps(self.to_dict(), separators=(", ", ": "))

    @classmethod
    def from_dict(cls, record: Any) -> "Block":
        if not isinstance(record, dict):
            raise InvalidRecord("a block record is a JSON object")
        unknown = [k for k in record if k not in _FIELDS]
        if unknown:
            raise InvalidRecord(f"unknown field(s) {', '.join(map(repr, unknown))}")
        for key in ("token", "signature"):
            if key not in record:
                raise InvalidRecord(f"missing field {key!r}")
        signature = record["signature"]
        if not isinstance(signature, str) or not _HEX.fullmatch(signature):
            # Upper-case or odd-length hex would be a second spelling of the same record.
            raise InvalidRecord("signature must be lowercase hex with an even number of digits")
        if not isinstance(record["token"], str):
            raise InvalidRecord("token must be a string")
        return cls(record["token"], bytes.fromhex(signature), record.get("signer"))

    @classmethod
    def from_line(cls, line: str | bytes) -> "Block":
        """Parse one line of a blocks file; raises InvalidRecord with the reason."""
        if len(line) > MAX_LINE_BYTES:
            raise InvalidRecord(f"line is {len(line):,} bytes; the limit is {MAX_LINE_BYTES:,}")
        try:
            record = loads_strict(line)
        except StrictJSONError as exc:
            raise InvalidRecord(str(exc)) from None
        return cls.from_dict(record)
