"""A node's data folder is the node's: what a classmate (or a slip) can plant there, and what the node does.

Issue 18, "the node's own folder": one node per folder (a lock that dies with
its process), a ``chain.jsonl`` never cut short in silence, no read or write
through a link or into a FIFO, an inbox file that cannot be set aside never
stops the node, ``node status`` never a traceback, every file the node writes
one it reads back, and ``published/`` bounded.

The catalogue (:data:`START_CASES`, :data:`STATUS_CASES`, :data:`INBOX_CASES`)
is data, one row per hostile file: the file, what is planted there, and the
error or logged refusal expected. Each row checks that the node does not exit
with a traceback, that nothing already stored is lost, and that no file is
rewritten shorter.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from labkit.__main__ import main
from labkit.errors import ChainFileDamaged, FileRefused, FolderInUse
from labkit.network import Member, Network
from labkit.node.keys import NodeKey
from labkit.node.classroom import student_contracts
from labkit.node.folder import KEEP_PUBLISHED, lock_folder
from labkit.node.journal import MAX_STATUS_BYTES, Journal, fit_status, read_status
from labkit.node.keys import write_node_key_pair
from labkit.node.live import Node
from labkit.errors import QueueError, QueueFull
from labkit.node.queue import ContractQueue
from labkit.wallet import Wallet
from waiting import scaled, wait_until

HERE = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
BLOCKS = 3


# --- a member, and a folder holding what a node stored -------------------------------------------


@dataclass
class MemberFiles:
    """A member of a one-member network, in memory and as the files ``node run`` is given."""

    network: Network
    wallet: Wallet
    node_key: NodeKey
    network_file: Path
    key_file: Path

    def node(self, folder: Path) -> Node:
        return Node(self.network, self.wallet, self.node_key, folder)

    def run_args(self, folder: Path) -> list[str]:
        return ["node", "run", "--network", str(self.network_file), "--key", str(self.key_file),
                "--data", str(folder), "--duration", "1", "--quiet"]


@pytest.fixture(scope="module")
def member(tmp_path_factory) -> MemberFiles:
    from labkit.lessons.data import demo_network, demo_wallets

    root = tmp_path_factory.mktemp("member")
    wallet = demo_wallets()[0]
    key_file = wallet.save(root / f"{wallet.name}.pem")
    node_key = write_node_key_pair(key_file)[0]
    network = demo_network(1).with_members([Member(wallet.name, wallet.public_key, node_key.public_key)])
    network_file = network.save(root / "net.json")
    return MemberFiles(network, wallet, node_key, network_file, key_file)


@pytest.fixture(scope="module")
def stored_folder(member, tmp_path_factory) -> Path:
    """A node's folder as the node left it: BLOCKS blocks, a queued contract, its log and status."""
    folder = tmp_path_factory.mktemp("stored") / "ana"
    node = member.node(folder)
    contracts = student_contracts("ana", BLOCKS + 1)
    for contract in contracts[:BLOCKS]:
        node.submit(contract)
        assert node.mine_once() is not None
    node.submit(contracts[BLOCKS])  # stays queued
    node.stop()
    return folder


@pytest.fixture
def folder(stored_folder, tmp_path) -> Path:
    copy = tmp_path / "ana"
    shutil.copytree(stored_folder, copy, symlinks=True)
    return copy


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry under ``folder``: a file's bytes, a link's target, or its kind."""
    seen: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        info = path.lstat()
        name = str(path.relative_to(folder))
        if path.is_symlink():
            seen[name] = ("link", os.readlink(path))
        elif path.is_file() and not path.is_fifo():
            seen[name] = path.read_bytes()
        else:
            seen[name] = ("dir" if path.is_dir() else "fifo" if path.is_fifo() else "other", info.st_mode)
    return seen


def without_lock(seen: dict[str, object]) -> dict[str, object]:
    """A snapshot but for what node.lock holds: the process id of the last node to take it."""
    return {name: "lock" if name == "node.lock" and isinstance(was, bytes) else was for name, was in seen.items()}


def assert_nothing_lost(before: dict[str, object], after: dict[str, object], *, may_grow=()) -> None:
    """Every entry there before is still there: the same bytes, or (those in ``may_grow``) no fewer.

    status.json and node.lock say where the node stands now, and may say it in fewer bytes.
    """
    for name, was in before.items():
        assert name in after, f"{name} is gone"
        if name in ("status.json", "node.lock") or not isinstance(was, bytes):
            continue
        if name in may_grow:
            assert isinstance(after[name], bytes) and len(after[name]) >= len(was), f"{name} is shorter"
        else:
            assert after[name] == was, f"{name} was rewritten"


def one_error_line(err: str, *names: str) -> None:
    assert "Traceback" not in err, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for name in names:
        assert name in err, (name, err)


# --- one node per folder ---------------------------------------------------------------------------


HOLD = "import sys; from labkit.node.folder import lock_folder; held = lock_folder(sys.argv[1]); print('held', flush=True); sys.stdin.read()"


def test_a_second_node_on_a_folder_gets_one_error_and_changes_nothing_until_the_first_dies(member, folder, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert holder.stdout.readline() == "held\n"
        before = snapshot(folder)
        with pytest.raises(FolderInUse) as caught:
            member.node(folder)
        assert caught.value.pid == holder.pid
        code = main(member.run_args(folder))
        _, err = capsys.readouterr()
        assert code == 2
        one_error_line(err, str(folder), "is using this data folder", f"process {holder.pid}")
        assert snapshot(folder) == before
    finally:
        holder.send_signal(signal.SIGKILL)  # no chance to clean up: the lock goes with the process
        holder.wait(timeout=scaled(30))
    node = member.node(folder)
    assert node.height == BLOCKS - 1
    node.stop()


def test_the_same_process_may_open_its_folder_again_and_the_lock_goes_when_the_last_lets_go(folder):
    first, second = lock_folder(folder), lock_folder(folder)  # a notebook cell run twice
    first.release()
    probe = [sys.executable, "-c", HOLD, str(folder)]
    busy = subprocess.run(probe, capture_output=True, text=True, env=ENV, input="", timeout=scaled(60))
    assert busy.returncode != 0 and "FolderInUse" in busy.stderr
    second.release()
    free = subprocess.run(probe, capture_output=True, text=True, env=ENV, input="", timeout=scaled(60))
    assert free.returncode == 0 and free.stdout == "held\n"


# --- chain.jsonl is never cut short in silence ------------------------------------------------------


def test_an_empty_line_in_the_chain_stops_the_start_naming_the_line_and_the_file_stays(member, folder):
    chain = folder / "chain.jsonl"
    lines = chain.read_bytes().splitlines(keepends=True)
    chain.write_bytes(lines[0] + b"\n" + b"".join(lines[1:]))
    before = snapshot(folder)
    with pytest.raises(ChainFileDamaged) as caught:
        member.node(folder)
    assert caught.value.line == 2 and caught.value.reason == "empty line" and caught.value.blocks_before == 1
    assert "mv " in str(caught.value) and str(chain) in str(caught.value)
    assert snapshot(folder) == before
    # moved aside as the message says, the node starts from no blocks and the original is kept
    chain.rename(folder / "chain.jsonl.damaged")
    node = member.node(folder)
    assert node.height == -1 and (folder / "chain.jsonl.damaged").read_bytes() == before["chain.jsonl"]
    node.stop()


def test_a_block_the_rules_refuse_in_the_chain_stops_the_start_too(member, folder):
    chain = folder / "chain.jsonl"
    lines = chain.read_bytes().splitlines(keepends=True)
    chain.write_bytes(lines[0] + lines[2])  # block 2 without its parent: it does not link
    with pytest.raises(ChainFileDamaged) as caught:
        member.node(folder)
    assert caught.value.line == 2 and "link" in caught.value.reason
    assert chain.read_bytes() == lines[0] + lines[2]


# --- node status never gives a traceback -------------------------------------------------------------


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


STATUS_CASES = [  # (what is planted as status.json, what the error says)
    ("{}", "the field 'member' is missing"),
    ("[]", "a JSON object, not a list"),
    ("null", "a JSON object, not null"),
    ('"ana"', "a JSON object, not a string"),
    ('{"member": 1}', "the field 'member' is an integer, not a string"),
    ("STATUS height=true", "the field 'height' is true, not an integer"),
    ("STATUS queued={}", "the field 'queued' is an object, not a list"),
    ("STATUS events=[1]", "events[0] is an integer, not an object"),
    ('STATUS events=[{"time": 3, "event": "mined"}]', "events[0].time is an integer, not a string"),
    ('STATUS peers={"ben": {"height": "3", "total_work": 1, "seq": 1}}', "peers['ben'].height is a string"),
    ('STATUS refused_contracts=[{"rule": null}]', "refused_contracts[0].rule is null"),
    ('{"member": ' + deep(100_000) + "}", "nested more than"),
    ("HUGE", "the limit is"),
    ("{", "not valid JSON"),
    ("\xff", "not UTF-8"),
]


def planted_status(text: str) -> bytes:
    good = {"member": "ana", "listen": None, "tip": None, "height": -1, "total_work": 0, "digest": "ab" * 32,
            "queued": [], "refused_contracts": [], "error": None, "peers": {}, "events": []}
    if text == "HUGE":
        return b'{"member": "' + b"a" * MAX_STATUS_BYTES + b'"}'
    if text.startswith("STATUS "):
        name, value = text[len("STATUS "):].split("=", 1)
        return json.dumps({**good, name: json.loads(value)}).encode()
    return text.encode("latin-1")


@pytest.mark.parametrize("planted, message", STATUS_CASES, ids=[c[1] for c in STATUS_CASES])
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_node_status_on_a_malformed_status_is_one_error_line_naming_the_file(tmp_path, capsys, planted, message,
                                                                             as_json):
    path = tmp_path / "status.json"
    path.write_bytes(planted_status(planted))
    code = main(["node", "status", "--data", str(tmp_path), *(["--json"] if as_json else [])])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    one_error_line(err, str(path), message)


@pytest.mark.parametrize("kind", ["fifo", "folder", "link"])
def test_node_status_refuses_a_status_that_is_not_a_plain_file(tmp_path, capsys, kind):
    path = tmp_path / "status.json"
    real = tmp_path / "real.json"
    Journal(tmp_path).write_status({"member": "ana"})
    os.replace(path, real)
    {"fifo": lambda: os.mkfifo(path), "folder": path.mkdir, "link": lambda: path.symlink_to(real)}[kind]()
    code = main(["node", "status", "--data", str(tmp_path)])
    _, err = capsys.readouterr()
    assert code == 2
    one_error_line(err, str(path))


# --- every file the node writes is one it can read back ---------------------------------------------


def test_status_json_is_written_no_larger_than_it_is_read(tmp_path):
    contract = {"actions": [{"note": "x" * 60_000}]}
    events = [{"time": "2026-12-06T08:00:00.000Z", "event": "queued", "contract": contract, "n": i} for i in range(100)]
    status = {"member": "ana", "listen": None, "tip": None, "height": -1, "total_work": 0, "digest": "ab" * 32,
              "queued": [contract] * 10, "queue_length": 10, "refused_contracts": [], "error": None, "peers": {},
              "events": events}
    Journal(tmp_path).write_status(status)
    assert (tmp_path / "status.json").stat().st_size <= MAX_STATUS_BYTES
    read = read_status(tmp_path)
    assert read["trimmed"] is True and read["queue_length"] == 10 and read["queued"][0] == contract
    assert read["events"] and read["events"][-1]["n"] == 99  # the newest kept
    assert fit_status({"member": "ana"}) == (json.dumps({"member": "ana"}, indent=2) + "\n").encode()


def test_a_full_queue_refuses_a_contract_and_stays_readable(tmp_path, monkeypatch, member):
    import labkit.node.queue as queue_module

    limit = 4096
    monkeypatch.setattr(queue_module, "MAX_QUEUE_BYTES", limit)
    node = member.node(tmp_path / "ana")
    contracts = student_contracts("ana", 60)
    queued = 0
    with pytest.raises(QueueFull, match="the queue is full"):
        for contract in contracts:
            node.submit(contract)
            queued += 1
    assert 0 < queued < 60 and len(node.queue) == queued
    assert (tmp_path / "ana" / "queue.json").stat().st_size <= limit
    assert ContractQueue(tmp_path / "ana").waiting == contracts[:queued]  # read back, with the same limit
    # through the inbox, the contract is refused and kept for the submitter, and the node goes on
    inbox = tmp_path / "ana" / "inbox"
    inbox.mkdir()
    (inbox / "00000000000000000009-late.json").write_text(json.dumps(contracts[-1]))
    assert node.take_inbox() == []
    refusal = node.events[-1]
    assert refusal.kind == "contract refused" and "queue is full" in refusal.detail["reason"]
    assert [p.name for p in inbox.iterdir()] == ["00000000000000000009-late.refused"]
    # node submit says so at once, and drops nothing into the inbox
    (inbox / "00000000000000000009-late.refused").unlink()
    node.write_status()
    with pytest.raises(QueueFull, match="is full"):
        queue_module.submit_to(tmp_path / "ana", contracts[-1])
    assert list(inbox.iterdir()) == []
    node.stop()


def test_refused_contracts_are_remembered_up_to_a_bound(tmp_path):
    from labkit.node.queue import KEEP_REFUSED

    queue = ContractQueue(tmp_path)
    for i in range(KEEP_REFUSED + 5):
        queue.refuse({"n": i}, "contract", "why")
    assert len(queue.refused) == KEEP_REFUSED and queue.refused[-1]["contract"] == {"n": KEEP_REFUSED + 4}
    assert len(ContractQueue(tmp_path).refused) == KEEP_REFUSED


QUEUE_CASES = [  # (what is planted as queue.json, what the error says)
    ('{"waiting": ' + deep(100_000) + ', "refused": []}', "nested more than"),
    ('{"waiting": "x", "refused": []}', "the field 'waiting' must be a list, not str"),
    ('{"waiting": [1], "refused": []}', "waiting[0] must be a contract"),
    ('{"waiting": [], "refused": [{"rule": 1}]}', "refused[0] must be an object with a contract"),
    ('{"waiting": []}', "the field 'refused' is missing"),
    ("[]", "a queue is a JSON object, not list"),
]


@pytest.mark.parametrize("planted, message", QUEUE_CASES, ids=[c[1] for c in QUEUE_CASES])
def test_a_malformed_queue_is_an_error_naming_the_file_and_the_field(tmp_path, planted, message):
    (tmp_path / "queue.json").write_text(planted)
    with pytest.raises(QueueError) as caught:
        ContractQueue(tmp_path)
    assert str(tmp_path / "queue.json") in str(caught.value) and message in str(caught.value)


def test_a_queue_holding_contracts_nested_as_deep_as_allowed_is_read_back(tmp_path):
    from labkit.encoding import MAX_DEPTH, dumps_canonical
    from labkit.node.queue import read_contract

    nested: object = []
    for _ in range(MAX_DEPTH - 2):
        nested = [nested]
    contract = read_contract(dumps_canonical({"actions": nested}), "c.json")  # as deep as a contract may be
    queue = ContractQueue(tmp_path)
    queue.append(contract)
    queue.refuse(contract, "contract", "too deep to run")
    again = ContractQueue(tmp_path)
    assert again.refused[0]["contract"] == contract
    Journal(tmp_path).write_status({**json.loads(planted_status("STATUS member=\"ana\"")),
                                    "refused_contracts": again.refused,
                                    "events": [{"time": "t", "event": "queued", "contract": contract}]})
    assert read_status(tmp_path)["refused_contracts"][0]["contract"] == contract


# --- the catalogue: hostile files where the node keeps its own ---------------------------------------


def move_aside(path: Path) -> None:
    """What the node stored there goes beside it (the catalogue then checks it is still there)."""
    if os.path.lexists(path):
        path.rename(path.with_name(path.name + ".stored"))


def plant_fifo(path: Path) -> None:
    move_aside(path)
    os.mkfifo(path)


def plant_folder(path: Path) -> None:
    move_aside(path)
    path.mkdir()


def plant_link_to_copy(path: Path) -> None:
    """A link to a copy of what was there: the same bytes, but not the node's file."""
    copy = path.with_name(path.name + ".elsewhere")
    if path.exists():
        path.rename(copy)
    else:
        copy.write_text("")
    path.symlink_to(copy.name)


def plant_link_to_zero(path: Path) -> None:
    move_aside(path)
    path.symlink_to("/dev/zero")


def plant_file(path: Path) -> None:
    move_aside(path)
    path.write_text("a file where the node keeps a folder\n")


def plant_line(text: bytes, at: int) -> Callable[[Path], None]:
    def plant(path: Path) -> None:
        lines = path.read_bytes().splitlines(keepends=True)
        path.write_bytes(b"".join(lines[:at] + [text] + lines[at:]))
    return plant


@dataclass(frozen=True)
class StartCase:
    """A hostile entry in the node's folder that ``node run`` must refuse with one error line."""

    file: str  # where it is planted, in the data folder
    plant: Callable[[Path], None]
    expect: str  # in the error line


START_CASES = [
    *(StartCase(name, plant, expect)
      for name in ("chain.jsonl", "queue.json", "events.jsonl", "status.json")
      for plant, expect in ((plant_fifo, "is a FIFO"), (plant_folder, "is a folder"),
                            (plant_link_to_copy, "is a symbolic link"), (plant_link_to_zero, "is a symbolic link"))),
    StartCase("node.lock", plant_fifo, "is a FIFO"),
    StartCase("node.lock", plant_link_to_zero, "is a symbolic link"),
    *(StartCase(name, plant, expect) for name in ("inbox", "published", "fetched")
      for plant, expect in ((plant_file, "is a file, not a folder"), (plant_fifo, "is a FIFO"),
                            (plant_link_to_copy, "is a symbolic link"))),
    StartCase("chain.jsonl", plant_line(b"\n", 1), "line 2: empty line"),
    StartCase("chain.jsonl", plant_line(b"   \r\n", 2), "line 3: empty line"),
    StartCase("chain.jsonl", plant_line(b'{"token": "x"}\n', 0), "line 1"),
    StartCase("chain.jsonl", plant_line(b"\xff\xfe\n", 3), "line 4"),
    StartCase("queue.json", lambda p: p.write_text('{"waiting": ' + deep(100_000) + ', "refused": []}'),
              "nested more than"),
    StartCase("queue.json", lambda p: p.write_text('{"waiting": {}, "refused": []}'), "the field 'waiting'"),
]


@pytest.mark.parametrize("case", START_CASES, ids=[f"{c.file}-{c.plant.__name__}-{c.expect}" for c in START_CASES])
def test_catalogue_a_hostile_file_in_the_folder_stops_node_run_with_one_error_line(member, folder, case, capsys):
    case.plant(folder / case.file)
    before = snapshot(folder)
    code = main(member.run_args(folder))  # a traceback would escape main() and fail the test
    _, err = capsys.readouterr()
    assert code == 2, err
    one_error_line(err, case.file, case.expect)
    assert without_lock(snapshot(folder)) == without_lock(before)  # nothing lost, rewritten or added


@dataclass(frozen=True)
class InboxCase:
    """A hostile entry in the inbox: refused and logged, the node goes on, nothing stored is lost."""

    plant: Callable[[Path], None]  # given the inbox folder
    file: str  # the inbox entry the refusal names
    expect: str  # in the logged reason


def _bad_with_refused_taken(by: Callable[[Path], None]) -> Callable[[Path], None]:
    def plant(inbox: Path) -> None:
        (inbox / "01-bad.json").write_text("[1, 2")
        by(inbox / "01-bad.refused")
        (inbox / "01-bad.refused.keep").write_text("")  # a marker the test checks is still there
    plant.__name__ = f"refused_name_taken_by_{by.__name__}"
    return plant


def _taken_by_a_folder(path: Path) -> None:
    path.mkdir()
    (path / "inside").write_text("a classmate's")


def _taken_by_a_file(path: Path) -> None:
    path.write_text("an earlier refusal")


INBOX_CASES = [
    InboxCase(lambda inbox: os.mkfifo(inbox / "01-fifo.json"), "01-fifo.json", "is a FIFO"),
    InboxCase(lambda inbox: (inbox / "01-dir.json").mkdir(), "01-dir.json", "is a folder"),
    InboxCase(lambda inbox: (inbox / "01-zero.json").symlink_to("/dev/zero"), "01-zero.json", "is a symbolic link"),
    InboxCase(lambda inbox: ((inbox.parent / "elsewhere.json").write_text(json.dumps(student_contracts("eve", 1)[0])),
                             (inbox / "01-link.json").symlink_to(inbox.parent / "elsewhere.json")),
              "01-link.json", "is a symbolic link"),
    InboxCase(_bad_with_refused_taken(_taken_by_a_folder), "01-bad.json", "kept as 01-bad.1.refused"),
    InboxCase(_bad_with_refused_taken(_taken_by_a_file), "01-bad.json", "kept as 01-bad.1.refused"),
    InboxCase(_bad_with_refused_taken(os.mkfifo), "01-bad.json", "kept as 01-bad.1.refused"),
]


@pytest.mark.parametrize("case", INBOX_CASES, ids=[f"{c.file}-{c.expect}" for c in INBOX_CASES])
def test_catalogue_a_hostile_inbox_file_is_refused_and_logged_and_the_node_goes_on(member, folder, case):
    inbox = folder / "inbox"
    inbox.mkdir(exist_ok=True)
    case.plant(inbox)
    good = student_contracts("ana", BLOCKS + 2)[-1]
    (inbox / "02-good.json").write_text(json.dumps(good))
    before = snapshot(folder)
    node = member.node(folder)
    queued = node.take_inbox()
    assert queued == [good]  # the good one behind it is taken
    refusals = [e for e in node.events if e.kind == "contract refused"]
    assert len(refusals) == 1 and refusals[0].detail["file"] == case.file, refusals
    assert case.expect in refusals[0].detail["reason"], refusals[0].detail["reason"]
    assert node.take_inbox() == [] and len([e for e in node.events if e.kind == "contract refused"]) == 1
    assert len(node.queue) == 2 and node.height == BLOCKS - 1
    after = snapshot(folder)
    del before["inbox/02-good.json"]  # queued, then removed: it is in queue.json
    assert_nothing_lost({k: v for k, v in before.items() if not k.startswith("inbox/" + case.file[:-5])}, after,
                        may_grow={"queue.json", "events.jsonl"})
    assert after["events.jsonl"].startswith(before["events.jsonl"])  # appended to
    for name, was in before.items():  # what was planted beside it is untouched
        if name.startswith("inbox/01-bad.refused"):
            assert after[name] == was
    node.stop()


def test_an_inbox_file_that_can_be_neither_renamed_nor_removed_is_skipped(tmp_path, monkeypatch):
    queue = ContractQueue(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "01-bad.json").write_text("[")

    def cannot(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "rename", cannot)
    monkeypatch.setattr(Path, "unlink", cannot)
    queued, bad = queue.take_inbox()
    assert queued == [] and "can be neither renamed nor removed" in bad[0][1]
    assert queue.take_inbox() == ([], [])  # not read again and again


def test_the_event_log_never_waits_on_a_fifo(tmp_path):
    journal = Journal(tmp_path)
    os.mkfifo(tmp_path / "events.jsonl")
    journal.log("started")  # without the fix this open never returns
    assert isinstance(journal.write_error, FileRefused) and "FIFO" in str(journal.write_error)
    os.unlink(tmp_path / "events.jsonl")
    journal.log("stopped")  # the line kept in memory is written with the next one
    kinds = [json.loads(line)["event"] for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert kinds == ["started", "stopped"] and journal.write_error is None


def test_no_write_follows_a_link(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("not the node's\n")
    folder = tmp_path / "node"
    folder.mkdir()
    journal, queue = Journal(folder), ContractQueue(folder)
    for name in ("events.jsonl", "status.json", "queue.json"):  # planted while the node runs
        (folder / name).symlink_to(outside)
    journal.log("started")
    assert "symbolic link" in str(journal.write_error)
    journal.write_status({"member": "ana"})
    queue.append({"actions": []})
    assert outside.read_text() == "not the node's\n"
    assert not (folder / "status.json").is_symlink() and not (folder / "queue.json").is_symlink()


# --- published/ is bounded, and a lone node says when it can write again -----------------------------


@pytest.fixture
def lone_node(member, tmp_path):
    """A started node with no one to bootstrap from: its announces fail, its files are written."""
    node = member.node(tmp_path / "ana").start()
    yield node
    node.stop()


def test_published_keeps_only_the_copies_still_seeded(lone_node, tmp_path):
    store = tmp_path / "ana" / "published"
    store.mkdir()
    (store / "0123456789abcdef").mkdir()  # left by an earlier run
    (store / "0123456789abcdef" / "chain.jsonl").write_text("old\n")
    (store / "notes.txt").write_text("not a chain copy: left alone\n")
    rounds = KEEP_PUBLISHED + 4
    for contract in student_contracts("ana", rounds):
        lone_node.submit(contract)
        assert lone_node.mine_once(publish=True) is not None
        copies = [p for p in store.iterdir() if p.is_dir()]
        assert len(copies) <= KEEP_PUBLISHED, sorted(p.name for p in copies)
    names = {p.name for p in store.iterdir()}
    assert lone_node.tip.hash[:16] in names and "0123456789abcdef" not in names and "notes.txt" in names
    assert len(names) == KEEP_PUBLISHED + 1
    chain_bytes = (tmp_path / "ana" / "chain.jsonl").stat().st_size
    held = sum(p.stat().st_size for p in store.rglob("*.jsonl"))
    assert held <= KEEP_PUBLISHED * chain_bytes


def test_a_lone_node_clears_no_space_from_its_status_once_it_can_write(lone_node, tmp_path, monkeypatch):
    import labkit.blocksfile as blocksfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    contracts = student_contracts("ana", 2)
    monkeypatch.setattr(blocksfile, "atomic_write", full)
    lone_node.submit(contracts[0])
    lone_node.mine_once(publish=True)
    assert "no space" in read_status(tmp_path / "ana")["error"]
    monkeypatch.undo()
    lone_node.submit(contracts[1])
    lone_node.mine_once(publish=True)  # written; only the announce fails, there is no one to announce to
    status = read_status(tmp_path / "ana")
    assert status["error"] is None and status["height"] == 1
    assert [e.kind for e in lone_node.events].count("recovered") == 1


def _planted_fifo(copy: Path) -> None:
    copy.mkdir(parents=True)
    os.mkfifo(copy / "chain.jsonl")


def _planted_link_to_another_chain(copy: Path) -> None:
    copy.mkdir(parents=True)
    (copy.parent / "other.jsonl").write_text('{"token": "not this chain"}\n')
    (copy / "chain.jsonl").symlink_to(copy.parent / "other.jsonl")


def _planted_folder_link(copy: Path) -> None:
    copy.parent.mkdir(exist_ok=True)
    (copy.parent / "elsewhere").mkdir()
    copy.symlink_to(copy.parent / "elsewhere")


def _planted_file(copy: Path) -> None:
    copy.parent.mkdir(exist_ok=True)
    copy.write_text("a file where the copy's folder goes\n")


@pytest.mark.parametrize("plant", [_planted_fifo, _planted_link_to_another_chain, _planted_folder_link, _planted_file])
def test_what_is_planted_where_the_next_published_copy_goes_is_replaced_by_the_copy(lone_node, tmp_path, plant):
    lone_node.submit(student_contracts("ana", 1)[0])
    entry = lone_node.mine_once(publish=False)
    copy = tmp_path / "ana" / "published" / entry.hash[:16]
    plant(copy)
    lone_node.publish()  # without the fix: a TorrentError (the node exits), or the planted file seeded
    assert not copy.is_symlink() and (copy / "chain.jsonl").read_bytes() == (tmp_path / "ana" / "chain.jsonl").read_bytes()
    assert lone_node.published_tip == entry.hash or lone_node._dht_failure is not None
    assert read_status(tmp_path / "ana")["error"] is None


def test_sigterm_stops_a_node_whose_event_log_became_a_fifo(member, tmp_path):
    folder = tmp_path / "ana"
    args = [sys.executable, "-m", "labkit", *member.run_args(folder)]
    args.remove("--duration"), args.remove("1")
    node = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        wait_until(lambda: (folder / "status.json").exists() and read_status(folder)["listen"], timeout=60,
                   what="the node to start")
        (folder / "events.jsonl").rename(folder / "events.jsonl.before")
        os.mkfifo(folder / "events.jsonl")
        inbox = folder / "inbox"
        inbox.mkdir(exist_ok=True)
        (inbox / "01-c.json").write_text(json.dumps(student_contracts("ana", 1)[0]))
        wait_until(lambda: not (inbox / "01-c.json").exists(), timeout=60, what="the node to take the contract")
        node.send_signal(signal.SIGTERM)
        _, err = node.communicate(timeout=scaled(60))  # without the fix: the open of the FIFO never returns
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
    assert node.returncode == 0 and "Traceback" not in err, err
    assert "events.jsonl: is a FIFO" in err


def test_the_event_log_is_bounded_on_disk_keeping_the_log_before_once(tmp_path, monkeypatch):
    from labkit.node import journal as journal_module

    monkeypatch.setattr(journal_module, "MAX_EVENT_LOG_BYTES", 2_000)
    journal = Journal(tmp_path)
    for number in range(200):  # about 60 bytes a line: 12,000 bytes logged in all
        journal.log("queued", contract=f"c{number}")
    current, previous = tmp_path / "events.jsonl", tmp_path / "events.1.jsonl"
    assert previous.stat().st_size < 2_000 + 100 and current.stat().st_size < 2_000 + 100
    lines = previous.read_text().splitlines() + current.read_text().splitlines()
    assert json.loads(lines[-1])["contract"] == "c199"  # the newest event is never the one dropped
    numbers = [int(json.loads(line)["contract"][1:]) for line in lines]
    assert numbers == list(range(numbers[0], 200))  # the two files hold the newest events, in order


def test_a_link_planted_as_the_old_event_log_is_replaced_not_followed(tmp_path, monkeypatch):
    from labkit.node import journal as journal_module

    monkeypatch.setattr(journal_module, "MAX_EVENT_LOG_BYTES", 500)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    folder = tmp_path / "node"
    folder.mkdir()
    (folder / "events.1.jsonl").symlink_to(victim)
    journal = Journal(folder)
    for number in range(40):
        journal.log("queued", contract=f"c{number}")
    assert victim.read_text() == "precious" and not (folder / "events.1.jsonl").is_symlink()


def test_a_status_is_written_when_it_changes_or_its_file_was_replaced(tmp_path):
    journal = Journal(tmp_path)
    journal.write_status({"member": "ana", "height": 1})
    first = os.stat(tmp_path / "status.json")
    journal.write_status({"member": "ana", "height": 1})  # the same: the file is left alone
    assert os.stat(tmp_path / "status.json").st_ino == first.st_ino
    journal.write_status({"member": "ana", "height": 2})
    assert json.loads((tmp_path / "status.json").read_text())["height"] == 2
    (tmp_path / "status.json").unlink()  # removed, or planted over, while the node runs
    (tmp_path / "status.json").symlink_to(tmp_path / "elsewhere.json")
    journal.write_status({"member": "ana", "height": 2})  # the same status: written again all the same
    assert not (tmp_path / "status.json").is_symlink()
    assert json.loads((tmp_path / "status.json").read_text())["height"] == 2
