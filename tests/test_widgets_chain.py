"""The chain widget, driven without a browser: type into a block's data, click re-mine, read the borders.

The borders must be the verdict of labkit's rules, so besides the edit-and-repair
story the cases include blocks a look at hashes and links alone would call good
(an outsider's block, a contract the VM refuses, a block nobody re-signed).
"""

from __future__ import annotations

import html
import json

import pytest

pytest.importorskip("ipywidgets")

from labkit.block import Block  # noqa: E402
from labkit.chain import mine_block, validate_blocks, verify_block  # noqa: E402
from labkit.errors import InvalidToken  # noqa: E402
from labkit.pow import meets_difficulty  # noqa: E402
from labkit.tokens import decode_token  # noqa: E402
from labkit.wallet import Wallet  # noqa: E402
from labkit.widgets.chain import ACCEPTED, REFUSED, MAX_DIFFICULTY, chain_widget, data_text, token_with_data  # noqa: E402
from makers import NOW  # noqa: E402

FUNDING = "Increase Research Funding"


@pytest.fixture
def widget(net1, small_blocks, wallets):
    return chain_widget(net1, small_blocks, wallets=wallets, now=NOW)


def states(copy) -> list[str]:
    return [card.state for card in copy.cards]


def assert_borders_are_the_verdicts(widget, network) -> None:
    """Every card's border, class and title say what validate_blocks says of that copy's blocks."""
    for copy in widget.copies:
        reports = [report for report, _ in validate_blocks(network, copy.blocks, now=NOW)]
        assert copy.reports == reports
        for card, report in zip(copy.cards, reports):
            colour, other = (ACCEPTED, REFUSED) if report.accepted else (REFUSED, ACCEPTED)
            assert colour in card.layout.border and other not in card.layout.border
            assert f"labkit-{card.state}" in card._dom_classes
            assert card.state == ("accepted" if report.accepted else "refused")
            if report.accepted:
                assert "✓" in card.title_html.value and "✗" not in card.title_html.value
            else:
                assert f"✗ <code>{report.rule}</code>" in card.title_html.value
                assert card.verdict_html.value.endswith(f"{html.escape(report.reason)}</div>")


def test_an_honest_chain_is_green_in_every_copy_and_the_copies_agree(widget, net1, small_blocks):
    assert [copy.name for copy in widget.copies] == ["alice", "bob", "carol"]
    for copy in widget.copies:
        assert states(copy) == ["accepted"] * 4
        assert copy.chain_hashes == tuple(b.hash for b in small_blocks)
    assert widget.agree and "the 3 copies agree" in widget.summary_html.value
    assert_borders_are_the_verdicts(widget, net1)
    assert repr(widget).startswith("ChainWidget(")  # ipywidgets' own methods still work (no name clashes)


def test_each_card_shows_its_blocks_fields(widget, net1, small_blocks):
    card = widget.copies[0].cards[2]
    payload = small_blocks[2].payload(net1.secret)
    assert json.loads(card.data_text.value) == payload.transaction_data
    assert card.data_text.continuous_update
    assert payload.prev_hash[:16] in card.fields_html.value and small_blocks[1].hash[:16] in card.fields_html.value
    assert f"nonce <code>{payload.nonce:,}</code>" in card.fields_html.value
    assert small_blocks[2].hash[1:16] in card.fields_html.value  # after the highlighted zero


def test_editing_block_2_turns_it_and_every_later_block_red_at_once(widget, net1, small_blocks):
    bob = widget.copy_of("bob")
    card = bob.cards[2]
    edited = card.data_text.value.replace(FUNDING, "Cut Research Funding")
    card.data_text.set_state({"value": edited})  # as the browser sends a keystroke's change

    assert states(bob) == ["accepted", "accepted", "refused", "refused"]
    assert [r.rule for r in bob.reports] == [None, None, "signature", "link"]
    assert bob.blocks[2].hash != small_blocks[2].hash  # re-hashed as typed
    assert bob.blocks[2].hash[:16] in card.fields_html.value and "<span" not in card.fields_html.value  # no zeros
    assert decode_token(bob.blocks[2].token, net1.secret).transaction_data["actions"][0]["proposal"][
        "description"] == "Cut Research Funding"
    assert bob.blocks[3] == small_blocks[3]  # untouched, yet refused: it names the old block 2
    for other in ("alice", "carol"):
        assert states(widget.copy_of(other)) == ["accepted"] * 4
    assert not widget.agree
    summary = widget.summary_html.value
    assert "the copies disagree" in summary and "differs from alice's copy from block 2 on" in summary
    assert widget.copies_frame().loc["bob", "first refused"] == "2 (signature)"
    assert_borders_are_the_verdicts(widget, net1)


def test_remining_in_order_turns_the_blocks_green_one_by_one_and_adds_up_the_attempts(widget, net1, wallets):
    carol = widget.copy_of("carol")
    carol.edit(2, carol.cards[2].data_text.value.replace(FUNDING, "Cut Research Funding"))

    carol.cards[2].remine_button.click()
    assert states(carol) == ["accepted", "accepted", "accepted", "refused"]
    assert carol.reports[3].rule == "link"  # block 3 still names the edited block's old hash
    first = carol.attempts
    assert first >= 1 and carol.cards[2].attempts_label.value == f"{first:,} attempts"
    assert_borders_are_the_verdicts(widget, net1)

    carol.cards[3].remine_button.click()
    assert states(carol) == ["accepted"] * 4
    assert carol.attempts > first and carol.remined == 2
    assert f"re-mined 2 block(s): {carol.attempts:,} attempts" in carol.cost_label.value
    # re-signed by the blocks' authors (small_blocks: alice, bob, carol, alice), as the author rule needs
    parent = None
    for block, author in zip(carol.blocks, [wallets[0], wallets[1], wallets[2], wallets[0]]):
        parent = verify_block(block, net1, parent)
        assert parent.signer == author.address
    # carol's copy is valid again, but it is another chain from block 2 on
    assert not widget.agree
    assert "every copy is valid on its own" in widget.summary_html.value
    frame = widget.copies_frame()
    assert frame.loc["carol", "blocks kept"] == 4 and frame.loc["carol", "same chain as"] == ""
    assert frame.loc["alice", "same chain as"] == "bob"
    assert_borders_are_the_verdicts(widget, net1)


def test_remining_a_later_block_first_does_not_repair_it(widget, net1):
    alice = widget.copy_of("alice")
    alice.edit(2, alice.cards[2].data_text.value.replace(FUNDING, "Cut Research Funding"))
    alice.remine(3)  # on the edited block 2, which is itself refused
    assert [r.rule for r in alice.reports] == [None, None, "signature", "ancestry"]
    alice.remine(2)  # block 2 gets a new hash, so block 3 no longer links to it
    assert [r.rule for r in alice.reports] == [None, None, None, "link"]
    assert_borders_are_the_verdicts(widget, net1)


def test_writing_the_original_data_back_restores_the_original_block(widget, small_blocks):
    copy = widget.copies[0]
    original = copy.cards[1].data_text.value
    copy.edit(1, original.replace("Blockchain", "Blockchains"))
    assert states(copy) == ["accepted", "refused", "refused", "refused"]
    copy.edit(1, original)
    assert copy.blocks == list(small_blocks) and states(copy) == ["accepted"] * 4 and widget.agree


def test_without_the_authors_key_a_remined_block_stays_red(net1, small_blocks, wallets):
    widget = chain_widget(net1, small_blocks, wallets=[wallets[1]], peers=["bob"], now=NOW)  # bob's key only
    copy = widget.copies[0]
    copy.edit(0, copy.cards[0].data_text.value.replace("John Doe", "Jane Doe"))
    result = copy.remine(0)  # alice's block: bob can mine it, not sign it
    assert meets_difficulty(result.hash, net1.difficulty) and copy.blocks[0].hash == result.hash
    assert copy.reports[0].rule == "signature" and copy.cards[0].state == "refused"
    assert "not re-signed" in copy.cards[0].attempts_label.value
    assert copy.cards[0].attempts_label.layout.display == ""  # shown, now that it says something
    assert copy.cards[1].attempts_label.layout.display == "none"
    copy.edit(1, copy.cards[1].data_text.value.replace("Blockchain", "Blockchains"))
    copy.remine(1)  # bob's own block: re-signed, but it builds on a refused block
    assert [r.rule for r in copy.reports][:2] == ["signature", "ancestry"]
    assert_borders_are_the_verdicts(widget, net1)


def test_an_outsiders_block_is_red_though_its_hash_and_link_look_right(net1, small_blocks, rsa1024_pem):
    mallory = Wallet.from_pem(rsa1024_pem, name="mallory", teaching=True)
    entry = verify_block(small_blocks[0], net1, None)
    payload = small_blocks[1].payload(net1.secret)
    forged = mine_block(net1, mallory, payload.transaction_data, parent=entry, timestamp=payload.time)
    assert meets_difficulty(forged.hash, 1) and forged.payload(net1.secret).prev_hash == small_blocks[0].hash
    widget = chain_widget(net1, [small_blocks[0], forged], wallets=[mallory], peers=["alice", "bob"], now=NOW)
    copy = widget.copies[0]
    assert states(copy) == ["accepted", "refused"] and copy.reports[1].rule == "signer"
    copy.remine(1)  # re-signed by its author, who is still no member
    assert copy.reports[1].rule == "signer" and copy.cards[1].state == "refused"
    assert widget.summary_html.value.count("refused") >= 1 and not widget.agree
    assert_borders_are_the_verdicts(widget, net1)


def test_a_contract_the_vm_refuses_stays_red_after_remining(widget, net1, contracts):
    copy = widget.copies[0]
    copy.edit(3, data_text(contracts[0]))  # registers student S001 a second time
    copy.remine(3)
    assert copy.reports[3].rule == "contract" and "already exists" in copy.reports[3].reason
    assert states(copy) == ["accepted", "accepted", "accepted", "refused"]
    assert_borders_are_the_verdicts(widget, net1)


def test_data_that_is_not_json_is_hashed_refused_and_cannot_be_remined(widget, net1, small_blocks):
    copy = widget.copies[0]
    copy.edit(2, '{"actions": [')
    assert copy.blocks[2].hash != small_blocks[2].hash and copy.reports[2].rule == "signature"
    before = copy.blocks[2]
    assert copy.remine(2) is None
    assert copy.blocks[2] == before and copy.attempts == 0
    assert copy.cards[2].attempts_label.value.startswith("cannot re-mine: not valid JSON")
    copy.edit(2, "[1, 2]")  # JSON, but no contract object
    assert copy.remine(2) is None and "transaction_data must be a JSON object" in copy.cards[2].attempts_label.value
    assert_borders_are_the_verdicts(widget, net1)


def test_reset_puts_a_copy_back(widget, small_blocks):
    copy = widget.copies[1]
    copy.edit(1, "{}")
    copy.remine(1)
    copy.reset_button.click()
    assert copy.blocks == list(small_blocks) and copy.attempts == 0 and copy.cost_label.value == ""
    assert states(copy) == ["accepted"] * 4 and widget.agree


def test_token_with_data_is_labkits_encoding_and_mac(net1, small_blocks):
    block = small_blocks[1]
    payload = block.payload(net1.secret)
    assert token_with_data(payload, data_text(payload.transaction_data), net1.secret) == block.token
    assert token_with_data(payload, json.dumps(payload.transaction_data, indent=4), net1.secret) == block.token
    spliced = token_with_data(payload, "not json", net1.secret)
    with pytest.raises(InvalidToken) as caught:
        decode_token(spliced, net1.secret)
    assert caught.value.rule != "mac"  # MACed with the secret: what breaks is the claims


def test_refuses_a_difficulty_too_slow_to_remine_and_repeated_peers(network, small_blocks):
    with pytest.raises(ValueError, match=f"up to {MAX_DIFFICULTY}"):
        chain_widget(network.with_difficulty(MAX_DIFFICULTY + 1), small_blocks)
    with pytest.raises(ValueError, match="different names"):
        chain_widget(network, small_blocks, peers=["ana", "ana"])
    with pytest.raises(ValueError, match="at least one block"):
        chain_widget(network, [])
    with pytest.raises(ValueError, match="block 0 cannot be shown"):
        chain_widget(network.with_difficulty(1), [Block("a.b.c", b"\x01")])
    with pytest.raises(KeyError, match="the peers are alice, bob, carol"):
        chain_widget(network, small_blocks, now=NOW).copy_of("dave")


def test_data_too_long_for_a_block_is_refused_and_the_block_kept(widget, small_blocks):
    copy = widget.copies[0]
    copy.edit(1, json.dumps({"actions": [], "padding": "x" * 70_000}))
    assert copy.blocks[1] == small_blocks[1] and "no block can be made" in copy.cards[1].attempts_label.value
