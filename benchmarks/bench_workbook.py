"""The workbook: each notebook executed top to bottom in a fresh kernel, as `make test` does."""

from __future__ import annotations

import os
import time
from pathlib import Path

try:
    from .common import row
except ImportError:
    from common import row

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def run(quick: bool = False) -> list[dict]:
    import nbformat
    from nbclient import NotebookClient

    os.environ.setdefault("LABKIT_EXERCISES_STRICT", "1")
    rows, total = [], 0.0
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS)}})
        start = time.perf_counter()
        client.execute()
        secs = time.perf_counter() - start
        total += secs
        rows.append(row("workbook", path.stem, secs, "s"))
    rows.append(row("workbook", "all notebooks", total, "s", target="<= 120 s", met=total <= 120))
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
