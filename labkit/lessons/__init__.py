"""The lessons: what the notebooks use to show the blockchain, not the blockchain itself.

The core (``labkit.wallet``, ``labkit.chain``, ``labkit.peer``...) never
imports this package; the course machinery that checks, saves and grades a
learner's work is :mod:`labkit.course`. One concept per module:

- :mod:`~labkit.lessons.data`: the embedded demo wallets, network and contracts (data/);
- :mod:`~labkit.lessons.demo`: the seed's scenario end to end (``python -m labkit demo``, notebook 00);
- :mod:`~labkit.lessons.tables`: the chain, the reports and the VM state as DataFrames (``*_frame``);
- :mod:`~labkit.lessons.display`: the same tables styled, rejected blocks and changes marked (``*_table``);
- :mod:`~labkit.lessons.audit`: one record judged with every rule asked, behind the block inspector (02);
- :mod:`~labkit.lessons.powtrials`: proof-of-work trials measured against 16^d (03);
- :mod:`~labkit.lessons.factoring`: why small RSA keys are unsafe (01);
- :mod:`~labkit.lessons.attacks`: the attack lab, one function per attack (08);
- :mod:`~labkit.lessons.lab`: the lab the attacks run in: three honest peers (08, 11);
- :mod:`~labkit.lessons.race`: the 51 % race, its probabilities and its plot (08);
- :mod:`~labkit.lessons.forkrate`: how often honest miners fork, propagation delay against block interval (09);
- :mod:`~labkit.lessons.sybil`: free identities outvote a room; blocks follow hash power (10);
- :mod:`~labkit.lessons.mempool`: which waiting transactions a miner picks, by fee per byte (10);
- :mod:`~labkit.lessons.signatures`: RSA-2048 beside ECDSA secp256k1 and Ed25519, sizes and timings (10);
- :mod:`~labkit.lessons.envcheck`: can this kernel import what the workbook needs (00).

Importing this package loads nothing; each module is imported when first used.
Functions that return a pandas DataFrame are named ``*_frame``, those that
return a styled table (a pandas Styler) ``*_table``.
"""

from __future__ import annotations

import importlib
import pkgutil

# Every module of this folder, found by listing it (nothing is imported here).
__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit.lessons' has no attribute {name!r}")
