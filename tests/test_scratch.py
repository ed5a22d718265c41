"""labkit.files (scratch folders): temporary folders removed on remove(), at the end of a with block, when collected,
at interpreter exit and on SIGTERM (in child processes, so this one's handlers stay as they are)."""

from __future__ import annotations

import gc
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from labkit.files import ScratchFolder

ROOT = Path(__file__).resolve().parent.parent


def test_a_scratch_folder_is_private_and_removed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    folder = ScratchFolder("labkit-t-")
    assert folder.path.parent == tmp_path and folder.path.name.startswith("labkit-t-")
    assert stat.S_IMODE(folder.path.stat().st_mode) == 0o700
    (folder / "keys").mkdir()
    (folder / "keys" / "ana.pem").write_text("secret")
    assert os.fspath(folder) == str(folder.path) and "exists" in repr(folder)
    folder.remove()
    assert not folder.path.exists() and folder.removed and "removed" in repr(folder)
    folder.remove()  # a second time does nothing


def test_with_block_and_garbage_collection_remove_it():
    with ScratchFolder() as folder:
        path = folder.path
    assert not path.exists()
    folder = ScratchFolder()
    path = folder.path
    del folder
    gc.collect()
    assert not path.exists()


def test_clean_ups_run_newest_first_once(tmp_path):
    # run_pending() runs every clean-up in the process, so it runs in a child: here it would remove
    # the scratch folders other test modules made at import (test_fuzz's, for one)
    code = """
        from labkit.files import at_exit, run_pending
        class Owner:
            pass
        order, owners = [], [Owner(), Owner()]
        at_exit(owners[0], order.append, "older")
        at_exit(owners[1], order.append, "newer")
        run_pending()
        run_pending()
        print(order)
    """
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=30)
    assert (child.returncode, child.stdout) == (0, "['newer', 'older']\n"), child.stderr


def run_child(code: str, tmp_path: Path, *, signal_after_ready: int | None = None) -> tuple[int, str]:
    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ready = child.stdout.readline()
    if signal_after_ready is not None:
        child.send_signal(signal_after_ready)
    out, err = child.communicate(timeout=30)
    assert ready.strip() == "ready", err
    return child.returncode, out + err


CHILD = """
    import signal, sys, time
    from labkit.files import ScratchFolder
    folder = ScratchFolder("labkit-05-")
    (folder / "network.json").write_text("the network's secret")
    print("ready", flush=True)
    {rest}
"""


def test_removed_at_interpreter_exit(tmp_path):
    code, _ = run_child(CHILD.format(rest="sys.exit(3)"), tmp_path)
    assert code == 3 and list(tmp_path.iterdir()) == []


def test_removed_on_sigterm_and_the_process_still_ends_by_it(tmp_path):
    code, _ = run_child(CHILD.format(rest="time.sleep(60)"), tmp_path, signal_after_ready=signal.SIGTERM)
    assert code == -signal.SIGTERM and list(tmp_path.iterdir()) == []


def test_a_sigterm_handler_set_before_still_runs(tmp_path):
    rest = "time.sleep(60)"
    code = CHILD.replace("import signal, sys, time", "import signal, sys, time\n"
                         "    signal.signal(signal.SIGTERM, lambda *a: (print('theirs', flush=True), sys.exit(7)))")
    status, output = run_child(code.format(rest=rest), tmp_path, signal_after_ready=signal.SIGTERM)
    assert status == 7 and "theirs" in output and list(tmp_path.iterdir()) == []
