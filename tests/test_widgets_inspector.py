"""The block inspector, driven without a browser: edit parts, use the forger's tools, read the verdict.

The chain here is mined at the demo network's difficulty 2, so an edited
token fails its proof of work with probability 255/256 (and, the blocks
being fixed, deterministically). Block 1 is bob's, so bob can re-sign it as
its author, and carol plays the member who forges it.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

pytest.importorskip("ipywidgets")

from labkit import fastmine  # noqa: E402
from labkit.block import Block  # noqa: E402
from labkit.chain import CHECKS, Chain  # noqa: E402
from labkit.chain import Outcome  # noqa: E402
from labkit.errors import InvalidBlock  # noqa: E402
from labkit.network import Member, Network  # noqa: E402
from labkit.lessons.audit import audit_record  # noqa: E402
from labkit.lessons.data import demo_timestamps  # noqa: E402
from labkit.widgets.inspector import OUTSIDER, PRESETS, block_inspector  # noqa: E402

from conftest import NOW  # noqa: E402


@pytest.fixture(scope="module")
def blocks(network, wallets, contracts):
    """The seed's contracts at difficulty 2, signed by alice, bob, carol, alice."""
    chain = Chain(network)
    signers = [wallets[0], wallets[1], wallets[2], wallets[0]]
    for contract, wallet, when in zip(contracts, signers, demo_timestamps(len(contracts))):
        chain.mine(wallet, contract, timestamp=when, miner=fastmine.mine)
    return tuple(chain.blocks)


@pytest.fixture
def inspector(network, blocks, bob, carol):
    return block_inspector(network, blocks, 1, wallets=[bob, carol], now=NOW)


def edit_payload(w, change) -> None:
    claims = json.loads(w.payload_text.value)
    change(claims)
    w.payload_text.value = json.dumps(claims, indent=2)


def rename_course(claims: dict) -> None:
    claims["transaction_data"]["actions"][0]["course"]["name"] = "Blockchain for Beginners"


def broken(w) -> list[str]:
    return [o.rule for o in w.audit.verdict.outcomes if o.outcome is Outcome.BROKEN]


def resign_as(w, wallet) -> None:
    w.sign_as.value = wallet
    w.resign_button.click()


# --- the untouched block ---------------------------------------------------------------


def test_untouched_block_is_accepted_and_rebuilt_byte_for_byte(inspector, blocks):
    inspector.check_button.click()
    assert inspector.result is None and inspector.failed_rule is None
    assert inspector.block == blocks[1]
    assert inspector.record()["token"] == blocks[1].token
    assert broken(inspector) == []
    assert list(inspector.rules_frame().index) == list(CHECKS)
    assert inspector.next_result is None  # block 2 still follows


def test_reformatted_json_makes_the_same_token(inspector, blocks):
    # The learner's spacing and indentation do not matter; the values do.
    inspector.payload_text.value = json.dumps(json.loads(inspector.payload_text.value))
    inspector.header_text.value = '{ "alg" : "HS256", "typ" : "JWT" }'
    inspector.check_button.click()
    assert inspector.record()["token"] == blocks[1].token
    assert inspector.result is None


# --- what each edit breaks ---------------------------------------------------------------


def test_edited_payload_fails_the_signature_first_and_breaks_mac_and_pow(inspector):
    edit_payload(inspector, rename_course)
    inspector.check_button.click()
    assert isinstance(inspector.result, InvalidBlock)
    assert inspector.failed_rule == "signature"
    assert broken(inspector) == ["signature", "mac", "pow"]


def test_edited_payload_resigned_by_its_author_fails_the_mac(inspector, bob):
    edit_payload(inspector, rename_course)
    resign_as(inspector, bob)
    assert inspector.failed_rule == "mac"


def test_remac_alone_still_fails_the_signature(inspector):
    edit_payload(inspector, rename_course)
    inspector.remac_button.click()
    assert inspector.failed_rule == "signature"
    assert "mac" not in broken(inspector)


def test_remac_and_resign_reach_the_proof_of_work(inspector, bob):
    edit_payload(inspector, rename_course)
    inspector.remac_button.click()
    resign_as(inspector, bob)
    assert inspector.failed_rule == "pow"


def test_remine_and_resign_by_the_author_pass_but_break_the_next_link(inspector, bob, blocks):
    edit_payload(inspector, rename_course)
    inspector.remine_button.click()
    resign_as(inspector, bob)
    assert inspector.result is None
    assert inspector.block.hash != blocks[1].hash
    assert isinstance(inspector.next_result, InvalidBlock)
    assert inspector.next_result.rule == "link" and inspector.next_result.index == 2


def test_another_member_must_claim_the_block_to_pass(inspector, carol):
    edit_payload(inspector, rename_course)
    inspector.remine_button.click()
    resign_as(inspector, carol)
    assert inspector.failed_rule == "author"  # the token still names bob as its author
    inspector.claim_button.click()
    inspector.remine_button.click()
    resign_as(inspector, carol)
    assert inspector.result is None
    assert inspector.block.signer == carol.address


def test_signing_before_remining_leaves_a_stale_signature(inspector, bob):
    edit_payload(inspector, rename_course)
    resign_as(inspector, bob)
    inspector.remine_button.click()  # changes the token after it was signed
    assert inspector.failed_rule == "signature"


@pytest.mark.parametrize("preset, check", [
    ("point prev_hash elsewhere", "link"),
    ("backdate the timestamp", "timestamp"),
    ("change the index", "index"),
    ("claim difficulty 0", "pow"),
])
def test_forged_presets_reach_their_own_check(inspector, bob, preset, check):
    inspector.preset.value = preset
    assert inspector.failed_rule == "signature"  # any change to the token breaks the signature first
    inspector.remine_button.click()
    resign_as(inspector, bob)
    assert inspector.failed_rule == check


def test_nonce_change_remined_and_resigned_is_accepted(inspector, bob):
    inspector.preset.value = "change the nonce"
    inspector.remine_button.click()
    resign_as(inspector, bob)
    assert inspector.result is None


@pytest.mark.parametrize("preset, check, also", [
    ("edit the contract", "signature", {"mac", "pow"}),
    ("alg: none", "signature", {"token"}),
    ("flip a bit of the signature", "signature", set()),
    ("name another member as signer", "signature", {"author"}),
    ("name an outsider as signer", "signer", set()),
])
def test_presets(inspector, preset, check, also):
    inspector.preset.value = preset
    assert inspector.failed_rule == check
    assert set(broken(inspector)) == {check} | also


def test_tampers_frame_tries_every_preset_and_leaves_the_original_block(inspector):
    inspector.preset.value = "edit the contract"
    tampers = inspector.tampers_frame()
    assert list(tampers.index) == list(PRESETS)
    assert tampers.loc["original", "rejected at"] == "accepted"
    assert tampers.loc["edit the contract", "rejected at"] == "signature"
    assert (tampers.drop("original")["rejected at"] != "accepted").all()
    assert inspector.preset.value == "original" and inspector.result is None  # as the prose describes it


def test_every_preset_verdict_is_a_broken_row(inspector, bob):
    for preset in PRESETS:
        inspector.preset.value = preset
        for tool in (None, inspector.remac, inspector.remine, lambda: resign_as(inspector, bob)):
            if tool:
                tool()
            if inspector.result is None:
                assert broken(inspector) == [], preset
            else:
                assert inspector.failed_rule in broken(inspector), preset


def test_signature_that_is_not_hex_fails_the_record(inspector):
    inspector.signature_text.value = "abc"  # odd length
    inspector.check_button.click()
    assert inspector.failed_rule == "record"
    assert inspector.block is None


def test_payload_that_is_not_json_fails_the_payload_once_the_mac_fits(inspector, bob):
    inspector.payload_text.value = '{"prev_hash": '
    inspector.check_button.click()
    assert inspector.failed_rule == "signature"
    inspector.remac_button.click()
    resign_as(inspector, bob)
    assert inspector.failed_rule == "payload"
    inspector.remine_button.click()  # cannot mine claims it cannot read
    assert inspector.status.startswith("cannot re-mine")


def test_contract_the_vm_refuses(inspector, bob):
    edit_payload(inspector, lambda c: c["transaction_data"]["actions"][0].update(action="delete_everything"))
    inspector.remine_button.click()
    resign_as(inspector, bob)
    assert inspector.failed_rule == "contract"
    assert "unknown action" in inspector.result.reason


def test_duplicate_course_fails_the_contract(network, blocks, bob):
    # Block 1 adds course C001; adding it again as block 2 must fail in the VM.
    w = block_inspector(network, blocks, 2, wallets=[bob], now=NOW)
    claims = json.loads(w.payload_text.value)
    claims["transaction_data"] = json.loads(block_inspector(network, blocks, 1, now=NOW).payload_text.value)["transaction_data"]
    w.payload_text.value = json.dumps(claims)
    w.claim_button.click()
    w.remine_button.click()
    w.resign_button.click()
    assert w.failed_rule == "contract"


def test_a_rejected_earlier_block_fails_ancestry(network, blocks):
    # A bad signature on block 0 leaves its hash (of the token) unchanged, so block 1 still links to it.
    bad_zero = dataclasses.replace(blocks[0], signature=bytes(len(blocks[0].signature)))
    w = block_inspector(network, (bad_zero, *blocks[1:]), 1, now=NOW)
    assert w.failed_rule == "ancestry"
    assert w.audit.verdict.outcome("ancestry").outcome is Outcome.BROKEN


def test_reset_and_original_preset_restore_the_block(inspector, blocks):
    inspector.preset.value = "edit the contract"
    inspector.reset_button.click()
    assert inspector.preset.value == "original"
    assert inspector.result is None and inspector.record()["token"] == blocks[1].token
    edit_payload(inspector, rename_course)
    inspector.reset_button.click()
    assert inspector.record()["token"] == blocks[1].token


def test_the_inspector_changes_no_block(inspector, blocks):
    before = tuple(b.to_line() for b in blocks)
    for preset in PRESETS:
        inspector.preset.value = preset
        inspector.remine_button.click()
        inspector.resign_button.click()
    assert tuple(b.to_line() for b in blocks) == before


def test_first_block(network, blocks):
    w = block_inspector(network, blocks, 0, now=NOW)
    assert w.result is None
    w.preset.value = "point prev_hash elsewhere"
    assert "link" in broken(w)


def test_last_block_has_no_next(network, blocks):
    w = block_inspector(network, blocks, len(blocks) - 1, now=NOW)
    assert w.result is None and w.next_result is None and not w.audit.has_next


def test_bad_arguments(network, blocks):
    with pytest.raises(IndexError):
        block_inspector(network, blocks, len(blocks))
    with pytest.raises(ValueError):
        block_inspector(network, [], 0)
    w = block_inspector(network, blocks, 1)
    with pytest.raises(ValueError):
        w.apply_preset("no such tamper")
    assert not w.wallets and w.resign_button.disabled


def test_audit_record_in_the_future(network, blocks):
    early = NOW.replace(year=2000)
    audit = audit_record(blocks[0].to_dict(), network, None, state=None, now=early)
    assert audit.failed_rule == "timestamp"
    assert audit.rules_frame().loc["contract", "on its own"] == "✓"  # the first block runs on the empty state
    later = audit_record(blocks[1].to_dict(), network, Chain(network, blocks[:1]).tip, state=None, now=NOW)
    assert later.rules_frame().loc["contract", "on its own"] == "–"  # no state given: not asked


def test_audit_html_names_the_failed_rule(inspector):
    inspector.preset.value = "name an outsider as signer"
    html = inspector.result_html.value
    assert 'data-check="signer"' in html and "rejected here" in html
    assert inspector.signer.value == OUTSIDER


def test_seed_record_without_signer(network, blocks, alice):
    # A seed-style record names no signer; in a seed file, the one signer the reader names is assumed.
    solo = Network.for_seed_file(Member("alice", alice.public_key), network.secret, network.difficulty)
    record = Block(blocks[0].token, blocks[0].signature, None)
    w = block_inspector(solo, [record], 0, now=NOW)
    assert w.signer.value == "" and w.result is None


def test_the_table_gives_the_verdicts_own_reason(inspector, bob, carol):
    # The table asks the chain's own rules, so the rejecting row says what verify_block says.
    for preset in PRESETS:
        inspector.preset.value = preset
        for tool in (None, inspector.remac, inspector.remine, lambda: resign_as(inspector, bob),
                     lambda: resign_as(inspector, carol)):
            if tool:
                tool()
            if inspector.result is not None:
                details = {o.rule: o.detail for o in inspector.audit.verdict.outcomes}
                assert details[inspector.failed_rule] == inspector.result.reason, preset
