"""labkit.chain: every validation check, the Chain, and blocks files."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest

from labkit.block import Block
from labkit.blocksfile import load_blocks, parse_lines, save_blocks
from labkit.chain import (
    CHECKS,
    Chain,
    Entry,
    Link,
    mine_block,
    validate_blocks,
    verify_block,
)
from labkit.errors import InvalidBlock
from labkit.network import Member, Network
from labkit.peer import Peer
from labkit.pow import meets_difficulty, mine
from labkit.lessons.data import demo_timestamps
from labkit.tokens import GENESIS_HASH
from labkit.wallet import Wallet
from makers import HS256_HEADER, NOW, claims, forge, raw_token, signed

T = demo_timestamps(4)
SECOND = dt.timedelta(seconds=1)
NEW_STUDENT = {"actions": [{"action": "register_student",
                            "student": {"id": "S002", "name": "Ada", "department": "Maths"}}]}


@pytest.fixture(scope="module")
def outsider(rsa1024_pem):
    return Wallet.from_pem(rsa1024_pem, name="mallory", teaching=True)


# --- the bad blocks: each breaks one rule, at index 2 unless it says otherwise --------------------


def bad_blocks(case: str, net1, small_blocks, wallets, outsider) -> tuple[list, int, str, str]:
    """(blocks, index of the first rejected block, its check, words in its reason)."""
    alice, bob, carol = wallets
    parent = Chain(net1, small_blocks[:2]).tip
    good = small_blocks[:2]

    def block2(**changes) -> Block:
        options = dict(parent=parent, contract=NEW_STUDENT, when=T[2], difficulty=1)
        options.update(changes)
        wallet = options.pop("wallet", carol)
        secret = options.pop("secret", net1.secret)
        return forge(secret, wallet, **options)

    if case == "not a block":
        return [*good, "a line of text"], 2, "record", "expected a Block"
    if case == "unknown signer":
        return [*good, block2(wallet=outsider)], 2, "signer", "not a member"
    if case == "no signer, three members":
        unsigned = block2()
        return [*good, Block(unsigned.token, unsigned.signature)], 2, "signer", "names no signer"
    if case == "token names another author":
        return [*good, block2(author=alice.address, wallet=bob)], 2, "author", "the token names alice"
    if case == "token names no author, three members":
        return [*good, block2(author=None)], 2, "author", "does not name its author"
    if case == "signature by another member":
        return [*good, block2(wallet=bob, signer=carol.address)], 2, "signature", "not signed by carol"
    if case == "signature over another token":
        other = block2(when=T[2] + SECOND)
        return [*good, Block(block2().token, other.signature, carol.address)], 2, "signature", "does not match"
    if case == "alg none":
        token = raw_token({"alg": "none", "typ": "JWT"}, claims(parent.hash, contract=NEW_STUDENT), b"", mac=b"")
        return [*good, signed(token, carol)], 2, "token", "'none' is not allowed"
    if case == "wrong MAC":
        return [*good, block2(secret=b"\x01" * 32)], 2, "mac", "network secret"
    if case == "exp claim":
        token = raw_token(HS256_HEADER, claims(parent.hash, contract=NEW_STUDENT, exp=2_000_000_000), net1.secret)
        return [*good, signed(token, carol)], 2, "payload", "blocks never expire"
    if case == "index gap":
        return [*good, block2(index=3)], 2, "index", "declares index 3 but follows block 1"
    if case == "first block declares index 1":
        return [forge(net1.secret, alice, when=T[0], difficulty=1, index=1)], 0, "index", "is the first block"
    if case == "broken link":
        return [*good, block2(prev_hash="1" * 64)], 2, "link", "1111111111"
    if case == "first block not on genesis":
        return [forge(net1.secret, alice, when=T[0], difficulty=1, prev_hash="1" * 64)], 0, "link", "genesis"
    if case == "insufficient work":
        return [*good, block2(meet=False)], 2, "pow", "does not start with 1 zeros"
    if case == "declared difficulty below the network's":
        return [*good, block2(declared=0, difficulty=0)], 2, "pow", "declares difficulty 0, below the network's 1"
    if case == "declared difficulty not met":
        one_zero = block2(declared=2, accept=lambda h: meets_difficulty(h, 1) and not meets_difficulty(h, 2))
        return [*good, one_zero], 2, "pow", "does not start with 2 zeros"
    if case == "timestamp decreasing":
        return [*good, block2(when=T[1] - SECOND)], 2, "timestamp", "earlier than block 1's"
    if case == "timestamp far in the future":
        late = NOW + dt.timedelta(seconds=net1.max_clock_skew + 1)
        return [*good, block2(when=late)], 2, "timestamp", "in the future"
    if case == "contract fails":
        duplicate = {"actions": [{"action": "register_student",
                                  "student": {"id": "S001", "name": "Eve", "department": "CS"}}]}
        return [*good, block2(contract=duplicate)], 2, "contract", "student id 'S001' already exists"
    if case == "ancestry after a tampered block":
        tampered = Block(small_blocks[1].token, small_blocks[0].signature, small_blocks[1].signer)
        return [small_blocks[0], tampered, *small_blocks[2:]], 1, "signature", "not signed by bob"
    raise AssertionError(case)


CASES = {
    "not a block": "record",
    "unknown signer": "signer",
    "no signer, three members": "signer",
    "token names another author": "author",
    "token names no author, three members": "author",
    "signature by another member": "signature",
    "signature over another token": "signature",
    "alg none": "token",
    "wrong MAC": "mac",
    "exp claim": "payload",
    "index gap": "index",
    "first block declares index 1": "index",
    "broken link": "link",
    "first block not on genesis": "link",
    "insufficient work": "pow",
    "declared difficulty below the network's": "pow",
    "declared difficulty not met": "pow",
    "timestamp decreasing": "timestamp",
    "timestamp far in the future": "timestamp",
    "contract fails": "contract",
    "ancestry after a tampered block": "signature",  # and "ancestry" for every block after it
}


def test_every_check_has_a_case():
    assert set(CASES.values()) | {"ancestry"} == set(CHECKS)


@pytest.mark.parametrize("case", CASES)
def test_peer_rejects_the_bad_block(case, net1, small_blocks, wallets, outsider, prefix_digests):
    blocks, index, check, words = bad_blocks(case, net1, small_blocks, wallets, outsider)
    assert CASES[case] == check
    peer = Peer("verifier", net1, wallet=wallets[0])
    reports = peer.receive(blocks, now=NOW)
    assert len(reports) == len(blocks)
    assert all(r.accepted for r in reports[:index])
    bad = reports[index]
    assert (bad.accepted, bad.index, bad.rule) == (False, index, check)
    assert words in bad.reason
    for later in reports[index + 1:]:
        assert not later.accepted and later.rule in ("ancestry", "link")
    # nothing of the bad block or what follows it was kept
    assert len(peer.chain) == index
    assert peer.digest() == prefix_digests[index]


def test_ancestry_is_reported_after_a_tampered_block(net1, small_blocks, wallets, outsider):
    blocks, *_ = bad_blocks("ancestry after a tampered block", net1, small_blocks, wallets, outsider)
    reports = [report for report, _ in validate_blocks(net1, blocks, now=NOW)]
    assert [(r.index, r.accepted, r.rule) for r in reports] == [
        (0, True, None), (1, False, "signature"), (2, False, "ancestry"), (3, False, "ancestry")]
    assert reports[2].reason == "builds on rejected block 1"


@pytest.mark.parametrize("case", [c for c, check in CASES.items() if check != "record"])
def test_chain_append_refuses_and_stays_unchanged(case, net1, small_blocks, wallets, outsider):
    blocks, index, check, words = bad_blocks(case, net1, small_blocks, wallets, outsider)
    chain = Chain(net1, blocks[:index])
    tip = chain.tip
    with pytest.raises(InvalidBlock) as info:
        chain.append(blocks[index], now=NOW)
    assert (info.value.index, info.value.rule) == (index, check)
    assert words in info.value.reason
    assert len(chain) == index and chain.tip is tip


def test_record_check_without_a_peer(net1):
    with pytest.raises(InvalidBlock) as info:
        verify_block({"token": "x"}, net1, None)
    assert (info.value.index, info.value.rule) == (0, "record")
    reports = [r for r, _ in validate_blocks(net1, ["garbage", "more"], now=NOW)]
    assert [(r.index, r.rule) for r in reports] == [(0, "record"), (1, "record")]


# --- boundaries that must be accepted ------------------------------------------------------------


def test_boundaries_accepted(net1, small_blocks, wallets):
    carol = wallets[2]
    chain = Chain(net1, small_blocks[:2])
    same_time = forge(net1.secret, carol, parent=chain.tip, when=T[1], difficulty=1)
    assert chain.judge(same_time, now=NOW).entry.index == 2  # equal timestamps are not decreasing
    edge = NOW + dt.timedelta(seconds=net1.max_clock_skew)
    assert chain.judge(forge(net1.secret, carol, parent=chain.tip, when=edge, difficulty=1), now=NOW).accepted
    bare = forge(net1.secret, carol, parent=chain.tip, when=T[2], difficulty=1, index=None, declared=None)
    entry = chain.judge(bare, now=NOW).entry
    assert (entry.index, entry.payload.index, entry.payload.difficulty) == (2, None, None)
    harder = forge(net1.secret, carol, parent=chain.tip, when=T[2], difficulty=2)
    assert chain.judge(harder, now=NOW).entry.work == 256  # a declared higher difficulty counts as more work
    assert len(chain) == 2  # check never adds


def test_only_a_seed_file_may_omit_the_signer(net1, wallets):
    alice = wallets[0]
    seed = Network.for_seed_file(Member("alice", alice.public_key), net1.secret, 1)
    block = forge(seed.secret, alice, when=T[0], difficulty=1, signer=None, author=None)
    entry = verify_block(block, seed, None, now=NOW)
    assert entry.signer == alice.address and entry.block.signer == alice.address
    # A network of one member that is not a seed file: the record and the token must both name her.
    solo = net1.with_members([alice])
    with pytest.raises(InvalidBlock, match="names no signer"):
        verify_block(block, solo, None, now=NOW)
    unnamed = forge(solo.secret, alice, when=T[0], difficulty=1, author=None)
    with pytest.raises(InvalidBlock) as info:
        verify_block(unnamed, solo, None, now=NOW)
    assert info.value.rule == "author"


def test_blocks_of_another_network_fail_the_mac(net1, small_blocks, wallets):
    other = net1.__class__.create(wallets, difficulty=1)
    with pytest.raises(InvalidBlock) as info:
        verify_block(small_blocks[0], other, None, now=NOW)
    assert info.value.rule == "mac"


# --- the Chain ----------------------------------------------------------------------------------


def test_chain_holds_the_small_blocks(small_chain, small_blocks):
    assert len(small_chain) == 4
    assert small_chain.blocks == list(small_blocks)
    assert [e.index for e in small_chain] == [0, 1, 2, 3]
    assert small_chain[0].prev_hash == GENESIS_HASH
    for parent, child in zip(small_chain, list(small_chain)[1:]):
        assert child.prev_hash == parent.hash
    assert [e.work for e in small_chain] == [16] * 4
    assert small_chain.total_work == small_chain.tip.total_work == 64
    assert small_chain.tip.link == Link(3, small_blocks[3].hash, T[3], 64)
    assert isinstance(small_chain.entries, tuple) and isinstance(small_chain[0], Entry)
    assert "4 blocks" in repr(small_chain)


def test_signers_are_recorded(small_chain, wallets):
    assert [e.signer for e in small_chain] == [w.address for w in (wallets[0], wallets[1], wallets[2], wallets[0])]
    assert all(e.payload.signer == e.signer for e in small_chain)


def test_chain_constructor_refuses_a_bad_sequence(net1, small_blocks):
    with pytest.raises(InvalidBlock) as info:
        Chain(net1, [small_blocks[0], small_blocks[2]])
    assert (info.value.index, info.value.rule) == (1, "index")  # block 2 says where it belongs


def test_link_names_the_parent_it_expected(net1, small_blocks, wallets):
    chain = Chain(net1, small_blocks[:2])
    skip = forge(net1.secret, wallets[2], parent=chain.tip, when=T[2], difficulty=1,
                 index=None, prev_hash=small_blocks[0].hash)
    with pytest.raises(InvalidBlock) as info:
        chain.append(skip, now=NOW)
    assert (info.value.index, info.value.rule) == (2, "link")
    assert f"is not block 1's hash {small_blocks[1].hash[:12]}" in info.value.reason


def test_empty_chain():
    from labkit.lessons.data import demo_network

    chain = Chain(demo_network())
    assert len(chain) == 0 and chain.tip is None and chain.total_work == 0 and chain.blocks == []


def test_mine_appends_a_valid_block(small_chain, wallets):
    entry = small_chain.mine(wallets[1], NEW_STUDENT, timestamp=T[3] + SECOND, miner=mine)
    assert entry.index == 4 and len(small_chain) == 5
    assert entry.payload.transaction_data == NEW_STUDENT
    assert entry.payload.signer == wallets[1].address
    assert meets_difficulty(entry.hash, 1)


def test_mine_block_on_a_link(net1, small_blocks, wallets):
    link = Link(1, small_blocks[1].hash, T[1])
    block = mine_block(net1, wallets[2], NEW_STUDENT, parent=link, timestamp=T[2])
    assert verify_block(block, net1, link, now=NOW).index == 2


def test_mine_block_default_time_is_now(net1, wallets):
    block = mine_block(net1, wallets[0], NEW_STUDENT)
    entry = verify_block(block, net1, None)
    assert entry.payload.time.tzinfo is not None


# --- blocks files: loading ------------------------------------------------------------------------


def test_load_a_good_file(blocks_file, small_blocks):
    loaded = load_blocks(blocks_file)
    assert loaded.ok and loaded.blocks == list(small_blocks) and loaded.lines == [1, 2, 3, 4]


def test_load_keeps_the_valid_prefix_and_reports_every_bad_line(tmp_path, small_blocks):
    lines = [b.to_line() for b in small_blocks]
    text = "\n".join([lines[0], "garbage", lines[1], '{"token": "x", "signature": "0"}', lines[2], ""]) + "\n"
    path = tmp_path / "blocks.jsonl"
    path.write_text(text)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    loaded = load_blocks(path)
    assert not loaded.ok
    assert loaded.blocks == [small_blocks[0]] and loaded.lines == [1]
    assert [(p.line, p.reason) for p in loaded.problems] == [
        (2, loaded.problems[0].reason), (4, "signature must be lowercase hex with an even number of digits"),
        (6, "empty line")]
    assert "not valid JSON" in loaded.problems[0].reason
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime  # never rewritten
    assert os.listdir(tmp_path) == ["blocks.jsonl"]


def test_load_accepts_crlf_and_a_missing_final_newline(small_blocks):
    crlf = "\r\n".join(b.to_line() for b in small_blocks).encode()
    loaded = parse_lines(crlf)
    assert loaded.ok and loaded.blocks == list(small_blocks)


def test_load_reports_huge_and_non_utf8_lines(small_blocks):
    data = (small_blocks[0].to_line() + "\n").encode() + b"\xff\xfe\n" + b"x" * (80 * 1024) + b"\n"
    loaded = parse_lines(data)
    assert loaded.blocks == [small_blocks[0]]
    assert [p.line for p in loaded.problems] == [2, 3]
    assert "not UTF-8" in loaded.problems[0].reason and "the limit is" in loaded.problems[1].reason


def test_load_missing_file(tmp_path):
    from labkit.errors import FileRefused

    with pytest.raises(FileRefused, match="missing.jsonl: no such file or folder"):
        load_blocks(tmp_path / "missing.jsonl")


# --- blocks files: saving atomically ----------------------------------------------------------------


def test_save_round_trip(tmp_path, small_blocks):
    path = save_blocks(tmp_path / "blocks.jsonl", small_blocks)
    assert path.read_text() == "".join(b.to_line() + "\n" for b in small_blocks)
    assert load_blocks(path).blocks == list(small_blocks)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(tmp_path) == ["blocks.jsonl"]


def test_chain_save(tmp_path, small_chain, small_blocks):
    path = small_chain.save(tmp_path / "chain.jsonl")
    assert load_blocks(path).blocks == list(small_blocks)


def test_save_replaces_the_old_content_whole(tmp_path, small_blocks):
    path = tmp_path / "blocks.jsonl"
    path.write_text("old line\n" * 10_000)
    save_blocks(path, small_blocks[:1])
    assert path.read_text() == small_blocks[0].to_line() + "\n"
    assert os.listdir(tmp_path) == ["blocks.jsonl"]


def test_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, small_blocks):
    path = save_blocks(tmp_path / "blocks.jsonl", small_blocks)
    before = path.read_bytes()

    def blocks_then_failure():
        yield small_blocks[0]
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_blocks(path, blocks_then_failure())
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["blocks.jsonl"]


def test_save_into_a_missing_folder(tmp_path, small_blocks):
    from labkit.errors import FileRefused

    with pytest.raises(FileRefused, match="missing: no such file or folder"):
        save_blocks(tmp_path / "missing" / "blocks.jsonl", small_blocks)
    assert os.listdir(tmp_path) == []


def test_save_empty_chain(tmp_path):
    path = save_blocks(tmp_path / "empty.jsonl", [])
    assert path.read_bytes() == b"" and load_blocks(path).ok


def test_records_display_themselves(net1, small_blocks):
    chain = Chain(net1, small_blocks)
    page = chain._repr_html_()
    assert page.count("<tr>") == len(small_blocks) + 1 and "alice" in page and chain.digest()[:12] in page
    assert small_blocks[0].hash[:16] in small_blocks[0]._repr_html_()
    reports = [report for report, _ in validate_blocks(net1, [small_blocks[1]], now=NOW)]
    assert "refused at <code>index</code>" in reports[0]._repr_html_()
