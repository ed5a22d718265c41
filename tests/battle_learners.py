"""The wrong learners of the battle's test (issue 24): each a module of saved functions, one mistake each.

Written as a learner would write them in notebooks 02-07, saved as ``saved.keep`` saves them
(a module per function), so a learner's node loads them exactly as it loads a learner's.
"""

from __future__ import annotations

from pathlib import Path

# A fork choice that takes the longest chain (the most blocks), not the most work.
LONGEST = '''
def fork_choice(blocks):
    parents = {parent for parent, _ in blocks.values()}

    def height(block):
        count = 0
        while block is not None:
            block, _ = blocks[block]
            count += 1
        return count

    tips = [h for h in blocks if h not in parents]
    return min(tips, key=lambda h: (-height(h), h))
'''

# A check_block that reads the claims without checking the token's signature (its HS256 MAC),
# and a verify_hs256 that looks only at the token's shape.
NO_SIGNATURE = {
    "verify_hs256": '''
def verify_hs256(token, secret):
    return len(token.split(".")) == 3
''',
    "check_block": '''
import base64
import json


def check_block(block, parent, network):
    body = block.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    index = claims.get("index")
    if index is not None and index != (0 if parent is None else parent.index + 1):
        return "index"
    if claims["prev_hash"] != ("0" * 64 if parent is None else parent.hash):
        return "link"
    zeros = claims.get("difficulty")
    zeros = network.difficulty if zeros is None else zeros
    if zeros < network.difficulty or not block.hash.startswith("0" * zeros):
        return "pow"
    return None
''',
}

# A transfer_nft that raises (a typo: the learner's NFT table is called "nft").
RAISES = '''
def transfer_nft(state, instruction, context):
    nft = instruction["nft"]
    current = state["nft"][nft["id"]]
    state["nfts"][nft["id"]] = {**current, "owner": nft["to"]}
'''

WRONG = {"longest": {"fork_choice": LONGEST}, "no-signature": NO_SIGNATURE, "raises": {"transfer_nft": RAISES}}


def write_learner(folder: Path, solutions: Path, kind: str) -> Path:
    """A learner's saved folder: the instructor's solutions (files in ``solutions``), but ``kind``'s mistakes."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in solutions.glob("*.py"):
        (folder / source.name).write_text(source.read_text())
    for name, code in WRONG.get(kind, {}).items():
        (folder / f"{name}.py").write_text(f'"""{name}: a wrong learner\'s code ({kind})."""\n' + code)
    return folder
