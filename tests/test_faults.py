"""The classroom network under faults, with real ``node run`` processes (tests/faults.py).

Each scenario runs in a child process inside new network and mount namespaces
(``unshare -n -m``, loopback up): no packet can leave the machine, and the
tmpfs of the disk scenario and the veth pair of the partition scenario vanish
with the child. These tests need what CI has, root and ``unshare``; elsewhere
they fail saying so rather than run on the real network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.node.classroom import student_contracts

HERE = Path(__file__).resolve().parent
TIMEOUT = 240


def namespaces_work() -> str | None:
    """Why the fault scenarios cannot run here, or None."""
    for tool in ("unshare", "nsenter", "ip", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(["unshare", "-n", "-m", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"unshare -n -m fails here ({probe.stderr.strip()}): the fault tests need root"
    return None


def run_scenario(name: str, workdir: Path) -> dict:
    why = namespaces_work()
    if why is not None:
        pytest.fail(f"the fault scenario {name!r} needs network and mount namespaces: {why}")
    cmd = ["unshare", "-n", "-m", "sh", "-c", 'mount --make-rprivate / && ip link set lo up && exec "$@"', "sh",
           sys.executable, str(HERE / "faults.py"), name, str(workdir)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    try:
        child = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the fault scenario {name!r} did not finish in {TIMEOUT} s:\n{(exc.stderr or '')[-3000:]}"
                    f"\n{_logs(workdir)}")
    if child.returncode != 0:
        pytest.fail(f"the fault scenario {name!r} failed (exit {child.returncode}):\n{child.stderr[-5000:]}"
                    f"\n{_logs(workdir)}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def _logs(workdir: Path) -> str:
    logs = sorted((workdir / "logs").glob("*.log")) if (workdir / "logs").exists() else []
    return "\n".join(f"--- {p.name} (last lines)\n{p.read_text(errors='replace')[-1500:]}" for p in logs)


def kinds(events: list[dict]) -> list[str]:
    return [e["event"] for e in events]


_RUNS: dict = {}


def once(name: str, tmp_path_factory) -> dict:
    """Each scenario runs once per session; several tests check what it saw."""
    if name not in _RUNS:
        _RUNS[name] = run_scenario(name, tmp_path_factory.mktemp(name))
    return _RUNS[name]


def restart_run(tmp_path_factory) -> dict:
    return once("restart", tmp_path_factory)


def test_a_node_killed_mid_download_resumes_from_its_folder_and_catches_up(tmp_path_factory):
    out = restart_run(tmp_path_factory)
    ana, ben = out["statuses"]["ana"], out["statuses"]["ben"]
    assert ben["tip"] == ana["tip"] and ben["digest"] == ana["digest"] and ben["height"] == 59
    assert out["ben_height_when_killed"] == -1  # it was killed before the chain arrived
    assert out["pieces_before_kill"] >= 2 and out["held_bytes"] > 0
    fetched = [e for e in out["ben_events"] if e["event"] == "fetched"]
    assert len(fetched) == 2, kinds(out["ben_events"])  # the first download never finished
    # the restarted node kept the pieces it had: it downloaded less than the whole chain
    assert fetched[0]["bytes"] <= fetched[0]["size"] - out["held_bytes"], (fetched[0], out["held_bytes"])
    assert kinds(out["ben_events"]).count("started") == 2


def test_a_node_that_holds_the_chain_fetches_only_the_pieces_a_new_block_touches(tmp_path_factory):
    out = restart_run(tmp_path_factory)
    last = [e for e in out["ben_events"] if e["event"] == "fetched"][-1]
    piece = out["piece_length"]
    assert last["height"] == 60 and last["size"] > 4 * piece  # a chain of many pieces...
    assert last["bytes"] <= 2 * piece, last  # ...of which at most two moved (the old end, the new block)


def test_after_a_partition_heals_every_node_adopts_the_branch_with_more_work(tmp_path):
    out = run_scenario("partition", tmp_path)
    apart, end = out["apart"], out["statuses"]
    assert apart["ana"]["tip"] == apart["ben"]["tip"] != apart["cleo"]["tip"] == apart["dev"]["tip"]
    assert apart["ana"]["total_work"] > apart["cleo"]["total_work"]
    side = {"ana": "a", "ben": "a", "cleo": "b", "dev": "b"}
    # while apart, no pointer of one side reached the other ("cannot be read" is the cut doing its job)
    crossed = [e for e in out["events"] if out["cut_at"] < e["time"] < out["healed_at"]
               and ("info_hash" in e or e.get("seq", 0) > 0)
               and side.get(e.get("member"), side[e["node"]]) != side[e["node"]]]
    assert crossed == [], crossed
    assert len({(s["tip"], s["digest"]) for s in end.values()}) == 1
    # the more-work branch is the common chain now: ana's side's blocks are in it
    a_tip_in_end = any(b["hash"] == apart["ana"]["tip"][:16] and b["canonical"] for b in end["ana"]["tree"])
    assert a_tip_in_end, end["ana"]["tree"]
    # cleo's and dev's contracts were rolled back, requeued and mined again on top
    requeued = {e["node"] for e in out["events"] if e["event"] == "requeued"}
    assert {"cleo", "dev"} <= requeued, requeued
    assert all(not s["queued"] for s in end.values())
    assert end["ana"]["height"] == 5  # 1 + 3 + the 2 mined again: every contract in the chain
    print(f"converged {out['converged_s']:.2f} s after the partition healed")


def test_a_members_invalid_chain_is_refused_by_every_honest_node_with_the_rule(tmp_path_factory):
    out = once("bad_publishers", tmp_path_factory)
    for name, events in out["events"].items():
        assert out["after"][name]["tip"] == out["before"][name], name  # its chain is unchanged
        refused = [e for e in events if e["event"] == "refused"]
        assert refused and refused[0]["member"] == "mal" and refused[0]["rule"] == "contract"
        assert "already exists" in refused[0]["reason"] and refused[0]["block"] == out["forged_block"]


def test_a_non_members_pointer_is_ignored(tmp_path_factory):
    out = once("bad_publishers", tmp_path_factory)
    for name, events in out["events"].items():
        ignored = [e for e in events if e["event"] == "ignored" and "not a member" in e["reason"]]
        assert ignored and ignored[0]["total_work"] == 10**9, name
        assert out["after"][name]["height"] == 0


def test_a_node_whose_folder_is_full_or_read_only_says_so_and_loses_no_block(tmp_path):
    out = run_scenario("disk", tmp_path)
    full = out["full"]
    assert "no space left" in full["error"].lower() and "cannot publish" in full["error"] and full["height"] == 1
    assert out["ben_while_full"]["height"] == 0  # nothing was published
    assert "read-only" in out["read_only"]["error"].lower()
    end = out["end"]
    assert end["ana"]["error"] is None and end["ana"]["tip"] == end["ben"]["tip"] and end["ana"]["height"] == 2
    assert {"failed", "recovered"} <= set(kinds(out["events"]))


def test_the_student_contracts_are_distinct():
    contracts = student_contracts("ana", 3)
    assert len({json.dumps(c, sort_keys=True) for c in contracts}) == 3
    assert contracts[0]["actions"][0]["student"]["id"] == "ANA001"


def test_a_scripted_run_of_four_nodes_ends_with_one_tip_one_digest_and_every_contract(tmp_path_factory):
    out = once("classroom", tmp_path_factory)
    statuses = out["statuses"]
    assert len(statuses) == 4 and len({(s["tip"], s["digest"]) for s in statuses.values()}) == 1
    assert all(s["height"] == 7 and not s["queued"] and not s["refused_contracts"] for s in statuses.values())
    submitted = sorted(c["actions"][0]["student"]["id"] for cs in out["contracts"].values() for c in cs)
    assert out["students"] == submitted and len(submitted) == 8
    assert out["digest"] == statuses["ana"]["digest"]  # the state replayed from ana's chain file
