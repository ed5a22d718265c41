"""The 51 % lesson: an attacker with most of the hashpower rewrites history, and how likely that is.

``majority_attack`` lets bob, with a given share of the hashpower, out-mine
the honest peers of a lab (``labkit.lessons.lab``) for real: every block of
both branches is mined and signed, and the honest peers switch to the branch
with more work. ``confirmation_frame`` gives the attacker's chance of
catching up from ``z`` blocks behind: Nakamoto's formula (Bitcoin paper,
section 11), the exact negative-binomial value, and a simulation;
``plot_confirmations`` draws the three.

References: S. Nakamoto, "Bitcoin: A Peer-to-Peer Electronic Cash System"
(2008), section 11; M. Rosenfeld, "Analysis of hashrate-based double
spending" (2014).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable

from ..reorg import Reorg
from .lab import Lab, mine_branch, registration

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pandas.io.formats.style import Styler
    from matplotlib.figure import Figure

__all__ = [
    "RaceResult",
    "majority_attack",
    "nakamoto_probability",
    "exact_probability",
    "simulate_catch_up",
    "confirmations_needed",
    "confirmation_frame",
    "confirmation_table",
    "plot_confirmations",
]

# The payment the attacker wants to undo: minting NFT002. An NFT's owner is whoever signs
# the block that mints it, so the same mint on both branches gives it to different people.
MINT = {"actions": [{"action": "generate_nft", "nft": {"id": "NFT002", "name": "Sunrise",
                                                       "metadata": {"artist": "alice"}}}]}


# --- the race, mined for real ------------------------------------------------------------


@dataclass(frozen=True)
class RaceResult:
    """A private branch racing the honest one, block by block."""

    share: float  # the attacker's share of the hashpower
    confirmations: int  # honest blocks on top of the payment the attacker wanted to undo
    finders: tuple[str, ...]  # who found each block, in order: "honest" or "attacker"
    honest_blocks: int  # blocks on the honest branch since the fork
    attacker_blocks: int
    won: bool  # the honest peers switched to the attacker's branch
    reorg: Reorg | None  # what the switch rolled back and applied
    nft_owner_before: str  # who owned the disputed NFT on the honest peers before the attacker published
    nft_owner_after: str

    def blocks_frame(self) -> "pd.DataFrame":
        """One row per block found: who found it, and the length of each branch after it."""
        import pandas as pd

        honest = attacker = 0
        rows = []
        for n, who in enumerate(self.finders, start=1):
            honest += who == "honest"
            attacker += who == "attacker"
            rows.append({"block": n, "found by": who, "honest branch": honest, "attacker branch": attacker})
        return pd.DataFrame(rows, columns=["block", "found by", "honest branch", "attacker branch"])


def majority_attack(lab: Lab, share: float = 0.6, *, confirmations: int = 2, seed: int = 1,
                    max_blocks: int = 60) -> RaceResult:
    """bob, with ``share`` of the hashpower, mines a private branch that gives NFT002 to himself.

    The honest branch starts with alice minting NFT002; merchants wait for
    ``confirmations`` more blocks. Each next block is found by the attacker
    with probability ``share`` (a seeded coin stands in for the race between
    miners). Once the honest branch has its confirmations and the private
    branch has more work, bob publishes it to the honest peers. He gives up
    after ``max_blocks`` blocks in all.

    The coin decides the race; then both branches are mined and signed for
    real, each block dated in the order it was found, and the honest peers
    receive the honest branch, then bob's.
    """
    finders = _race(random.Random(seed), share, confirmations, max_blocks)
    times = [lab.next_time() for _ in finders]  # blocks are dated in the order they were found
    network = lab.network.with_difficulty(lab.honest_difficulty)
    fork = lab.tip

    honest_steps = ((lab.wallet(("alice", "carol")[k % 2]),
                     MINT if k == 0 else registration(f"SH{k:03d}", "Honest student"), when)
                    for k, when in enumerate(t for t, who in zip(times, finders) if who == "honest"))
    honest = mine_branch(network, honest_steps, parent=fork, miner=lab.miner)
    lab.broadcast(honest)
    owner_before = _nft_owner(lab)

    private_steps = ((lab.wallet("bob"), MINT if k == 0 else registration(f"SB{k:03d}", "Bob's friend"), when)
                     for k, when in enumerate(t for t, who in zip(times, finders) if who == "attacker"))
    private = mine_branch(network, private_steps, parent=fork, miner=lab.miner)
    reorg = None
    if _publishes(finders, confirmations):
        reorgs_before = len(lab.peers[0].reorgs)
        lab.broadcast(private)
        reorgs = lab.peers[0].reorgs[reorgs_before:]
        reorg = reorgs[-1] if reorgs else None
    return RaceResult(share, confirmations, tuple(finders), len(honest), len(private), reorg is not None,
                      reorg, owner_before, _nft_owner(lab))


def _race(rng: random.Random, share: float, confirmations: int, max_blocks: int) -> list[str]:
    """Who finds each block ("honest" or "attacker"), until bob would publish or gives up."""
    finders: list[str] = []
    while len(finders) < max_blocks and not _publishes(finders, confirmations):
        finders.append("attacker" if rng.random() < share else "honest")
    return finders


def _publishes(finders: list[str], confirmations: int) -> bool:
    """The payment has its confirmations and the private branch has more work.

    Both branches mine at the lab's honest difficulty, so every block carries
    the same work, ``expected_attempts(lab.honest_difficulty)``: more blocks is more work.
    """
    honest, attacker = finders.count("honest"), finders.count("attacker")
    return honest >= 1 + confirmations and attacker > honest


def _nft_owner(lab: Lab) -> str:
    nft = lab.peers[0].state["nfts"].get("NFT002")
    return lab.network.name_of(nft["owner"]) if nft else "nobody"


# --- how likely: the formula, the exact value, a simulation ------------------------------------------


def nakamoto_probability(q: float, z: int) -> float:
    """The chance an attacker with hashpower share ``q`` ever catches up from ``z`` blocks behind.

    Nakamoto's formula (Bitcoin paper, section 11): the attacker's progress
    while the honest chain adds ``z`` blocks is taken as Poisson with mean
    z*q/p, and from ``k`` blocks behind he catches up with probability (q/p)^k.
    """
    _check_share(q, z)
    p = 1.0 - q
    if q >= p:
        return 1.0
    if q == 0.0:
        return 1.0 if z == 0 else 0.0
    lam = z * q / p
    total = 1.0
    for k in range(z + 1):
        poisson = math.exp(k * math.log(lam) - lam - math.lgamma(k + 1)) if lam else float(k == 0)
        total -= poisson * (1 - (q / p) ** (z - k))
    return max(total, 0.0)


def exact_probability(q: float, z: int) -> float:
    """The same chance without the Poisson approximation: the attacker's blocks are negative binomial.

    While the honest miners find ``z`` blocks the attacker finds ``k`` with
    probability C(k+z-1, k) p^z q^k (Rosenfeld 2014); from then on as above.
    """
    _check_share(q, z)
    p = 1.0 - q
    if q >= p or z == 0:
        return 1.0
    behind = sum(math.comb(k + z - 1, k) * p ** z * q ** k * (1 - (q / p) ** (z - k)) for k in range(z))
    return 1.0 - behind


def simulate_catch_up(q: float, z: int, *, trials: int = 2000, seed: int = 0, horizon: int = 400) -> float:
    """Estimate the same chance by playing the race ``trials`` times, block by block.

    Each block is the attacker's with probability ``q``. First the honest
    miners find ``z`` blocks; then the race goes on until the attacker has
    caught up or ``horizon`` more blocks have been found (a race that long
    is counted as lost: from far behind the attacker almost never returns).
    """
    import numpy as np

    _check_share(q, z)
    if z == 0:
        return 1.0
    rng = np.random.default_rng(seed)
    attacker_blocks = rng.negative_binomial(z, 1.0 - q, size=trials)  # found while honest found z
    behind = z - attacker_blocks
    steps = np.where(rng.random((trials, horizon)) < q, -1, 1)
    lowest = behind[:, None] + np.minimum.accumulate(np.cumsum(steps, axis=1), axis=1)
    caught = (behind <= 0) | (lowest.min(axis=1) <= 0)
    return float(caught.mean())


def confirmations_needed(q: float, risk: float = 0.001, *, limit: int = 10_000) -> int | None:
    """The fewest confirmations that bring Nakamoto's probability below ``risk`` (None if none do)."""
    for z in range(limit + 1):
        if nakamoto_probability(q, z) < risk:
            return z
    return None


def confirmation_frame(shares: Iterable[float] = (0.1, 0.2, 0.3, 0.4, 0.45),
                       confirmations: Iterable[int] = range(0, 11), *, trials: int = 2000,
                       seed: int = 0) -> "pd.DataFrame":
    """The attacker's chance of catching up, per hashpower share and confirmations: formula, exact, simulated."""
    import pandas as pd

    rows = []
    for q in shares:
        for z in confirmations:
            rows.append({"share": q, "confirmations": z, "nakamoto": nakamoto_probability(q, z),
                         "exact": exact_probability(q, z),
                         "simulated": simulate_catch_up(q, z, trials=trials, seed=seed)})
    return pd.DataFrame(rows, columns=["share", "confirmations", "nakamoto", "exact", "simulated"])


def confirmation_table(frame: "pd.DataFrame") -> "Styler":
    """A confirmation frame (or some of its rows) styled: tiny probabilities in scientific notation, not 0.0000."""
    from .display import frame_table

    return frame_table(frame)


def plot_confirmations(frame: "pd.DataFrame", *, title: str | None = None) -> "Figure":
    """Nakamoto's formula (lines), the exact value (dashes) and the simulation (dots), a colour per share.

    Returns the Figure (closed in pyplot, so a notebook shows it once).
    """
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(7, 4.2))
    plt.close(figure)
    for (q, group), color in zip(frame.groupby("share"), ("C0", "C1", "C2", "C3", "C4", "C5", "C6")):
        ax.plot(group["confirmations"], group["nakamoto"], color=color, label=f"attacker {q:.0%}")
        ax.plot(group["confirmations"], group["exact"], "--", color=color, alpha=0.7)
        ax.plot(group["confirmations"], group["simulated"], "o", color=color, markersize=4)
    ax.set_yscale("log")
    ax.set_ylim(1e-4, 1.5)
    ax.set_xlabel("confirmations z (honest blocks after the payment)")
    ax.set_ylabel("chance the attacker catches up")
    ax.set_title(title or "Nakamoto's formula (lines), exact value (dashes), simulation (dots)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    figure.tight_layout()
    return figure


def _check_share(q: float, z: int) -> None:
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"hashpower share must be between 0 and 1, not {q}")
    if isinstance(z, bool) or not isinstance(z, int) or z < 0:
        raise ValueError(f"confirmations must be a non-negative integer, not {z!r}")
