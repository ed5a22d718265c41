"""The workbook's teaching aids: what the notebooks use to show the blockchain, not the blockchain itself.

The core (``labkit.wallet``, ``labkit.chain``, ``labkit.peer``...) never
imports this package. One concept per module:

- :mod:`~labkit.teaching.data`: the embedded demo wallets, network and contracts (data/);
- :mod:`~labkit.teaching.demo`: the seed's scenario end to end (``python -m labkit demo``, notebook 00);
- :mod:`~labkit.teaching.tables`: the chain, the reports and the VM state as DataFrames (``*_frame``);
- :mod:`~labkit.teaching.display`: the same tables styled, rejected blocks and changes marked (``*_table``);
- :mod:`~labkit.teaching.audit`: one record judged with every rule asked, behind the block inspector (02);
- :mod:`~labkit.teaching.measure`: proof-of-work measurements against 16^d (03);
- :mod:`~labkit.teaching.factoring`: why small RSA keys are unsafe (01);
- :mod:`~labkit.teaching.attacks`: the attack lab, one function per attack (08);
- :mod:`~labkit.teaching.race`: the 51 % race, its probabilities and its plot (08);
- :mod:`~labkit.teaching.forkrate`: how often honest miners fork, propagation delay against block interval (09);
- :mod:`~labkit.teaching.sybil`: free identities outvote a room; blocks follow hash power (10);
- :mod:`~labkit.teaching.mempool`: which waiting transactions a miner picks, by fee per byte (10);
- :mod:`~labkit.teaching.signatures`: RSA-2048 beside ECDSA secp256k1 and Ed25519, sizes and timings (10);
- :mod:`~labkit.teaching.exercises`: self-checking exercises (every notebook);
- :mod:`~labkit.teaching.hints`: the exercises' hints in tiers, a nudge, the method, a near-solution;
- :mod:`~labkit.teaching.cases`: generated cases for the exercises with substance, and labkit's answers;
- :mod:`~labkit.teaching.mine`: the learner's passing functions, saved for the capstone (11);
- :mod:`~labkit.teaching.capstone`: those functions assembled into a verifier, its verdicts beside labkit's (11);
- :mod:`~labkit.teaching.grade`: the instructor's grading: answers from a sandbox, judged by the grader;
- :mod:`~labkit.teaching.sandbox`: the process a learner's code runs in while graded, and what comes back;
- :mod:`~labkit.teaching.sandboxed`: what runs inside that sandbox: the cells, and the learner's answers;
- :mod:`~labkit.teaching.envcheck`: can this kernel import what the workbook needs (00).

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
    raise AttributeError(f"module 'labkit.teaching' has no attribute {name!r}")
