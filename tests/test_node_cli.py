"""``node run | submit | status``, the contract queue and the event-log measures, without a network.

The commands' refusals are one ``error:`` line and exit 2, with nothing
written (their catalogue is tests/test_bad_input_node.py); the queue survives a restart, takes the inbox in order, renames a
bad file ``.refused`` and keeps an inbox file until the queue holding it is
saved. The measures are checked on hand-made event logs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from labkit.__main__ import main
from labkit.node.journal import Journal
from labkit.node.measure import bytes_per_block, percentile, propagation, stale_blocks
from labkit.errors import QueueError
from labkit.node.queue import ContractQueue, read_contract, submit_to
from waiting import scaled

CONTRACT = {"actions": [{"action": "register_student",
                         "student": {"id": "S9", "name": "Ada", "department": "Maths"}}]}


def node_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "node"
    folder.mkdir()
    Journal(folder).write_status({"member": "ana"})
    return folder


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# --- the queue ---------------------------------------------------------------------------------


def test_the_queue_is_saved_and_read_back_with_what_the_vm_refused(tmp_path):
    queue = ContractQueue(tmp_path)
    assert queue.append(CONTRACT) == 0 and queue.append(CONTRACT) == 0  # queued once
    other = {"actions": []}
    assert queue.append(other) == 1
    queue.refuse(other, "contract", "no actions")
    again = ContractQueue(tmp_path)
    assert again.waiting == [CONTRACT] and again.refused == [{"contract": other, "rule": "contract",
                                                              "reason": "no actions"}]
    assert not again.put_back(CONTRACT) and CONTRACT in again
    again.done(CONTRACT)
    assert not ContractQueue(tmp_path)


def test_the_inbox_is_taken_in_order_and_a_bad_file_is_set_aside(tmp_path):
    folder = node_folder(tmp_path)
    first = submit_to(folder, CONTRACT)
    (folder / "inbox" / "00000000000000000001-bad.json").write_text("[1, 2")
    second = submit_to(folder, {"actions": [{"action": "add_course", "course": {"id": "C9"}}]})
    assert first.name < second.name
    queue = ContractQueue(folder)
    queued, bad = queue.take_inbox()
    assert [c["actions"][0]["action"] for c in queued] == ["register_student", "add_course"]
    assert bad and bad[0][0] == "00000000000000000001-bad.json" and "not a JSON contract" in bad[0][1]
    assert sorted(p.name for p in (folder / "inbox").iterdir()) == ["00000000000000000001-bad.refused"]
    assert ContractQueue(folder).waiting == queued


def test_an_inbox_file_stays_until_the_queue_holding_it_is_saved(tmp_path, monkeypatch):
    folder = node_folder(tmp_path)
    path = submit_to(folder, CONTRACT)
    queue = ContractQueue(folder)
    import labkit.node.queue as queue_module

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(queue_module, "atomic_write", full)
    queued, _ = queue.take_inbox()
    assert queued == [CONTRACT] and isinstance(queue.save_error, OSError)
    assert path.exists()  # not lost: read again once the queue can be saved
    monkeypatch.undo()
    assert queue.take_inbox()[0] == [CONTRACT] and not path.exists() and queue.save_error is None
    assert ContractQueue(folder).waiting == [CONTRACT]  # once


@pytest.mark.parametrize("data, why", [(b"[]", "JSON object"), (b'{"a": 1, "a": 2}', "not a JSON contract"),
                                       (b"\xff", "not a JSON contract"), (b"{" * 100, "not a JSON contract"),
                                       (b" " * 70000, "at most")])
def test_read_contract_refuses(data, why):
    with pytest.raises(QueueError, match=why):
        read_contract(data, "c.json")


def test_submit_refuses_a_folder_that_is_no_node(tmp_path):
    with pytest.raises(QueueError, match="not a node's data folder"):
        submit_to(tmp_path, CONTRACT)
    assert list(tmp_path.iterdir()) == []


# --- the commands -------------------------------------------------------------------------------


def test_node_submit_and_status(tmp_path, capsys):
    folder = node_folder(tmp_path)
    contract = tmp_path / "c.json"
    contract.write_text(json.dumps(CONTRACT))
    code, out, _ = run(capsys, "node", "submit", "--data", str(folder), str(contract))
    assert code == 0 and "queued as" in out and len(list((folder / "inbox").iterdir())) == 1
    status = {"member": "ana", "listen": None, "tip": None, "height": -1, "total_work": 0, "digest": "ab" * 32,
              "queued": [CONTRACT], "refused_contracts": [{"contract": {}, "rule": "contract", "reason": "why"}],
              "error": "cannot publish: disk full", "peers": {"ben": {"height": 3, "total_work": 64, "seq": 2}},
              "events": [{"time": "2026-12-02T10:00:00.000Z", "event": "mined", "height": 0}]}
    Journal(folder).write_status(status)
    code, out, _ = run(capsys, "node", "status", "--data", str(folder))
    assert code == 0
    for text in ("node ana", "height -1", "1 contract(s) waiting, 1 refused", "ERROR   cannot publish: disk full",
                 "refused at contract: why", "peer    ben", "mined: height 0"):
        assert text in out, (text, out)
    code, out, _ = run(capsys, "node", "status", "--data", str(folder), "--json")
    assert code == 0 and json.loads(out) == status


# The commands' refusals of bad input (one error line, exit 2, nothing written) are rows of
# tests/test_bad_input_node.py.


def test_node_run_says_which_node_key_is_missing(tmp_path, capsys):
    from labkit.network import Member, Network
    from labkit.wallet import Wallet

    wallet = Wallet.generate(name="ana")
    wallet.save(tmp_path / "ana.pem")
    Network.create([Member("ana", wallet.public_key)]).save(tmp_path / "net.json")
    code, _, err = run(capsys, "node", "run", "--network", str(tmp_path / "net.json"), "--key",
                       str(tmp_path / "ana.pem"), "--data", str(tmp_path / "d"))
    assert code == 2 and "no node key beside" in err and "ana.node" in err
    assert not (tmp_path / "d").exists()


# --- measures --------------------------------------------------------------------------------------


def event(node, kind, second, **detail):
    return {"node": node, "event": kind, "time": f"2026-12-02T10:00:{second:06.3f}Z", **detail}


def test_propagation_is_mined_to_the_last_node_adopting_it():
    events = [event("a", "mined", 1.0, block="b1", canonical="canonical"),
              event("b", "adopted", 1.5, tip="b1"), event("c", "adopted", 2.25, tip="b1"),
              event("b", "mined", 3.0, block="b2", canonical="canonical"),
              event("a", "adopted", 3.1, tip="b2"),  # c only ever sees b2 beneath b3
              event("c", "mined", 4.0, block="b3", canonical="side branch")]
    result = propagation(events, ["a", "b", "c"])
    assert result.seconds == (1.25,) and result.skipped == 1 and result.median == 1.25
    assert percentile([1, 2, 3, 4, 5], 0.95) == pytest.approx(4.8)
    with pytest.raises(ValueError):
        percentile([], 0.5)


def test_bytes_per_block_and_stale_blocks():
    events = [event("b", "fetched", 1, height=0, bytes=1000), event("b", "fetched", 2, height=2, bytes=3000),
              event("c", "fetched", 2, height=2, bytes=3000)]
    assert bytes_per_block(events) == pytest.approx(7000 / 6)
    assert bytes_per_block([]) == 0.0
    mined = [event("a", "mined", 1, block="x"), event("b", "mined", 1, block="y")]
    assert stale_blocks(mined, ["x"]) == ["y"]


# --- mining in the run loop, without a network -----------------------------------------------------


def test_the_run_loop_restarts_its_search_when_a_better_tip_arrives(tmp_path):
    from labkit.chain import mine_block
    from labkit.node.live import Node
    from labkit.node.run import Runner
    from test_node import demo_members

    network, (alice, bob, _), (ka, _, _) = demo_members(difficulty=6)  # a search that takes a long while
    node = Node(network, alice, ka, tmp_path / "alice")
    runner = Runner(node)
    node.submit(CONTRACT)
    runner.mine_step()
    first = runner.searching
    assert first is not None and first.parent is None and first.thread.is_alive()
    # bob's block arrives (mined at difficulty 1 on a copy of the network: the tree is told it is fine)
    easy = network.with_difficulty(1)
    block = mine_block(easy, bob, {"actions": [{"action": "add_course", "course": {
        "id": "C1", "name": "Chains", "department": "CS"}}]})
    node.peer = type(node.peer)(node.name, easy, wallet=alice)
    node.peer.receive_block(block)
    runner.mine_step()
    assert not first.thread.is_alive()  # cancelled
    assert [e.kind for e in node.events][-1] == "interrupted"
    assert node.events[-1].detail["reason"] == "a better tip arrived"
    runner.mine_step()
    second = runner.searching
    assert second is not None and second.parent == block.hash and second is not first
    runner.stop_search()
    second.thread.join(scaled(5))  # the search's own thread: join waits on it, no polling
    assert not second.thread.is_alive() and node.queue.waiting == [CONTRACT]  # still queued
