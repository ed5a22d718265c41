"""The block inspector (notebook 02): change any part of a block and see which check rejects it.

A block record has five parts a forger can touch: the JWT's header, its
payload and its HS256 MAC, the signer the record names, and that signer's
RSA signature over the token. The inspector shows each part decoded and
editable. A forger who is a member of the network also has four tools:
write their own address into the token's ``signer`` claim, re-MAC the token
with the network secret (every member holds it), re-mine it (a new nonce,
so a new hash, and a new MAC), and re-sign it with their *own* key. What no
member can do is sign with someone else's key.

On Check, the parts are put back together into a record, exactly as a
peer would receive it, and audited (``labkit.lessons.audit.audit_record``): the
verdict of ``labkit.chain.judge`` on the earlier blocks' chain, with every
rule of ``labkit.rules.RULES`` asked, so the table shows that one edited
byte breaks several seals at once (signature, MAC and proof of work),
though a verifier stops at the first.

Below the table: whether the next block still links to this one. A member
who re-mines and re-signs an edited block gets a block that passes every
check by itself; it is the chain that gives it away.

Test hooks: ``w.header_text``, ``w.payload_text``, ``w.mac_text``,
``w.signer``, ``w.signature_text`` (the parts), ``w.preset``, ``w.sign_as``,
``w.claim_button``, ``w.remac_button``, ``w.remine_button``, ``w.resign_button``,
``w.reset_button``, ``w.check_button``; after a check ``w.result`` (the
InvalidBlock, or None if the block is accepted), ``w.failed_rule``,
``w.block`` (the record checked), ``w.rules_frame()`` (the table as a DataFrame) and
``w.next_result`` (the next block's verdict against this one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

import ipywidgets as widgets

from ..block import Block
from ..chain import Link, judge
from ..encoding import b64url_decode, b64url_encode, loads_strict
from ..errors import InvalidBlock, InvalidToken, StrictJSONError
from ..network import Network
from ..operations import empty_state
from ..fastmine import default_miner
from ..pow import token_hash
from ..lessons.audit import Audit, audit_html, audit_record
from ..tokens import Payload, parse_timestamp, utc_now
from ..wallet import Wallet

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["PRESETS", "BlockInspector", "block_inspector"]

# An address nobody in any demo network owns: sha256 of a name, not of a key.
OUTSIDER = hashlib.sha256(b"mallory, who is not a member").hexdigest()


# --- parts of a token -------------------------------------------------------------------


def _pretty(segment: str, *, indent: int | None) -> str:
    """A base64url JSON segment shown as text; raw bytes if it is not JSON."""
    data = b64url_decode(segment)
    try:
        value = loads_strict(data)
    except StrictJSONError:
        return data.decode("utf-8", "replace")
    separators = (", ", ": ") if indent is None else None
    return json.dumps(value, indent=indent, separators=separators, ensure_ascii=False)


def _segment(text: str) -> str:
    """Text back to a base64url segment, compact as pyjwt writes it; raw bytes if it is not JSON."""
    try:
        value = loads_strict(text)
    except StrictJSONError:
        return b64url_encode(text.strip().encode("utf-8"))
    return b64url_encode(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _first_text(value: Any, path: tuple = (), key: str | None = None) -> tuple | None:
    """The path to the first string inside a contract (the first ``key`` field if given), never an action name."""
    if isinstance(value, str) and path and path[-1] != "action" and key in (None, path[-1]):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for name, item in items:
        found = _first_text(item, (*path, name), key)
        if found:
            return found
    return None


def _edit_contract(claims: dict) -> None:
    """Change a name in the contract (the student's, the course's...), or else its first text."""
    contract = claims.get("transaction_data", {})
    path = _first_text(contract, ("transaction_data",), "name") or _first_text(contract, ("transaction_data",))
    if path is None:
        claims["transaction_data"] = {"actions": []}
        return
    target = claims
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = target[path[-1]] + " (edited)"


def _backdate(claims: dict) -> None:
    when = parse_timestamp(claims["timestamp"]) - dt.timedelta(days=1)
    claims["timestamp"] = when.isoformat()


# The "tamper" presets: name -> what it does, shown as the status line. Each starts again from the
# original block and edits one of its parts (BlockInspector.apply_preset); the forger's tools that
# repair what an edit broke (re-MAC, re-mine, re-sign) are the widget's buttons.
PRESETS: dict[str, str] = {
    "original": "the block as it was mined and signed",
    "edit the contract": "change a name in the contract (the student's, the course's...)",
    "change the nonce": "add 1 to the nonce",
    "point prev_hash elsewhere": "make prev_hash name a block that is not the parent",
    "backdate the timestamp": "move the time one day back, before the parent",
    "claim difficulty 0": "declare a difficulty below the network's",
    "change the index": "declare the next index",
    "alg: none": "the classic JWT attack: header says no MAC, MAC removed",
    "flip a bit of the signature": "change the last bit of the RSA signature",
    "name another member as signer": "keep the signature, name a different member",
    "name an outsider as signer": "name an address that is not a member",
}


# --- the widget -----------------------------------------------------------------------


class BlockInspector(widgets.VBox):
    """Edit a block's parts, use a forger's tools, and see which check fails."""

    def __init__(
        self,
        network: Network,
        blocks: Sequence[Block],
        index: int = 1,
        *,
        wallets: Sequence[Wallet] = (),
        now: dt.datetime | None = None,
        miner: Callable | None = None,
    ):
        if not blocks:
            raise ValueError("the inspector needs at least one block")
        if not 0 <= index < len(blocks):
            raise IndexError(f"block index {index} is outside 0..{len(blocks) - 1}")
        self.network = network
        self.blocks = list(blocks)
        self.index = index
        self.wallets = list(wallets)
        self.now = now
        self.miner = miner
        self.audit: Audit  # the last check's, set by reset() below
        self.status = ""  # the last message from a tool, e.g. why re-mining was refused

        self._context()
        wide = widgets.Layout(width="98%")
        label = {"description_width": "80px"}
        self.header_text = widgets.Text(description="header", layout=wide, style=label)
        self.payload_text = widgets.Textarea(description="payload", rows=16, layout=wide, style=label)
        self.mac_text = widgets.Text(description="MAC", layout=wide, style=label)
        self.signer = widgets.Dropdown(description="signer", options=self._signer_options(), style=label)
        self.signature_text = widgets.Textarea(description="signature", rows=4, layout=wide, style=label)
        self.preset = widgets.Dropdown(description="tamper", options=list(PRESETS), value="original", style=label)
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        self.remac_button = widgets.Button(description="re-MAC with the secret", layout=widgets.Layout(width="auto"),
                                           tooltip="every member holds the network secret")
        self.remine_button = widgets.Button(description="re-mine", icon="hammer", layout=widgets.Layout(width="auto"),
                                            tooltip="find a new nonce at the network's difficulty (re-MACs too)")
        self.sign_as = widgets.Dropdown(description="sign as", options=[(w.name or w.short_address, w) for w in self.wallets],
                                        style=label, disabled=not self.wallets)
        self.claim_button = widgets.Button(description="name me as author", icon="user",
                                           layout=widgets.Layout(width="auto"), disabled=not self.wallets,
                                           tooltip="write the chosen wallet's address into the token's signer claim")
        self.resign_button = widgets.Button(description="re-sign", icon="pencil", disabled=not self.wallets,
                                            layout=widgets.Layout(width="auto"),
                                            tooltip="sign the token with the chosen wallet and name it as signer")
        self.check_button = widgets.Button(description="Check", button_style="primary", icon="check")
        self.hash_html = widgets.HTML()
        self.result_html = widgets.HTML()

        self.reset_button.on_click(lambda _: self.apply_preset("original"))
        self.claim_button.on_click(lambda _: self.claim_authorship())
        self.remac_button.on_click(lambda _: self.remac())
        self.remine_button.on_click(lambda _: self.remine())
        self.resign_button.on_click(lambda _: self.resign())
        self.check_button.on_click(lambda _: self.check())
        self.preset.observe(lambda change: self.apply_preset(change["new"]), names="value")
        # A hand edit makes the last tool's message stale ("the block as it was mined and signed"
        # under an edited block); the tools edit the parts first and then set their message.
        for part in (self.header_text, self.payload_text, self.mac_text, self.signer, self.signature_text):
            part.observe(lambda _: setattr(self, "status", ""), names="value")

        tools = widgets.VBox([
            widgets.HTML("<b>Forger's tools</b> (a member's: the network secret and their own key)"),
            widgets.HBox([self.sign_as, self.claim_button, self.remac_button, self.remine_button, self.resign_button]),
        ])
        # The verdict sits near the top, under the controls that change it, so that on a 1280x720
        # projector it is in view with the widget's first line; the parts to edit follow.
        super().__init__([
            widgets.HTML(f"<b>Block {index}</b> of {len(self.blocks)}: pick a tamper or edit any part below, "
                         "then Check."),
            widgets.HBox([self.preset, self.reset_button]),
            tools, widgets.HBox([self.check_button, self.hash_html]), self.result_html,
            widgets.HTML("<b>The block's parts</b>"),
            self.header_text, self.payload_text, self.mac_text, self.signer, self.signature_text,
        ])
        self.add_class("labkit-block-inspector")  # how the browser tests find it in the page
        self.reset()

    # --- the chain around the block ------------------------------------------------

    def _context(self) -> None:
        """What the blocks before block ``index`` establish for it: its parent's link and the state after it."""
        parent: Link | None = None
        state: dict | None = empty_state()
        for block in self.blocks[: self.index]:  # as validate_blocks judges them
            verdict = judge(block, self.network, parent, state=state, now=self.now)
            parent, state = verdict.link, verdict.state
        self._parent, self._state = parent, state
        self._next = self.blocks[self.index + 1] if self.index + 1 < len(self.blocks) else None

    def _signer_options(self) -> list[tuple[str, str]]:
        options = [(f"{m.name} ({m.address[:10]}…)", m.address) for m in self.network.members]
        options.append(("mallory (not a member)", OUTSIDER))
        for wallet in self.wallets:
            if not self.network.is_member(wallet.address):
                options.append((f"{wallet.name or 'wallet'} (not a member)", wallet.address))
        original = self.blocks[self.index].signer
        if original is not None and original not in [value for _, value in options]:
            options.append((f"{original[:10]}… (not a member)", original))
        if original is None:
            options.insert(0, ("(none named, as in the seed)", ""))
        return options

    # --- parts <-> record ----------------------------------------------------------

    @property
    def original(self) -> Block:
        return self.blocks[self.index]

    def token(self) -> str:
        """The token the parts make now."""
        header, payload = self.header_text.value, self.payload_text.value
        head = self._original_parts[0] if header == self._original_texts[0] else _segment(header)
        body = self._original_parts[1] if payload == self._original_texts[1] else _segment(payload)
        return f"{head}.{body}.{self.mac_text.value.strip()}"

    def record(self) -> dict:
        """The record the parts make now, as a peer would read it from a blocks file."""
        record = {"token": self.token(), "signature": self.signature_text.value.strip().lower()}
        if self.signer.value:
            record["signer"] = self.signer.value
        return record

    def _show(self, token: str, signature: bytes, signer: str | None) -> None:
        parts = token.split(".")
        self.header_text.value = _pretty(parts[0], indent=None)
        self.payload_text.value = _pretty(parts[1], indent=2)
        self.mac_text.value = parts[2]
        self.signature_text.value = signature.hex()
        self.signer.value = signer or ""

    # --- actions ---------------------------------------------------------------------

    def reset(self) -> Audit:
        """Show the original block again."""
        block = self.original
        self._original_parts = block.token.split(".")
        self._show(block.token, block.signature, block.signer)
        self._original_texts = (self.header_text.value, self.payload_text.value)
        self.status = ""
        return self.check()

    def apply_preset(self, name: str) -> Audit:
        """Start from the original block and make one of the PRESETS edits."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        if self.preset.value != name:
            self.preset.value = name  # the observer calls back here
            return self.audit
        self.reset()
        claims = json.loads(self.payload_text.value)
        if name == "edit the contract":
            _edit_contract(claims)
        elif name == "change the nonce":
            claims["nonce"] += 1
        elif name == "point prev_hash elsewhere":
            claims["prev_hash"] = hashlib.sha256(b"some other block").hexdigest()
        elif name == "backdate the timestamp":
            _backdate(claims)
        elif name == "claim difficulty 0":
            claims["difficulty"] = 0
        elif name == "change the index":
            claims["index"] = self.index + 1
        elif name == "alg: none":
            self.header_text.value = '{"alg": "none", "typ": "JWT"}'
            self.mac_text.value = ""
        elif name == "flip a bit of the signature":
            signature = bytearray(self.original.signature)
            signature[-1] ^= 1
            self.signature_text.value = signature.hex()
        elif name == "name another member as signer":
            others = [m.address for m in self.network.members if m.address != self.original.signer]
            self.signer.value = others[0] if others else OUTSIDER
        elif name == "name an outsider as signer":
            self.signer.value = OUTSIDER
        if claims != json.loads(self.payload_text.value):
            # Keep the claims' order, as pyjwt wrote it, so only the edited value changes.
            self.payload_text.value = json.dumps(claims, indent=2, ensure_ascii=False)
        self.status = PRESETS[name]
        return self.check()

    def claim_authorship(self) -> Audit:
        """Write the chosen wallet's address into the token's ``signer`` claim (the MAC and the hash go stale)."""
        wallet: Wallet | None = self.sign_as.value
        try:
            claims = loads_strict(self.payload_text.value)
        except StrictJSONError as exc:
            claims = None
            self.status = f"cannot edit the claims: {exc}"
        if wallet is not None and isinstance(claims, dict):
            nonce = claims.pop("nonce", 0)
            claims["signer"] = wallet.address
            claims["nonce"] = nonce  # the nonce stays last, where the miner expects it
            self.payload_text.value = json.dumps(claims, indent=2, ensure_ascii=False)
            self.status = f"the token now names {wallet.name or wallet.short_address} as its author"
        return self.check()

    def remac(self) -> Audit:
        """MAC the header and payload with the network secret, as any member can."""
        head, body, _ = self.token().split(".", 2)
        mac = hmac.new(self.network.secret, f"{head}.{body}".encode("ascii", "replace"), hashlib.sha256).digest()
        self.mac_text.value = b64url_encode(mac)
        self.status = "re-MACed with the network secret"
        return self.check()

    def remine(self) -> Audit:
        """Mine the edited claims again: a new nonce, a new MAC, a hash that meets the difficulty."""
        try:
            payload = Payload.from_claims(loads_strict(self.payload_text.value))
        except (StrictJSONError, InvalidToken) as exc:
            self.status = f"cannot re-mine: the payload is not a valid block payload ({exc})"
            return self.check()
        miner = self.miner or default_miner()
        difficulty = max(self.network.difficulty, payload.difficulty or 0)
        result = miner(payload.with_nonce(0), self.network.secret, difficulty)
        parts = result.token.split(".")
        self.header_text.value = _pretty(parts[0], indent=None)
        self.payload_text.value = _pretty(parts[1], indent=2)
        self.mac_text.value = parts[2]
        self.status = f"re-mined: nonce {result.nonce} after {result.attempts:,} attempts"
        return self.check()

    def resign(self) -> Audit:
        """Sign the token with the chosen wallet and name that wallet as the signer."""
        wallet: Wallet | None = self.sign_as.value
        if wallet is None:
            self.status = "no wallet to sign with"
            return self.check()
        token = self.token()
        self.signature_text.value = wallet.sign(token.encode("ascii", "replace")).hex()
        self.signer.value = wallet.address
        self.status = f"re-signed with {wallet.name or 'the chosen'}'s key"
        return self.check()

    def check(self) -> Audit:
        """Rebuild the record from the parts and judge it; updates the table."""
        record = self.record()
        self.audit = audit_record(record, self.network, self._parent, state=self._state,
                                  next_block=self._next, now=self.now)
        digest = token_hash(record["token"]) if record["token"].isascii() else "?"
        changed = "" if record["token"] == self.original.token else " (the token changed)"
        status = f"<br><i>{html.escape(self.status)}</i>" if self.status else ""
        self.hash_html.value = (f"&nbsp;hash <code>{digest[:16]}…</code>{changed}; "
                                f"was <code>{self.original.hash[:16]}…</code>{status}")
        self.result_html.value = audit_html(self.audit)
        return self.audit

    # --- results -----------------------------------------------------------------------

    @property
    def result(self) -> InvalidBlock | None:
        return self.audit.error

    @property
    def failed_rule(self) -> str | None:
        return self.audit.failed_rule

    @property
    def block(self) -> Block | None:
        return self.audit.block

    @property
    def next_result(self) -> InvalidBlock | None:
        return self.audit.next_error

    def rules_frame(self) -> "pd.DataFrame":
        """The rules as a table, as the audit shows them (``Audit.rules_frame``)."""
        return self.audit.rules_frame()

    def tampers_frame(self) -> "pd.DataFrame":
        """Every preset: what it does, the rule a verifier rejects it at, every rule it breaks on its own.

        Each preset is applied in turn; the widget is left on the original block, accepted,
        so a learner scrolling back finds it as the notebook's prose describes it.
        """
        import pandas as pd

        rows = []
        for name in PRESETS:
            audit = self.apply_preset(name)
            rows.append({"tamper": name, "what it does": PRESETS[name],
                         "rejected at": audit.failed_rule or "accepted", "breaks": ", ".join(audit.broken_rules)})
        self.apply_preset("original")
        return pd.DataFrame(rows).set_index("tamper")


def block_inspector(
    network: Network,
    blocks: Sequence[Block],
    index: int = 1,
    *,
    wallets: Sequence[Wallet] = (),
    now: dt.datetime | None = None,
    miner: Callable | None = None,
) -> BlockInspector:
    """The block inspector for ``blocks[index]``; ``wallets`` are the keys the forger may re-sign with."""
    return BlockInspector(network, blocks, index, wallets=wallets, now=now, miner=miner)
