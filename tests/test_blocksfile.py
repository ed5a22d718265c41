"""labkit.blocksfile: the bounded, line-by-line reader of blocks files (issue 12).

The tests of the format itself (good files, bad lines, CRLF, saving
atomically) are in test_chain.py; these are about hostile files: limits,
runs of the same problem, and files that are not regular files.
"""

from __future__ import annotations

import os
import resource

import pytest

from labkit.block import MAX_LINE_BYTES
from labkit.blocksfile import MAX_FILE_BYTES, MAX_LINES, LineProblem, load_blocks, parse_lines
from labkit.errors import FileRefused, InvalidRecord, LabkitError


def test_a_run_of_the_same_problem_is_one_line_problem(tmp_path, small_blocks):
    good = (small_blocks[0].to_line() + "\n").encode()
    path = tmp_path / "blocks.jsonl"
    path.write_bytes(good + b"\n" * 5000 + b"garbage\n" * 3 + b"\n")
    loaded = load_blocks(path)
    assert loaded.blocks == [small_blocks[0]] and loaded.line_count == 5005
    assert [(p.line, p.last, p.count) for p in loaded.problems] == [(2, 5001, 5000), (5002, 5004, 3), (5005, 5005, 1)]
    assert loaded.problems[0] == LineProblem(2, "empty line", 5000)


def test_every_line_is_counted_once(tmp_path, small_blocks):
    lines = [b.to_line() for b in small_blocks]
    path = tmp_path / "blocks.jsonl"
    path.write_text("\n".join([lines[0], lines[1], lines[1], "", lines[2], "x", "x", lines[3]]) + "\n")
    loaded = load_blocks(path)
    held = len(loaded.blocks) + sum(p.count for p in loaded.problems) + len(loaded.after_problem)
    assert held == loaded.line_count == 8
    assert loaded.lines == [1, 2, 3]  # the repeated line is a block of the prefix; verify reports it as a repeat
    assert [line for line, _ in loaded.after_problem] == [5, 8]


def test_the_line_limit(tmp_path):
    path = tmp_path / "blocks.jsonl"
    path.write_bytes(b"\n" * MAX_LINES)
    assert load_blocks(path).problems == [LineProblem(1, "empty line", MAX_LINES)]
    path.write_bytes(b"\n" * (MAX_LINES + 1))
    with pytest.raises(FileRefused, match=f"has more than {MAX_LINES:,} lines"):
        load_blocks(path)
    with pytest.raises(InvalidRecord, match=f"more than {MAX_LINES:,} lines"):
        parse_lines(b"\n" * (MAX_LINES + 1))


def test_the_size_limit_is_checked_before_reading(tmp_path):
    path = tmp_path / "blocks.jsonl"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(FileRefused, match=f"the limit is {MAX_FILE_BYTES:,}") as info:
        load_blocks(path)
    assert info.value.filename == str(path) and isinstance(info.value, OSError)


def test_a_long_line_is_skipped_without_being_held(tmp_path, small_blocks):
    path = tmp_path / "blocks.jsonl"
    long = MAX_LINE_BYTES * 100  # 7 MB on one line
    path.write_bytes(b"{" * long + b"\n" + (small_blocks[0].to_line() + "\n").encode())
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    loaded = load_blocks(path)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert loaded.problems == [LineProblem(1, f"line is {long:,} bytes; the limit is {MAX_LINE_BYTES:,}")]
    assert [line for line, _ in loaded.after_problem] == [2]
    assert grown_kb < 4 * 1024  # far less than the 7 MB line


def test_a_line_at_the_line_limit_is_parsed(tmp_path):
    path = tmp_path / "blocks.jsonl"
    path.write_bytes(b"x" * MAX_LINE_BYTES + b"\r\n")  # the limit, and a CRLF that does not count
    (problem,) = load_blocks(path).problems
    assert "not valid JSON" in problem.reason


@pytest.mark.parametrize("make, words", [
    (lambda p: os.mkfifo(p), "is a FIFO"),
    (lambda p: p.mkdir(), "is a folder"),
    (lambda p: os.symlink("/dev/zero", p), "is a device"),
    (lambda p: None, "no such file or folder"),
])
def test_only_regular_files_are_opened(tmp_path, make, words):
    path = tmp_path / "blocks.jsonl"
    make(path)
    with pytest.raises(FileRefused, match=words) as info:
        load_blocks(path)  # a FIFO would block here for ever, /dev/zero read for ever
    assert isinstance(info.value, LabkitError) and info.value.filename == str(path)
