"""The seed's scenario, end to end: wallets, mined and signed blocks, a blocks file, three peers.

``run_demo`` returns everything it made (and reports progress through a
callback), so the command line, a notebook and the tests share one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..block import Block
from ..blocksfile import save_blocks
from ..chain import BlockReport, Chain
from ..network import Network
from ..peer import Peer
from .data import demo_network, demo_timestamps, demo_wallets, seed_contracts

__all__ = ["DemoResult", "run_demo"]

Step = Callable[[str], None]


@dataclass
class DemoResult:
    network: Network
    blocks: list[Block]
    blocks_file: Path
    peers: list[Peer]
    reports: dict[str, list[BlockReport]]  # peer name -> one report per block
    transport: str  # "torrent" or "file"

    @property
    def digests(self) -> dict[str, str]:
        return {peer.name: peer.digest() for peer in self.peers}

    @property
    def agree(self) -> bool:
        return len(set(self.digests.values())) == 1


def run_demo(
    workdir: str | os.PathLike,
    *,
    difficulty: int | None = None,
    use_torrent: bool = True,
    step: Step | None = None,
    miner=None,
    progress=None,
    share_progress=None,
) -> DemoResult:
    """Mine the seed's four contracts (alice signs), write the blocks file, and let every peer verify and run it.

    With ``use_torrent`` the blocks file travels to bob's and carol's folders
    over BitTorrent on 127.0.0.1 (alice seeds); otherwise they read it directly.
    ``progress`` is the miner's progress callback (labkit.pow.MiningProgress);
    ``share_progress(peer_name, status)`` follows each peer's download (a
    :class:`~labkit.sharing.transfer.TransferStatus`), and ``step`` is told the
    magnet link alice shares.
    """
    say = step or (lambda message: None)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    network = demo_network(difficulty)
    wallets = demo_wallets()
    peers = [Peer(w.name, network, wallet=w) for w in wallets]
    miner_peer = peers[0]

    chain = Chain(network)
    contracts = seed_contracts()
    for contract, when in zip(contracts, demo_timestamps(len(contracts))):
        entry = chain.mine(miner_peer.wallet, contract, timestamp=when, miner=miner, progress=progress)
        say(f"mined block {entry.index}: nonce {entry.payload.nonce}, hash {entry.hash[:16]}…")
    blocks_file = save_blocks(_peer_dir(workdir, miner_peer) / "blocks.jsonl", chain.blocks)
    say(f"wrote {len(chain)} blocks to {blocks_file}")

    files = {miner_peer.name: blocks_file}
    transport = "file"
    if use_torrent:
        from ..sharing.swarm import distribute

        dests = [_peer_dir(workdir, p) for p in peers[1:]]
        names = {f"peer {i}": p.name for i, p in enumerate(peers[1:], start=1)}  # the swarm's names -> ours
        report = (lambda name, status: share_progress(names[name], status)) if share_progress else None
        fetched = distribute(blocks_file, dests, progress=report,
                             announce=lambda magnet: say(f"{miner_peer.name} shares {blocks_file.name}: {magnet}"))
        for peer, path in zip(peers[1:], fetched.paths):
            files[peer.name] = path
        transport = "torrent"
        say(f"shared {blocks_file.name} by BitTorrent on 127.0.0.1 with {', '.join(p.name for p in peers[1:])}")
    else:
        for peer in peers[1:]:
            files[peer.name] = blocks_file

    reports = {}
    for peer in peers:
        reports[peer.name] = peer.receive(files[peer.name])
        accepted = sum(r.accepted for r in reports[peer.name])
        say(f"{peer.name} verified and executed {accepted}/{len(reports[peer.name])} blocks: digest {peer.digest()[:16]}…")
    return DemoResult(network, chain.blocks, blocks_file, peers, reports, transport)


def _peer_dir(workdir: Path, peer: Peer) -> Path:
    path = workdir / peer.name
    path.mkdir(parents=True, exist_ok=True)
    return path
