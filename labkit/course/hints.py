"""The exercises' hints, in tiers: a nudge, then the method, then a near-solution.

Kept here rather than in the check cells so that a learner sees none before
asking: the feedback of a check shows "Hint 1 of 3" folded, and each tier
opens only when the learner clicks it. No tier is the solution line itself
(tests/test_student_leak.py compares every tier with the solutions).
Keyed by the exercise's name (labkit.course.registry names every exercise, and
its rows read their tiers here); an exercise without hints has none.
"""

from __future__ import annotations

__all__ = ["HINTS", "tiers"]

HINTS: dict[str, tuple[str, ...]] = {
    # 00-welcome
    "sha256_hex": (
        "A hash function takes bytes, not text: what turns a str into bytes?",
        "Encode the text as UTF-8, hash the bytes with hashlib's sha256, and ask the hash object for hex.",
        "The hash object has .digest() (32 bytes) and .hexdigest() (64 hex characters): you want the second.",
    ),
    "canonical_json": (
        "Two spellings of the same value must give the same bytes: key order and spaces must not vary.",
        "json.dumps has options for the order of keys, for the separators, and for non-ASCII characters.",
        "Sort the keys, use ',' and ':' with no spaces, keep 'ë' as it is (not \\u00eb), then encode as UTF-8.",
    ),
    "hash_chain": (
        "Each hash depends on the previous one: keep the last hash in a variable as you loop.",
        "Start from 64 zeros; for each line, hash the previous hash's text followed by the line.",
        "Inside the loop: previous = sha256 hex of (previous + line); append previous to the list you return.",
    ),
    # 01-wallets
    "modular_inverse": (
        "Euclid's algorithm finds that the greatest common divisor of e and phi is 1; run it and remember "
        "how each remainder is made from e.",
        "Keep two remainders and two coefficients of e; at each step take the quotient of the remainders "
        "and update both pairs the same way.",
        "When the remainder reaches 0, the coefficient beside the last non-zero remainder is the inverse: "
        "reduce it modulo phi, since it may be negative.",
    ),
    "textbook_verify": (
        "Verifying undoes signing with the public half of the key.",
        "Raise the signature to the public exponent modulo n, with Python's three-argument pow.",
        "The signature is right exactly when that number equals the message: return the comparison.",
    ),
    "break_key": (
        "Whoever knows p and q can compute d just as the key's owner did.",
        "Factor n with pollard_rho (from the cells above); the other factor is n divided by it.",
        "d is the modular inverse of e modulo phi, and phi is the product of each factor minus one.",
    ),
    "address": (
        "An address is a short, fixed-size fingerprint of the public key.",
        "Serialise the public key to DER bytes (the rsa package's save_pkcs1 takes a format), then hash them.",
        "Hash with SHA-256 and return 64 hex characters, as wallet.address does.",
    ),
    # 02-jwt-blocks
    "b64url_encode": (
        "base64url is base64 with two letters changed and no padding.",
        "The base64 module has a URL-safe encoder; it returns bytes that may end in '='.",
        "Strip the trailing '=' characters from those bytes, then decode them as ASCII.",
    ),
    "hs256": (
        "Two steps: make the 32-byte MAC, then write it the way a token writes every part.",
        "The hmac module makes the MAC from the secret and the signing input's ASCII bytes.",
        "Take the 32 raw bytes of the MAC (.digest()) and base64url them without padding, "
        "as in the exercise above.",
    ),
    "make_block": (
        "A block is a mined token signed by its author: fill a template, mine it, sign the result.",
        "The template is a Payload naming the parent's hash, the time as text (`format_timestamp(when)`), "
        "the contract, the next index (parent.index + 1), the difficulty and the signer's address.",
        "`fastmine.mine(template, network.secret, network.difficulty)` returns a result: its .token is the "
        "mined token; `Block.create(result.token, wallet)` signs it.",
    ),
    "verify_hs256": (
        "A token is three base64url parts joined by dots; the MAC covers the first two, dot included.",
        "Split on the dots (anything but three parts is False), recompute the MAC of the first two parts "
        "with the secret, and compare it with the third.",
        "Encode your MAC as base64url without padding and compare the two texts with hmac.compare_digest "
        "(it takes the same time whatever the answer).",
    ),
    # 03-proof-of-work
    "leading_zeros": (
        "Count the '0' characters at the start of the text, and stop at the first other one.",
        "str has a method that removes characters from the left end only.",
        "The number of zeros is how much shorter the text gets when they are removed.",
    ),
    "chance_within": (
        "It is easier to compute the chance of never succeeding and subtract it from 1.",
        "One attempt fails with probability 1 - 16 ** -difficulty, and attempts are independent.",
        "Raise the chance that one attempt fails to the number of attempts; the answer is 1 minus that.",
    ),
    "difficulty_for": (
        "Try difficulties 0, 1, 2, ... until the expected time is long enough.",
        "At difficulty d a miner needs 16 ** d attempts on average, that is 16 ** d / rate seconds.",
        "Loop while that expected time is below the target, adding 1 to d each time, then return d.",
    ),
    "mine_nonce": (
        "Mining is a loop: try a nonce, hash the token it gives, stop when the hash is good enough.",
        "Start at template.nonce and count up; template.with_nonce(n) gives the payload to encode with "
        "encode_token and the secret.",
        "The hash is the sha256 hex of the token's ASCII bytes; return the nonce as soon as that hex starts "
        "with at least difficulty zeros (your `leading_zeros` from exercise 1 counts them).",
    ),
    # 04-the-chain
    "is_valid_chain": (
        "verify_block checks one block against its parent; a chain is valid if every block passes in turn.",
        "Start with no parent (None) for the first block; each accepted block is the parent of the next.",
        "verify_block returns the entry to use as the next parent and raises InvalidBlock when a block "
        "fails: catch it and answer False.",
    ),
    "broken_links": (
        "Walk the blocks in order and compare what each one names with what came before it.",
        "Remember the hash of the previous block as you go; it starts as 64 zeros.",
        "Read each block's prev_hash from its payload (with the secret) and note the position where it "
        "differs from the remembered hash.",
    ),
    "rewrite_attempts": (
        "Which blocks must be mined again after one is edited, and what does each one cost?",
        "The edited block and every block after it: difficulties[position:] are their difficulties.",
        "A re-mined block of difficulty d costs 16 ** d attempts on average: add that up over those blocks.",
    ),
    "check_block": (
        "Ask the three questions in the rules' order: index, then link, then proof of work.",
        "Read the payload with network.secret; with no parent the block must have index 0 and prev_hash 64 "
        "zeros, otherwise parent.index + 1 and parent.hash.",
        "For pow, the block's hash must meet the higher of network.difficulty and the payload's declared "
        "difficulty (a declared one below the network's breaks pow too); return the first rule's name "
        "that fails, or None.",
    ),
    # 05-torrent-sharing
    "bencode": (
        "Four kinds of value: integers, strings, lists and dictionaries; write one branch for each.",
        "An integer is i<digits>e, a string is <length>:<bytes>, a list is l<items>e and a dict d<pairs>e; "
        "lists and dicts call bencode on what they hold.",
        "Encode str as UTF-8 first; sort a dict's keys as bytes; refuse bool (it is an int in Python) "
        "and anything else with TypeError.",
    ),
    "piece_ok": (
        "A piece is a slice of the file; its SHA-1 must equal the hash the torrent lists for it.",
        "Piece i starts at i * piece_length; the last piece may be shorter, and slicing handles that.",
        "Compare hashlib.sha1 of the slice (raw bytes, .digest()) with piece_hashes[index].",
    ),
    "one_server_seconds": (
        "Every peer needs its own copy, and they all share the server's upload.",
        "The server sends peers * size bytes in all.",
        "Time is bytes divided by the upload rate in bytes per second.",
    ),
    # 06-contracts-and-the-vm
    "student_contract": (
        "Look at contracts[0]: your function must build the same shape.",
        "A contract is a dict with a list of actions; each action names its operation and its record.",
        "One action, \"register_student\", whose 'student' holds id, name and department.",
    ),
    "transfer_nft": (
        "Refuse every bad instruction with ContractError before changing anything.",
        "Check that 'nft' is an object with 'id' and 'to', that the NFT exists in state['nfts'], and that "
        "its owner is context.signer.",
        "Store a new record, a copy of the current one with only 'owner' changed, under the same id.",
    ),
    "failing_action": (
        "Run the contract and see whether the VM refuses it.",
        "OISC().execute_smart_contract raises ContractError when an action fails, and the error says which.",
        "Catch the error and return its action_index; return None if nothing was raised.",
    ),
    # 07-peers-end-to-end
    "verify_and_run": (
        "You need not check anything yourself: the peers of this notebook already verify a file; which call "
        "gave them one?",
        "Make a Peer with the network (it needs no wallet to verify) and give it the path; it returns one "
        "report per block.",
        "Return the first refused report's index and rule; if none was refused, the peer's state digest "
        "(its .digest()).",
    ),
    "dissenters": (
        "The majority's digest is the one most peers hold; when two digests are held by equally many, "
        "there is no majority.",
        "collections.Counter counts how often each digest appears; .most_common() lists them, most first.",
        "If the first two counts are equal return every name, sorted; otherwise return the sorted names "
        "whose digest differs from the most common one.",
    ),
    "fork_choice": (
        "A tip is a block no other block names as its parent; each tip ends a branch.",
        "A tip's total work is its own work plus its parent's, and so on back to the first block.",
        "Rank the tips by total work, most first, and break a tie by the smaller hash: "
        "a key such as (-total, hash) does both.",
    ),
    # 08-attacks
    "attacker_success": (
        "Nakamoto's section 11: the attacker's progress while the honest chain grows is a Poisson variable.",
        "If q >= p the attacker always catches up; otherwise the Poisson mean is z * q / p.",
        "Start from 1 and, for each k from 0 to z, subtract the chance of k blocks times the chance of "
        "not catching up from z - k behind, 1 - (q / p) ** (z - k).",
    ),
    "heaviest_branch": (
        "Peers follow the branch with the most work, not the longest one.",
        "A block of difficulty d stands for 16 ** d attempts; a branch's work is the sum over its blocks.",
        "Compute each branch's work, find the largest, and return the position of the first branch "
        "that has it.",
    ),
    # 09-the-classroom-network
    "fork_rate": (
        "Work out the chance for one delay first; the answer for a list is the plain average of those chances.",
        "For a delay d the chance is 1 minus e to the power of minus d over the interval (math.exp); "
        "add the chances up and divide by how many delays there are.",
        "Last, multiply the average by the share of next blocks found by another miner: "
        "with equal miners that share is 1 minus one over the number of nodes.",
    ),
    "propagation_seconds": (
        "Two passes over the log: first note when each node first adopted each block, "
        "then go through the blocks mined.",
        "Turn a time into seconds with datetime.fromisoformat (replace the final 'Z' by '+00:00' first) and "
        ".timestamp(); keep the first adoption in a dict keyed by (node, tip), setting a key only once.",
        "For a canonical mined block, look up that block for every node except its miner; if any lookup is "
        "missing skip the block, else append the latest time minus the mined time, rounded to 3 places.",
    ),
    # 11-your-own-verifier
    "first_broken": (
        "labkit asks its rules in one fixed order and the first broken one is the verdict.",
        "CHECKS lists the rules in that order: walk it and stop at the first rule that is in the set.",
        "A loop over CHECKS that returns the rule when `rule in broken`, and None after the loop.",
    ),
    "disagreements": (
        "Compare the verdicts position by position; None (accepted) is a verdict too.",
        "Go up to the longer list's length; a position only one list has is a disagreement.",
        "for i in range(max(len(yours), len(theirs))): compare the two entries, treating a missing one as "
        "different from anything.",
    ),
    # 12-defend-the-chain
    "fooled_by": (
        "Keep only your node's rows, and of those only the rounds it did not hold.",
        "Each row is a dict: row['node'] names the node, row['held'] is False where it was fooled.",
        "Walk the rows in order and append row['round'] when it is yours, not held and not in the list yet.",
    ),
    "to_fix": (
        "The function to fix is the one the round tests: row['targets'] of each round you were fooled by.",
        "A round that tests labkit's rules only has targets None: nothing of yours to fix there.",
        "Collect the targets in a set (your node, not held, targets not None) and return sorted(that set).",
    ),
    # 10-open-networks
    "merkle_root": (
        "Work one level at a time, from the leaves up, until a single node is left: that node is the root.",
        "A level becomes the next by hashing its nodes in pairs, first with second, third with fourth; "
        "the parent of a pair is sha256d of the two nodes joined. A level of one node is already the root.",
        "Before pairing a level with an odd number of nodes, repeat its last node, so that a level of 3 "
        "pairs as (1, 2) and (3, 3). Keep going while the level holds more than one node.",
    ),
    "root_from_proof": (
        "Walk up from the leaf: each sibling in the list is the other child of the node you are at.",
        "At each level the index says which side you are on: even, you are the left child; odd, the right. "
        "The parent's index is the child's index halved, rounded down.",
        "For each sibling in order: the new node is sha256d of the left child followed by the right one "
        "(your node and the sibling, in the order the index says); then halve the index.",
    ),
    "select_transactions": (
        "Decide the order first, then make one pass over the transactions in that order.",
        "Sort by a key that puts the best fee per byte first and, among equal rates, the smaller txid "
        "first; a tuple key does both. tx.fee_rate is the exact rate.",
        "Keep the bytes used so far; take a transaction when its size still fits in what is left of "
        "max_bytes, skip it otherwise, and go on with the next one, since a smaller one may still fit.",
    ),
    "spend": (
        "Check before you change anything: a refused transfer must leave no trace.",
        "An account missing from the dict holds 0: dict.get with a default reads it. Compare what the "
        "sender holds with the amount and raise ContractError when it is short.",
        "Copy the dict (dict(balances)), then write the sender's new balance and the receiver's, the "
        "receiver's starting from 0 if it is new; return the copy.",
    ),
}


def tiers(exercise: str) -> tuple[str, ...]:
    """The hints of an exercise, nudge first; () if it has none."""
    return HINTS.get(exercise, ())
