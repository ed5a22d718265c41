"""The command line: ``python -m labkit demo`` and ``python -m labkit verify``."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.__main__ import main
from labkit.lessons.data import DATA_DIR

ROOT = DATA_DIR.parent


def labkit(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m labkit ...`` as a user would, from the repository root."""
    return subprocess.run([sys.executable, "-m", "labkit", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=240)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    return labkit("demo", "--no-torrent", "--workdir", str(workdir)), workdir


@pytest.fixture
def demo_blocks(demo_run, tmp_path) -> Path:
    """A private copy of the blocks file the demo wrote."""
    _, workdir = demo_run
    return Path(shutil.copy(workdir / "alice" / "blocks.jsonl", tmp_path / "blocks.jsonl"))


def tamper(path: Path, line: int) -> None:
    lines = path.read_text().splitlines()
    record = json.loads(lines[line - 1])
    record["signature"] = record["signature"][::-1]
    lines[line - 1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")


# --- demo ------------------------------------------------------------------------------------------


def test_demo_runs_the_seeds_scenario(demo_run):
    result, workdir = demo_run
    assert result.returncode == 0, result.stderr
    out = result.stdout
    digests = re.findall(r"^\s+(alice|bob|carol)\s+([0-9a-f]{64})$", out, re.MULTILINE)
    assert [name for name, _ in digests] == ["alice", "bob", "carol"]
    assert len({digest for _, digest in digests}) == 1
    assert "all peers agree" in out
    for table in ("students:", "courses:", "proposals:", "nfts:"):
        assert table in out
    assert "John Doe" in out and "RareArt" in out
    assert out.count("mined block") == 4
    assert os.listdir(workdir) == ["alice"]  # without the torrent, bob and carol read alice's file
    assert len((workdir / "alice" / "blocks.jsonl").read_text().splitlines()) == 4


def test_demo_in_process(tmp_path, capsys):
    assert main(["demo", "--no-torrent", "--workdir", str(tmp_path), "--difficulty", "1"]) == 0
    assert "all peers agree" in capsys.readouterr().out


# --- verify ----------------------------------------------------------------------------------------


def test_verify_accepts_the_demo_file(demo_blocks, capsys):
    before = demo_blocks.read_bytes()
    assert main(["verify", str(demo_blocks)]) == 0
    out = capsys.readouterr().out
    assert "4 accepted, 0 rejected" in out
    assert out.count(": ok") == 4
    assert demo_blocks.read_bytes() == before


def test_verify_with_tables(demo_blocks, capsys):
    assert main(["verify", str(demo_blocks), "--tables"]) == 0
    out = capsys.readouterr().out
    assert "students:" in out and "John Doe" in out


def test_verify_exits_1_on_a_tampered_file(demo_blocks):
    tamper(demo_blocks, 3)
    before = demo_blocks.read_bytes()
    result = labkit("verify", str(demo_blocks))
    assert result.returncode == 1
    assert "REJECTED [signature]" in result.stdout
    assert "2 accepted, 2 rejected" in result.stdout
    assert demo_blocks.read_bytes() == before  # verify never rewrites the file


def test_verify_reports_a_bad_line(demo_blocks, capsys):
    with demo_blocks.open("a") as f:
        f.write("not json\n")
    assert main(["verify", str(demo_blocks)]) == 1
    out = capsys.readouterr().out
    assert "line 5: REJECTED [record]" in out


def test_verify_with_a_higher_difficulty_rejects(demo_blocks, capsys):
    assert main(["verify", str(demo_blocks), "--difficulty", "8"]) == 1
    assert "REJECTED [pow]" in capsys.readouterr().out


def test_verify_with_a_network_file(demo_blocks, tmp_path, capsys, wallets):
    from labkit.network import Network

    other = Network.create(wallets, difficulty=1).save(tmp_path / "net.json")
    assert main(["verify", str(demo_blocks), "--network", str(other)]) == 1
    assert "REJECTED [mac]" in capsys.readouterr().out


def test_verify_errors_exit_2(demo_blocks, tmp_path, capsys):
    assert main(["verify", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: no such file or folder" in capsys.readouterr().err
    bad_net = tmp_path / "bad.json"
    bad_net.write_text("{}")
    assert main(["verify", str(demo_blocks), "--network", str(bad_net)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["verify", str(demo_blocks), "--seed-secret", "s"]) == 2
    assert "--seed-secret needs --signer-key and --difficulty" in capsys.readouterr().err
    missing_key = ["--seed-secret", "s", "--signer-key", str(tmp_path / "nokey.pem"), "--difficulty", "2"]
    assert main(["verify", str(demo_blocks), *missing_key]) == 2
    assert "nokey.pem: no such file or folder" in capsys.readouterr().err
    garbage_key = tmp_path / "garbage.pem"
    garbage_key.write_text("garbage")
    assert main(["verify", str(demo_blocks), "--seed-secret", "s", "--signer-key", str(garbage_key),
                 "--difficulty", "2"]) == 2
    assert "not a PEM public key" in capsys.readouterr().err


def test_usage_errors(capsys):
    assert main([]) == 2
    assert main(["verify"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)  # one line each, no usage dump


# --- setting up a classroom: wallet new, network new -------------------------------------


def test_wallet_new_writes_a_private_and_a_public_key(tmp_path, capsys):
    from labkit.wallet import Wallet, load_public_key

    assert main(["wallet", "new", "ana", "--dir", str(tmp_path)]) == 0
    private, public = tmp_path / "ana.pem", tmp_path / "ana.pub.pem"
    assert private.stat().st_mode & 0o777 == 0o600
    wallet = Wallet.load(private)
    assert load_public_key(public.read_bytes()) == wallet.public_key
    assert wallet.address in capsys.readouterr().out


def test_wallet_new_never_replaces_a_key(tmp_path, capsys):
    assert main(["wallet", "new", "ana", "--dir", str(tmp_path)]) == 0
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert main(["wallet", "new", "ana", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_network_new_from_members_public_keys(tmp_path, capsys):
    from labkit.network import Network
    from labkit.wallet import Wallet

    for name in ("ana", "ben"):
        assert main(["wallet", "new", name, "--dir", str(tmp_path)]) == 0
    out = tmp_path / "classroom.json"
    assert main(["network", "new", "--member", f"ana={tmp_path / 'ana.pub.pem'}",
                 "--member", f"ben={tmp_path / 'ben.pub.pem'}", "--difficulty", "2", "--out", str(out)]) == 0
    assert out.stat().st_mode & 0o777 == 0o600  # it holds the secret
    network = Network.load(out)
    assert [m.name for m in network.members] == ["ana", "ben"] and network.difficulty == 2
    assert len(network.secret) >= 32
    assert network.is_member(Wallet.load(tmp_path / "ben.pem").address)


@pytest.mark.parametrize("member, words", [
    ("ana", "NAME=PUBLIC_KEY.pem"),
    ("ana={missing}", "missing.pem: no such file or folder"),
    ("ana={garbage}", "not a PEM public key"),
])
def test_network_new_refuses_bad_members_and_writes_nothing(tmp_path, capsys, member, words):
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    out = tmp_path / "classroom.json"
    spec = member.format(missing=tmp_path / "missing.pem", garbage=garbage)
    assert main(["network", "new", "--member", spec, "--out", str(out)]) == 2
    assert words in capsys.readouterr().err
    assert not out.exists()


def test_network_new_never_replaces_a_configuration(tmp_path, capsys):
    assert main(["wallet", "new", "ana", "--dir", str(tmp_path)]) == 0
    out = tmp_path / "classroom.json"
    out.write_text("the old one")
    assert main(["network", "new", "--member", f"ana={tmp_path / 'ana.pub.pem'}", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_text() == "the old one"


# --- every line reported, long runs collapsed, quiet in a pipe (issue 12) --------------------------


def test_verify_reports_a_repeated_line(demo_blocks, capsys):
    lines = demo_blocks.read_text().splitlines()
    demo_blocks.write_text("\n".join([*lines[:2], lines[1], *lines[2:]]) + "\n")
    assert main(["verify", str(demo_blocks)]) == 1
    captured = capsys.readouterr()
    report = [line.strip() for line in captured.out.splitlines() if line.strip().startswith("line")]
    assert report == ["line 1: ok", "line 2: ok", "line 3: REJECTED [duplicate] repeats line 2",
                      "line 4: ok", "line 5: ok"]
    assert "4 accepted, 1 rejected" in captured.out
    assert captured.err == f"error: {demo_blocks}: 1 of 5 lines rejected\n"


def test_verify_collapses_a_run_of_the_same_problem(demo_blocks, capsys):
    with demo_blocks.open("a") as f:
        f.write("\n" * 1000 + "not json\n")
    assert main(["verify", str(demo_blocks)]) == 1
    out = capsys.readouterr().out
    assert "lines 5-1004: REJECTED [record] empty line (1,000 lines)" in out
    assert "line 1005: REJECTED [record]" in out
    assert "4 accepted, 1001 rejected" in out


def test_verify_piped_into_head_exits_quietly(tmp_path):
    path = tmp_path / "blocks.jsonl"
    path.write_bytes(b"x\n[]\n" * 5000)  # two problems in turn: 10,000 report lines, more than a pipe holds
    script = f"'{sys.executable}' -m labkit verify '{path}' | head -1; echo \"exit ${{PIPESTATUS[0]}}\""
    result = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = result.stdout.splitlines()
    assert out[0].strip().startswith("line 1: REJECTED [record]") and out[-1] == "exit 141"
    assert result.stderr == ""  # no traceback, no "Exception ignored"
