"""``make lab`` as the README says: JupyterLab answers on 127.0.0.1, prints its token address, stops on SIGTERM.

The port comes through the make variable LAB_PORT. No display is passed on, so
``make lab`` must ask JupyterLab not to open a browser (on macOS, where one can
always be opened, BROWSER=true makes opening it do nothing); as root it must add --allow-root.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from waiting import WaitTimeout, wait_until

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90  # s, for JupyterLab to print its address and answer (seconds on a quiet machine)

pytestmark = [pytest.mark.timeout(START_TIMEOUT + 60),  # scaled by LABKIT_TIMEOUT_FACTOR in conftest.py
              pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(lab: subprocess.Popen) -> None:
    """SIGTERM to make and JupyterLab (their own process group); SIGKILL only if they outlive 30 s."""
    os.killpg(lab.pid, signal.SIGTERM)

    def stopped() -> bool:
        lab.poll()  # reap make, so its zombie does not keep the group alive
        return not group_alive(lab.pid)

    try:
        wait_until(stopped, timeout=30, what="make lab to stop after SIGTERM", interval=0.2)
    except WaitTimeout as late:
        os.killpg(lab.pid, signal.SIGKILL)
        lab.wait()
        pytest.fail(str(late))
    lab.wait()


def test_make_lab_serves_the_workbook_with_a_token_and_stops(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER")}
    if sys.platform == "darwin":
        env["BROWSER"] = "true"
    log_path = tmp_path / "make-lab.log"
    with open(log_path, "wb") as log:
        lab = subprocess.Popen(["make", "lab", f"LAB_PORT={port}"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        address = re.compile(rf"http://127\.0\.0\.1:{port}/lab\?token=([0-9a-f]+)")

        def answer() -> dict | None:
            """JupyterLab's status, once make lab has printed the address with its token and it answers."""
            output = log_path.read_text(errors="replace")
            assert lab.poll() is None, f"make lab exited ({lab.returncode}):\n{output}"
            match = address.search(output)
            if match:
                try:
                    return get_json(f"http://127.0.0.1:{port}/api/status?token={match.group(1)}")
                except (urllib.error.URLError, ConnectionError):
                    pass
            return None

        status = wait_until(answer, timeout=START_TIMEOUT, interval=0.5,
                            what=lambda: f"an answer on port {port}:\n{log_path.read_text(errors='replace')}")
        output = log_path.read_text(errors="replace")
        assert "started" in status
        with pytest.raises(urllib.error.HTTPError) as refused:  # the token is what lets a visitor in
            get_json(f"http://127.0.0.1:{port}/api/status")
        assert refused.value.code == 403

        if os.geteuid() == 0:
            assert "make lab: running as root, so JupyterLab gets --allow-root" in output
        if sys.platform != "darwin":
            assert "--no-browser" in output
        assert f"--ip=127.0.0.1 --port={port}" in output  # this machine only, by default
    finally:
        stop(lab)
    with socket.socket() as s:  # the port is free again
        assert s.connect_ex(("127.0.0.1", port)) != 0
