"""The live classroom network: nodes that mine, publish and follow each other's chains (issue 13).

Every other member may be hostile. :mod:`~labkit.node.threats` is the threat model: what a
member, a non-member and a submission can do; what every honest node guarantees whatever
they do (it never exits, never accepts a block the rules refuse, keeps memory, disk and
connection attempts per member bounded, and ends on the same chain as every other honest
node that saw the same blocks); and the bounds, named once.

- :mod:`~labkit.node.keys`: ``NodeKey``, a node's ed25519 key, and its files beside the RSA key files;
- :mod:`~labkit.node.folder`: a node's data folder: what lives there, its lock, what is refused in it;
- :mod:`~labkit.node.journal`: the node's event log (JSON lines) and ``status.json``;
- :mod:`~labkit.node.live`: ``Node``, one member's node: its wallet and node key, the network,
  a :class:`~labkit.peer.Peer`, a libtorrent session with the DHT on, and ``publish``,
  ``follow``, ``submit``, ``mine_once`` and ``status``.
- :mod:`~labkit.node.threats`: the threat model, its guarantees and its bounds;
- :mod:`~labkit.node.gossip`: whom a node follows: ``ceil(log2 N)`` members on a ring of node
  keys, recent miners and one more in turn, so the cost per node grows with log N, not N;
- :mod:`~labkit.node.follow`: ``Following``, how a node acts on one member's pointer, each
  member's failures contained, backed off and bounded;
- :mod:`~labkit.node.fetch`: fetching a chain from the blocks the node holds (only the new
  pieces move), giving up on a silent publisher; a pointer's peers checked by the session's policy;
- :mod:`~labkit.node.queue`: the contracts waiting to be mined (``queue.json``) and the inbox
  ``node submit`` drops them into;
- :mod:`~labkit.node.run`: ``Runner``, the loop of ``node run``: inbox, follow, mine in a thread
  (restarted when a better tip arrives), publish;
- :mod:`~labkit.node.cli`: ``python -m labkit node run | submit | status``;
- :mod:`~labkit.node.classroom`: ``Classroom``, several ``node run`` processes on one machine,
  started, watched, killed and restarted (notebook 09, the fault tests, the benchmark).
- :mod:`~labkit.node.measure`: what a room's event logs say: propagation, bytes per block, forks.

Importing this package loads nothing; libtorrent is imported when a node starts.
"""

from __future__ import annotations

import importlib

__all__ = ["keys", "folder", "journal", "threats", "gossip", "live", "follow", "fetch", "queue", "run", "cli", "classroom",
           "measure", "Node", "Classroom"]


def __getattr__(name: str):
    if name == "Node":
        return importlib.import_module(".live", __name__).Node
    if name == "Classroom":
        return importlib.import_module(".classroom", __name__).Classroom
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit.node' has no attribute {name!r}")
