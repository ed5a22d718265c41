"""Nothing secret left behind: no notebook leaves a ``labkit-*`` folder in the temporary directory (09's holds
the room's private keys and the network's secret, 12's the battle's) or a node process running, nor does a
kernel killed with SIGTERM while its room runs.

Every notebook's shared run (tests/notebook_runs.py, the student build's exercises then the instructor's)
gives its kernel a fresh, empty TMPDIR and shuts it down as Jupyter does; what was left then is kept with
the run, and must be nothing. The SIGTERM test starts a kernel of its own, with a TMPDIR of its own, and
so does the test that nbval's kernels (the workbook as written, under make test) stop as Jupyter's do.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from notebook_runs import processes_mentioning
from waiting import scaled, wait_until

jupyter_client = pytest.importorskip("jupyter_client")

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def fresh_tmpdir(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setenv("TMPDIR", str(folder))  # the kernel inherits it
    return folder


@pytest.mark.parametrize("name", sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")))
def test_a_notebook_run_leaves_no_labkit_folder_and_no_process(name, notebook_runs):
    run = notebook_runs(name)
    assert any(o for c in run.instructor.cells if c.cell_type == "code" for o in c.get("outputs", [])), \
        "the notebook ran no cell"
    assert run.left_behind == ()
    assert run.processes_left == ()


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


@pytest.mark.timeout(120)
def test_nbvals_kernels_stop_as_jupyters_do_and_clean_up(fresh_tmpdir):
    """nbval (make test runs the workbook under it) stops each kernel; the root conftest.py makes that the
    shutdown Jupyter does, so a notebook's scratch folder is removed there too. With nbval's own stop,
    a SIGKILL, it stays: every run of the workbook left 05's, 07's and 08's."""
    nbval_kernel = pytest.importorskip("nbval.kernel")
    kernel = nbval_kernel.RunningKernel("python3", cwd=str(NOTEBOOKS), startup_timeout=scaled(60))
    try:
        source = 'from labkit.files import ScratchFolder\nwork = ScratchFolder("labkit-x-")'
        message_id = kernel.execute_cell_input(source, allow_stdin=False)
        kernel.await_idle(message_id, scaled(60))
        assert [p.name for p in fresh_tmpdir.iterdir()][0].startswith("labkit-x-")
    finally:
        kernel.stop()
    assert sorted(p.name for p in fresh_tmpdir.iterdir()) == []
