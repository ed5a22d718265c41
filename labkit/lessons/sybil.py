"""The Sybil attack, and why proof of work counts hashes instead of identities (10).

The classroom network has a member list: one key, one member, one vote. An
open network has none, and there a key costs nothing: anyone can make a
thousand identities in a blink (Douceur, "The Sybil Attack", 2002) and
outvote a room. Bitcoin's answer (Nakamoto 2008, section 4) is to count
work instead: "one-CPU-one-vote". A block is a vote, and the chance of
casting the next one is one's share of the hashing, however many names the
hashing is spread over.

``make_identities`` makes Ed25519 key pairs as fast as it can;
``vote_by_identity`` counts one vote per identity; ``blocks_won`` draws which
miner finds each of many blocks, each with a chance proportional to its hash
rate (the exponential race of proof of work, simulated rather than mined).
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from typing import Mapping

__all__ = ["make_identities", "vote_by_identity", "blocks_won"]


def make_identities(count: int) -> list[str]:
    """``count`` fresh Ed25519 identities, each as its address (sha256 of the raw public key, hex)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    raw, public = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    return [hashlib.sha256(ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(raw, public)).hexdigest()
            for _ in range(count)]


def vote_by_identity(ballots: Mapping[str, str]) -> Counter:
    """One vote per identity: ``ballots`` maps each identity to its choice; returns the count per choice."""
    return Counter(ballots.values())


def blocks_won(hash_rates: Mapping[str, float], blocks: int, *, seed: int = 0) -> Counter:
    """Who finds each of ``blocks`` blocks, each miner with a chance proportional to its hash rate.

    The fastest of several exponential waiting times wins with probability
    rate / total, so drawing the winner with those weights is the race.
    """
    if not hash_rates or any(rate < 0 for rate in hash_rates.values()) or sum(hash_rates.values()) <= 0:
        raise ValueError("hash_rates must name at least one miner, none negative, with some hashing in total")
    rng = random.Random(seed)
    miners, weights = list(hash_rates), list(hash_rates.values())
    won = Counter({miner: 0 for miner in miners})
    won.update(rng.choices(miners, weights=weights, k=blocks))
    return won
