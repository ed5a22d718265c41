"""labkit.fastmine against outside references: pyjwt, hashlib and the reference miner."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
import threading

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import fastmine, pow
from labkit.errors import MiningCancelled
from labkit.fastmine import PrefixHasher
from labkit.pow import target
from labkit.tokens import GENESIS_HASH, Payload, encode_token

SECRET = bytes(range(32))  # 32 bytes, the length labkit's networks use and pyjwt asks for

CONTRACTS = [
    {"actions": []},
    {"actions": [{"action": "register_student",
                  "student": {"id": "S001", "name": "John Doe", "department": "Computer Science"}}]},
    # non-ASCII: pyjwt writes \u escapes, so the claims stay ASCII but grow
    {"actions": [{"action": "add_course",
                  "course": {"id": "C002", "name": "Kryptographie für Anfänger — 暗号", "emoji": "⛓️🧱"}}]},
]


def _payloads() -> list[Payload]:
    payloads = []
    for i, contract in enumerate(CONTRACTS):
        for extra in ({}, {"index": i}, {"index": 12, "difficulty": 4}, {"difficulty": 3}):
            payloads.append(Payload(prev_hash=f"{i:x}" * 64, timestamp="2024-11-23T12:00:00+00:00",
                                    transaction_data=contract, **extra))
    return payloads


PAYLOADS = _payloads()
HASHERS = {id(p): PrefixHasher(p, SECRET) for p in PAYLOADS}


def _claims_json(payload: Payload) -> bytes:
    token = encode_token(payload, SECRET)
    return jwt.utils.base64url_decode(token.split(".")[1])


def _check_against_pyjwt(hasher: PrefixHasher, template: Payload, secret, nonce: int) -> None:
    token = hasher.token(nonce)
    assert token == encode_token(template.with_nonce(nonce), secret)
    assert jwt.decode(token, secret, algorithms=["HS256"]) == template.with_nonce(nonce).to_claims()
    assert hasher.attempt(nonce) == hashlib.sha256(token.encode()).digest()


def _first_valid(template: Payload, difficulty: int, start: int, stop: int) -> int | None:
    """The slow way, with pyjwt and hashlib only."""
    for nonce in range(start, stop):
        digest = hashlib.sha256(encode_token(template.with_nonce(nonce), SECRET).encode()).hexdigest()
        if digest.startswith("0" * difficulty):
            return nonce
    return None


# --- PrefixHasher: the same token as pyjwt, byte for byte -------------------


def test_payloads_cover_every_base64_alignment():
    # The prefix before the nonce digits must be cut at a multiple of 3 bytes;
    # each residue takes a different path, so each must be tested.
    residues = {len(HASHERS[id(p)].prefix) % 3 for p in PAYLOADS}
    assert residues == {0, 1, 2}
    for p in PAYLOADS:
        assert _claims_json(p).startswith(HASHERS[id(p)].prefix)
        assert HASHERS[id(p)].prefix.endswith(b'"nonce":')


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(_claims_json(p))}B")
@settings(max_examples=25, deadline=None)
@given(nonce=st.one_of(st.integers(0, 10**6), st.integers(-10**4, 10**30)))
def test_token_matches_pyjwt(payload, nonce):
    _check_against_pyjwt(HASHERS[id(payload)], payload, SECRET, nonce)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(max_size=40),
    index=st.none() | st.integers(0, 10**6),
    difficulty=st.none() | st.integers(0, 8),
    nonce=st.integers(0, 10**12),
)
def test_token_matches_pyjwt_for_any_contract(text, index, difficulty, nonce):
    template = Payload(GENESIS_HASH, "2024-11-23T12:00:00+00:00", {"actions": [{"note": text}]},
                       nonce=nonce, index=index, difficulty=difficulty)
    hasher = PrefixHasher(template, SECRET)
    for n in (nonce, nonce + 1, nonce * 10 + 9):
        _check_against_pyjwt(hasher, template, SECRET, n)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("secret", ["your-secret-key", b"k", b"x" * 64, b"y" * 65, bytes(range(256)) * 2],
                         ids=["seed-str", "1-byte", "64-bytes", "65-bytes", "512-bytes"])
def test_any_key_length_matches_pyjwt(secret):
    # HMAC pads short keys and hashes keys longer than a SHA-256 block (64 bytes).
    template = PAYLOADS[1]
    hasher = PrefixHasher(template, secret)
    for nonce in (0, 7, 123_456, 10**9 + 1):
        _check_against_pyjwt(hasher, template, secret, nonce)


def test_hasher_refuses_a_non_integer_nonce():
    with pytest.raises(TypeError):
        PrefixHasher(Payload(GENESIS_HASH, "2024-11-23T12:00:00+00:00", {}, nonce=True), SECRET)


# --- targets and search -------------------------------------------------------


@given(digest=st.binary(min_size=32, max_size=32), zeros=st.integers(0, 64), difficulty=st.integers(0, 8))
def test_target_agrees_with_hex_zeros(digest, zeros, difficulty):
    # Force some leading zero nibbles so that the interesting cases come up.
    value = int.from_bytes(digest, "big") >> (4 * min(zeros, 64))
    digest = value.to_bytes(32, "big")
    assert (digest < target(difficulty)) == pow.meets_difficulty(digest.hex(), difficulty)


@pytest.mark.parametrize("payload", PAYLOADS[::3], ids=lambda p: f"{len(_claims_json(p))}B")
def test_search_finds_the_first_valid_nonce_across_digit_boundaries(payload):
    # Windows that start in the one-at-a-time path, cross a change in the number
    # of digits, or start and stop inside a block of the shared tail table.
    hasher = HASHERS[id(payload)]
    for start, stop in [(0, 150), (90, 130), (985, 1030), (9_990, 10_040), (99_960, 100_040),
                        (1_234_560, 1_234_640), (-20, 20)]:
        nonce = start
        while True:
            expected = _first_valid(payload, 1, nonce, stop)
            assert hasher.search(nonce, stop, target(1)) == expected
            if expected is None:
                break
            nonce = expected + 1


# --- mining: the same result as the reference miner -------------------------


@pytest.mark.parametrize("difficulty", [0, 1, 2, 3])
@pytest.mark.parametrize("payload", [PAYLOADS[1], PAYLOADS[10]], ids=["ascii", "non-ascii"])
def test_one_worker_mines_what_the_reference_miner_mines(payload, difficulty):
    expected = pow.mine(payload, SECRET, difficulty)
    got = fastmine.mine(payload, SECRET, difficulty, workers=1)
    assert (got.nonce, got.token, got.hash, got.attempts) == (
        expected.nonce, expected.token, expected.hash, expected.attempts)


def test_mining_starts_from_the_template_nonce():
    template = PAYLOADS[5].with_nonce(98_765)
    expected = pow.mine(template, SECRET, 2)
    assert fastmine.mine(template, SECRET, 2, workers=1).token == expected.token
    assert fastmine.mine(template, SECRET, 2, workers=2).token == expected.token


@pytest.mark.parametrize("difficulty", [3, 4])
def test_workers_mine_a_valid_block(difficulty):
    template = PAYLOADS[7]
    result = fastmine.mine(template, SECRET, difficulty, workers=2)
    assert hashlib.sha256(result.token.encode()).hexdigest() == result.hash
    assert result.hash.startswith("0" * difficulty)
    assert jwt.decode(result.token, SECRET, algorithms=["HS256"]) == template.with_nonce(result.nonce).to_claims()
    # Workers finish the chunks below the winning one, so the answer does not
    # depend on how many there are.
    assert result.nonce == fastmine.mine(template, SECRET, difficulty, workers=1).nonce
    assert result.attempts >= result.nonce - template.nonce + 1
    assert multiprocessing.active_children() == []


def test_spawned_workers_mine_the_same_block(monkeypatch):
    # macOS and Windows start workers with spawn, which pickles the arguments.
    monkeypatch.setattr(fastmine, "START_METHOD", "spawn")
    template = PAYLOADS[2]
    assert fastmine.mine(template, SECRET, 2, workers=2).token == pow.mine(template, SECRET, 2).token
    assert multiprocessing.active_children() == []


def test_workers_are_chosen_by_difficulty(monkeypatch):
    calls = []
    monkeypatch.setattr(fastmine, "available_cores", lambda: 4)
    monkeypatch.setattr(fastmine, "_mine_parallel", lambda hasher, secret, difficulty, workers, *rest:
                        calls.append((difficulty, workers)))
    fastmine.mine(PAYLOADS[0], SECRET, 3)  # in this process: starting workers would cost more
    fastmine.mine(PAYLOADS[0], SECRET, 5)
    fastmine.mine(PAYLOADS[0], SECRET, 2, workers=3)
    assert calls == [(5, 4), (2, 3)]


# --- progress, cancel and clean-up --------------------------------------------


@pytest.mark.timeout(30)
@pytest.mark.parametrize("workers", [1, 2])
def test_cancel_from_another_thread(workers):
    cancel = threading.Event()
    reports = []

    def progress(report):
        reports.append(report.attempts)
        if len(reports) == 3:
            threading.Thread(target=cancel.set).start()

    with pytest.raises(MiningCancelled) as caught:
        fastmine.mine(PAYLOADS[0], SECRET, 8, progress=progress, cancel=cancel, workers=workers)
    assert len(reports) >= 3
    assert reports == sorted(reports) and reports[0] < reports[-1]
    assert caught.value.attempts >= reports[-1]
    assert multiprocessing.active_children() == []


@pytest.mark.timeout(30)
def test_cancel_already_set_stops_at_once():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(MiningCancelled):
        fastmine.mine(PAYLOADS[0], SECRET, 8, cancel=cancel, workers=2)
    assert multiprocessing.active_children() == []


class Boom(Exception):
    pass


@pytest.mark.timeout(30)
@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_workers_are_stopped_when_the_caller_fails(error):
    def progress(report):
        raise error()

    with pytest.raises(error):
        fastmine.mine(PAYLOADS[0], SECRET, 8, progress=progress, workers=2)
    assert multiprocessing.active_children() == []


def _dying_worker(*args):
    os._exit(3)


@pytest.mark.timeout(30)
@pytest.mark.skipif(fastmine.START_METHOD != "fork", reason="patching the worker needs fork")
def test_worker_errors_reach_the_caller(monkeypatch):
    def failing_search(self, start, stop, limit):
        raise Boom("worker failed")

    monkeypatch.setattr(PrefixHasher, "search", failing_search)  # forked workers inherit the patch
    with pytest.raises(Boom):
        fastmine.mine(PAYLOADS[0], SECRET, 6, workers=2)
    assert multiprocessing.active_children() == []
    monkeypatch.setattr(fastmine, "_worker", _dying_worker)
    with pytest.raises(RuntimeError, match="exit code 3"):
        fastmine.mine(PAYLOADS[0], SECRET, 6, workers=2)
    assert multiprocessing.active_children() == []


# --- bad arguments --------------------------------------------------------------


@pytest.mark.parametrize("difficulty", [-1, 9, "3", True, 2.0, None])
def test_bad_difficulty_is_refused_like_the_reference_miner(difficulty):
    with pytest.raises(Exception) as reference:
        pow.check_difficulty(difficulty)
    with pytest.raises(type(reference.value), match="difficulty"):
        fastmine.mine(PAYLOADS[0], SECRET, difficulty)
    with pytest.raises(type(reference.value)):
        target(difficulty)


@pytest.mark.parametrize("workers, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                            (True, TypeError), ("2", TypeError)])
def test_bad_worker_count_is_refused(workers, error):
    with pytest.raises(error):
        fastmine.mine(PAYLOADS[0], SECRET, 1, workers=workers)


def test_fast_miner_satisfies_the_miner_protocol():
    miner: pow.Miner = fastmine.mine  # what a type checker would check
    assert miner(PAYLOADS[0], SECRET, 1).hash.startswith("0")


def test_importing_labkit_does_not_import_multiprocessing():
    code = "import labkit, labkit.fastmine, sys; print('multiprocessing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- how many CPUs: the affinity mask and the cgroup's quota -------------------------------------


def cgroup_files(tmp_path, proc_lines: str, files: dict[str, str]):
    """A fake /sys/fs/cgroup and /proc/self/cgroup, as a kernel writes them."""
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    root.mkdir(exist_ok=True)
    proc = tmp_path / "proc-self-cgroup"
    proc.write_text(proc_lines)
    return root, proc


CGROUP_CASES = {  # name: (/proc/self/cgroup, files under /sys/fs/cgroup, CPUs allowed)
    "v2 pod limit 1.5": ("0::/kubepods/pod1/c1\n", {"kubepods/pod1/c1/cpu.max": "150000 100000"}, 1.5),
    "v2 no limit": ("0::/user.slice\n", {"user.slice/cpu.max": "max 100000", "cpu.max": "max 100000"}, None),
    "v2 the pod's limit, not the container's": (
        "0::/kubepods/pod1/c1\n", {"kubepods/pod1/cpu.max": "50000 100000", "kubepods/pod1/c1/cpu.max": "max 100000"},
        0.5),
    "v2 in a container: its path is not visible, the root is read": (
        "0::/docker/abc\n", {"cpu.max": "200000 100000"}, 2.0),
    "v1 cpu,cpuacct": ("4:memory:/x\n3:cpu,cpuacct:/docker/abc\n",
                       {"cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "25000",
                        "cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000"}, 0.25),
    "v1 no quota": ("3:cpu,cpuacct:/\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1",
                                          "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
    "v1 mounted as cpu": ("2:cpu:/lab\n", {"cpu/lab/cpu.cfs_quota_us": "300000",
                                           "cpu/lab/cpu.cfs_period_us": "100000"}, 3.0),
    "no cgroup files at all": ("0::/\n", {}, None),
}


@pytest.mark.parametrize("name", CGROUP_CASES)
def test_the_cgroup_cpu_limit_is_read_from_v1_and_v2_files(tmp_path, name):
    proc_lines, files, expected = CGROUP_CASES[name]
    root, proc = cgroup_files(tmp_path, proc_lines, files)
    assert fastmine.cgroup_cpu_limit(root, proc) == expected


@pytest.mark.parametrize("quota, cores", [("50000 100000", 1), ("150000 100000", 2), ("800000 100000", 8),
                                          ("6400000 100000", 8), ("max 100000", 8)])
def test_mining_uses_the_cpus_the_cgroup_grants_rounded_up(tmp_path, monkeypatch, quota, cores):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    root, proc = cgroup_files(tmp_path, "0::/pod\n", {"pod/cpu.max": quota})
    assert fastmine.available_cores(root, proc) == cores


def test_without_a_readable_proc_cgroup_the_affinity_mask_decides(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3}, raising=False)
    assert fastmine.cgroup_cpu_limit(tmp_path, tmp_path / "missing") is None
    assert fastmine.available_cores(tmp_path, tmp_path / "missing") == 2
