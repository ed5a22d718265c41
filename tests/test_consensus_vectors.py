"""Consensus vectors: every honest peer, on every supported Python, reaches the verdict the file names.

tests/vectors/consensus.json holds block records, what each is judged
against (network, parent, the VM state after the parent, the verifier's
clock) and the expected verdict: "accepted" or the first rule broken, in
the manner of Bitcoin Core's tx_valid.json. .ci/run runs this file under the
oldest and the newest supported Python as well as the default one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.chain import CHECKS, UNKNOWN_PARENT, Link, judge
from labkit.network import Member, Network
from labkit.tokens import parse_timestamp
from labkit.vm import state_digest
from labkit.wallet import load_public_key

VECTORS_DIR = Path(__file__).with_name("vectors")
DOCUMENT = json.loads((VECTORS_DIR / "consensus.json").read_text("utf-8"))
VECTORS = DOCUMENT["vectors"]


def network_of(spec: dict) -> Network:
    members = tuple(Member(m["name"], load_public_key(m["public_key_pem"].encode())) for m in spec["members"])
    return Network(spec["name"], bytes.fromhex(spec["secret_hex"]), spec["difficulty"], members,
                   spec["max_clock_skew"], teaching=spec["seed_file"], seed_file=spec["seed_file"])


NETWORKS = {name: network_of(spec) for name, spec in DOCUMENT["networks"].items()}


def parent_of(name: str):
    spec = DOCUMENT["parents"][name]
    if spec == "unknown":
        return UNKNOWN_PARENT
    if spec is None:
        return None
    return Link(spec["index"], spec["hash"], parse_timestamp(spec["time"]), spec["total_work"], spec["refused"])


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector(vector):
    verdict = judge(vector["record"], NETWORKS[vector["network"]], parent_of(vector["parent"]),
                    state=DOCUMENT["states"][vector["state"]], now=parse_timestamp(vector["now"]))
    got = verdict.rule or "accepted"
    detail = verdict.broken.detail if verdict.broken else ""
    assert got == vector["expect"], detail
    assert vector.get("reason", "") in detail
    if got == "accepted":
        assert state_digest(verdict.state) == vector["state_digest_after"]
    else:  # every rule after the first broken one is not asked; every rule before it passed
        position = CHECKS.index(got)
        assert all(o.outcome.value == "passed" for o in verdict.outcomes[:position]
                   if o.outcome.value != "not asked")


def test_every_rule_is_covered_from_both_sides():
    counts = {rule: 0 for rule in (*CHECKS, "accepted")}
    for vector in VECTORS:
        counts[vector["expect"]] += 1
    assert len(VECTORS) >= 150
    assert counts["accepted"] >= 20  # an accepted block passes every rule
    assert all(counts[rule] >= 2 for rule in CHECKS), counts
    timestamps = [v for v in VECTORS if v["name"].startswith("timestamp ")]
    assert sum(v["expect"] == "accepted" for v in timestamps) >= 15
    assert sum(v["expect"] == "payload" for v in timestamps) >= 25


def test_the_file_is_what_the_generator_makes(tmp_path):
    # The generator checks labkit against each hand-written verdict before it writes; on this
    # Python it must produce the committed file byte for byte.
    script = VECTORS_DIR / "make_consensus.py"
    copy = tmp_path / "make_consensus.py"
    copy.write_text(script.read_text("utf-8").replace(
        'ROOT = Path(__file__).resolve().parents[2]', f'ROOT = Path({str(VECTORS_DIR.parents[1])!r})'), "utf-8")
    result = subprocess.run([sys.executable, str(copy)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "consensus.json").read_bytes() == (VECTORS_DIR / "consensus.json").read_bytes()
