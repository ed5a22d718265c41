"""Writing files all at once: a reader sees the old file or the new one, never half of either.

Used for blocks files, key files and network configurations. The data goes
to a temporary file in the same folder, is flushed to disk, and then takes
the file's name in one step: ``os.replace`` to overwrite, or ``os.link``
when an existing file must never be replaced (link fails if the name exists).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(path: str | os.PathLike, data: bytes, *, mode: int = 0o644, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically with file mode ``mode``.

    With ``overwrite=False`` an existing file raises FileExistsError and is left untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # atomic "create if absent"
            os.unlink(tmp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
