"""labkit.lessons.race: the 51 % race mined for real, and the chance of catching up (Nakamoto, exact, simulated)."""

from __future__ import annotations

import pytest

from labkit.forks import replay
from labkit.lessons.lab import make_lab
from labkit.lessons.race import (
    confirmation_frame,
    confirmations_needed,
    exact_probability,
    majority_attack,
    nakamoto_probability,
    plot_confirmations,
    simulate_catch_up,
)
from labkit.vm import state_digest


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
    frame = race.blocks_frame()
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


def test_confirmation_frame_and_plot():
    frame = confirmation_frame(shares=(0.1, 0.3), confirmations=range(0, 4), trials=300)
    assert list(frame.columns) == ["share", "confirmations", "nakamoto", "exact", "simulated"]
    assert len(frame) == 8 and (frame.loc[frame["confirmations"] == 0, "simulated"] == 1.0).all()
    figure = plot_confirmations(frame)
    assert len(figure.axes[0].lines) == 6  # per share: formula, exact, simulation


@pytest.mark.parametrize("q,z", [(-0.1, 1), (1.5, 1), (0.2, -1), (0.2, 1.5)])
def test_bad_arguments(q, z):
    with pytest.raises(ValueError):
        nakamoto_probability(q, z)
