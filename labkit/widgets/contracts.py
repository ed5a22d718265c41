"""The contract builder (notebook 06): write a contract, mine it, and watch the state change.

Choose an action, fill in its fields (generated from
``labkit.operations.FIELDS``) and press Submit. The contract is mined into a
block on the peer's chain tip, signed by the chosen wallet, and handed to
``Peer.receive``, so it passes every check a block from the network would:
signature, MAC, link, proof of work, and finally the VM. The state tables
then show what changed; a contract the VM refuses shows its reason and the
state stays exactly as it was.

Test hooks: ``w.action`` (Dropdown), ``w.signer`` (Dropdown),
``w.fields`` (name -> Text or Textarea), ``w.submit_button``,
``w.last_report`` (the BlockReport of the last block), ``w.last_error``
(input that could not become a contract), ``w.tables`` (name -> Styler) and
``w.wait()``, which returns once a background submission is done.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import threading
from typing import Callable, Sequence

import ipywidgets as widgets

from ..chain import BlockReport, mine_block
from ..encoding import loads_strict
from ..errors import LabkitError, StrictJSONError
from ..network import Network
from ..operations import FIELDS
from ..peer import Peer
from ..fastmine import default_miner
from ..lessons.data import DEMO_START
from ..lessons.display import tint
from ..wallet import Wallet

__all__ = ["ContractBuilder", "contract_builder", "build_instruction", "parse_metadata", "next_timestamp"]

_PLACEHOLDERS = {
    "id": "e.g. S002, C002, P002 or NFT002",
    "name": "e.g. Ada Lovelace",
    "department": "e.g. Mathematics",
    "description": "required for a new proposal, optional for a vote",
    "metadata": "key=value, one per line\nor a JSON object",
}


def parse_metadata(text: str) -> dict:
    """NFT metadata from ``key=value`` lines or a JSON object; raises ValueError naming the bad line."""
    text = text.strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            value = loads_strict(text)
        except StrictJSONError as exc:
            raise ValueError(f"metadata: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("metadata: JSON must be an object")
        return value
    metadata: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"metadata line {number}: expected key=value, got {line.strip()!r}")
        if key in metadata:
            raise ValueError(f"metadata line {number}: key {key!r} appears twice")
        metadata[key] = value.strip()
    return metadata


def build_instruction(action: str, values: dict[str, str]) -> dict:
    """One instruction in the seed's format from the text of each field.

    Empty fields are left out, so the VM itself says what is missing;
    ``metadata`` is parsed by ``parse_metadata`` (ValueError if it cannot be).
    """
    if action not in FIELDS:
        raise ValueError(f"unknown action {action!r}")
    key, required, optional = FIELDS[action]
    record: dict = {}
    for name in (*required, *optional):
        text = values.get(name, "")
        if name == "metadata":
            if text.strip():
                record[name] = parse_metadata(text)
        elif text.strip():
            record[name] = text.strip()
    return {"action": action, key: record}


def next_timestamp(peer: Peer) -> dt.datetime:
    """One minute after the chain's tip (the demo start for an empty chain): reproducible block times."""
    tip = peer.chain.tip
    return DEMO_START if tip is None else tip.payload.time + dt.timedelta(minutes=1)


class ContractBuilder(widgets.VBox):
    """The widget ``contract_builder`` returns; see the module docstring for its parts."""

    def __init__(
        self,
        peer: Peer,
        wallets: Sequence[Wallet],
        *,
        miner=None,
        clock: Callable[[Peer], dt.datetime] = next_timestamp,
        background: bool = False,
    ):
        from ..lessons.display import chain_table, state_diff_tables

        self._chain_table, self._state_diff = chain_table, state_diff_tables
        self.peer = peer
        self.wallets = {w.name or w.short_address: w for w in wallets}
        self.miner = miner or default_miner()
        self.clock = clock
        self.background = background
        self.last_report: BlockReport | None = None
        self.last_error: str | None = None
        self.tables: dict = {}
        self._thread: threading.Thread | None = None

        self.signer = widgets.Dropdown(options=list(self.wallets), description="signed by")
        self.action = widgets.Dropdown(options=list(FIELDS), description="action")
        self.fields: dict[str, widgets.Text | widgets.Textarea] = {}
        self.field_box = widgets.VBox()
        self.preview = widgets.HTML()
        self.submit_button = widgets.Button(description="Mine and submit", button_style="primary",
                                            icon="cube")
        self.status = widgets.HTML()
        self.chain_output = widgets.HTML()
        self.state_output = widgets.HTML()

        self.action.observe(lambda _: self._make_fields(), names="value")
        self.submit_button.on_click(lambda _: self.submit())
        self._make_fields()
        self._show_state(peer.state, peer.state)
        super().__init__([
            widgets.HBox([self.signer, self.action]), self.field_box, self.preview,
            self.submit_button, self.status,
            widgets.HTML("<b>chain</b>"), self.chain_output,
            widgets.HTML("<b>state</b> (new rows green, changed cells yellow)"), self.state_output,
        ])
        self.add_class("labkit-contract-builder")  # how the browser tests find it in the page

    # --- the form ---------------------------------------------------------------------

    def _make_fields(self) -> None:
        _, required, optional = FIELDS[self.action.value]
        self.fields = {}
        for name in (*required, *optional):
            kind = widgets.Textarea if name == "metadata" else widgets.Text
            label = name if name in required else f"{name} (optional)"
            field = kind(description=label, placeholder=_PLACEHOLDERS.get(name, ""),
                         style={"description_width": "9em"}, layout={"width": "32em"})
            field.observe(lambda _: self._update_preview(), names="value")
            self.fields[name] = field
        self.field_box.children = list(self.fields.values())
        self._update_preview()

    def contract(self) -> dict:
        """The contract the form describes now; raises ValueError for unreadable metadata."""
        values = {name: field.value for name, field in self.fields.items()}
        return {"actions": [build_instruction(self.action.value, values)]}

    def _update_preview(self) -> None:
        try:
            text = json.dumps(self.contract(), indent=2)
        except ValueError as exc:
            text = f"(not a contract yet: {exc})"
        self.preview.value = f"<pre style='margin:0;font-size:90%;max-height:12em;overflow:auto'>{html.escape(text)}</pre>"

    # --- submitting -------------------------------------------------------------------

    def submit(self) -> None:
        """What the button does: build, mine, and hand the block to the peer (in a thread if background)."""
        if self._thread is not None and self._thread.is_alive():
            return  # one block at a time
        self.last_error = None
        try:
            contract = self.contract()
        except ValueError as exc:
            self.last_error = str(exc)
            self._say("error", f"not submitted: {exc}")
            return
        self.submit_button.disabled = True
        self._say("busy", f"mining on block {self.peer.chain.tip.index if self.peer.chain.tip else '-'} "
                          f"at difficulty {self.peer.network.difficulty}…")
        if self.background:
            self._thread = threading.Thread(target=self._mine_and_receive, args=(contract,), daemon=True)
            self._thread.start()
        else:
            self._mine_and_receive(contract)

    def _mine_and_receive(self, contract: dict) -> None:
        peer = self.peer
        wallet = self.wallets[self.signer.value]
        before = peer.state
        try:
            block = mine_block(peer.network, wallet, contract, parent=peer.chain.tip,
                               timestamp=self.clock(peer), miner=self.miner)
            [report] = peer.receive([block])
        except LabkitError as exc:  # e.g. a contract too large for a token: nothing was added
            self.last_error = str(exc)
            self._say("error", f"not submitted: {exc}")
            return
        finally:
            self.submit_button.disabled = False
        self.last_report = report
        if report.accepted:
            self._say("ok", f"block {report.index} mined by {wallet.name}, hash {report.hash[:16]}…, "
                            "accepted by every check")
        else:
            self._say("error", f"block {report.index} rejected [{report.rule}]: {report.reason}. "
                               "The state is unchanged.")
        self._show_state(before, peer.state)

    def wait(self, timeout: float | None = 30) -> BlockReport | None:
        """Wait for a background submission to finish; return its report."""
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"mining did not finish within {timeout} s")
        return self.last_report

    # --- showing ----------------------------------------------------------------------

    def _say(self, kind: str, message: str) -> None:
        style = {"ok": tint("success"), "error": tint("error"), "busy": tint("warn", 15)}[kind]
        self.status.value = (f"<div class='labkit-status labkit-{kind}' style='{style};padding:4px 8px'>"
                             f"{html.escape(message)}</div>")

    def _show_state(self, before: dict, after: dict) -> None:
        self.tables = self._state_diff(before, after, self.peer.network)
        parts = []
        for name, styler in self.tables.items():
            body = styler.to_html() if len(styler.data) else "<i>(empty)</i>"
            parts.append(f"<div style='margin-right:2em'><b>{name}</b>{body}</div>")
        self.state_output.value = "<div style='display:flex;flex-wrap:wrap'>" + "".join(parts) + "</div>"
        chain = self.peer.chain
        self.chain_output.value = self._chain_table(chain).to_html() if len(chain) else "<i>(no blocks yet)</i>"


def contract_builder(
    peer_or_network: Peer | Network,
    wallet: Wallet | Sequence[Wallet] | None = None,
    *,
    miner=None,
    clock: Callable[[Peer], dt.datetime] = next_timestamp,
    background: bool = False,
) -> ContractBuilder:
    """A contract builder on a peer (or on a fresh peer of ``network``).

    ``wallet`` signs the blocks; pass several to choose the signer in the
    widget (votes count once per signer). It defaults to the peer's own
    wallet. ``miner`` defaults to ``labkit.fastmine.default_miner()``; ``clock(peer)`` gives
    each block's time (by default one minute after the tip, so runs repeat);
    ``background=True`` mines in a thread (then call ``w.wait()``).
    """
    if isinstance(peer_or_network, Network):
        if wallet is None:
            raise ValueError("a wallet is needed to build a peer on a network")
        first = wallet if isinstance(wallet, Wallet) else wallet[0]
        peer = Peer(first.name or "builder", peer_or_network, wallet=first)
    elif isinstance(peer_or_network, Peer):
        peer = peer_or_network
    else:
        raise TypeError(f"expected a Peer or a Network, got {type(peer_or_network).__name__}")
    if wallet is None:
        wallets: list[Wallet] = [peer.wallet]
    elif isinstance(wallet, Wallet):
        wallets = [wallet]
    else:
        wallets = list(wallet)
        if not wallets:
            raise ValueError("give at least one wallet")
    return ContractBuilder(peer, wallets, miner=miner, clock=clock, background=background)
