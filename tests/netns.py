"""Run a test module's live scenario in a child with a network namespace of its own (only loopback up).

test_dht and test_node each have a scenario that opens DHT sockets; where ``unshare -n``
works, the module runs itself as a script inside a new namespace, so no packet can leave
the machine, and reads back the one JSON line the scenario prints. Where it does not
(no permission), the scenario runs here, on 127.0.0.1, as it would anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from waiting import scaled

HERE = Path(__file__).resolve().parent
IN_NETNS = "LABKIT_IN_NETNS"  # set in the child, so it does not try to make a namespace again


def netns_works() -> bool:
    if os.environ.get(IN_NETNS) or not (shutil.which("unshare") and shutil.which("ip")):
        return False
    try:
        return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=scaled(10)).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_isolated(script: str, args: list[str], here: Callable[[], dict], *, what: str, timeout: float) -> dict:
    """The scenario's result, from ``python SCRIPT ARGS`` in a new namespace, or from ``here()``.

    ``result["netns"]`` says whether it ran in a namespace.
    """
    if not netns_works():
        result = here()
        result["netns"] = bool(os.environ.get(IN_NETNS))  # set by whoever made the namespace
        return result
    cmd = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", sys.executable, script, *args]
    env = {**os.environ, IN_NETNS: "1",
           "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE), os.environ.get("PYTHONPATH", "")])}
    limit = scaled(timeout)
    try:
        child = subprocess.run(cmd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the {what} did not finish in {limit:g} s; stderr: {(exc.stderr or '')[-3000:]}")
    if child.returncode != 0:
        pytest.fail(f"the {what} failed (exit {child.returncode}):\n{child.stderr[-4000:]}")
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["netns"] = True
    return result
