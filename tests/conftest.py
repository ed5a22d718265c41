"""Shared fixtures: the demo wallets and network, and one small mined chain.

The small chain is the seed's four contracts mined at difficulty 1 with
fixed timestamps and signed in turn by alice, bob, carol and alice, so every
run builds the same blocks. It is built once per session; tests that need
a chain to change make their own ``Chain`` from its blocks.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import settings

# Speed is measured by the benchmarks (make bench), never asserted by a test: hypothesis's
# per-example deadline would fail a correct test on a busy 2-core CI machine.
settings.register_profile("labkit", deadline=None)
settings.load_profile("labkit")


# --- areas: every test marked with the area of its file (tests/areas.py), so `make test-node` runs one ---


def pytest_collection_modifyitems(config, items):
    from areas import area_of, is_slow
    from waiting import timeout_factor

    factor = timeout_factor()
    for item in items:
        filename = item.path.name
        area = area_of(filename, item.name, getattr(item, "fixturenames", ()))
        if area is not None:  # an unmapped file is reported by test_areas.py, not refused here
            item.add_marker(area)
        if is_slow(filename, item.name):
            item.add_marker("slow")
        if factor != 1:
            _scale_time_limit(item, config, factor)
    if getattr(config.option, "loadgroup", False):  # set in each pytest-xdist worker by --dist loadgroup
        _first_groups_first(items)


# --- in parallel (make test: pytest -n 4 --dist loadgroup): each group on one worker, the long ones first ---
# tests/areas.py group_of says which tests must share a worker. pytest-xdist's own loadgroup reads
# xdist_group marks through the tests' ids, which pytest 9.2 no longer lets it change (pytest-xdist
# issue 1386: every test was sent on its own, nbval's cells of one notebook to different kernels), so
# the scheduler here asks group_of directly.


def _first_groups_first(items) -> None:
    """Order the tests so the groups that take longest (areas.FIRST) are handed out first."""
    from areas import FIRST, group_of

    rank = {group: index for index, group in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(group_of(item.nodeid), len(rank)))  # stable: files stay in order


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: absent without it
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    from areas import group_of

    class AreasGroupScheduling(LoadGroupScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    return AreasGroupScheduling(config, log)


def _scale_time_limit(item, config, factor: float) -> None:
    """pytest-timeout's limit for ``item`` (its mark, else --timeout or the ini's) times LABKIT_TIMEOUT_FACTOR."""
    mark = item.get_closest_marker("timeout")
    kwargs = dict(mark.kwargs) if mark else {}
    seconds = mark.args[0] if mark and mark.args else kwargs.pop("timeout", None)
    if seconds is None:
        seconds = config.getoption("timeout", None) or config.getini("timeout")
    if seconds and float(seconds) > 0:  # 0 means no limit
        item.add_marker(pytest.mark.timeout(float(seconds) * factor, **kwargs), append=False)


# --- the browser tests' Chromium: one Playwright for the whole session ---------------------------
# Playwright's sync API allows one instance per thread at a time: each browser test module
# starting its own, while the first module's session fixture still held one, failed every
# test after the first module ("using Playwright Sync API inside the asyncio loop").


@pytest.fixture(scope="session")
def chromium_ready() -> None:
    from browser_support import browser_required, missing_browser

    reason = missing_browser()
    if reason is None:
        return
    if browser_required():
        pytest.fail(f"the browser tests must run in CI (LABKIT_REQUIRE_BROWSER or CI is set), but {reason}",
                    pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


FAILED = pytest.StashKey[bool]()  # set on a test's item when any of its phases failed (see test_failed)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        item.stash[FAILED] = True
    return report


@pytest.fixture
def test_failed(request):
    """Whether this test has failed so far: a fixture's teardown asks, to throw away what the failure left."""
    return lambda: request.node.stash.get(FAILED, False)


@pytest.fixture(scope="session")
def browser(chromium_ready, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    from browser_support import launch_chromium

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright, tmp_path_factory.mktemp("chromium-home"))
        try:
            yield chromium
        finally:
            chromium.close()

# --- the notebooks, each executed once per session (tests/notebook_runs.py) -------------------------


@pytest.fixture(scope="session")
def notebook_runs(tmp_path_factory):
    """Executes each notebook, instructor's and student build's, once, when a test first asks for it."""
    from notebook_runs import NotebookRuns
    from tools_loader import load_tool

    root = Path(__file__).resolve().parent.parent
    student = tmp_path_factory.mktemp("student")
    load_tool("student").make_student(root / "notebooks", student)
    # Under pytest-xdist each worker has a temporary folder of its own, in the session's: the runs go there,
    # so a notebook one worker ran is not run again by another (notebook_runs.py).
    session = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        session = session.parent
    return NotebookRuns(root / "notebooks", student, session / "notebook-runs")


@pytest.fixture
def executed_notebook(notebook_runs):
    """``executed_notebook("03-proof-of-work")``: the notebook as written, executed (shared by every test)."""
    return lambda name: notebook_runs(name).instructor


@pytest.fixture
def student_run(notebook_runs):
    """``student_run("03-proof-of-work")``: the student build of the notebook, executed (shared)."""
    return lambda name: notebook_runs(name).student


from labkit.blocksfile import save_blocks
from labkit.chain import Chain
from labkit.operations import Context
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.vm import OISC
from makers import NOW  # noqa: F401  (re-exported: tests import NOW from conftest too)


@pytest.fixture(scope="session")
def wallets():
    return demo_wallets()


@pytest.fixture(scope="session")
def alice(wallets):
    return wallets[0]


@pytest.fixture(scope="session")
def bob(wallets):
    return wallets[1]


@pytest.fixture(scope="session")
def carol(wallets):
    return wallets[2]


@pytest.fixture(scope="session")
def network():
    """The demo network as shipped: three members, difficulty 2."""
    return demo_network()


@pytest.fixture(scope="session")
def net1(network):
    """The demo network at difficulty 1, for fast mining."""
    return network.with_difficulty(1)


@pytest.fixture(scope="session")
def contracts():
    return seed_contracts()


@pytest.fixture(scope="session")
def small_blocks(net1, wallets, contracts):
    """The seed's four contracts as a chain at difficulty 1, signed by alice, bob, carol, alice."""
    chain = Chain(net1)
    signers = [wallets[0], wallets[1], wallets[2], wallets[0]]
    for contract, wallet, when in zip(contracts, signers, demo_timestamps(len(contracts))):
        chain.mine(wallet, contract, timestamp=when)
    return tuple(chain.blocks)


@pytest.fixture
def small_chain(net1, small_blocks):
    """A fresh Chain holding the small blocks (safe to extend)."""
    return _chain(net1, small_blocks)


def _chain(network, blocks):
    chain = Chain(network)
    for block in blocks:
        chain.append(block, now=NOW)
    return chain


@pytest.fixture(scope="session")
def small_bytes(small_blocks):
    """The blocks file of the small chain, as bytes."""
    return "".join(b.to_line() + "\n" for b in small_blocks).encode("ascii")


@pytest.fixture
def blocks_file(tmp_path, small_blocks):
    return save_blocks(tmp_path / "blocks.jsonl", small_blocks)


@pytest.fixture(scope="session")
def prefix_digests(net1, small_blocks):
    """prefix_digests[k]: the VM state digest after the first k blocks."""
    chain = _chain(net1, small_blocks)
    vm = OISC()
    digests = [vm.digest()]
    for entry in chain:
        vm.execute_smart_contract(entry.payload.transaction_data,
                                  Context(entry.signer, entry.index, entry.hash))
        digests.append(vm.digest())
    return digests


# --- keys labkit must refuse (made once: key generation is the slow part) ----------------


@pytest.fixture(scope="session")
def rsa1024_pem() -> bytes:
    """A 1024-bit RSA private key, PKCS#1 PEM: too small for labkit outside a lesson."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

    key = crypto_rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def rsa_e3_pem() -> bytes:
    """A 2048-bit RSA private key with public exponent 3."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa

    key = crypto_rsa.generate_private_key(public_exponent=3, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


# --- files of random bytes, for the torrent and swarm tests ------------------------------


def random_file(path: Path, size: int, seed: int = 0) -> Path:
    """Write ``size`` reproducible random bytes to ``path`` (folders made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(random.Random(seed).randbytes(size))
    return path


@pytest.fixture
def shared_file(tmp_path: Path) -> Path:
    """A 300 KiB file standing in for a blocks file: several pieces, quick to share."""
    return random_file(tmp_path / "src" / "blocks.jsonl", 300 * 1024)
