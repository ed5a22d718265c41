"""Every error labkit raises, one class per kind of failure.

Callers match on the class, never on message text (PyJWT grew
``InvalidSignatureError`` for the same reason). Each error carries the
fields a program needs: which block, which rule, which line, which action.
"""

from __future__ import annotations

import errno
import os

__all__ = [
    "LabkitError",
    "StrictJSONError",
    "FileRefused",
    "InvalidKey",
    "KeyFileExists",
    "InvalidSignature",
    "InvalidToken",
    "InvalidRecord",
    "InvalidBlock",
    "RuleBroken",
    "TooEarly",
    "NotAccepted",
    "UnknownSigner",
    "ConfigError",
    "WorkFolderError",
    "ContractError",
    "InvalidProof",
    "MiningCancelled",
    "SimulationError",
    "TorrentError",
    "InvalidTorrent",
    "BadAddress",
    "FetchTimeout",
    "InvalidBencode",
    "InvalidPointer",
    "DHTTimeout",
    "PublishFailed",
    "FolderInUse",
    "ChainFileDamaged",
    "SavedCodeError",
    "ExerciseFailed",
    "GradingError",
    "SandboxUnavailable",
]


class LabkitError(Exception):
    """Base class of every error labkit raises on purpose."""


# --- keys and signatures ----------------------------------------------------


class StrictJSONError(LabkitError, ValueError):
    """The text is not JSON, or uses a spelling strict parsing refuses (labkit.encoding.loads_strict)."""


class FileRefused(LabkitError, OSError):
    """A path labkit was asked to read or write is missing, of the wrong kind, too large or not allowed.

    An OSError too, with ``filename``, ``errno`` and ``strerror`` (the reason, in words).
    """

    def __init__(self, path: str | os.PathLike, reason: str, code: int = errno.EINVAL):
        super().__init__(code, reason, os.fspath(path))
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.filename}: {self.reason}"


class InvalidKey(LabkitError, ValueError):
    """A key is malformed, too small or has an unusual public exponent."""


class KeyFileExists(LabkitError, FileExistsError):
    """Saving would overwrite an existing key file (pass overwrite=True to allow it)."""


class InvalidSignature(LabkitError):
    """An RSA signature does not verify for this message and public key."""


class UnknownSigner(LabkitError):
    """A block names a signer that is not a member of the network."""

    def __init__(self, signer: str):
        super().__init__(f"signer {signer!r} is not a member of the network")
        self.signer = signer


# --- tokens, records and blocks ---------------------------------------------


class InvalidToken(LabkitError, ValueError):
    """A JWT is malformed, has a bad MAC, or its payload breaks the schema.

    ``rule`` names the rule it breaks: "token" (shape, size, encoding, header),
    "mac" (HS256 MAC with the network secret) or "payload" (schema).
    """

    def __init__(self, reason: str, *, rule: str = "token"):
        super().__init__(reason)
        self.reason = reason
        self.rule = rule


class InvalidRecord(LabkitError, ValueError):
    """A line of a blocks file is not a well-formed block record."""

    def __init__(self, reason: str, *, line: int | None = None):
        where = f"line {line}: " if line is not None else ""
        super().__init__(where + reason)
        self.reason = reason
        self.line = line


class InvalidBlock(LabkitError):
    """A block fails validation.

    ``index`` is its position in the chain (0 = first block), ``rule`` the
    name of the rule it breaks (see ``labkit.chain.CHECKS``) and ``reason`` a
    sentence for people.
    """

    def __init__(self, index: int, rule: str, reason: str):
        super().__init__(f"block {index}: {rule}: {reason}")
        self.index = index
        self.rule = rule
        self.reason = reason


class RuleBroken(LabkitError):
    """One check function's verdict: its rule is broken, and why.

    The functions of ``labkit.rules.RULES`` raise it; ``labkit.chain.judge``
    turns it into the verdict, naming the rule and the block.
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class TooEarly(RuleBroken):
    """A block too far in the future: refused now, but the clock will fix it (so it is not remembered)."""


class NotAccepted(LabkitError):
    """A block that broke no rule but did not change the canonical chain (known, less work, or waiting)."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


class ConfigError(LabkitError, ValueError):
    """A configuration (a network's, or a setting in the environment) is missing, malformed or unsafe."""


class WorkFolderError(LabkitError, PermissionError):
    """No folder for run-time files can be used: the one named cannot be created, written, or is another user's."""

    def __init__(self, path, reason: str):
        super().__init__(f"cannot keep labkit's files in {path}: {reason}")
        self.path = path
        self.reason = reason


# --- the VM -----------------------------------------------------------------


class ContractError(LabkitError, ValueError):
    """A contract cannot be applied; the VM state is left as it was.

    ``action_index`` is the position of the failing action in the contract,
    ``action`` its name (or None when the action itself is malformed).
    """

    def __init__(self, reason: str, *, action_index: int | None = None, action: str | None = None):
        where = ""
        if action_index is not None:
            where = f"action {action_index}" + (f" ({action})" if action else "") + ": "
        super().__init__(where + reason)
        self.reason = reason
        self.action_index = action_index
        self.action = action


# --- Merkle proofs ----------------------------------------------------------


class InvalidProof(LabkitError, ValueError):
    """A Merkle inclusion proof is malformed or does not lead to the root it is checked against."""


# --- mining -----------------------------------------------------------------


class MiningCancelled(LabkitError):
    """Mining was cancelled before a nonce was found."""

    def __init__(self, attempts: int):
        super().__init__(f"mining cancelled after {attempts:,} attempts")
        self.attempts = attempts


# --- simulations ------------------------------------------------------------


class SimulationError(LabkitError, ValueError):
    """A simulation was given a parameter it cannot use: ``name`` says which, the message what it must be."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


# --- torrents ---------------------------------------------------------------


class TorrentError(LabkitError):
    """Sharing or fetching a file over BitTorrent failed."""


class InvalidTorrent(TorrentError, ValueError):
    """A .torrent file or magnet link is truncated, garbage, or for another file."""


class BadAddress(TorrentError, ValueError):
    """A peer, bootstrap or listen address that is malformed or names no one a session may contact."""


class FetchTimeout(TorrentError, TimeoutError):
    """No peer delivered the whole file in time."""

    def __init__(self, name: str, peers: list[str], seconds: float, progress: float = 0.0, detail: str = ""):
        tried = ", ".join(peers) if peers else "no peers"
        super().__init__(
            f"fetching {name!r} timed out after {seconds:g} s at {progress:.0%}; peers tried: {tried}"
            + (f" ({detail})" if detail else "")
        )
        self.name = name
        self.peers = list(peers)
        self.seconds = seconds
        self.progress = progress


class InvalidBencode(TorrentError, ValueError):
    """Bytes that are not one bencoded value in its one spelling (``reason`` says what and where)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- the DHT's chain-tip pointers (labkit.sharing.dht) -------------------------


class InvalidPointer(LabkitError, ValueError):
    """A DHT value is not a well-formed labkit pointer, or a Pointer field is out of range."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class DHTTimeout(TorrentError, TimeoutError):
    """The DHT did not answer in time (``what``: the operation, ``seconds``: the wait)."""

    def __init__(self, what: str, seconds: float, detail: str = ""):
        why = f" ({detail})" if detail else ""
        super().__init__(f"{what}: no answer from the DHT within {seconds:g} s{why}")
        self.what = what
        self.seconds = seconds


class PublishFailed(TorrentError):
    """A put reached no DHT node (``seq``: the sequence number it would have had)."""

    def __init__(self, seq: int):
        super().__init__(f"no DHT node stored the pointer (seq {seq}); is the session bootstrapped?")
        self.seq = seq


# --- a node's data folder ------------------------------------------------------


class FolderInUse(LabkitError):
    """Another process runs a node on this data folder: two nodes on one folder would race on its files."""

    def __init__(self, folder: str, pid: int | None):
        who = f"another node (process {pid})" if pid is not None else "another node"
        super().__init__(f"{folder}: {who} is using this data folder; stop it first, or give this node "
                         f"a folder of its own with --data")
        self.folder = folder
        self.pid = pid


class ChainFileDamaged(LabkitError):
    """A node's own ``chain.jsonl`` holds a line it cannot take: the node does not start on it.

    ``line`` is the 1-based number of the first such line and ``reason`` what is wrong with it;
    the file is left exactly as it is.
    """

    def __init__(self, path: str, line: int, reason: str, *, blocks_before: int):
        super().__init__(
            f"{path} line {line}: {reason}. The node does not start on a damaged chain and has not "
            f"changed the file ({blocks_before} block(s) before that line are fine). Mend the line "
            f"(`python -m labkit verify {path}` lists every bad one), or move the file aside "
            f"(mv {path} {path}.damaged): the node then starts from no blocks and fetches the chain "
            f"from the other members")
        self.path = path
        self.line = line
        self.reason = reason
        self.blocks_before = blocks_before


# --- the learner's saved code -------------------------------------------------


class BadText(LabkitError, ValueError):
    """Text that could pass for other text, or hides characters; the message says which and where (labkit.names)."""


class NodeError(LabkitError):
    """A node cannot do what it was asked (labkit.node)."""


class QueueError(LabkitError):
    """A contract cannot be queued (not a JSON object, too large, no such node folder...)."""


class QueueFull(QueueError):
    """Queuing one more contract would make ``queue.json`` larger than the node reads back."""


class SavedCodeError(LabkitError):
    """A learner's function cannot be saved (no source to read) or its saved file cannot be loaded."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"the saved exercise {name!r}: {reason}")
        self.name = name
        self.reason = reason


class ExerciseFailed(LabkitError, AssertionError):
    """A checked answer is wrong, or under grading not there (only in strict mode, ``LABKIT_EXERCISES_STRICT``)."""


# --- grading ----------------------------------------------------------------


class GradingError(LabkitError):
    """The instructor's grading run cannot start (no student folders, no notebooks), or one notebook cannot be
    graded (a FIFO, a link or malformed JSON where a notebook should be: reported for that student)."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class SandboxUnavailable(GradingError):
    """This machine cannot make the grader's sandbox (no ``unshare``, or user namespaces switched off)."""

    def __init__(self, reason: str):
        super().__init__("the grader's sandbox", reason)
