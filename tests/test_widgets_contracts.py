"""The contract builder, driven without a browser: fill the fields, click, read the result."""

import pytest

from labkit.operations import FIELDS
from labkit.peer import Peer
from labkit.lessons.data import demo_network, demo_wallets
from labkit.widgets.contracts import build_instruction, contract_builder, parse_metadata


@pytest.fixture(scope="module")
def wallets():
    return demo_wallets()


@pytest.fixture
def peer(wallets):
    return Peer("alice", demo_network(1), wallet=wallets[0])


def fill(w, action, **values):
    w.action.value = action
    for name, value in values.items():
        w.fields[name].value = value


def test_fields_follow_the_chosen_action(peer):
    w = contract_builder(peer)
    assert list(w.action.options) == list(FIELDS)
    for action, (_, required, optional) in FIELDS.items():
        w.action.value = action
        assert list(w.fields) == [*required, *optional]


def test_submit_mines_a_block_the_peer_accepts_and_highlights_the_new_row(peer):
    w = contract_builder(peer)
    fill(w, "register_student", id="S001", name="Ada Lovelace", department="Mathematics")
    w.submit_button.click()
    assert w.last_report.accepted and w.last_report.index == 0
    assert len(peer.chain) == 1
    assert peer.state["students"]["S001"]["name"] == "Ada Lovelace"
    assert (w.tables["students"].labkit_marks.loc["S001"] == "new").all()
    assert "labkit-new" in w.state_output.value
    assert "labkit-ok" in w.status.value


def test_a_failing_contract_shows_its_reason_and_leaves_the_state_untouched(peer):
    w = contract_builder(peer)
    fill(w, "register_student", id="S001", name="Ada", department="Maths")
    w.submit_button.click()
    state, digest, height = peer.state, peer.digest(), len(peer.chain)
    fill(w, "register_student", id="S001", name="Someone else", department="Maths")
    w.submit_button.click()
    report = w.last_report
    assert not report.accepted and report.rule == "contract"
    assert "already exists" in report.reason
    assert "already exists" in w.status.value and "labkit-error" in w.status.value
    assert peer.state == state and peer.digest() == digest and len(peer.chain) == height
    assert not any(t.labkit_mask.any().any() for t in w.tables.values())


def test_votes_count_once_per_signer_and_the_changed_cells_are_marked(peer, wallets):
    w = contract_builder(peer, wallets)
    fill(w, "vote_proposal", id="P001", description="Increase Research Funding")
    w.submit_button.click()
    w.submit_button.click()  # alice again
    assert w.last_report.rule == "contract" and "already voted" in w.last_report.reason
    w.signer.value = "bob"
    w.submit_button.click()
    assert w.last_report.accepted
    assert peer.state["proposals"]["P001"]["votes"] == 2
    marks = w.tables["proposals"].labkit_marks.loc["P001"]
    assert marks["votes"] == "changed" and marks["description"] == ""


def test_nft_metadata_as_key_value_lines_or_json(peer):
    w = contract_builder(peer)
    fill(w, "generate_nft", id="NFT001", name="RareArt", metadata="artist = Alice\ncreation_date=2024-11-23")
    w.submit_button.click()
    fill(w, "generate_nft", id="NFT002", name="Other", metadata='{"artist": "Bob", "edition": 2}')
    w.submit_button.click()
    nfts = peer.state["nfts"]
    assert nfts["NFT001"]["metadata"] == {"artist": "Alice", "creation_date": "2024-11-23"}
    assert nfts["NFT002"]["metadata"] == {"artist": "Bob", "edition": 2}
    assert nfts["NFT001"]["owner"] == peer.address


def test_unreadable_metadata_is_not_submitted(peer):
    w = contract_builder(peer)
    fill(w, "generate_nft", id="N", name="n", metadata="no equals sign")
    w.submit_button.click()
    assert "line 1" in w.last_error and w.last_report is None and len(peer.chain) == 0
    assert "not a contract yet" in w.preview.value


def test_missing_fields_are_reported_by_the_vm(peer):
    w = contract_builder(peer)
    fill(w, "add_course", id="C001")
    w.submit_button.click()
    assert w.last_report.rule == "contract" and "missing 'name'" in w.last_report.reason


def test_background_mining_and_wait(wallets):
    w = contract_builder(demo_network(1), wallets[1], background=True)
    fill(w, "add_course", id="C001", name="Blockchain Technology", department="Computer Science")
    w.submit_button.click()
    report = w.wait()
    assert report.accepted and w.peer.name == "bob"
    assert not w.submit_button.disabled


def test_block_times_are_reproducible(wallets):
    def run():
        w = contract_builder(demo_network(1), wallets[0])
        fill(w, "register_student", id="S1", name="A", department="B")
        w.submit_button.click()
        fill(w, "register_student", id="S2", name="A", department="B")
        w.submit_button.click()
        return [b.hash for b in w.peer.chain.blocks]

    assert run() == run()


def test_build_instruction_and_parse_metadata():
    assert build_instruction("vote_proposal", {"id": " P1 ", "description": ""}) == {
        "action": "vote_proposal", "proposal": {"id": "P1"}}
    assert parse_metadata("") == {}
    assert parse_metadata("a=1\n\nb = x=y") == {"a": "1", "b": "x=y"}
    for bad in ("a=1\na=2", "=x", "[1, 2]", "{bad json"):
        with pytest.raises(ValueError):
            parse_metadata(bad)
    with pytest.raises(ValueError):
        build_instruction("transfer", {})


def test_contract_builder_arguments(wallets):
    with pytest.raises(ValueError):
        contract_builder(demo_network(1))
    with pytest.raises(TypeError):
        contract_builder("not a peer", wallets[0])
