"""The embedded defaults in data/: demo wallets, the demo network and the seed's contracts.

The demo keys and secret are public (they are in the repository), so lessons
are reproducible; they must never hold anything of value.

data/ lives at the top of the repository. A checkout (and an editable install)
reads it there; a wheel carries a copy as ``labkit/_data`` (setup.py's build
step), read with ``importlib.resources``. This module lives in labkit/lessons/,
so the checkout's root is three folders up.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from importlib import resources
from pathlib import Path

from ..network import Network
from ..wallet import Wallet

__all__ = ["DATA_DIR", "WORK_ENV", "DEMO_NAMES", "demo_wallets", "demo_network", "seed_contracts", "demo_timestamps",
           "work_dir"]


def _locate_data() -> tuple[Path, Path | None]:
    """(the data folder, the checkout's root or None when labkit is installed from a wheel)."""
    installed = resources.files("labkit") / "_data"
    if installed.is_dir():
        # Installed packages are plain folders (pip unpacks wheels), so this is a real path.
        return Path(str(installed)), None
    checkout = Path(__file__).resolve().parents[2]  # labkit/lessons/data.py -> the checkout
    return checkout / "data", checkout


DATA_DIR, _CHECKOUT = _locate_data()
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


def work_dir(name: str = "") -> Path:
    """A folder for files made at run time, created if missing.

    In a checkout it is ``work/`` at the repository root (git-ignored); when
    labkit is installed from a wheel it is ``labkit-work/`` in the current
    directory, never inside site-packages. ``LABKIT_WORK_DIR`` names another
    (the grader gives each notebook its own, so students' runs never share one).
    """
    if os.environ.get(WORK_ENV):
        root = Path(os.environ[WORK_ENV])
    else:
        root = _CHECKOUT / "work" if _CHECKOUT is not None else Path.cwd() / "labkit-work"
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path
