"""Nothing secret left behind: notebooks 05, 09 and 12, and a kernel killed with SIGTERM, leave no ``labkit-*``
folder in the temporary directory (09's holds the room's private keys and the network's secret) and no
node process running.

Each kernel gets a fresh, empty TMPDIR; afterwards it must be empty again.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from waiting import scaled, wait_until

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
jupyter_client = pytest.importorskip("jupyter_client")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def processes_mentioning(text: str) -> list[str]:
    """Command lines of running processes that mention ``text`` (a node started in the room's folder does)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found


@pytest.fixture
def fresh_tmpdir(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))  # the kernel inherits it
    return folder


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("name", ["05-torrent-sharing", "09-the-classroom-network", "12-defend-the-chain"])
def test_a_notebook_run_leaves_no_labkit_folder(name, fresh_tmpdir):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=scaled(300), kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.execute()  # runs every cell, then shuts the kernel down as Jupyter does
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert outputs, "the notebook ran no cell"
    assert sorted(p.name for p in fresh_tmpdir.iterdir()) == []
    assert processes_mentioning(str(fresh_tmpdir)) == []


ROOM = """
from labkit.node.classroom import Classroom
from labkit.files import ScratchFolder

work = ScratchFolder("labkit-09-")
room = Classroom.create(work / "room", ["ana", "ben"], difficulty=1)
room.isolate()
room.start()
print(sorted(p.name for p in work.path.iterdir()), [n.process.pid for n in room.nodes.values()])
"""


@pytest.mark.timeout(300)
def test_a_kernel_killed_with_sigterm_removes_its_folders_and_stops_its_nodes(fresh_tmpdir):
    manager = jupyter_client.KernelManager(kernel_name="python3")
    manager.start_kernel(cwd=str(NOTEBOOKS))
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=scaled(60))
        printed = []
        reply = client.execute_interactive(ROOM, timeout=scaled(120), output_hook=lambda m: printed.append(m))
        assert reply["content"]["status"] == "ok", reply["content"]
        text = "".join(m["content"].get("text", "") for m in printed if m["msg_type"] == "stream")
        assert "['room']" in text, text
        assert [p.name for p in fresh_tmpdir.iterdir()][0].startswith("labkit-09-")
        assert processes_mentioning(str(fresh_tmpdir)), "the room's nodes are not running"
        client.stop_channels()

        os.kill(manager.provisioner.pid, signal.SIGTERM)
        wait_until(lambda: not manager.is_alive(), timeout=60, what="the kernel to end after SIGTERM", interval=0.1)
    finally:
        if manager.is_alive():
            manager.shutdown_kernel(now=True)
    assert sorted(p.name for p in fresh_tmpdir.iterdir()) == []
    assert processes_mentioning(str(fresh_tmpdir)) == []
