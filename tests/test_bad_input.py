"""Bad input on the command line (issue 12): demo, verify, wallet new and network new.

Each row is one bad invocation or file, run through the real command line by
``badinput.run_case``: one ``error:`` line on stderr naming what is wrong, a
non-zero exit (2 when refused, 1 when verify rejected lines of the file), no
traceback, no hang, and the folder exactly as it was. The rows for share and
fetch are in test_bad_input_sharing.py.

The valid files the rows start from (a blocks file the demo mined, key files,
a network configuration) are made once per session by ``valid()``.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from badinput import ROOT, Case, run_case
from launcher import Launch, run_fresh, run_labkit
from labkit.block import MAX_LINE_BYTES
from labkit.blocksfile import MAX_FILE_BYTES, MAX_LINES
from labkit.network import MAX_CONFIG_BYTES
from labkit.wallet import MAX_KEY_FILE_BYTES
from waiting import scaled

ESC = "\x1b"


@functools.cache
def valid() -> Path:
    """A folder of good files: blocks.jsonl (the demo's chain), keys, a network configuration."""
    from labkit.lessons.data import demo_wallets
    from labkit.network import Network
    from labkit.wallet import Wallet, public_key_pem

    folder = Path(tempfile.mkdtemp(prefix="labkit-valid-"))
    atexit.register(shutil.rmtree, folder, True)
    demo = subprocess.run([sys.executable, "-m", "labkit", "demo", "--no-torrent", "--workdir", str(folder / "demo")],
                          cwd=ROOT, capture_output=True, timeout=scaled(240),
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert demo.returncode == 0, demo.stderr
    shutil.copy(folder / "demo" / "alice" / "blocks.jsonl", folder / "blocks.jsonl")
    shutil.rmtree(folder / "demo")
    ana, ben = demo_wallets()[:2]  # real 2048-bit keys, made once
    (folder / "ana.pem").write_text(ana.to_pem())
    (folder / "ana.pub.pem").write_text(public_key_pem(ana.public_key))
    (folder / "ben.pub.pem").write_text(public_key_pem(ben.public_key))
    (folder / "weak.pub.pem").write_text(public_key_pem(Wallet.generate(512, teaching=True).public_key))
    Network.create(demo_wallets(), difficulty=2).save(folder / "other-network.json")
    return folder


# --- setups: each returns a function that prepares the case's folder --------------------------------


def setup(*steps):
    def prepare(folder: Path) -> None:
        for step in steps:
            step(folder)
    return prepare


def copy(name: str, as_name: str | None = None):
    return lambda folder: shutil.copy(valid() / name, folder / (as_name or name))


def write(name: str, data: bytes | str, mode: int | None = None):
    def step(folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        if mode is not None:
            path.chmod(mode)
    return step


def blocks_then(extra: bytes | None = None, *, edit=None):
    """The valid blocks file as blocks.jsonl, edited by ``edit(lines)`` and/or with ``extra`` appended."""
    def step(folder: Path) -> None:
        lines = (valid() / "blocks.jsonl").read_bytes().splitlines()
        if edit is not None:
            lines = edit(lines)
        data = b"".join(line + b"\n" for line in lines) + (extra or b"")
        (folder / "blocks.jsonl").write_bytes(data)
    return step


def fifo(name: str):
    return lambda folder: os.mkfifo(folder / name)


def folder_(name: str, mode: int = 0o755):
    def step(folder: Path) -> None:
        (folder / name).mkdir()
        (folder / name).chmod(mode)
    return step


def symlink(name: str, target: str):
    return lambda folder: os.symlink(target, folder / name)


def sparse(name: str, size: int):
    def step(folder: Path) -> None:
        with open(folder / name, "wb") as f:
            f.truncate(size)
    return step


def unix_socket(name: str):
    def step(folder: Path) -> None:
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(folder / name))
        sock.close()  # the socket file stays
    return step


def tampered(lines: list[bytes]) -> list[bytes]:
    record = json.loads(lines[2])
    record["signature"] = record["signature"][::-1]
    return [*lines[:2], json.dumps(record).encode(), *lines[3:]]


BLOCKS = copy("blocks.jsonl")
KEYS = setup(copy("ana.pub.pem"), copy("ben.pub.pem"))
V = ("verify", "blocks.jsonl")
SEED = ("--seed-secret", "s", "--signer-key", "ana.pub.pem", "--difficulty", "2")
NET = ("network", "new", "--member", "ana=ana.pub.pem")

# --- the table ---------------------------------------------------------------------------------------

CASES = [
    # usage
    Case("no command", (), error_words="required: command"),
    Case("unknown command", ("frobnicate",), error_words="invalid choice: 'frobnicate'"),
    Case("verify without a file", ("verify",), error_words="required: blocks_file"),
    Case("wallet without an action", ("wallet",), error_words="required: action"),
    Case("wallet new without a name", ("wallet", "new"), error_words="required: name"),
    Case("network new without members", ("network", "new"), error_words="required: --member"),
    Case("unknown option", (*V, "--bogus"), setup=BLOCKS, error_words="unrecognized arguments: --bogus"),
    # verify: the blocks file is not a readable regular file
    Case("verify a missing file", ("verify", "missing.jsonl"), error_words="missing.jsonl: no such file or folder"),
    Case("verify a folder", ("verify", "blocks"), setup=folder_("blocks"), error_words="blocks: is a folder"),
    Case("verify a FIFO (would hang)", V, setup=fifo("blocks.jsonl"), error_words="is a FIFO"),
    Case("verify /dev/zero (endless)", ("verify", "/dev/zero"), error_words="/dev/zero: is a device"),
    Case("verify /dev/null", ("verify", "/dev/null"), error_words="/dev/null: is a device"),
    Case("verify a socket", ("verify", "sock"), setup=unix_socket("sock"), error_words="sock: is a socket"),
    Case("verify a symlink to a FIFO", V, setup=setup(fifo("pipe"), symlink("blocks.jsonl", "pipe")),
         error_words="is a FIFO"),
    Case("verify a dangling symlink", V, setup=symlink("blocks.jsonl", "gone"), error_words="no such file"),
    Case("verify an unreadable file", V, setup=setup(BLOCKS, lambda f: (f / "blocks.jsonl").chmod(0)),
         unprivileged=True, error_words="blocks.jsonl: permission denied"),
    Case("verify in an unreadable folder", ("verify", "locked/blocks.jsonl"),
         setup=setup(folder_("locked"), copy("blocks.jsonl", "locked/blocks.jsonl"),
                     lambda f: (f / "locked").chmod(0)),
         unprivileged=True, error_words="permission denied"),
    Case("verify a path through a file", ("verify", "blocks.jsonl/x"), setup=BLOCKS,
         error_words="a part of the path is a file"),
    Case("verify an empty path", ("verify", ""), error_words="an empty path"),
    Case("verify a name too long", ("verify", "x" * 300), error_words="the name is too long"),
    Case("verify a missing non-UTF-8 name", ("verify", b"\xff.jsonl"), error_words=".jsonl: no such file"),
    Case("verify a missing name with a line break", ("verify", "new\nline.jsonl"),
         error_words="new\\nline.jsonl: no such file"),  # readable on one line, never 'new\x0aline'
    Case("verify a missing name with a tab", ("verify", "a\tb.jsonl"), error_words="a\\tb.jsonl: no such file"),
    Case("verify a file over the size limit", V, setup=sparse("blocks.jsonl", MAX_FILE_BYTES + 1),
         error_words=f"the limit is {MAX_FILE_BYTES:,}"),
    Case("verify a file over the line limit", V, setup=write("blocks.jsonl", b"\n" * (MAX_LINES + 1)),
         error_words=f"has more than {MAX_LINES:,} lines"),
    # verify: lines it rejects (exit 1, the report on stdout, one summary error line)
    Case("verify empty lines", V, setup=write("blocks.jsonl", b"\n" * 1000), exit_code=1,
         error_words="1,000 of 1,000 lines rejected"),
    Case("verify a garbage line", V, setup=blocks_then(b"not json\n"), exit_code=1,
         error_words="1 of 5 lines rejected"),
    Case("verify a repeated line", V, setup=blocks_then(edit=lambda ls: [*ls[:2], ls[1], *ls[2:]]), exit_code=1,
         error_words="1 of 5 lines rejected"),
    Case("verify a tampered signature", V, setup=blocks_then(edit=tampered), exit_code=1,
         error_words="2 of 4 lines rejected"),
    Case("verify at a higher difficulty", (*V, "--difficulty", "8"), setup=BLOCKS, exit_code=1,
         error_words="of 4 lines rejected"),
    Case("verify with another network", (*V, "--network", "other-network.json"),
         setup=setup(BLOCKS, copy("other-network.json")), exit_code=1, error_words="4 of 4 lines rejected"),
    Case("verify non-UTF-8 bytes", V, setup=blocks_then(b'{"token": "\xc3\x28"}\n'), exit_code=1,
         error_words="1 of 5 lines rejected"),
    Case("verify a line over the line limit", V, setup=blocks_then(b"x" * (MAX_LINE_BYTES + 10) + b"\n"),
         exit_code=1, error_words="1 of 5 lines rejected"),
    Case("verify escape sequences in a line", V, setup=blocks_then(f'{ESC}[2J{ESC}]0;owned\a\n'.encode()),
         exit_code=1, error_words="1 of 5 lines rejected"),
    Case("verify NUL bytes", V, setup=write("blocks.jsonl", b"\0" * 100), exit_code=1,
         error_words="1 of 1 lines rejected"),
    Case("verify a file of only a carriage return", V, setup=write("blocks.jsonl", b"\r"), exit_code=1,
         error_words="1 of 1 lines rejected"),
    # verify --network
    Case("--network missing", (*V, "--network", "net.json"), setup=BLOCKS, error_words="net.json: no such file"),
    Case("--network a folder", (*V, "--network", "net"), setup=setup(BLOCKS, folder_("net")),
         error_words="net: is a folder"),
    Case("--network a FIFO", (*V, "--network", "net.json"), setup=setup(BLOCKS, fifo("net.json")),
         error_words="is a FIFO"),
    Case("--network /dev/zero", (*V, "--network", "/dev/zero"), setup=BLOCKS, error_words="is a device"),
    Case("--network not JSON", (*V, "--network", "net.json"), setup=setup(BLOCKS, write("net.json", "nope")),
         error_words="net.json"),
    Case("--network an empty object", (*V, "--network", "net.json"), setup=setup(BLOCKS, write("net.json", "{}")),
         error_words="missing"),
    Case("--network an empty file", (*V, "--network", "net.json"), setup=setup(BLOCKS, write("net.json", "")),
         error_words="net.json"),
    Case("--network over the size limit", (*V, "--network", "net.json"),
         setup=setup(BLOCKS, sparse("net.json", MAX_CONFIG_BYTES + 1)),
         error_words=f"the limit is {MAX_CONFIG_BYTES:,}"),
    # verify --difficulty
    *(Case(f"verify --difficulty {value!r}", (*V, "--difficulty", value), setup=BLOCKS,
           error_words="difficulty must be a whole number of hex zeros from 0 to 8")
      for value in ("nan", "-1", "9", "1" + "0" * 30, "1.5", "inf", "", "\u0663", " 3")),
    # verify --seed-secret and --signer-key
    Case("--seed-secret not UTF-8", (*V, "--seed-secret", b"\xff", "--signer-key", "ana.pub.pem", "--difficulty", "2"),
         setup=setup(BLOCKS, copy("ana.pub.pem")), error_words="is not valid UTF-8"),
    Case("--seed-secret alone", (*V, "--seed-secret", "s"), setup=BLOCKS,
         error_words="--seed-secret needs --signer-key and --difficulty"),
    Case("--seed-secret empty", (*V, "--seed-secret", "", "--signer-key", "ana.pub.pem", "--difficulty", "2"),
         setup=setup(BLOCKS, copy("ana.pub.pem")), error_words="the secret must not be empty"),
    Case("--signer-key missing", (*V, *SEED), setup=BLOCKS, error_words="ana.pub.pem: no such file"),
    Case("--signer-key a FIFO", (*V, *SEED), setup=setup(BLOCKS, fifo("ana.pub.pem")), error_words="is a FIFO"),
    Case("--signer-key a folder", (*V, *SEED), setup=setup(BLOCKS, folder_("ana.pub.pem")), error_words="is a folder"),
    Case("--signer-key /dev/zero", (*V, "--seed-secret", "s", "--signer-key", "/dev/zero", "--difficulty", "2"),
         setup=BLOCKS, error_words="is a device"),
    Case("--signer-key garbage", (*V, *SEED), setup=setup(BLOCKS, write("ana.pub.pem", "garbage")),
         error_words="not a PEM public key"),
    Case("--signer-key over the size limit", (*V, *SEED),
         setup=setup(BLOCKS, sparse("ana.pub.pem", MAX_KEY_FILE_BYTES + 1)),
         error_words=f"the limit is {MAX_KEY_FILE_BYTES:,}"),
    # demo: refused before any folder is made
    Case("demo --difficulty 9 --workdir new", ("demo", "--difficulty", "9", "--workdir", "new"),
         error_words="from 0 to 8, not '9'"),
    Case("demo --difficulty nan", ("demo", "--difficulty", "nan", "--workdir", "new"), error_words="not 'nan'"),
    Case("demo --difficulty -1", ("demo", "--workdir", "new", "--difficulty", "-1"), error_words="not '-1'"),
    Case("demo --workdir a file", ("demo", "--no-torrent", "--workdir", "blocks.jsonl"), setup=BLOCKS,
         error_words="blocks.jsonl: is a file, not a folder"),
    Case("demo --workdir under a file", ("demo", "--no-torrent", "--workdir", "blocks.jsonl/work"), setup=BLOCKS,
         error_words="a part of the path is a file"),
    Case("demo --workdir a FIFO", ("demo", "--no-torrent", "--workdir", "pipe"), setup=fifo("pipe"),
         error_words="pipe: is a FIFO"),
    Case("demo --workdir read-only", ("demo", "--no-torrent", "--workdir", "ro"), setup=folder_("ro", 0o555),
         unprivileged=True, error_words="ro: permission denied"),
    Case("demo --workdir in a read-only folder", ("demo", "--no-torrent", "--workdir", "ro/new"),
         setup=folder_("ro", 0o555), unprivileged=True, error_words="ro: permission denied"),
    Case("demo --workdir empty", ("demo", "--workdir", ""), error_words="an empty path"),
    # wallet new: names that would escape their folder, or are not names
    *(Case(f"wallet new {name!r}", ("wallet", "new", name, "--dir", "keys"), error_words=words)
      for name, words in [
          ("../x", "holds a slash"), ("a/b", "holds a slash"), ("/etc/x", "holds a slash"),
          ("a\\b", "holds a slash"), ("", "must not be empty"), (".hidden", "must start with a letter or a digit"),
          ("..", "must start with a letter or a digit"), ("a b", "holds a space"),
          (f"a{ESC}[2Jb", "holds '\\x1b'"), ("evil\u202egnp.exe", "holds '\\u202e'"), ("x" * 33, "the limit is 32"),
          ("a\tb", "holds a space"), ("ana:1", "COLON"), ("ana.pub", "must not end in '.pub'"),
      ]),
    Case("wallet new a name starting with -", ("wallet", "new", "--dir", "keys", "--", "-ana"),
         error_words="must start with a letter or a digit"),
    Case("wallet new a non-UTF-8 name", ("wallet", "new", b"an\xffa", "--dir", "keys"), error_words="not valid UTF-8"),
    Case("wallet new --dir a file", ("wallet", "new", "ana", "--dir", "keys"), setup=write("keys", "x"),
         error_words="keys: is a file, not a folder"),
    Case("wallet new --dir under a file", ("wallet", "new", "ana", "--dir", "keys/sub"), setup=write("keys", "x"),
         error_words="a part of the path is a file"),
    Case("wallet new --dir a FIFO", ("wallet", "new", "ana", "--dir", "keys"), setup=fifo("keys"),
         error_words="keys: is a FIFO"),
    Case("wallet new --dir read-only", ("wallet", "new", "ana", "--dir", "ro"), setup=folder_("ro", 0o555),
         unprivileged=True, error_words="ro: permission denied"),
    Case("wallet new --dir in a read-only folder", ("wallet", "new", "ana", "--dir", "ro/keys"),
         setup=folder_("ro", 0o555), unprivileged=True, error_words="ro: permission denied"),
    Case("wallet new over a private key", ("wallet", "new", "ana"), setup=copy("ana.pem"),
         error_words="ana.pem: already exists"),
    Case("wallet new over a public key", ("wallet", "new", "ana"), setup=copy("ana.pub.pem"),
         error_words="ana.pub.pem: already exists"),
    Case("wallet new over a folder", ("wallet", "new", "ana"), setup=folder_("ana.pem"),
         error_words="ana.pem: is a folder"),
    Case("wallet new --dir empty", ("wallet", "new", "ana", "--dir", ""), error_words="an empty path"),
    # network new: members
    Case("--member without =", ("network", "new", "--member", "ana"), error_words="NAME=PUBLIC_KEY.pem"),
    Case("--member without a name", ("network", "new", "--member", "=ana.pub.pem"), setup=KEYS,
         error_words="must not be empty"),
    Case("--member without a path", ("network", "new", "--member", "ana="), error_words="NAME=PUBLIC_KEY.pem"),
    Case("--member a name with a slash", ("network", "new", "--member", "../ana=ana.pub.pem"), setup=KEYS,
         error_words="holds a slash"),
    Case("--member a name with an escape", ("network", "new", "--member", f"a{ESC}[31mna=ana.pub.pem"), setup=KEYS,
         error_words="holds '\\x1b'"),
    Case("--member a missing key", NET, error_words="ana.pub.pem: no such file"),
    Case("--member a FIFO", NET, setup=fifo("ana.pub.pem"), error_words="is a FIFO"),
    Case("--member /dev/zero", ("network", "new", "--member", "ana=/dev/zero"), error_words="is a device"),
    Case("--member a folder", NET, setup=folder_("ana.pub.pem"), error_words="is a folder"),
    Case("--member a garbage key", NET, setup=write("ana.pub.pem", "garbage"), error_words="not a PEM public key"),
    Case("--member a private key", ("network", "new", "--member", "ana=ana.pem"), setup=copy("ana.pem"),
         error_words="not a PEM public key"),
    Case("--member a 512-bit key", ("network", "new", "--member", "ana=weak.pub.pem"), setup=copy("weak.pub.pem"),
         error_words="512-bit key refused"),
    Case("--member a key over the size limit", NET, setup=sparse("ana.pub.pem", MAX_KEY_FILE_BYTES + 1),
         error_words=f"the limit is {MAX_KEY_FILE_BYTES:,}"),
    Case("--member the same name twice", (*NET, "--member", "ana=ben.pub.pem"), setup=KEYS,
         error_words="'ana' is given twice"),
    Case("--member the same key twice", (*NET, "--member", "ben=ana.pub.pem"), setup=KEYS,
         error_words="has the same key as"),
    # network new: the other options
    *(Case(f"network new --difficulty {value!r}", (*NET, "--difficulty", value), setup=KEYS,
           error_words="from 0 to 8") for value in ("nan", "9", "-3")),
    Case("network new --out exists", (*NET, "--out", "net.json"), setup=setup(KEYS, write("net.json", "old")),
         error_words="net.json: already exists"),
    Case("network new over classroom.json", NET, setup=setup(KEYS, write("classroom.json", "old")),
         error_words="classroom.json: already exists"),
    Case("network new --out a folder", (*NET, "--out", "out"), setup=setup(KEYS, folder_("out")),
         error_words="out: is a folder"),
    Case("network new --out a FIFO", (*NET, "--out", "out"), setup=setup(KEYS, fifo("out")),
         error_words="out: already exists"),
    Case("network new --out in a missing folder", (*NET, "--out", "nowhere/net.json"), setup=KEYS,
         error_words="nowhere: no such file or folder"),
    Case("network new --out in a read-only folder", (*NET, "--out", "ro/net.json"),
         setup=setup(KEYS, folder_("ro", 0o555)), unprivileged=True, error_words="ro: permission denied"),
    Case("network new --out empty", (*NET, "--out", ""), setup=KEYS, error_words="an empty path"),
    Case("network new --name with an escape", (*NET, "--name", f"x{ESC}[2J"), setup=KEYS,
         error_words="must be 1 to 64 printable characters"),
    Case("network new --name not UTF-8", (*NET, "--name", b"\xffx"), setup=KEYS, error_words="not valid UTF-8"),
    Case("network new --name empty", (*NET, "--name", ""), setup=KEYS, error_words="must be 1 to 64"),
]


def test_the_table_has_at_least_seventy_distinct_rows():
    assert len(CASES) >= 70
    assert len({c.name for c in CASES}) == len(CASES)
    assert sum(c.exit_code == 2 for c in CASES) >= 60  # refused outright, not merely rejected lines


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_input_gets_one_error_line_and_changes_nothing(case, tmp_path):
    run_case(case, tmp_path)


SAME_AS_A_FRESH_INTERPRETER = ["no command", "unknown option", "verify non-UTF-8 bytes", "verify a garbage line",
                               "network new --name not UTF-8"]


@pytest.mark.parametrize("name", SAME_AS_A_FRESH_INTERPRETER)
def test_the_forked_command_line_answers_as_a_fresh_interpreter_does(name, tmp_path):
    """The rows run forked from a process that imported labkit (tests/launcher.py); a new
    ``python -m labkit`` must give the same exit status, stdout and stderr, byte for byte."""
    case = next(c for c in CASES if c.name == name)
    answers = []
    for how in ("forked", "fresh"):
        folder = tmp_path / how
        folder.mkdir()
        if case.setup is not None:
            case.setup(folder)
        launch = Launch(tuple(case.args), str(folder), {**os.environ, "PYTHONPATH": str(ROOT)}, scaled(30))
        answers.append(run_labkit(launch) if how == "forked" else run_fresh(launch))
    forked, fresh = ((a.returncode, a.stdout, a.stderr.replace(bytes(tmp_path / h), b"DIR"))
                     for a, h in zip(answers, ("forked", "fresh")))
    assert forked == fresh and forked[0] == case.exit_code
