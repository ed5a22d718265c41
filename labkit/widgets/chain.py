"""The chain widget (notebook 04): edit one block and watch it, and every block after it, turn red.

blockchain-demo's best moment (Anders Brownworth's), on labkit's real chain.
Each peer holds a copy of the same blocks, shown as a row of cards side by
side: index, data (the block's contract, editable), prev_hash, nonce, hash,
and a border that is green or red from the verdict of
``labkit.chain.validate_blocks``, the very rules every peer applies; the
widget makes no judgement of its own.

Typing in a block's data rebuilds that block at once, as a member could: the
claims are encoded again with the edited data and MACed with the network
secret (every member holds it), keeping the old nonce and the author's old
signature. Its hash changes with every key, its signature no longer covers
the token, and the next block's ``prev_hash`` names a hash that no longer
exists, so the edited block and every later one are refused together.

"re-mine" repairs one block: it finds a new nonce with labkit's miner, on
``prev_hash`` = the hash of the block before it in that copy, and re-signs the
token with the key of the member who authored it, if the widget holds that
key (``wallets``); without it the old signature stays and the block stays red.
Re-mining the blocks in order turns them green one at a time; the attempts of
each re-mine and their running total are shown. Below the rows, a summary
compares the copies: the chain each peer would keep (its blocks up to the
first refused one) and which copies agree.

Test hooks: ``w.copies`` (one ``ChainCopy`` per peer) and ``w.summary_html``;
a copy has ``name``, ``blocks`` (the records as they are now), ``reports``
(their verdicts), ``cards`` (each with ``data_text``, ``remine_button``,
``attempts_label``, ``verdict_html``, ``fields_html``, ``state``:
"accepted" or "refused"), ``edit(index, text)``, ``remine(index)``,
``reset()``, ``attempts`` and ``chain_hashes``; ``w.copy_of(name)``,
``w.agree`` and ``w.copies_frame()``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import html
import json
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

import ipywidgets as widgets

from ..block import Block
from ..chain import BlockReport, validate_blocks
from ..encoding import b64url_encode, loads_strict
from ..errors import InvalidRecord, InvalidToken, StrictJSONError
from ..network import Network
from ..fastmine import default_miner
from ..pow import Miner, MiningResult, expected_attempts, meets_difficulty
from ..tokens import GENESIS_HASH, Payload, encode_token
from ..wallet import Wallet
from .mining import highlight_zeros

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["MAX_DIFFICULTY", "ACCEPTED", "REFUSED", "token_with_data", "BlockCard", "ChainCopy",
           "ChainWidget", "chain_widget"]

# Re-mining runs in the kernel's own thread, while the learner waits, so it must be quick:
# at 3 (4,096 attempts on average) a re-mine took 21 ms (median; 138 ms at worst) on a loaded
# two-core machine, at 4 a median of 310 ms and up to 1.5 s. Notebook 04 uses 2 (256 attempts, 8 ms).
MAX_DIFFICULTY = 3
ACCEPTED, REFUSED = "#2e9d48", "#d93025"  # border colours, readable on JupyterLab's light and dark themes
CARD_WIDTH = "200px"  # at least; four cards and the margins fit a 1280-pixel projector beside the file browser


def data_text(contract) -> str:
    """A contract as the card shows it: one line of JSON, non-ASCII letters as they are."""
    return json.dumps(contract, ensure_ascii=False)


def token_with_data(payload: Payload, text: str, secret: bytes) -> str:
    """The token a member makes by writing ``text`` into a block's claims as its data, MACed with ``secret``.

    JSON goes through labkit's encoder, so writing the original data back
    gives back the original token, byte for byte. Text that is not JSON is
    spliced into the claims as it is, as a forger could write it; the
    verdict then says what a peer makes of it.
    """
    try:
        data = loads_strict(text)
    except StrictJSONError:
        pass
    else:
        return encode_token(replace(payload, transaction_data=data), secret)
    marker = "\x00labkit: the data goes here\x00"
    claims = replace(payload, transaction_data=marker).to_claims()
    body = json.dumps(claims, separators=(",", ":")).replace(json.dumps(marker), text, 1)
    header = encode_token(payload, secret).split(".", 1)[0]
    signing_input = f"{header}.{b64url_encode(body.encode('utf-8', 'replace'))}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def _short(hash_hex: str, difficulty: int) -> str:
    """The first 16 digits of a hash; its leading zeros highlighted when they meet the difficulty."""
    if not meets_difficulty(hash_hex, difficulty):
        return f'<code class="labkit-hash">{html.escape(hash_hex[:16])}</code>…'
    return highlight_zeros(hash_hex[:16], min(difficulty, 16)) + "…"


# --- one block -----------------------------------------------------------------------------


class BlockCard(widgets.VBox):
    """One block of one copy: its fields, its data to edit, its verdict, its re-mine button."""

    def __init__(self, index: int):
        self.index = index
        self.state = ""  # "accepted" or "refused", from the last verdict shown
        self.title_html = widgets.HTML(layout=widgets.Layout(flex="1 1 auto", overflow="hidden"))
        self.remine_button = widgets.Button(description="re-mine", layout=widgets.Layout(width="auto", flex="0 0 auto"),
                                            tooltip="find a new nonce on the block before it, and re-sign")
        self.data_text = widgets.Textarea(rows=3, continuous_update=True, layout=widgets.Layout(width="auto"))
        self.fields_html = widgets.HTML()
        self.verdict_html = widgets.HTML()
        # HTML, not a Label: a Label cuts a long line with "…", and "cannot re-mine: ..." must be read whole
        self.attempts_label = widgets.HTML("", layout=widgets.Layout(display="none"))  # shown once it says something
        self.attempts_label.add_class("labkit-attempts")
        # Compact, so that three peers' copies fit a 1280x720 projector with their summary.
        super().__init__(
            [widgets.HBox([self.title_html, self.remine_button]), self.data_text, self.fields_html,
             self.verdict_html, self.attempts_label],
            layout=widgets.Layout(flex="1 1 0", min_width=CARD_WIDTH, max_width="300px", margin="2px",
                                  padding="2px 4px"),
        )
        self.add_class("labkit-chain-block")

    def note(self, text: str) -> None:
        """Say what the last re-mine did (its attempts), or why it could not; "" hides the line."""
        self.attempts_label.value = html.escape(text, quote=False)
        self.attempts_label.layout.display = "" if text else "none"

    def show(self, block: Block, payload: Payload, report: BlockReport, difficulty: int) -> None:
        """Show a block and its verdict: the border, and the rule it breaks."""
        accepted = report.accepted
        self.state = "accepted" if accepted else "refused"
        self.layout.border = f"3px solid {ACCEPTED if accepted else REFUSED}"
        self.remove_class("labkit-refused" if accepted else "labkit-accepted")
        self.add_class(f"labkit-{self.state}")
        mark = "✓" if accepted else f"✗ <code>{html.escape(report.rule or '')}</code>"
        self.title_html.value = f'<span style="white-space:nowrap"><b>block {self.index}</b> {mark}</span>'
        self.fields_html.value = (
            f'<div style="font-size:90%;line-height:1.3">prev <code>{html.escape(payload.prev_hash[:16])}…</code><br>'
            f"nonce <code>{payload.nonce:,}</code><br>hash {_short(block.hash, difficulty)}</div>")
        self.verdict_html.value = ("" if accepted else
                                   f'<div style="font-size:85%;line-height:1.25">{html.escape(report.reason or "")}</div>')


# --- one peer's copy -------------------------------------------------------------------------


class ChainCopy(widgets.VBox):
    """One peer's copy of the chain: a row of cards, its own edits and re-mines, and what they cost."""

    def __init__(
        self,
        name: str,
        network: Network,
        blocks: Sequence[Block],
        *,
        wallets: Sequence[Wallet] = (),
        now: dt.datetime | None = None,
        miner: Miner | None = None,
        on_change: Callable[[], None] | None = None,
    ):
        self.name = name
        self.network = network
        self.original = tuple(blocks)
        self.wallets = {w.address: w for w in wallets}
        self.now = now
        self.miner = miner or default_miner()
        self.on_change = on_change
        self.blocks: list[Block] = []
        self.payloads: list[Payload] = []  # the claims each token carries apart from its data
        self.reports: list[BlockReport] = []
        self.attempts = 0  # every attempt this copy's re-mines cost
        self.remined = 0  # how many re-mines that took
        self._quiet = False  # set while the widget itself writes the data boxes

        self.cards = [BlockCard(i) for i in range(len(self.original))]
        for card in self.cards:
            card.data_text.observe(lambda change, i=card.index: self._typed(i, change["new"]), names="value")
            card.remine_button.on_click(lambda _, i=card.index: self.remine(i))
        self.cost_label = widgets.Label()
        self.reset_button = widgets.Button(description="Reset", icon="undo", layout=widgets.Layout(width="auto"),
                                           tooltip=f"put back {name}'s copy as it was")
        self.reset_button.on_click(lambda _: self.reset())
        super().__init__([
            widgets.HBox([widgets.HTML(f"<b>{html.escape(name)}'s copy</b>"), self.reset_button, self.cost_label],
                         layout=widgets.Layout(align_items="center", grid_gap="12px")),
            widgets.HBox(self.cards, layout=widgets.Layout(overflow="auto")),
        ])
        self.add_class("labkit-chain-copy")
        self.reset()

    # --- what the learner does

    def reset(self) -> None:
        """Put back the blocks the copy started with."""
        self.blocks = list(self.original)
        self.payloads = [block.payload(self.network.secret) for block in self.original]
        self.attempts = self.remined = 0
        self._quiet = True
        try:
            for card, payload in zip(self.cards, self.payloads):
                card.data_text.value = data_text(payload.transaction_data)
                card.note("")
        finally:
            self._quiet = False
        self.refresh()

    def edit(self, index: int, text: str) -> None:
        """Write ``text`` as block ``index``'s data, as typing it in the box does."""
        self.cards[index].data_text.value = text

    def _typed(self, index: int, text: str) -> None:
        if self._quiet:
            return
        old = self.blocks[index]
        token = token_with_data(self.payloads[index], text, self.network.secret)
        try:
            self.blocks[index] = Block(token, old.signature, old.signer)  # the author's signature, over the old token
        except InvalidRecord as exc:  # e.g. a token over the size limit: no peer would read such a record
            self.cards[index].note(f"no block can be made of this data ({exc}); the block shown is the last one")
            return
        self.cards[index].note("")
        self.refresh()

    def remine(self, index: int) -> MiningResult | None:
        """Mine block ``index`` again on the block before it and re-sign it with its author's key.

        Returns the miner's result, or None when the data cannot make a block
        (not JSON, or not a contract object); the card says why.
        """
        card, old = self.cards[index], self.blocks[index]
        prev = GENESIS_HASH if index == 0 else self.blocks[index - 1].hash
        try:
            template = replace(self.payloads[index], prev_hash=prev, index=index, nonce=0,
                               difficulty=self.network.difficulty,
                               transaction_data=loads_strict(card.data_text.value))
            Payload.from_claims(template.to_claims())  # the claims' own rules, as a peer reads them
        except (StrictJSONError, InvalidToken) as exc:
            card.note(f"cannot re-mine: {exc}")
            return None
        result = self.miner(template, self.network.secret, self.network.difficulty)
        author = self.wallets.get(template.signer or old.signer or "")
        if author is not None:
            block = Block.create(result.token, author)
            signed = ""
        else:  # nobody here holds the author's key: the old signature stays, and no longer matches
            block = Block(result.token, old.signature, old.signer)
            signed = "; not re-signed: the author's key is not here"
        self.blocks[index], self.payloads[index] = block, template.with_nonce(result.nonce)
        self.attempts += result.attempts
        self.remined += 1
        self._quiet = True
        try:
            card.data_text.value = data_text(template.transaction_data)
        finally:
            self._quiet = False
        card.note(f"{result.attempts:,} attempts{signed}")
        self.refresh()
        return result

    # --- the verdicts

    def refresh(self) -> None:
        """Judge the copy's blocks in order (``validate_blocks``) and show every verdict."""
        self.reports = [report for report, _ in validate_blocks(self.network, self.blocks, now=self.now)]
        for card, block, payload, report in zip(self.cards, self.blocks, self.payloads, self.reports):
            card.show(block, payload, report, self.network.difficulty)
        expected = expected_attempts(self.network.difficulty)
        self.cost_label.value = (f"re-mined {self.remined} block(s): {self.attempts:,} attempts "
                                 f"(about {expected:,} expected per block)" if self.remined else "")
        if self.on_change is not None:
            self.on_change()

    @property
    def chain_hashes(self) -> tuple[str, ...]:
        """The chain this peer would keep: its blocks' hashes up to the first refused block."""
        kept = []
        for block, report in zip(self.blocks, self.reports):
            if not report.accepted:
                break
            kept.append(block.hash)
        return tuple(kept)

    @property
    def refused(self) -> list[int]:
        return [i for i, report in enumerate(self.reports) if not report.accepted]


# --- the peers side by side ----------------------------------------------------------------------


def _names(copies: Sequence[ChainCopy]) -> str:
    names = [c.name for c in copies]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _first_difference(a: Sequence[str], b: Sequence[str]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


class ChainWidget(widgets.VBox):
    """Several peers' copies of one chain, each editable, and whether the copies still agree."""

    def __init__(
        self,
        network: Network,
        blocks: Sequence[Block],
        *,
        wallets: Sequence[Wallet] = (),
        peers: Sequence[str] = ("alice", "bob", "carol"),
        now: dt.datetime | None = None,
        miner: Miner | None = None,
    ):
        if not blocks:
            raise ValueError("the chain widget needs at least one block")
        for index, block in enumerate(blocks):  # the cards show each block's claims
            try:
                block.payload(network.secret)
            except InvalidToken as exc:
                raise ValueError(f"block {index} cannot be shown: its token does not decode ({exc})") from None
        if network.difficulty > MAX_DIFFICULTY:
            raise ValueError(f"the chain widget re-mines while you wait, so it takes a difficulty up to "
                             f"{MAX_DIFFICULTY}, not {network.difficulty}: use network.with_difficulty(2)")
        if not peers or len(set(peers)) != len(peers):
            raise ValueError(f"peers must be one or more different names, not {list(peers)!r}")
        self.network = network
        self.summary_html = widgets.HTML()
        self.copies: list[ChainCopy] = []
        for name in peers:
            self.copies.append(ChainCopy(name, network, blocks, wallets=wallets, now=now, miner=miner))
        for copy in self.copies:  # once they all exist: an edit in one copy is compared with the others
            copy.on_change = self._show_agreement
        self._show_agreement()
        super().__init__([*self.copies, self.summary_html])
        self.add_class("labkit-chain-widget")  # how the browser tests find it in the page

    def copy_of(self, name: str) -> ChainCopy:
        """The copy of the peer called ``name``."""
        for copy in self.copies:
            if copy.name == name:
                return copy
        raise KeyError(f"no peer called {name!r}; the peers are {', '.join(c.name for c in self.copies)}")

    def groups(self) -> list[list[ChainCopy]]:
        """The copies grouped by the chain each would keep, the largest group first."""
        groups: dict[tuple[str, ...], list[ChainCopy]] = {}
        for copy in self.copies:
            groups.setdefault(copy.chain_hashes, []).append(copy)
        return sorted(groups.values(), key=len, reverse=True)

    @property
    def agree(self) -> bool:
        """Whether every copy keeps the same chain, and every block of it is accepted."""
        return len(self.groups()) == 1 and not self.copies[0].refused

    def _show_agreement(self) -> None:
        groups = self.groups()
        lines = []
        for group in groups:
            kept, refused = group[0].chain_hashes, group[0].refused
            line = f"<b>{html.escape(_names(group))}</b>: {len(kept)} block(s) kept"
            if kept:
                line += f", tip {_short(kept[-1], self.network.difficulty)}"
            if refused:
                line += f"; block(s) {', '.join(map(str, refused))} refused"
            if group is not groups[0]:
                since = _first_difference(kept, groups[0][0].chain_hashes)
                line += f"; differs from {html.escape(groups[0][0].name)}'s copy from block {since} on"
            lines.append(line)
        if self.agree:
            head = f"✓ the {len(self.copies)} copies agree" if len(self.copies) > 1 else "✓ every block is accepted"
        elif len(groups) == 1:
            head = "the copies agree, but not every block is accepted"
        else:
            head = "✗ the copies disagree"
            if not any(copy.refused for copy in self.copies):
                lines.append("every copy is valid on its own: which chain a peer keeps is decided by the work "
                             "behind each (notebook 08)")
        colour = ACCEPTED if self.agree else REFUSED
        self.summary_html.value = (
            f'<div class="labkit-chain-summary" style="border-left:4px solid {colour};padding-left:8px">'
            f"<b>{head}</b><br>" + "<br>".join(lines) + "</div>")

    def copies_frame(self) -> "pd.DataFrame":
        """One row per peer: the blocks it keeps, the first it refuses and why, its tip, who agrees with it."""
        import pandas as pd

        rows = []
        groups = {copy.name: group for group in self.groups() for copy in group}
        for copy in self.copies:
            kept = copy.chain_hashes
            first = copy.refused[0] if copy.refused else None
            rows.append({
                "peer": copy.name,
                "blocks kept": len(kept),
                "first refused": "" if first is None else f"{first} ({copy.reports[first].rule})",
                "tip": kept[-1][:16] + "…" if kept else "",
                "same chain as": ", ".join(c.name for c in groups[copy.name] if c is not copy),
            })
        return pd.DataFrame(rows).set_index("peer")


def chain_widget(
    network: Network,
    blocks: Sequence[Block],
    *,
    wallets: Sequence[Wallet] = (),
    peers: Sequence[str] = ("alice", "bob", "carol"),
    now: dt.datetime | None = None,
    miner: Miner | None = None,
) -> ChainWidget:
    """The chain widget: a copy of ``blocks`` per peer; re-mines are signed with ``wallets``, the keys at hand.

    ``network``'s difficulty must be small (up to MAX_DIFFICULTY): re-mining
    runs while the learner waits. ``now`` is the verifier's clock (default:
    the time of each check).
    """
    return ChainWidget(network, blocks, wallets=wallets, peers=peers, now=now, miner=miner)
