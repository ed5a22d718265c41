"""labkit.merkle: Bitcoin's Merkle root against published blocks and hashlib by hand, and inclusion proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.errors import InvalidProof
from labkit.merkle import (
    InclusionProof,
    display_hex,
    from_display_hex,
    inclusion_proof,
    is_included,
    leaf_hash,
    merkle_levels,
    merkle_root,
    sha256d,
    verify_inclusion,
)

# Bitcoin block 100,000 (bitcoin-cli getblock 000000000003ba27aa200b1cecaad478d2b00432346c3f1f3986da1afd33e506):
# its four txids and its header's merkleroot, as Bitcoin displays them (byte-reversed).
BLOCK_100000_TXIDS = [
    "8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
    "fff2525b8931402dd09222c50775608f75787bd2b87e56995a7bdd30f79702c4",
    "6359f0868171b1d194cbee1af2f16ea598ae8fad666d9b012c8ed2b79a236ec4",
    "e9a66845e05d5abc0ad04ec80f774a7e585c6e8db975962d069a522137b80c1d",
]
BLOCK_100000_ROOT = "f3e94742aca4b5ef85488dc37c06c3282295ffec960994b2c0d5ac2a25a95766"
# The proof a block explorer serves for txid 1 of that block (mempool.space's /merkle-proof: pos 1).
BLOCK_100000_PROOF_1 = ["8c14f0db3df150123e6f3dbbf30f8b955a8249b62ac1d1ff16284aefa3d06d87",
                        "8e30899078ca1813be036a073bbf80b86cdddde1c96e9e9c99e9e3782df4ae49"]
# Block 100,002 (0000000000013b8ab2cd513b0261a14096412195a72a0c4827d229dcc7e0f7af): nine transactions, so three
# levels are odd; and the esplora proof (blockstream.info /tx/74d6.../merkle-proof) for its last, pos 8.
BLOCK_100002_TXIDS = [
    "ef1d870d24c85b89d92ad50f4631026f585d6a34e972eaf427475e5d60acf3a3",
    "f9fc751cb7dc372406a9f8d738d5e6f8f63bab71986a39cf36ee70ee17036d07",
    "db60fb93d736894ed0b86cb92548920a3fe8310dd19b0da7ad97e48725e1e12e",
    "220ebc64e21abece964927322cba69180ed853bb187fbc6923bac7d010b9d87a",
    "71b3dbaca67e9f9189dad3617138c19725ab541ef0b49c05a94913e9f28e3f4e",
    "fe305e1ed08212d76161d853222048eea1f34af42ea0e197896a269fbf8dc2e0",
    "21d2eb195736af2a40d42107e6abd59c97eb6cffd4a5a7a7709e86590ae61987",
    "dd1fd2a6fc16404faf339881a90adbde7f4f728691ac62e8f168809cdfae1053",
    "74d681e0e03bafa802c8aa084379aa98d9fcd632ddc2ed9782b586ec87451f20",
]
BLOCK_100002_ROOT = "2fda58e5959b0ee53c5253da9b9f3c0c739422ae04946966991cf55895287552"
BLOCK_100002_PROOF_8 = ["74d681e0e03bafa802c8aa084379aa98d9fcd632ddc2ed9782b586ec87451f20",
                        "bb8db5f1d687839cc15a875e321ffb910d1c62d9280c1e4089122544c3528a13",
                        "e7413bdf2c1215c3983536a62b1e210d9006a789cdc1427ccb4bb347745e52fc",
                        "660af9921e9e17eba1106409c93aeec1b390bff99b0c25499da1b9c0e9aa56bc"]
# The genesis block holds one transaction: its txid is the root.
GENESIS_TXID = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"


def leaves_of(txids):
    return [from_display_hex(t) for t in txids]


def test_block_100000_root():
    assert display_hex(merkle_root(leaves_of(BLOCK_100000_TXIDS))) == BLOCK_100000_ROOT


def test_block_100002_root_and_its_last_transactions_proof():
    leaves = leaves_of(BLOCK_100002_TXIDS)
    assert display_hex(merkle_root(leaves)) == BLOCK_100002_ROOT
    assert [len(level) for level in merkle_levels(leaves)] == [9, 5, 3, 2, 1]
    proof = inclusion_proof(leaves, 8)
    assert [display_hex(s) for s in proof.siblings] == BLOCK_100002_PROOF_8  # its first sibling is itself
    verify_inclusion(proof, from_display_hex(BLOCK_100002_ROOT))


def test_genesis_root_is_its_one_txid():
    assert display_hex(merkle_root(leaves_of([GENESIS_TXID]))) == GENESIS_TXID


def test_block_100000_by_hand_with_hashlib():
    def h(data: bytes) -> bytes:
        return hashlib.sha256(hashlib.sha256(data).digest()).digest()

    a, b, c, d = (bytes.fromhex(t)[::-1] for t in BLOCK_100000_TXIDS)
    root = h(h(a + b) + h(c + d))
    assert root[::-1].hex() == BLOCK_100000_ROOT
    assert sha256d(b"abc") == h(b"abc") == leaf_hash(b"abc")


def test_block_100000_proof_matches_the_explorers():
    proof = inclusion_proof(leaves_of(BLOCK_100000_TXIDS), 1)
    assert [display_hex(s) for s in proof.siblings] == BLOCK_100000_PROOF_1
    assert proof.index == 1 and display_hex(proof.leaf) == BLOCK_100000_TXIDS[1]
    verify_inclusion(proof, from_display_hex(BLOCK_100000_ROOT))
    moved = InclusionProof(proof.leaf, 0, proof.siblings)  # the same path, read from the other side
    assert not is_included(moved, from_display_hex(BLOCK_100000_ROOT))


def test_an_odd_level_pairs_its_last_node_with_itself():
    a, b, c = (leaf_hash(x) for x in (b"a", b"b", b"c"))
    assert merkle_root([a, b, c]) == sha256d(sha256d(a + b) + sha256d(c + c))
    # the construction's known weakness (CVE-2012-2459): a repeated last leaf gives the same root
    assert merkle_root([a, b, c]) == merkle_root([a, b, c, c])
    assert [len(level) for level in merkle_levels([a, b, c, a, b])] == [5, 3, 2, 1]
    proof = inclusion_proof([a, b, c], 2)
    assert proof.siblings[0] == c  # the last node's sibling is itself
    verify_inclusion(proof, merkle_root([a, b, c]))


def test_a_wrong_proof_says_where_it_leads():
    leaves = [leaf_hash(bytes([i])) for i in range(6)]
    proof = inclusion_proof(leaves, 4)
    with pytest.raises(InvalidProof, match="the proof for leaf 4 leads to .* not to the root"):
        verify_inclusion(InclusionProof(leaf_hash(b"forged"), 4, proof.siblings), merkle_root(leaves))


def test_proof_round_trip():
    proof = inclusion_proof([leaf_hash(bytes([i])) for i in range(5)], 3)
    assert InclusionProof.from_dict(proof.to_dict()) == proof


@pytest.mark.parametrize("make, words", [
    (lambda: InclusionProof(b"x", 0, ()), "the leaf must be 32 bytes"),
    (lambda: InclusionProof(bytes(32), 0, (b"short",)), "every sibling must be 32 bytes"),
    (lambda: InclusionProof(bytes(32), 4, (bytes(32), bytes(32))), "index 4 does not fit a tree with 2 levels"),
    (lambda: InclusionProof(bytes(32), -1, ()), "index -1 does not fit"),
    (lambda: InclusionProof(bytes(32), True, (bytes(32),)), "index True does not fit"),
    (lambda: InclusionProof.from_dict({"leaf": "00" * 32, "index": 0}), "not an inclusion proof"),
    (lambda: InclusionProof.from_dict({"leaf": "zz", "index": 0, "siblings": []}), "not an inclusion proof"),
])
def test_malformed_proofs_refused(make, words):
    with pytest.raises(InvalidProof, match=words):
        make()


@pytest.mark.parametrize("leaves, index, words", [
    ([], 0, "at least one leaf"),
    ([b"short"], 0, "leaf 0 must be 32 bytes"),
    ([bytes(32)] * 3, 3, "index must be from 0 to 2, not 3"),
    ([bytes(32)] * 3, -1, "not -1"),
])
def test_bad_trees_refused(leaves, index, words):
    with pytest.raises(ValueError, match=words):
        inclusion_proof(leaves, index)


# --- properties ---------------------------------------------------------------------------------

transactions = st.lists(st.binary(max_size=40), min_size=1, max_size=40, unique=True)


@settings(max_examples=150, deadline=None)
@given(transactions)
def test_every_leafs_proof_verifies(txs):
    leaves = [leaf_hash(t) for t in txs]
    root = merkle_root(leaves)
    for index in range(len(leaves)):
        proof = inclusion_proof(leaves, index)
        assert len(proof.siblings) == len(merkle_levels(leaves)) - 1
        verify_inclusion(proof, root)


@settings(max_examples=150, deadline=None)
@given(transactions, st.data())
def test_any_changed_transaction_changes_the_root(txs, data):
    leaves = [leaf_hash(t) for t in txs]
    index = data.draw(st.integers(0, len(txs) - 1))
    changed = data.draw(st.binary(max_size=40).filter(lambda t: t != txs[index]))
    edited = [*leaves[:index], leaf_hash(changed), *leaves[index + 1:]]
    assert merkle_root(edited) != merkle_root(leaves)


@settings(max_examples=150, deadline=None)
@given(transactions, st.data())
def test_a_proof_for_a_wrong_leaf_fails(txs, data):
    leaves = [leaf_hash(t) for t in txs]
    index = data.draw(st.integers(0, len(txs) - 1))
    proof = inclusion_proof(leaves, index)
    other = data.draw(st.binary(max_size=40).filter(lambda t: t not in txs))
    assert not is_included(InclusionProof(leaf_hash(other), index, proof.siblings), merkle_root(leaves))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=2, max_size=40, unique=True), st.data())
def test_swapping_two_transactions_changes_the_root(txs, data):
    # the root commits to the order too, not only to the set
    i, j = data.draw(st.lists(st.integers(0, len(txs) - 1), min_size=2, max_size=2, unique=True))
    leaves = [leaf_hash(t) for t in txs]
    swapped = list(leaves)
    swapped[i], swapped[j] = swapped[j], swapped[i]
    assert merkle_root(swapped) != merkle_root(leaves)
