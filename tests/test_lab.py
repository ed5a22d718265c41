"""labkit.lessons.lab: three honest peers that take honest blocks, and one table of attack results."""

from __future__ import annotations

import pytest

from labkit.chain import Link
from labkit.lessons import attacks
from labkit.lessons.lab import attacks_frame, make_lab, mine_branch, registration


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return make_lab(tmp_path_factory.mktemp("lab"))


def test_attacks_frame(lab):
    results = [attacks.tamper_signature(lab), attacks.double_vote(lab)]
    frame = attacks_frame(results)
    assert list(frame["rule"]) == ["signature", "contract"]
    assert not frame["accepted"].any() and not frame["state changed"].any()
    assert "tamper signature" in results[0]._repr_html_()


def test_the_lab_offers_an_honest_block(lab, tmp_path):
    fresh = make_lab(tmp_path)
    block = fresh.mine("carol", registration("S777", "New Student"))
    fresh.offer(block)
    assert all(peer.chain.tip.hash == block.hash for peer in fresh.peers)
    assert all(fresh.file_of(peer).read_text().count("\n") == 5 for peer in fresh.peers)


def test_a_branch_links_each_block_to_the_one_before(lab):
    steps = [(lab.wallet(name), registration(f"S8{i:02d}", name), lab.next_time())
             for i, name in enumerate(("alice", "bob", "carol"))]
    branch = mine_branch(lab.network, steps, parent=lab.tip)
    payloads = [b.payload(lab.network.secret) for b in branch]
    assert [p.index for p in payloads] == [lab.tip.index + 1, lab.tip.index + 2, lab.tip.index + 3]
    assert [p.prev_hash for p in payloads] == [lab.tip.hash, branch[0].hash, branch[1].hash]
    assert mine_branch(lab.network, steps[:1], parent=Link(0, lab.honest[0].hash, None))[0].payload(
        lab.network.secret).prev_hash == lab.honest[0].hash


def test_a_template_is_what_mine_block_would_sign(lab):
    template = lab.template("bob", registration("S850", "Bob"), nonce=7)
    assert (template.prev_hash, template.index, template.nonce) == (lab.tip.hash, lab.tip.index + 1, 7)
    assert template.difficulty == lab.honest_difficulty and template.signer == lab.wallets["bob"].address
