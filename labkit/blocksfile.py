"""The blocks file: one JSON record per line, read strictly and written atomically.

Reading never rewrites the file. Every line is accounted for: the well-formed
prefix becomes ``blocks``, every bad line belongs to a ``LineProblem``, and
well-formed lines after the first bad one are kept apart (``after_problem``)
so a report can say what became of them.

A blocks file may come from anyone, so reading it is bounded:

- the file must be a regular file (never a FIFO or a device, which would
  make the reader wait or read forever) of at most ``MAX_FILE_BYTES``
  (16 MiB) bytes;
- it may hold at most ``MAX_LINES`` (10,000) lines; a classroom chain has
  tens to hundreds of blocks, and 10,000 blocks take a few seconds to verify;
- each line may be at most ``labkit.block.MAX_LINE_BYTES`` (72 KiB); a
  longer line is skipped without being held and reported as too long;
- the file is read line by line, and consecutive lines with the same
  problem are held as one ``LineProblem`` with a ``count``, so ten thousand
  empty lines are one problem, not ten thousand.

A file over the size or line limit is refused whole (``FileRefused``).

Measured with ``/usr/bin/time -f "%e s, %M KB" python -m labkit verify FILE``
on a shared 2-core machine: 10,000 honest blocks (11.7 MB, ``--difficulty 0``)
6.4 s and 88 MB; 10,000 forged signatures 2.9-6 s and 92 MB; 10,000 empty
lines 0.33 s and 36 MB; 16 MiB of over-long lines 0.5 s and 36 MB. Just over
a limit (10,001 lines, 16 MiB + 1 byte, or the 1 MB file of newlines that
once took 13 s and 357 MB) the file is refused in 0.3-0.8 s and under 50 MB.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from .block import MAX_LINE_BYTES, Block
from .errors import FileRefused, InvalidRecord
from .files import atomic_write, open_regular, refused

__all__ = ["MAX_FILE_BYTES", "MAX_LINES", "LineProblem", "LoadResult", "parse_lines", "load_blocks",
           "save_blocks"]

MAX_FILE_BYTES = 16 * 1024 * 1024  # bytes: 10,000 blocks of about 1.2 KB each, with room to spare
MAX_LINES = 10_000


@dataclass(frozen=True)
class LineProblem:
    """A bad line, or a run of consecutive lines that are all bad for the same reason."""

    line: int  # 1-based line number in the file of the (first) bad line
    reason: str
    count: int = 1  # lines ``line`` to ``line + count - 1`` all have this problem

    @property
    def last(self) -> int:
        """The line number of the last line of the run."""
        return self.line + self.count - 1


@dataclass(frozen=True)
class LoadResult:
    """What a blocks file held: the well-formed prefix, and every bad line."""

    blocks: list[Block]
    problems: list[LineProblem] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)  # the line number of each block
    # well-formed records after the first bad line: (line number, block), read but not accepted
    after_problem: list[tuple[int, Block]] = field(default_factory=list)
    line_count: int = 0  # lines in the file

    @property
    def ok(self) -> bool:
        return not self.problems


class _TooMany(Exception):
    """More lines than MAX_LINES (or bytes than MAX_FILE_BYTES): the file is refused whole."""


def _split(data: bytes) -> Iterator[tuple[bytes, int]]:
    """Each line of ``data`` (without its newline) and its length in bytes."""
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()  # the newline that ends the last line
    for raw in raw_lines:
        yield raw, len(raw)


def _stream(file: BinaryIO) -> Iterator[tuple[bytes, int]]:
    """Each line of ``file`` (without its newline) and its full length; a line too long to parse
    is read past in chunks and yielded empty (the length says what it was)."""
    total = 0
    while True:
        raw = file.readline(MAX_LINE_BYTES + 2)  # the limit, a "\r" and the "\n"
        if not raw:
            return
        total += len(raw)
        length = len(raw)
        if not raw.endswith(b"\n") and len(raw) == MAX_LINE_BYTES + 2:
            raw = b""  # too long: skip the rest of the line without holding it
            while True:
                chunk = file.readline(64 * 1024)
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    raise _TooMany(f"is more than {MAX_FILE_BYTES:,} bytes; the limit is {MAX_FILE_BYTES:,}")
                length += len(chunk)
                if chunk.endswith(b"\n"):
                    length -= 1  # the newline is not part of the line
                if not chunk or chunk.endswith(b"\n"):
                    break
        if total > MAX_FILE_BYTES:  # it grew after it was opened
            raise _TooMany(f"is more than {MAX_FILE_BYTES:,} bytes; the limit is {MAX_FILE_BYTES:,}")
        if raw.endswith(b"\n"):
            raw = raw[:-1]
            length -= 1
        yield raw, length


def _parse(raw_lines: Iterable[tuple[bytes, int]]) -> LoadResult:
    blocks: list[Block] = []
    lines: list[int] = []
    problems: list[LineProblem] = []
    after: list[tuple[int, Block]] = []
    number = 0
    for number, (raw, length) in enumerate(raw_lines, start=1):
        if number > MAX_LINES:
            raise _TooMany(f"has more than {MAX_LINES:,} lines; the limit is {MAX_LINES:,}")
        if raw.endswith(b"\r"):
            raw = raw[:-1]
            length -= 1
        try:
            if length > MAX_LINE_BYTES:
                raise InvalidRecord(f"line is {length:,} bytes; the limit is {MAX_LINE_BYTES:,}")
            if not raw.strip():
                raise InvalidRecord("empty line")
            block = Block.from_line(raw)
        except InvalidRecord as exc:
            last = problems[-1] if problems else None
            if last is not None and last.reason == exc.reason and last.last == number - 1:
                problems[-1] = LineProblem(last.line, last.reason, last.count + 1)  # the same run goes on
            else:
                problems.append(LineProblem(number, exc.reason))
            continue
        if problems:  # only the prefix before the first bad line is accepted
            after.append((number, block))
        else:
            blocks.append(block)
            lines.append(number)
    return LoadResult(blocks, problems, lines, after, number)


def parse_lines(data: bytes) -> LoadResult:
    """Parse the bytes of a blocks file (one JSON record per line); InvalidRecord past MAX_LINES lines."""
    try:
        return _parse(_split(data))
    except _TooMany as exc:
        raise InvalidRecord(f"the data {exc}", line=MAX_LINES + 1) from None


def load_blocks(path: str | os.PathLike) -> LoadResult:
    """Read a blocks file, line by line. The file is only read, never rewritten.

    Raises FileRefused if ``path`` is not a regular file, cannot be read, or
    is over MAX_FILE_BYTES bytes or MAX_LINES lines.
    """
    with open_regular(path, limit=MAX_FILE_BYTES) as file:
        try:
            return _parse(_stream(file))
        except _TooMany as exc:
            raise FileRefused(path, str(exc), errno.EFBIG) from None


def save_blocks(path: str | os.PathLike, blocks: Iterable[Block]) -> Path:
    """Write one JSON line per block atomically: a temporary file, flushed, then renamed.

    Raises FileRefused (naming the path) if the folder is missing or not writable.
    """
    path = Path(path)
    data = "".join(block.to_line() + "\n" for block in blocks).encode("ascii")
    try:
        return atomic_write(path, data)
    except OSError as exc:
        raise refused(exc.filename or path, exc) from None
