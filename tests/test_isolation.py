"""Classroom.isolate() without root: a student on a shared hub gets a private room (a user namespace).

The test runs notebook 09's room (ana, ben, cleo and dev at difficulty 3) and one fault
(dev killed, the others go on, dev restarted catches up) as a user who is not root. CI
runs as root, so the set-up makes that user (``labkit-student``, a system account with
no home and no shell) if it is missing and runs this module as a script under
``runuser``; a developer who is not root runs it as themselves. The checkout and the
venv only need to be readable (they are, 0755); the room lives in a temporary folder
the student owns. Where the venv's interpreter sits under a folder the student may not
enter (pyenv in /root, mode 0700, as on this project's machines), the child runs in a
private mount namespace where that folder is an empty tmpfs with only the interpreter's
tree bound back: nothing on the host changes, and nothing else of root's is visible.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from labkit.node.classroom import Classroom, student_contracts
from waiting import scaled

HERE = Path(__file__).resolve()
STUDENT = "labkit-student"


def student_user() -> str | None:
    """The non-root user to run as: ``labkit-student`` (made here if missing) when we are root, else None."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(STUDENT)
    except KeyError:
        made = subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", STUDENT],
                              capture_output=True, text=True)
        if made.returncode != 0 and "already exists" not in made.stderr:
            pytest.fail(f"useradd {STUDENT} failed: {made.stderr}")
    return STUDENT


def as_student(user: str | None, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*student_prefix(user), *cmd], capture_output=True, text=True, **kwargs)


def student_prefix(user: str | None) -> list[str]:
    """The command that runs what follows as ``user``, able to run this interpreter."""
    if user is None:
        return []
    runuser = ["runuser", "-u", user, "--"]
    if subprocess.run([*runuser, sys.executable, "-c", "pass"], capture_output=True).returncode == 0:
        return runuser
    real = Path(os.path.realpath(sys.executable))
    closed = next((p for p in reversed(real.parents) if not p.stat().st_mode & 0o001), None)
    if closed is None:
        pytest.fail(f"{user} cannot run {sys.executable}, and no folder on its way is closed to them")
    keep = real.parents[len(real.parents) - len(closed.parts) - 1]  # the child of ``closed`` on the way
    unveil = ('set -e; tmp=$(mktemp -d); mount --bind "$1" "$tmp"; mount -t tmpfs -o mode=0755 tmpfs "$2"; '
              'mkdir -p "$1"; mount --bind "$tmp" "$1"; umount "$tmp"; rmdir "$tmp"; shift 2; exec "$@"')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", unveil, "sh", str(keep), str(closed), *runuser]


def run_as_student(mode: str, timeout: float) -> dict:
    """Run this module as a script (``mode``: "room" or "notebook") as the student; its JSON result."""
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        pytest.fail("isolate() needs unshare and nsenter (util-linux)")
    user = student_user()
    probe = as_student(user, ["unshare", "-rn", "true"], timeout=scaled(30))
    if probe.returncode != 0:
        pytest.fail(f"this machine does not let {user or 'this user'} make a user namespace "
                    f"(unshare -rn: {probe.stderr.strip()}); isolate() cannot work here")
    scratch = Path(tempfile.mkdtemp(prefix="labkit-isolation-"))
    try:
        if user:
            shutil.chown(scratch, user=user)
        env = {**os.environ, "TMPDIR": str(scratch), "HOME": str(scratch), "PYTHONDONTWRITEBYTECODE": "1",
               "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), os.environ.get("PYTHONPATH", "")])}
        child = as_student(user, [sys.executable, str(HERE), mode, str(scratch)], env=env, timeout=scaled(timeout))
        if child.returncode != 0:
            pytest.fail(f"the {mode} run as {user or 'this user'} failed (exit {child.returncode}):\n"
                        f"{child.stderr[-4000:]}")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result["left_behind"] = sorted(p.name for p in scratch.iterdir() if p.name.startswith("labkit-"))
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def room_as_student():
    return run_as_student("room", 420)


def test_the_room_runs_as_a_user_who_is_not_root(room_as_student):
    assert room_as_student["euid"] != 0
    assert room_as_student["plain_unshare_refused"] is True  # the old way (unshare -n) is not open to them


def test_isolate_gives_them_a_private_network(room_as_student):
    assert room_as_student["isolated"] is True
    nets = room_as_student["node_netns"]
    assert len(set(nets.values())) == 1, nets  # every node in one namespace...
    assert room_as_student["own_netns"] not in nets.values()  # ...which is not the host's
    assert room_as_student["node_userns_differs"] is True  # inside a user namespace of the student's
    assert room_as_student["interfaces"] == ["lo"]


def test_the_isolated_room_agrees_on_each_block(room_as_student):
    assert room_as_student["first"]["heights"] == {n: 0 for n in ("ana", "ben", "cleo", "dev")}
    assert len(room_as_student["first"]["tips"]) == 1


def test_a_killed_node_comes_back_and_catches_up(room_as_student):
    fault = room_as_student["fault"]
    assert fault["while_dev_down"] == {"ana": 1, "ben": 1, "cleo": 1}
    assert fault["after_restart"] == {n: 1 for n in ("ana", "ben", "cleo", "dev")}
    assert fault["tips_after_restart"] == 1
    assert room_as_student["nodes_left_running"] == []


@pytest.mark.timeout(900)
def test_notebook_09_runs_as_a_student_with_its_room_isolated():
    ran = run_as_student("notebook", 840)
    assert ran["euid"] != 0
    assert ran["isolate_output"] == "True"  # the cell `room.isolate()`
    assert ran["errors"] == [] and ran["cells_run"] > 0
    assert ran["left_behind"] == []  # 09's folder, with the room's keys, went with the room


# --- the child: runs as the student ----------------------------------------------------------------


def _netns(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def run_notebook(tmpdir: str) -> dict:
    """Run notebook 09 as Jupyter would (nbclient); what its isolate() cell said, and any error."""
    import nbclient
    import nbformat

    notebooks = HERE.parent.parent / "notebooks"
    notebook = nbformat.read(notebooks / "09-the-classroom-network.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=scaled(300), kernel_name="python3",
                                     resources={"metadata": {"path": tmpdir}})
    errors = []
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        errors.append(str(exc)[-2000:])
    isolate = [c for c in notebook.cells if c.cell_type == "code" and c.source.strip() == "room.isolate()"]
    shown = [o for c in isolate for o in c.get("outputs", []) if o.get("output_type") == "execute_result"]
    return {"euid": os.geteuid(), "errors": errors, "isolate_output": shown[0]["data"]["text/plain"] if shown else None,
            "cells_run": sum(1 for c in notebook.cells if c.cell_type == "code" and c.get("execution_count"))}


def run_room(folder: str) -> dict:
    names = ["ana", "ben", "cleo", "dev"]
    out: dict = {"euid": os.geteuid()}
    out["plain_unshare_refused"] = subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0
    room = Classroom.create(folder, names, difficulty=3)
    with room:
        out["isolated"] = room.isolate()
        room.start()
        pids = {n: p.process.pid for n, p in room.nodes.items()}
        out["own_netns"] = _netns(os.getpid())
        out["node_netns"] = {n: _netns(pid) for n, pid in pids.items()}
        out["node_userns_differs"] = all(os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
                                         for pid in pids.values())
        links = subprocess.run([*room.nodes["ana"].prefix, "ip", "-o", "link"], capture_output=True, text=True)
        out["interfaces"] = sorted(line.split(":")[1].strip() for line in links.stdout.splitlines())

        def heights(names_) -> dict:
            return {n: (room.status(n) or {}).get("height") for n in names_}

        def settled(height: int, names_) -> bool:
            return room.converged(names_) and all(
                room.status(n)["height"] == height and not room.status(n)["queued"] for n in names_)

        room.submit("ana", student_contracts("ana", 1)[0])
        room.wait_until(lambda: settled(0, names), scaled(90), "every node to adopt ana's block")
        out["first"] = {"heights": heights(names), "tips": sorted({room.status(n)["tip"] for n in names})}

        room.kill("dev")
        alive = ["ana", "ben", "cleo"]
        room.submit("ben", student_contracts("ben", 1)[0])
        room.wait_until(lambda: settled(1, alive), scaled(90), "ben's block on the three running nodes")
        fault = {"while_dev_down": heights(alive)}
        room.start("dev")
        room.wait_until(lambda: settled(1, names), scaled(90), "dev to catch up")
        fault["after_restart"] = heights(names)
        fault["tips_after_restart"] = len({room.status(n)["tip"] for n in names})
        out["fault"] = fault
    out["nodes_left_running"] = [n for n, p in room.nodes.items() if p.running]
    return out


if __name__ == "__main__":  # the child: MODE TMPDIR
    started = time.monotonic()
    mode, tmpdir = sys.argv[1], sys.argv[2]
    result = run_room(str(Path(tmpdir) / "room")) if mode == "room" else run_notebook(tmpdir)
    result["seconds"] = time.monotonic() - started
    print(json.dumps(result))
