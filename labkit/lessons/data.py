"""The embedded defaults in data/: demo wallets, the demo network and the seed's contracts.

The demo keys and secret are public (they are in the repository), so lessons
are reproducible; they must never hold anything of value.

data/ lives at the top of the repository. A checkout (and an editable install)
reads it there; a wheel carries a copy as ``labkit/_data`` (setup.py's build
step), read with ``importlib.resources``. This module lives in labkit/lessons/,
so the checkout's root is three folders up.

Files made at run time go to ``work_dir()`` (``work_root`` says where, in one
place): never into the install, which may be read-only and shared by a class.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from importlib import resources
from pathlib import Path

from ..errors import WorkFolderError
from ..network import Network
from ..wallet import Wallet

__all__ = ["DATA_DIR", "WORK_ENV", "DEMO_NAMES", "demo_wallets", "demo_network", "seed_contracts", "demo_timestamps",
           "WORK_FOLDER", "user_data_dir", "work_root", "work_dir"]


def _locate_data() -> Path:
    """The data folder: labkit/_data when installed from a wheel, else the checkout's data/."""
    installed = resources.files("labkit") / "_data"
    if installed.is_dir():
        # Installed packages are plain folders (pip unpacks wheels), so this is a real path.
        return Path(str(installed))
    return Path(__file__).resolve().parents[2] / "data"  # labkit/lessons/data.py -> the checkout


DATA_DIR = _locate_data()
DEMO_NAMES = ("alice", "bob", "carol")
DEMO_START = dt.datetime(2024, 11, 23, 12, 0, tzinfo=dt.timezone.utc)  # the seed's NFT creation date


def demo_wallets() -> list[Wallet]:
    """alice, bob and carol: public demo keys for reproducible lessons."""
    return [Wallet.load(DATA_DIR / "demo-wallets" / f"{name}.pem", name=name) for name in DEMO_NAMES]


def demo_network(difficulty: int | None = None) -> Network:
    """The demo network (its secret is public); optionally at another difficulty."""
    network = Network.load(DATA_DIR / "demo-network.json")
    return network if difficulty is None else network.with_difficulty(difficulty)


def seed_contracts() -> list[dict]:
    """The seed's four contracts, in order."""
    return json.loads((DATA_DIR / "seed-contracts.json").read_text("utf-8"))


def demo_timestamps(count: int, *, step: dt.timedelta = dt.timedelta(minutes=1)) -> list[dt.datetime]:
    """Fixed, increasing block times so demo chains are the same on every run."""
    return [DEMO_START + i * step for i in range(count)]


WORK_ENV = "LABKIT_WORK_DIR"
WORK_FOLDER = "work"  # in the current folder; git-ignored at any depth


def user_data_dir() -> Path:
    """This user's own folder for labkit's files: ``$XDG_DATA_HOME/labkit``, by default ``~/.local/share/labkit``."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "labkit"


def _own_folder(path: Path) -> bool:
    """Make ``path`` (mode 0700 when new) and say whether it is a folder this user owns and may write."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:  # read-only install, another user's folder, a file in the way
        return False
    mine = not hasattr(os, "getuid") or path.stat().st_uid == os.getuid()
    return path.is_dir() and mine and os.access(path, os.W_OK | os.X_OK)


def work_root() -> Path:
    """The folder for files made at run time, the first of these this user owns and can write.

    1. ``$LABKIT_WORK_DIR`` (the grader gives each notebook its own; a hub may set one per user);
       if it cannot be used, WorkFolderError rather than a silent move elsewhere;
    2. ``work/`` in the current folder: beside the notebooks for a kernel (it runs in the
       notebook's folder), the checkout's root for ``python -m labkit`` and the tests;
    3. ``user_data_dir()``, for a shared, read-only install (a hub, a lab machine), where
       the current folder is not this user's.

    A folder that belongs to another user is never used, so two students never share one.
    """
    if os.environ.get(WORK_ENV):
        root = Path(os.environ[WORK_ENV])
        if not _own_folder(root):
            raise WorkFolderError(root, f"{WORK_ENV} names it, but this user cannot create it, "
                                        "or does not own it and write to it")
        return root
    for root in (Path.cwd() / WORK_FOLDER, user_data_dir()):
        if _own_folder(root):
            return root
    raise WorkFolderError(root, f"this user can write neither it nor ./{WORK_FOLDER}; "
                                f"set {WORK_ENV} to a folder you own")


def work_dir(name: str = "") -> Path:
    """``work_root() / name``, created if missing (the one place labkit decides where run-time files go)."""
    path = work_root() / name
    path.mkdir(parents=True, exist_ok=True)
    return path
