"""labkit: the library behind the blockchain workbook.

``import labkit`` is cheap: it loads only the error classes. The modules
(``labkit.wallet``, ``labkit.chain``, ``labkit.torrent``...) are imported
when first used, so a notebook that never shares a torrent never loads
libtorrent.
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
