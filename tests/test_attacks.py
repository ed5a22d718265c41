"""labkit.lessons.attacks: every attack is refused by a specific rule, and honest peers lose nothing."""

from __future__ import annotations

import pytest

from labkit.forks import replay
from labkit.lessons import attacks
from labkit.lessons.attacks import ATTACKS, MALFORMED
from labkit.lessons.lab import ATTACKER, AttackResult, make_lab
from labkit.vm import state_digest


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return make_lab(tmp_path_factory.mktemp("lab"))


# attack -> (check, a phrase of the reason)
EXPECTED = {
    "tamper payload": ("signature", "not signed by alice"),
    "tamper signature": ("signature", "not signed by alice"),
    "tamper signer": ("signature", "not signed by bob"),
    "non-member": ("signer", "is not a member of the network"),
    "re-signed by another member": ("author", "the token names alice"),
    'alg "none"': ("token", "algorithm 'none' is not allowed"),
    "algorithm confusion": ("mac", "MAC does not match the network secret"),
    "algorithm HS512": ("token", "algorithm 'HS512' is not allowed"),
    "algorithm RS256": ("token", "algorithm 'RS256' is not allowed"),
    "token with exp": ("payload", "unknown field(s) 'exp' (blocks never expire)"),
    "token with nbf": ("payload", "unknown field(s) 'nbf' (blocks never expire)"),
    "shared secret": ("signature", "not signed by alice"),
    "replay old block": ("duplicate", "already held as block 1"),
    "reorder": ("signature", "not signed by alice"),
    "re-submit contract": ("contract", "course id 'C001' already exists"),
    "double vote": ("contract", "already voted on proposal 'P001'"),
    "duplicate id (students)": ("contract", "student id 'S001' already exists"),
    "duplicate id (nfts)": ("contract", "NFT id 'NFT001' already exists"),
    "lower difficulty": ("pow", "declares difficulty 0, below the network's 1"),
    "change nonce": ("pow", "does not start with 2 zeros"),
    "future timestamp": ("timestamp", "in the future"),
    "longer chain, less work": ("work", "(5 blocks, work 80) has less work than the canonical chain (4 blocks, "
                                        "work 1,024)"),
    "truncated line": ("record", "not valid JSON"),
    "garbage line": ("record", "not valid JSON"),
    "huge line": ("record", "the limit is 73,728"),
    "non-UTF-8": ("record", "not UTF-8"),
    "NaN in payload": ("payload", "NaN is not a JSON number"),
    "huge number in payload": ("payload", "integer with 61 digits is too large"),
    "huge float in payload": ("payload", "number 1e999 overflows"),
    "duplicate keys in payload": ("payload", "duplicate key 'prev_hash'"),
    "duplicate keys in record": ("record", "duplicate key 'signature'"),
    "wrong type in payload": ("payload", "index must be a non-negative integer"),
    "wrong type in record": ("record", "signature must be lowercase hex"),
    "empty file": ("nothing new", "no block"),
}


def test_every_attack_has_an_expected_refusal():
    assert set(EXPECTED) == set(ATTACKS)
    assert set(MALFORMED) <= set(ATTACKS)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_refused_and_harmless(lab, name):
    before = lab.fingerprint()
    result = ATTACKS[name](lab)
    check, phrase = EXPECTED[name]
    assert isinstance(result, AttackResult)
    assert result.refused and not result.accepted, result
    assert (result.rule, phrase in (result.reason or "")) == (check, True), result.reason
    assert not result.state_changed and not result.files_changed and result.harmless
    assert lab.fingerprint() == before
    for peer in lab.peers:
        assert [e.block for e in peer.chain] == lab.honest
        assert peer.digest() == state_digest(replay(peer.chain))


def test_the_attacker_writes_only_in_its_own_folder(lab):
    attacks.malformed(lab, "garbage line")
    honest_files = [f for name, f in lab.fingerprint().files]
    assert len(honest_files) == 4  # network.json and one blocks file per peer
    assert (lab.workdir / ATTACKER / "garbage-line.jsonl").exists()


def test_shared_secret_forgery_has_a_valid_mac(lab):
    """The MAC alone would accept bob's token in alice's name: it is the RSA signature that refuses it."""
    result = attacks.shared_secret(lab)
    assert result.detail["mac_valid"] is True
    assert result.rule == "signature"
