"""labkit: the library behind the blockchain workbook, in reading order.

The core is flat, one concept per module, listed in the order a reader
meets them (the notebook that teaches each in brackets):

.. reading-order

=============  ============================================================  ========
module         what it is                                                    notebook
=============  ============================================================  ========
errors         the error classes every refusal raises                        all
encoding       strict JSON and canonical base64url: one spelling per value   02
wallet         RSA key pairs, addresses, signatures                          01
network        members, the shared secret, difficulty, clock skew            01
tokens         a block's JWT: claims, strict decoding, the timestamp grammar 02
block          the block record: token, signature, signer                    02
pow            proof of work: difficulty, hashes, the reference miner        03
fastmine       the fast miner (the default): same nonces, found sooner       03
names          ids NFKC, names NFC, nothing invisible, the same everywhere   06
operations     the contract operations and the token, a dispatch table       06, 10
vm             executing a contract: one pure function, and the OISC VM      06
rules          every rule a block must pass, one row each                    04
chain          the verdict (judge) and the Chain                             04
blocksfile     the blocks file: one JSON line per block, read with limits    04
reorg          what a block's arrival did: status, reorganisations           08
forks          the block tree: branches, orphans, fork choice by most work   08
peer           a peer: its tree, its canonical chain and that chain's state  07
files          files written atomically, paths checked before use            07
terminal       user text made safe to print on a terminal                    07
arguments      command-line values checked before anything is made           07
merkle         Merkle roots and inclusion proofs, Bitcoin's construction     10
=============  ============================================================  ========

.. end-reading-order

Then six subpackages, each named for who uses it:

- ``labkit.sharing``: the network's parts, BitTorrent and its DHT (metainfo,
  addresses and policy, session, transfer, swarm, the share/fetch commands,
  the chain-tip pointers; 05, 09);
- ``labkit.node``: a live peer of the classroom network (its node key,
  publishing and following chains over BitTorrent and the DHT; 09), and a
  learner's node, deciding with the learner's own functions (12);
- ``labkit.lessons``: what the notebooks demonstrate (demo data, tables, the
  audit, the attack lab and the 51 % race, measurements, factoring, the
  environment check);
- ``labkit.course``: what checks, saves and grades a learner's work (the
  exercise registry, checks, hints, cases, saved code, capstone, grading);
- ``labkit.battle``: defend the chain: adversary rounds against a room of
  learners' nodes, and the scoreboard (12);
- ``labkit.widgets``: the notebooks' ipywidgets.

``python -m labkit`` is the command line.

``import labkit`` is cheap: it loads only the error classes. The modules
are imported when first used (``labkit.chain``...), so a notebook that
never shares a torrent never loads libtorrent.
"""

from __future__ import annotations

import importlib
import pkgutil

from .errors import *  # noqa: F401,F403  (error classes are part of the top-level API)
from .errors import __all__ as _errors_all

__version__ = "0.1.0"

# Every public module and subpackage of this folder, found by listing it (nothing is imported here).
_MODULES = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))

__all__ = ["__version__", *_errors_all, *_MODULES]


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
