"""labkit.lessons.display: rejected blocks in red, state diffs that mark new rows and changed cells."""

import json

import pandas as pd
import pytest

from labkit.block import Block
from labkit.chain import Chain, validate_blocks
from labkit.encoding import b64url_decode, b64url_encode
from labkit.operations import Context
from labkit.lessons.data import demo_network, demo_timestamps, demo_wallets, seed_contracts
from labkit.lessons.display import changes_frame, chain_table, state_diff_tables, changes_table, verdicts_table, validation_table
from labkit.vm import OISC


@pytest.fixture(scope="module")
def demo():
    wallets, network = demo_wallets(), demo_network(1)
    chain = Chain(network)
    for contract, when in zip(seed_contracts(), demo_timestamps(4)):
        chain.mine(wallets[0], contract, timestamp=when)
    return network, chain


def test_valid_chain_has_no_red_rows(demo):
    network, chain = demo
    styler = chain_table(chain)
    assert not styler.labkit_mask.any().any()
    assert "labkit-invalid" not in styler.to_html()


def test_tampered_block_and_every_later_block_are_red(demo):
    network, chain = demo
    blocks = chain.blocks
    header, body, mac = blocks[1].token.split(".")
    claims = json.loads(b64url_decode(body))
    claims["transaction_data"]["actions"][0]["course"]["name"] = "Blockchain Basics"
    forged = ".".join([header, b64url_encode(json.dumps(claims).encode()), mac])
    blocks[1] = Block(forged, blocks[1].signature, blocks[1].signer)
    reports = [r for r, _ in validate_blocks(network, blocks)]
    styler = validation_table(blocks, reports, network)
    red_rows = styler.labkit_mask.all(axis=1)
    assert list(red_rows) == [False, True, True, True]
    html = styler.to_html()
    assert html.count("labkit-invalid") == 3 * len(styler.data.columns)
    assert list(styler.data["rule"]) == ["", "signature", "link", "ancestry"]


def test_style_validation_needs_a_valid_column():
    with pytest.raises(ValueError):
        verdicts_table(pd.DataFrame({"x": [1]}))


def test_changed_cells_marks_new_rows_and_changed_cells_only():
    before = pd.DataFrame({"votes": [1, 3], "note": ["a", float("nan")]}, index=["P1", "P2"])
    after = pd.DataFrame({"votes": [2, 3, 1], "note": ["a", float("nan"), "c"]}, index=["P1", "P2", "P3"])
    marks = changes_frame(before, after)
    assert marks.to_dict("index") == {
        "P1": {"votes": "changed", "note": ""},
        "P2": {"votes": "", "note": ""},  # NaN stays NaN: unchanged
        "P3": {"votes": "new", "note": "new"},
    }


def test_a_new_column_counts_as_changed_where_it_holds_a_value():
    before = pd.DataFrame({"name": ["x"]}, index=["N1"])
    after = pd.DataFrame({"name": ["x"], "metadata.artist": ["Alice"]}, index=["N1"])
    assert changes_frame(before, after).loc["N1"].tolist() == ["", "changed"]


def test_removed_rows_are_named_in_the_caption():
    before = pd.DataFrame({"v": [1, 2]}, index=["a", "b"])
    after = pd.DataFrame({"v": [1]}, index=["a"])
    assert "removed: b" in changes_table(before, after).to_html()


def test_state_diff_highlights_a_vote_and_a_new_nft():
    alice, bob = (w.address for w in demo_wallets()[:2])
    vm = OISC()
    vm.execute({"action": "vote_proposal", "proposal": {"id": "P1", "description": "d"}}, Context(alice))
    before = vm.snapshot()
    vm.execute({"action": "vote_proposal", "proposal": {"id": "P1"}}, Context(bob))
    vm.execute({"action": "generate_nft", "nft": {"id": "N1", "name": "n", "metadata": {"a": 1}}}, Context(bob))
    diff = state_diff_tables(before, vm.state)
    assert set(diff) == {"students", "courses", "proposals", "nfts", "balances"}
    assert diff["proposals"].labkit_marks.loc["P1"].to_dict() == {"description": "", "votes": "changed",
                                                                   "voters": "changed"}
    assert (diff["nfts"].labkit_marks.loc["N1"] == "new").all()
    assert not diff["students"].labkit_mask.any().any()
    html = diff["proposals"].to_html() + diff["nfts"].to_html()
    assert "labkit-changed" in html and "labkit-new" in html


def test_state_diff_shows_a_block_reward_as_a_new_balance():
    alice = demo_wallets()[0].address
    vm = OISC()
    before = vm.snapshot()
    vm.execute({"action": "mint"}, Context(alice, index=1))
    diff = state_diff_tables(before, vm.state)
    assert (diff["balances"].labkit_marks.loc[alice[:10]] == "new").all()
    assert not diff["nfts"].labkit_mask.any().any()


def test_peers_table_marks_the_digest_that_disagrees(demo):
    from labkit.lessons.display import peers_table
    from labkit.peer import Peer

    network, chain = demo
    peers = [Peer(w.name, network, wallet=w) for w in demo_wallets()]
    for peer in peers:
        peer.receive(chain.blocks if peer.name != "carol" else chain.blocks[:2])
    styler = peers_table(peers)
    assert list(styler.labkit_mask["digest"]) == [False, False, True]
    assert list(styler.data["blocks"]) == [4, 4, 2]
    assert styler.to_html().count("labkit-invalid") == 1
