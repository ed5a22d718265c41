"""The consensus tests under the oldest and newest supported Python: honest peers on different Pythons
must reach the same verdicts.

``tools/test-on-pythons`` finds each interpreter (python3.X, or pyenv's newest 3.X), makes its venv once
and runs the consensus tests there. This test runs it inside the suite, on one worker from the start,
so that it overlaps the suite's waiting (kernels, live nodes, the hub) instead of following it.
``CONSENSUS_PYTHONS`` (the Makefile passes its own) names the versions, the script's default otherwise;
``LABKIT_REQUIRE_PYTHONS=1`` (CI) makes a missing one a failure, else a skip that says which.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# setting up a venv in a fresh clone downloads and installs labkit's dependencies: minutes
pytestmark = pytest.mark.timeout(1200)


def test_the_consensus_tests_pass_on_the_other_supported_pythons():
    versions = os.environ.get("CONSENSUS_PYTHONS", "").split()
    # the child is a pytest of its own: nothing of this run's (its worker, its options) may reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    child = subprocess.run([str(ROOT / "tools" / "test-on-pythons"), *versions], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    output = child.stdout + child.stderr
    assert child.returncode == 0, output[-6000:]
    assert "consensus tests on" in output, output[-6000:]  # at least one other Python ran them
    skipped = [line for line in output.splitlines() if "skipped" in line and line.startswith("test-on-pythons")]
    if skipped:
        pytest.skip("; ".join(skipped))
