"""labkit.teaching.attacks: every attack is refused with a specific check, and honest peers lose nothing."""

from __future__ import annotations

import pytest

from labkit.teaching import attacks
from labkit.teaching.attacks import (
    ATTACKS,
    MALFORMED,
    AttackResult,
    confirmation_table,
    confirmations_needed,
    exact_probability,
    majority_attack,
    make_lab,
    nakamoto_probability,
    results_frame,
    simulate_catch_up,
)
from labkit.forks import replay
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
    assert (lab.workdir / attacks.ATTACKER / "garbage-line.jsonl").exists()


def test_shared_secret_forgery_has_a_valid_mac(lab):
    """The MAC alone would accept bob's token in alice's name: it is the RSA signature that refuses it."""
    result = attacks.shared_secret(lab)
    assert result.detail["mac_valid"] is True
    assert result.rule == "signature"


def test_results_frame(lab):
    results = [attacks.tamper_signature(lab), attacks.double_vote(lab)]
    frame = results_frame(results)
    assert list(frame["rule"]) == ["signature", "contract"]
    assert not frame["accepted"].any() and not frame["state changed"].any()
    assert "tamper signature" in results[0]._repr_html_()


def test_the_lab_offers_an_honest_block(lab, tmp_path):
    fresh = make_lab(tmp_path)
    block = fresh.mine("carol", attacks._register("S777", "New Student"))
    fresh.offer(block)
    assert all(peer.chain.tip.hash == block.hash for peer in fresh.peers)
    assert all(fresh.file_of(peer).read_text().count("\n") == 5 for peer in fresh.peers)


# --- the 51% lesson -------------------------------------------------------------------------


def test_majority_attacker_wins(tmp_path):
    lab = make_lab(tmp_path)
    before = lab.fingerprint()
    race = majority_attack(lab, share=0.6, confirmations=2, seed=1)
    assert race.won and race.reorg is not None
    assert race.honest_blocks >= 3 and race.attacker_blocks > race.honest_blocks - 1
    assert race.reorg.depth == race.honest_blocks
    assert race.nft_owner_before == "alice" and race.nft_owner_after == "bob"
    assert all(peer.chain.tip.signer == lab.wallets["bob"].address for peer in lab.peers)
    assert all(peer.digest() == state_digest(replay(peer.chain)) for peer in lab.peers)
    assert lab.fingerprint() != before  # the attacker's branch is now what the peers hold and write
    frame = race.frame()
    assert list(frame.columns) == ["block", "found by", "honest branch", "attacker branch"]
    assert frame["attacker branch"].iloc[-1] == race.attacker_blocks


def test_minority_attacker_gives_up(tmp_path):
    lab = make_lab(tmp_path)
    race = majority_attack(lab, share=0.1, confirmations=2, seed=3, max_blocks=12)
    assert not race.won and race.reorg is None
    assert race.nft_owner_after == "alice"


# Nakamoto's table in section 11 of the Bitcoin paper.
PAPER = {
    0.1: [1.0, 0.2045873, 0.0509779, 0.0131722, 0.0034552, 0.0009137, 0.0002428, 0.0000647, 0.0000173,
          0.0000046, 0.0000012],
    0.3: [1.0, 0.1773523, 0.0416605, 0.0101008, 0.0024804, 0.0006132, 0.0001522, 0.0000379, 0.0000095,
          0.0000024, 0.0000006],
}


@pytest.mark.parametrize("q", sorted(PAPER))
def test_nakamoto_formula_reproduces_the_paper(q):
    step = 1 if q == 0.1 else 5
    got = [round(nakamoto_probability(q, z), 7) for z in range(0, 11 * step, step)]
    assert got == PAPER[q]


def test_confirmations_for_less_than_one_in_a_thousand():
    shares = (0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45)
    assert [confirmations_needed(q) for q in shares] == [5, 8, 11, 15, 24, 41, 89, 340]


def test_a_majority_always_catches_up():
    assert nakamoto_probability(0.5, 100) == exact_probability(0.6, 50) == 1.0
    assert confirmations_needed(0.6) is None


def test_exact_value_by_hand():
    # z = 1: the attacker finds the first block (q), or falls one behind (p) and catches up later (q/p)
    assert exact_probability(0.25, 1) == pytest.approx(0.25 + 0.75 * (0.25 / 0.75))
    assert exact_probability(0.1, 0) == 1.0 and nakamoto_probability(0.0, 3) == 0.0


@pytest.mark.parametrize("q,z", [(0.1, 2), (0.3, 4), (0.45, 6)])
def test_simulation_agrees_with_the_exact_value(q, z):
    assert simulate_catch_up(q, z, trials=4000, seed=7) == pytest.approx(exact_probability(q, z), abs=0.03)


def test_confirmation_table_and_plot():
    frame = confirmation_table(shares=(0.1, 0.3), confirmations=range(0, 4), trials=300)
    assert list(frame.columns) == ["share", "confirmations", "nakamoto", "exact", "simulated"]
    assert len(frame) == 8 and (frame.loc[frame["confirmations"] == 0, "simulated"] == 1.0).all()
    figure = attacks.plot_confirmations(frame)
    assert len(figure.axes[0].lines) == 6  # per share: formula, exact, simulation


@pytest.mark.parametrize("q,z", [(-0.1, 1), (1.5, 1), (0.2, -1), (0.2, 1.5)])
def test_bad_arguments(q, z):
    with pytest.raises(ValueError):
        nakamoto_probability(q, z)
