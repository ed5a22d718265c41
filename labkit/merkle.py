"""Merkle trees: one 32-byte root that commits a block header to many transactions.

Bitcoin's construction (Nakamoto 2008, section 7; Bitcoin Core's
``consensus/merkle.cpp``), which this module follows exactly:

- every node is a double SHA-256, ``sha256(sha256(left + right))``;
- the leaves are the transactions' ids, themselves double SHA-256 of the
  transaction's bytes (``leaf_hash``);
- a level with an odd number of nodes pairs its last node with itself;
- the root of one leaf is that leaf.

Hashes here are bytes in the order the hash function returns them. Bitcoin
*displays* ids and roots byte-reversed (``display_hex``), which is why a block
explorer's txids must be reversed before they are hashed together.

An inclusion proof is the list of siblings on the way from one leaf to the
root: ``log2(n)`` hashes instead of all ``n`` transactions, which is how a
light client checks that a payment is in a block it holds only the header of.

Two known weaknesses of this exact construction, kept because the point is
to match Bitcoin: duplicating the last node means ``[a, b, c]`` and
``[a, b, c, c]`` have the same root (CVE-2012-2459: Bitcoin refuses a block
with duplicate transactions), and leaves and inner nodes are hashed the same
way, so a 64-byte "transaction" could pose as an inner node (RFC 6962 prefixes
leaves with 0x00 and nodes with 0x01 to rule that out).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

from .errors import InvalidProof

__all__ = ["HASH_BYTES", "sha256d", "leaf_hash", "parent_hash", "merkle_levels", "merkle_root", "InclusionProof",
           "inclusion_proof", "verify_inclusion", "is_included", "display_hex", "from_display_hex"]

HASH_BYTES = 32


def sha256d(data: bytes) -> bytes:
    """Bitcoin's hash: SHA-256 applied twice."""
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def leaf_hash(transaction: bytes) -> bytes:
    """A transaction's id, the tree's leaf: the double SHA-256 of its bytes."""
    return sha256d(transaction)


def parent_hash(left: bytes, right: bytes) -> bytes:
    """The node above two nodes."""
    return sha256d(left + right)


def _check_leaves(leaves: Sequence[bytes]) -> list[bytes]:
    leaves = list(leaves)
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf (a block holds at least its reward transaction)")
    for i, leaf in enumerate(leaves):
        if not isinstance(leaf, (bytes, bytearray)) or len(leaf) != HASH_BYTES:
            raise ValueError(f"leaf {i} must be {HASH_BYTES} bytes (a hash), not {leaf!r:.60}")
    return [bytes(leaf) for leaf in leaves]


def _next_level(level: list[bytes]) -> list[bytes]:
    if len(level) % 2:
        level = [*level, level[-1]]  # an odd level pairs its last node with itself
    return [parent_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]


def merkle_levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, the leaves first and the root (a level of one) last."""
    levels = [_check_leaves(leaves)]
    while len(levels[-1]) > 1:
        levels.append(_next_level(levels[-1]))
    return levels


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root of the tree over ``leaves`` (32-byte hashes, in block order)."""
    return merkle_levels(leaves)[-1][0]


@dataclass(frozen=True)
class InclusionProof:
    """The path from one leaf to the root: the sibling at each level, bottom up."""

    leaf: bytes  # the transaction's id (32 bytes)
    index: int  # the leaf's position among the block's transactions, from 0
    siblings: tuple[bytes, ...]  # one 32-byte hash per level below the root

    def __post_init__(self) -> None:
        if not isinstance(self.leaf, bytes) or len(self.leaf) != HASH_BYTES:
            raise InvalidProof(f"the leaf must be {HASH_BYTES} bytes")
        if any(not isinstance(s, bytes) or len(s) != HASH_BYTES for s in self.siblings):
            raise InvalidProof(f"every sibling must be {HASH_BYTES} bytes")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or not 0 <= self.index < 2 ** len(
                self.siblings):
            raise InvalidProof(f"index {self.index!r} does not fit a tree with {len(self.siblings)} levels")

    def root(self) -> bytes:
        """The root this proof leads to: hash upwards, the leaf's node on the left when its index is even."""
        node, index = self.leaf, self.index
        for sibling in self.siblings:
            node = parent_hash(node, sibling) if index % 2 == 0 else parent_hash(sibling, node)
            index //= 2
        return node

    def to_dict(self) -> dict:
        return {"leaf": self.leaf.hex(), "index": self.index, "siblings": [s.hex() for s in self.siblings]}

    @classmethod
    def from_dict(cls, data: dict) -> "InclusionProof":
        try:
            return cls(bytes.fromhex(data["leaf"]), data["index"], tuple(bytes.fromhex(s) for s in data["siblings"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidProof(f"not an inclusion proof: {exc}") from None


def inclusion_proof(leaves: Sequence[bytes], index: int) -> InclusionProof:
    """The proof that ``leaves[index]`` is under ``merkle_root(leaves)``."""
    levels = merkle_levels(leaves)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(levels[0]):
        raise ValueError(f"index must be from 0 to {len(levels[0]) - 1}, not {index!r}")
    siblings, position = [], index
    for level in levels[:-1]:
        partner = position ^ 1  # the other child of the same parent
        siblings.append(level[partner] if partner < len(level) else level[position])  # odd end: itself
        position //= 2
    return InclusionProof(levels[0][index], index, tuple(siblings))


def verify_inclusion(proof: InclusionProof, root: bytes) -> None:
    """Raise InvalidProof unless ``proof`` leads from its leaf to ``root``."""
    got = proof.root()
    if got != root:
        raise InvalidProof(f"the proof for leaf {proof.index} leads to {display_hex(got)[:16]}…, "
                           f"not to the root {display_hex(root)[:16]}…")


def is_included(proof: InclusionProof, root: bytes) -> bool:
    """``verify_inclusion`` as a yes or no, for notebooks."""
    try:
        verify_inclusion(proof, root)
    except InvalidProof:
        return False
    return True


def display_hex(digest: bytes) -> str:
    """A hash as Bitcoin shows it (txids, roots, block hashes): byte-reversed hex."""
    return digest[::-1].hex()


def from_display_hex(text: str) -> bytes:
    """The bytes behind a hash shown the Bitcoin way."""
    return bytes.fromhex(text)[::-1]
