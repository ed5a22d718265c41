"""Bad input on the command line: ``node run``, ``node submit``, ``node status`` and ``node classroom``.

Each row is one bad invocation, run through the real command line by
``badinput.run_case``: one ``error:`` line on stderr naming what is wrong,
exit 2, no traceback, no hang, and the folder exactly as it was: above all,
a refused ``node run`` makes no data folder (``d``) and a refused
``classroom`` no room folder. Every row is refused before a node starts;
none needs a network.

The rows start from good files (``member``): alice's demo key with her
node key beside it, and a network of alice and bob whose configuration a
row may edit (``network``) into one that must be refused.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from badinput import Case, run_case

ARABIC_3 = "\u0663"  # "3" in Arabic-Indic digits: str.isdigit() and int() say yes
SUPERSCRIPT_1 = "\u00b9"  # "¹": str.isdigit() says yes, int() raises


@functools.cache
def _good() -> Path:
    """alice.pem, alice.node(.pub), net.json (alice and bob), c.json (a contract), node/ (a node's folder)."""
    from labkit.network import Member, Network
    from labkit.node.journal import Journal
    from labkit.node.keys import write_node_key_pair
    from labkit.lessons.data import demo_wallets

    folder = Path(tempfile.mkdtemp(prefix="labkit-node-valid-"))
    atexit.register(shutil.rmtree, folder, True)
    alice, bob, _ = demo_wallets()
    alice.save(folder / "alice.pem")
    node_key = write_node_key_pair(folder / "alice.pem")[0]
    Network.create([Member("alice", alice.public_key, node_key.public_key), Member("bob", bob.public_key)],
                   difficulty=1).save(folder / "net.json")
    (folder / "c.json").write_text(json.dumps({"actions": [{"action": "register_student", "student": {
        "id": "S9", "name": "Ada", "department": "Maths"}}]}))
    (folder / "node").mkdir()
    Journal(folder / "node").write_status({"member": "alice"})
    return folder


def member(folder: Path) -> None:
    for name in ("alice.pem", "alice.node", "alice.node.pub", "net.json", "c.json"):
        shutil.copy(_good() / name, folder / name)
    shutil.copytree(_good() / "node", folder / "node")


def then(*steps):
    def setup(folder: Path) -> None:
        member(folder)
        for step in steps:
            step(folder)
    return setup


def network(edit):
    """The good network configuration, edited by ``edit(config)``."""
    def step(folder: Path) -> None:
        config = json.loads((folder / "net.json").read_text())
        edit(config)
        (folder / "net.json").write_text(json.dumps(config))
    return then(step)


def fifo(name: str):
    return then(lambda folder: os.mkfifo(folder / name))


def write(name: str, data: str):
    return then(lambda folder: (folder / name).write_text(data))


def rename_member(config: dict, index: int, name: str) -> None:
    config["members"][index]["name"] = name


def two_keys(folder: Path) -> None:
    from labkit.lessons.data import demo_wallets

    (folder / "alice.pem").write_text(demo_wallets()[0].to_pem() + demo_wallets()[1].to_pem())


# A node that would start anyway stops after a few seconds (--duration): a row can fail, never hang.
RUN = ("node", "run", "--network", "net.json", "--key", "alice.pem", "--data", "d", "--duration", "3")


def run(*extra: str) -> tuple[str, ...]:
    return (*RUN, *extra)


def room(*extra: str) -> tuple[str, ...]:
    return ("node", "classroom", "--dir", "room", *extra)


CASES = [
    Case("node without an action", ("node",), error_words="required: action"),
    # --- node run: the data folder
    Case("run --data empty (the current folder)", run("--data", ""), member, error_words="an empty path"),
    Case("run --data a file", run("--data", "c.json"), member, error_words="c.json: is a file, not a folder"),
    Case("run --data under a file", run("--data", "c.json/d"), member, error_words="a part of the path is a file"),
    Case("run --data a FIFO", run("--data", "pipe"), fifo("pipe"), error_words="pipe: is a FIFO"),
    # --- node run: addresses, through labkit.sharing.addresses
    *(Case(f"run --bootstrap {value}", run("--bootstrap", value), member, error_words=words)
      for value, words in [
          ("0.0.0.0:6881", "not a peer's address"), ("[::]:6881", "not a peer's address"),
          ("224.0.0.1:6881", "not a peer's address"), ("255.255.255.255:6881", "not a peer's address"),
          ("127.0.0.1:0", "bad peer port 0"), ("127.0.0.1:65536", "port 0-65535"),
          (f"127.0.0.1:{ARABIC_3}", "port 0-65535"), (f"127.0.0.1:{SUPERSCRIPT_1}", "port 0-65535"),
          ("example.org:6881", "IP addresses"), ("127.0.0.1", "expected HOST:PORT"), ("", "an empty address"),
      ]),
    Case("run --listen on every interface", run("--listen", "0.0.0.0:6881"), member, error_words="cannot listen"),
    Case("run --listen on a multicast address", run("--listen", "239.1.2.3:6881"), member,
         error_words="cannot listen"),
    Case("run --listen with Arabic-Indic digits", run("--listen", f"127.0.0.1:{ARABIC_3}"), member,
         error_words="port 0-65535"),
    Case("run --watch not hex", run("--watch", "xyz"), member, error_words="64 hex digits"),
    Case("run --watch hex with blanks", run("--watch", " ".join(["ab"] * 32)), member, error_words="64 hex digits"),
    # --- node run: numbers, through labkit.arguments
    *(Case(f"run {option} {value}", run(option, value), member, error_words=f"{option} is a number of seconds")
      for option in ("--follow-every", "--duration")
      for value in ("nan", "inf", "-1", "0", "1e3", ARABIC_3)),
    Case("run --follow-every over a minute", run("--follow-every", "61"), member,
         error_words="--follow-every is a number of seconds from 0.05 to 60"),
    *(Case(f"run --upload-limit {value!r}", run("--upload-limit", value), member,
           error_words="--upload-limit must be a whole number") for value in ("-5", "0", "1.5", "abc", ARABIC_3)),
    # --- node run: the files it reads
    Case("run --network missing", run("--network", "nowhere.json"), member, error_words="nowhere.json: no such file"),
    Case("run --network a FIFO", run("--network", "pipe"), fifo("pipe"), error_words="pipe: is a FIFO"),
    Case("run --network /dev/zero", run("--network", "/dev/zero"), member, error_words="is a device"),
    Case("run --network not JSON", RUN, write("net.json", "nope"), error_words="net.json"),
    Case("run --key missing", run("--key", "ben.pem"), member, error_words="ben.pem: no such file"),
    Case("run --key holding two keys", RUN, then(two_keys), error_words="holds 2 PEM blocks"),
    Case("run --key without its node key", RUN, then(lambda f: (f / "alice.node").unlink()),
         error_words="no node key beside"),
    Case("run a network of two members named alice", RUN, network(lambda c: rename_member(c, 1, "alice")),
         error_words="two members are named 'alice'"),
    Case("run a network with a Cyrillic look-alike name", RUN, network(lambda c: rename_member(c, 1, "\u0430lice")),
         error_words="not ASCII"),
    Case("run a network with an all-zero secret", RUN, network(lambda c: c.update(secret="00" * 32)),
         error_words="distinct byte values"),
    # --- node submit
    Case("submit --data empty", ("node", "submit", "--data", "", "c.json"), member, error_words="an empty path"),
    Case("submit to a folder that is no node's", ("node", "submit", "--data", "nowhere", "c.json"), member,
         error_words="not a node's data folder"),
    Case("submit a missing contract", ("node", "submit", "--data", "node", "missing.json"), member,
         error_words="missing.json: no such file"),
    Case("submit a FIFO", ("node", "submit", "--data", "node", "pipe"), fifo("pipe"), error_words="is a FIFO"),
    Case("submit /dev/zero", ("node", "submit", "--data", "node", "/dev/zero"), member, error_words="is a device"),
    Case("submit a contract that is not JSON", ("node", "submit", "--data", "node", "bad.json"),
         write("bad.json", "[1, 2"), error_words="not a JSON contract"),
    # --- node status
    Case("status --data empty", ("node", "status", "--data", ""), member, error_words="an empty path"),
    Case("status of a folder that is no node's", ("node", "status", "--data", "nowhere"),
         error_words="cannot read the status"),
    Case("status of a folder with a line break in its name", ("node", "status", "--data", "no\nwhere"),
         error_words="no\\nwhere"),  # readable, never '\x0a'
    # --- node classroom: refused before its folder is made
    *(Case(f"classroom --timeout {value}", room("--timeout", value), error_words="the time-out is a number of seconds")
      for value in ("nan", "inf", "-5", "0", "1e9")),
    *(Case(f"classroom {option} {value}", room(option, value), error_words=f"{option} must be a whole number")
      for option, value in [("--nodes", "0"), ("--nodes", "65"), ("--nodes", ARABIC_3), ("--nodes", "1.5"),
                            ("--contracts", "0"), ("--contracts", "51"), ("--difficulty", "6"),
                            ("--difficulty", "nan")]),
    Case("classroom --dir empty", ("node", "classroom", "--dir", ""), error_words="an empty path"),
    Case("classroom --dir a file", ("node", "classroom", "--dir", "c.json"), member,
         error_words="c.json: is a file, not a folder"),
]


def test_every_row_has_its_own_name_and_every_node_command_is_here():
    assert len({c.name for c in CASES}) == len(CASES)
    commands = {c.args[1] for c in CASES if len(c.args) > 1}
    assert commands == {"run", "submit", "status", "classroom"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_bad_node_input_gets_one_error_line_and_changes_nothing(case, tmp_path):
    run_case(case, tmp_path)
