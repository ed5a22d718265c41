"""Sharing a file between peers with BitTorrent (libtorrent 2.x), on this machine or a classroom LAN.

A peer that mined blocks shares its blocks file; the others fetch it and keep
sharing the pieces they have, so the miner uploads each piece about once however
many peers there are. One concept per module:

- :mod:`~labkit.sharing.bencode`: bencoding (BEP 3), labkit's one bencoder;
- :mod:`~labkit.sharing.krpc`: a BEP 44 put over KRPC, for the DHT pointers' dict values;
- :mod:`~labkit.sharing.metainfo`: .torrent files and magnet links (``make_torrent``,
  ``TorrentFile``, ``Magnet``, ``check_file``);
- :mod:`~labkit.sharing.addresses`: reading addresses, and the IP policy that says
  which peers and trackers a session may contact (loopback only by default);
- :mod:`~labkit.sharing.session`: libtorrent's settings and ``TorrentSession``, the
  session and its event loop;
- :mod:`~labkit.sharing.transfer`: ``Transfer``, one file a session fetches or seeds;
- :mod:`~labkit.sharing.swarm`: swarms of local peers (``LocalSwarm``, ``distribute``,
  ``swarm_experiment``);
- :mod:`~labkit.sharing.cli`: ``python -m labkit share`` and ``fetch``;
- :mod:`~labkit.sharing.dht`: BEP 46 chain-tip pointers in the DHT, which the live nodes follow (09).

Importing this package loads nothing; libtorrent is imported by the modules
that need it, when they are first imported, and by no module outside this package.
"""

from __future__ import annotations

import importlib
import pkgutil

# Every module of this folder, found by listing it (nothing is imported here).
__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit.sharing' has no attribute {name!r}")
