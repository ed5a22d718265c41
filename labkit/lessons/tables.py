"""VM state and the chain as pandas DataFrames, for notebooks and the command line.

Library code returns tables; notebooks display them. pandas is imported
when a table is first asked for, so ``import labkit`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from ..wallet import short_address

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..block import Block
    from ..chain import BlockReport, Chain
    from ..network import Network

__all__ = ["rules_frame", "students_frame", "courses_frame", "proposals_frame", "nfts_frame", "balances_frame",
           "rewards_frame", "state_frames", "chain_frame", "report_frame"]


def _frame(records: list[dict], columns: list[str]) -> "pd.DataFrame":
    import pandas as pd

    frame = pd.DataFrame(records, columns=columns)
    return frame.set_index("id") if "id" in columns else frame


def rules_frame() -> "pd.DataFrame":
    """The rules every block must pass, in the order they are asked (labkit.rules.RULES)."""
    import pandas as pd

    from ..rules import RULES

    rows = [{"rule": rule.name, "asks": rule.question,
             "a refusal is about": "this record" if rule.about == "record" else "the token, for good"}
            for rule in RULES]
    frame = pd.DataFrame(rows)
    frame.index = pd.RangeIndex(1, len(frame) + 1, name="order")  # named: the order they are asked in
    return frame


def students_frame(state: dict) -> "pd.DataFrame":
    return _frame(list(state["students"].values()), ["id", "name", "department"])


def courses_frame(state: dict) -> "pd.DataFrame":
    return _frame(list(state["courses"].values()), ["id", "name", "department"])


def proposals_frame(state: dict, network: "Network | None" = None) -> "pd.DataFrame":
    """One row per proposal with its vote count and its voters (names if a network is given)."""
    def who(address: str) -> str:
        return network.name_of(address) if network else short_address(address)

    rows = [{"id": p["id"], "description": p["description"], "votes": p["votes"],
             "voters": ", ".join(who(v) for v in p["voters"])} for p in state["proposals"].values()]
    return _frame(rows, ["id", "description", "votes", "voters"])


def nfts_frame(state: dict, network: "Network | None" = None) -> "pd.DataFrame":
    """One row per NFT, its metadata flattened into ``metadata.<key>`` columns."""
    import pandas as pd

    rows = [{"id": n["id"], "name": n["name"],
             "owner": network.name_of(n["owner"]) if network else short_address(n["owner"]),
             "metadata": n["metadata"]} for n in state["nfts"].values()]
    base = _frame([{k: v for k, v in r.items() if k != "metadata"} for r in rows], ["id", "name", "owner"])
    if not rows:
        return base
    meta = pd.json_normalize([r["metadata"] for r in rows]).add_prefix("metadata.")
    meta.index = base.index
    return pd.concat([base, meta], axis=1)


def _holder(state: dict, account: str, network: "Network | None") -> str:
    """Who an account is: a student's name, a member's name (with a network), or a short address."""
    if account in state["students"]:
        return state["students"][account]["name"]
    name = network.name_of(account) if network else "?"
    return short_address(account) if name == "?" else name


def balances_frame(state: dict, network: "Network | None" = None) -> "pd.DataFrame":
    """One row per account of the classroom token (labkit.operations: mint and transfer), richest first."""
    rows = [{"account": b["account"] if b["account"] in state["students"] else short_address(b["account"]),
             "holder": _holder(state, b["account"], network), "balance": b["balance"]}
            for b in state.get("balances", {}).values()]
    rows.sort(key=lambda row: (-row["balance"], row["account"]))
    return _frame(rows, ["account", "holder", "balance"]).set_index("account")


def rewards_frame(state: dict, network: "Network | None" = None) -> "pd.DataFrame":
    """One row per block that paid its reward (``mint``): the block, its miner, the amount."""
    rows = [{"block": r["block"], "miner": _holder(state, r["miner"], network), "amount": r["amount"]}
            for r in sorted(state.get("rewards", {}).values(), key=lambda r: r["block"])]
    return _frame(rows, ["block", "miner", "amount"]).set_index("block")


def state_frames(state: dict, network: "Network | None" = None) -> dict[str, "pd.DataFrame"]:
    """The state's tables by name: the seed's four and the token's balances."""
    return {"students": students_frame(state), "courses": courses_frame(state),
            "proposals": proposals_frame(state, network), "nfts": nfts_frame(state, network),
            "balances": balances_frame(state, network)}


def _actions(contract: object) -> str:
    if isinstance(contract, dict) and isinstance(contract.get("actions"), list):
        return ", ".join(str(a.get("action", "?")) if isinstance(a, dict) else "?" for a in contract["actions"])
    return "?"


def chain_frame(chain: "Chain") -> "pd.DataFrame":
    """The chain as a table: index, short hashes, nonce, signer and actions (every block valid)."""
    import pandas as pd

    network = chain.network
    rows = [{"index": e.index, "hash": e.hash[:12], "prev_hash": e.prev_hash[:12], "nonce": e.payload.nonce,
             "signer": network.name_of(e.signer), "actions": _actions(e.payload.transaction_data),
             "valid": True} for e in chain]
    columns = ["index", "hash", "prev_hash", "nonce", "signer", "actions", "valid"]
    return pd.DataFrame(rows, columns=columns).set_index("index")


def report_frame(blocks: "list[Block]", reports: "Iterable[BlockReport]", network: "Network") -> "pd.DataFrame":
    """A validation table for blocks that may be invalid: one row per block and its verdict."""
    import pandas as pd

    from ..errors import InvalidToken

    rows = []
    for block, report in zip(blocks, reports):
        try:
            payload = block.payload(network.secret)
            prev, nonce, actions = payload.prev_hash[:12], payload.nonce, _actions(payload.transaction_data)
        except InvalidToken:
            prev, nonce, actions = "?", None, "?"
        rows.append({"index": report.index, "hash": block.hash[:12], "prev_hash": prev, "nonce": nonce,
                     "signer": network.name_of(block.signer) if block.signer else "?",
                     "actions": actions, "valid": report.accepted,
                     "rule": report.rule or "", "reason": report.reason or ""})
    frame = pd.DataFrame(rows).set_index("index")
    frame["nonce"] = frame["nonce"].astype("Int64")  # an unreadable token has none: <NA>, never 623.000000
    return frame
