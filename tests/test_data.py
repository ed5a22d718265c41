"""labkit.lessons.data: the embedded demo wallets, network, contracts and timestamps."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess

from pathlib import Path

import pytest

from labkit.errors import WorkFolderError
from labkit.lessons import data
from labkit.lessons.data import (
    DATA_DIR,
    DEMO_NAMES,
    demo_network,
    demo_timestamps,
    demo_wallets,
    seed_contracts,
    work_dir,
)
from labkit.vm import check_contract
from labkit.wallet import Wallet


def test_demo_wallets_are_alice_bob_and_carol():
    wallets = demo_wallets()
    assert [w.name for w in wallets] == list(DEMO_NAMES) == ["alice", "bob", "carol"]
    assert all(w.bits == 2048 and w.public_key.e == 65537 for w in wallets)
    assert len({w.address for w in wallets}) == 3


def test_demo_wallet_files_are_labelled_pkcs1_pem():
    for name in DEMO_NAMES:
        text = (DATA_DIR / "demo-wallets" / f"{name}.pem").read_text()
        banner, _, pem = text.partition("-----BEGIN RSA PRIVATE KEY-----")
        assert f"DEMO KEY for '{name}'" in banner  # clearly named as a key of no value
        assert pem and text.rstrip().endswith("-----END RSA PRIVATE KEY-----")
        assert Wallet.from_pem(text, name=name) == Wallet.load(DATA_DIR / "demo-wallets" / f"{name}.pem")


def test_demo_network_members_are_the_demo_wallets():
    network = demo_network()
    assert [m.name for m in network.members] == ["alice", "bob", "carol"]
    assert [m.address for m in network.members] == [w.address for w in demo_wallets()]
    assert network.difficulty == 2 and len(network.secret) == 32 and not network.teaching


def test_demo_network_at_another_difficulty():
    assert demo_network(1).difficulty == 1
    assert demo_network(1).secret == demo_network().secret


def test_demo_network_file_round_trips():
    text = (DATA_DIR / "demo-network.json").read_text()
    assert json.loads(demo_network().to_json()) == json.loads(text)


def test_seed_contracts_are_the_seeds_four():
    contracts = seed_contracts()
    assert [c["actions"][0]["action"] for c in contracts] == [
        "register_student", "add_course", "vote_proposal", "generate_nft"]
    for contract in contracts:
        check_contract(contract)
    assert contracts[0]["actions"][0]["student"] == {"id": "S001", "name": "John Doe",
                                                     "department": "Computer Science"}
    assert contracts[3]["actions"][0]["nft"]["metadata"]["creation_date"] == "2024-11-23"


def test_demo_timestamps_are_fixed_increasing_and_utc():
    times = demo_timestamps(4)
    assert times[0] == dt.datetime(2024, 11, 23, 12, 0, tzinfo=dt.timezone.utc)
    assert all(b - a == dt.timedelta(minutes=1) for a, b in zip(times, times[1:]))
    assert demo_timestamps(4) == times
    assert demo_timestamps(2, step=dt.timedelta(hours=1))[1].hour == 13


@pytest.fixture
def elsewhere(monkeypatch, tmp_path):
    """A current folder and a home of our own, with no LABKIT_WORK_DIR."""
    monkeypatch.delenv(data.WORK_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    return tmp_path


def test_work_dir_is_work_beside_the_notebooks_the_users_own(elsewhere):
    path = work_dir("00-welcome")
    assert path == elsewhere / "notebooks" / "work" / "00-welcome" and path.is_dir()
    assert stat.S_IMODE((path.parent).stat().st_mode) & 0o077 == 0  # a new work folder is 0700


def test_a_read_only_install_falls_back_to_the_users_data_folder(elsewhere):
    (elsewhere / "notebooks" / "work").write_text("not a folder")  # as a read-only folder would, as root too
    assert data.work_root() == elsewhere / "xdg" / "labkit"
    assert stat.S_IMODE((elsewhere / "xdg" / "labkit").stat().st_mode) == 0o700
    assert work_dir("00-welcome") == elsewhere / "xdg" / "labkit" / "00-welcome"


def test_another_users_work_folder_is_never_shared(elsewhere):
    shared = elsewhere / "notebooks" / "work"  # a class's shared checkout: work/ exists, someone else's
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    if os.getuid() == 0:  # root may write anywhere (CI, a hub's set-up): hand the folder to nobody
        os.chown(shared, 65534, 65534)
    else:  # a user cannot give a folder away; one they cannot write stands in for it
        os.chmod(shared, 0o555)
    assert data.work_root() == elsewhere / "xdg" / "labkit"


def test_without_xdg_data_home_the_folder_is_under_local_share(elsewhere, monkeypatch):
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(elsewhere / "home"))
    assert data.user_data_dir() == elsewhere / "home" / ".local" / "share" / "labkit"


def test_the_environment_names_the_folder_and_a_bad_one_is_refused(elsewhere, monkeypatch):
    monkeypatch.setenv(data.WORK_ENV, str(elsewhere / "per-user"))
    assert work_dir("x") == elsewhere / "per-user" / "x"
    (elsewhere / "a-file").write_text("")
    monkeypatch.setenv(data.WORK_ENV, str(elsewhere / "a-file"))
    with pytest.raises(WorkFolderError) as caught:
        work_dir("x")
    assert caught.value.path == elsewhere / "a-file" and data.WORK_ENV in str(caught.value)
    assert (elsewhere / "a-file").read_text() == "" and not (elsewhere / "notebooks" / "work").exists()


def test_work_dir_is_git_ignored(monkeypatch):
    monkeypatch.delenv(data.WORK_ENV, raising=False)
    monkeypatch.chdir(DATA_DIR.parent)  # python -m labkit and the tests run at the checkout's root
    path = work_dir("test-data-probe")
    try:
        assert path.is_dir() and path.parent.name == "work"
        assert path.parent.parent == DATA_DIR.parent
        if shutil.which("git") and (DATA_DIR.parent / ".git").exists():
            result = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=DATA_DIR.parent)
            assert result.returncode == 0
    finally:
        path.rmdir()


def test_a_checkout_reads_data_in_place():
    # A wheel carries a copy as labkit/_data instead (tests/test_wheel.py).
    root = Path(__file__).resolve().parent.parent
    assert DATA_DIR == root / "data"
    assert sorted(p.name for p in DATA_DIR.glob("*.json")) == ["demo-network.json", "seed-contracts.json"]
