"""The built wheel works on its own: ``python -m labkit demo`` and ``verify`` from a fresh virtual environment.

The wheel is built from a copy of the checkout the way ``pip install .`` builds it
(pip's build isolation installs the setuptools that pyproject.toml asks for), and
installed without its dependencies into a new venv that is given this venv's
site-packages on a ``.pth`` line, so nothing is downloaded twice. labkit itself
must then come from the wheel: the test checks ``labkit.__file__`` and runs
from a folder outside the repository, where the checkout's ``data/`` is out of reach.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "work",
                                    "student", "test-artifacts", ".pytest_cache", ".hypothesis",
                                    ".ipynb_checkpoints")

pytestmark = pytest.mark.timeout(120)  # building, installing and the runs take 10 to 20 s


def run(args: list, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                            env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # not this checkout
                                 "PYTHONDONTWRITEBYTECODE": "1"})
    assert result.returncode == 0, f"{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built as ``pip install .`` builds it, from a copy of the checkout."""
    tmp = tmp_path_factory.mktemp("wheel")
    # A copy, so the build's build/ and *.egg-info never land in (or race over) the checkout.
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    start = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", tmp / "dist", source],
        cwd=tmp, timeout=100)
    (built,) = (tmp / "dist").glob("labkit-*.whl")
    print(f"built {built.name} in {time.monotonic() - start:.1f} s")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """The python of a new venv where labkit is installed from the wheel."""
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv)
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", wheel], cwd=venv)
    purelib = run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv)
    # The dependencies (rsa, pandas, libtorrent...) come from this venv, listed after the new one's own
    # site-packages; .pth files found there are not run, so this venv's editable labkit stays out of sight.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib.stdout.strip()) / "labkit-test-deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    return python


def test_wheel_carries_the_data_and_the_type_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"labkit/_data/{p.relative_to(ROOT / 'data').as_posix()}"
                for p in (ROOT / "data").rglob("*") if p.is_file()}
    assert expected and expected <= names
    assert "labkit/py.typed" in names and "labkit/widgets/__init__.py" in names
    assert not any(n.startswith(("data/", "tests/", "notebooks/")) for n in names)


def test_labkit_is_imported_from_the_wheel(installed, tmp_path):
    probe = ("import labkit, labkit.lessons.data as d; "
             "print(labkit.__file__); print(d.DATA_DIR); print(d.work_dir('probe'))")
    lines = run([installed, "-c", probe], cwd=tmp_path).stdout.splitlines()
    venv = installed.parent.parent
    assert all(Path(line).is_relative_to(venv) for line in lines[:2]), lines
    assert not Path(lines[0]).is_relative_to(ROOT)
    assert Path(lines[2]) == tmp_path / "work" / "probe"  # in the current folder, not inside site-packages


def test_demo_and_verify_run_from_the_wheel(installed, tmp_path):
    demo = run([installed, "-m", "labkit", "demo", "--no-torrent", "--workdir", "demo"], cwd=tmp_path).stdout
    assert "all peers agree" in demo
    digests = set(re.findall(r"^\s+(?:alice|bob|carol)\s+([0-9a-f]{64})$", demo, re.MULTILINE))
    assert len(digests) == 1, demo

    (blocks,) = (tmp_path / "demo").rglob("blocks.jsonl")
    verify = run([installed, "-m", "labkit", "verify", blocks], cwd=tmp_path).stdout
    assert "0 rejected" in verify and f"state digest {digests.pop()}" in verify


def test_the_environment_check_reads_the_wheels_metadata(installed, tmp_path):
    probe = ("import importlib.metadata as m; from labkit.lessons.envcheck import check_environment; "
             "r = check_environment(); print(m.distribution('labkit').locate_file('')); "
             "print(r['ok'].all(), list(r.index))")
    where, verdict = run([installed, "-c", probe], cwd=tmp_path).stdout.splitlines()
    assert Path(where).is_relative_to(installed.parent.parent)  # the wheel's dist-info, not the checkout's
    assert verdict.startswith("True") and "libtorrent" in verdict
