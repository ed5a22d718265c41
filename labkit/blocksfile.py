"""The blocks file: one JSON record per line, read strictly and written atomically.

Reading never rewrites the file. Every line is accounted for: the well-formed
prefix becomes ``blocks``, every bad line a ``LineProblem``, and well-formed
lines after the first bad one are kept apart (``after_problem``) so a report
can say what became of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from .block import Block
from .errors import InvalidRecord
from .files import atomic_write

__all__ = ["LineProblem", "LoadResult", "parse_lines", "load_blocks", "save_blocks"]



@dataclass(frozen=True)
class LineProblem:
    line: int  # 1-based line number in the file
    reason: str


@dataclass(frozen=True)
class LoadResult:
    """What a blocks file held: the well-formed prefix, and every bad line."""

    blocks: list[Block]
    problems: list[LineProblem] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line number of each block
    # well-formed records after the first bad line: (line number, block), read but not accepted
    after_problem: list[tuple[int, Block]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_lines(data: bytes) -> LoadResult:
    """Parse the bytes of a blocks file (one JSON record per line)."""
    blocks: list[Block] = []
    lines: list[int] = []
    problems: list[LineProblem] = []
    after: list[tuple[int, Block]] = []
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    for number, raw in enumerate(raw_lines, start=1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            if not raw.strip():
                raise InvalidRecord("empty line")
            block = Block.from_line(raw)
        except InvalidRecord as exc:
            problems.append(LineProblem(number, exc.reason))
            continue
        if problems:  # only the prefix before the first bad line is accepted
            after.append((number, block))
        else:
            blocks.append(block)
            lines.append(number)
    return LoadResult(blocks, problems, lines, after)


def load_blocks(path: str | os.PathLike) -> LoadResult:
    """Read a blocks file. The file is only read, never rewritten."""
    path = Path(path)
    return parse_lines(path.read_bytes())


def save_blocks(path: str | os.PathLike, blocks: Iterable[Block]) -> Path:
    """Write one JSON line per block atomically: a temporary file, flushed, then renamed."""
    path = Path(path)
    data = "".join(block.to_line() + "\n" for block in blocks).encode("ascii")
    return atomic_write(path, data)
