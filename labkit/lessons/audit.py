"""The audit behind the block inspector: one record judged, with every rule asked.

``audit_record`` asks ``labkit.chain.judge`` with ``every_rule=True``: the
verdict is the one a peer reaches (the first rule broken), and the table
shows every rule asked on what the rules before it established, so one
edited byte can be seen breaking several seals at once (signature, MAC and
proof of work) though a verifier stops at the first. It also says whether
the next block still accepts this one as its parent. Nothing here needs
ipywidgets: ``labkit.widgets.inspector`` draws it.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ..block import Block
from ..chain import QUESTIONS, Entry, Link, Outcome, Verdict, judge
from ..errors import InvalidBlock, InvalidRecord
from ..network import Network
from ..vm import State
from .display import tint

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Audit", "audit_record"]


@dataclass(frozen=True)
class Audit:
    """One record judged: its verdict (every rule's outcome), and the next block's verdict on it."""

    verdict: Verdict
    block: Block | None  # the record checked, None when the parts do not make one
    next_verdict: Verdict | None = None  # the next block's, built on this one as if it were accepted

    @property
    def index(self) -> int:
        return self.verdict.index

    @property
    def error(self) -> InvalidBlock | None:
        return self.verdict.error

    @property
    def accepted(self) -> bool:
        return self.verdict.accepted

    @property
    def failed_rule(self) -> str | None:
        return self.verdict.rule

    @property
    def broken_rules(self) -> list[str]:
        """Every rule the record breaks on its own, in table order."""
        return [o.rule for o in self.verdict.outcomes if o.outcome is Outcome.BROKEN]

    @property
    def has_next(self) -> bool:
        return self.next_verdict is not None

    @property
    def next_error(self) -> InvalidBlock | None:
        return None if self.next_verdict is None else self.next_verdict.error

    def rules_frame(self) -> "pd.DataFrame":
        """The rules as a table: what each asks, ✓/✗/– on its own, and what it found or why not."""
        return self.verdict.rules_frame()

    def _repr_html_(self) -> str:
        return audit_html(self)


def audit_record(
    record: dict,
    network: Network,
    parent: Entry | Link | None,
    *,
    state: State | None = None,
    next_block: Block | None = None,
    now: dt.datetime | None = None,
) -> Audit:
    """Judge a record (a dict: token, signature, signer) on ``parent`` and ``state``, every rule asked.

    ``parent`` carries its own refusal (``Link.refused``) when an earlier block
    was refused; ``state`` is the VM state after the parent; ``next_block`` is
    judged on this one as if this one were accepted: does it still link?
    (its contract is not run).
    """
    verdict = judge(dict(record), network, parent, state=state, now=now, every_rule=True)
    try:
        block = Block.from_dict(record)
    except InvalidRecord:  # the verdict says why it is no record
        block = None
    following = None
    if next_block is not None and block is not None:
        following = judge(next_block, network, replace(verdict.link, refused=None), now=now)
    return Audit(verdict, block, following)


_TINTS = {Outcome.PASSED: "success", Outcome.BROKEN: "error"}  # display.tint: readable in any theme
_CLASSES = {Outcome.PASSED: "pass", Outcome.BROKEN: "fail"}


def audit_html(audit: Audit) -> str:
    """The audit as an HTML table, the rule that decided the verdict outlined."""
    body = []
    for number, found in enumerate(audit.verdict.outcomes, start=1):
        here = found.rule == audit.failed_rule
        kind = _TINTS.get(found.outcome)
        style = (tint(kind) if kind else "") + (";outline:2px solid var(--jp-error-color1, #d32f2f)" if here else "")
        body.append(
            f'<tr class="labkit-check labkit-{_CLASSES.get(found.outcome, "unknown")}" data-check="{found.rule}" '
            f'style="{style};text-align:left"><td>{number}</td><td><code>{found.rule}</code></td>'
            f'<td>{html.escape(QUESTIONS[found.rule])}</td><td style="text-align:center">{found.outcome.mark}</td>'
            f"<td>{'<b>← rejected here</b>' if here else ''}</td><td>{html.escape(found.detail)}</td></tr>")
    error = audit.error
    if error is None:
        verdict = f'<p style="{tint("success")}"><b>Accepted:</b> the block passes every rule.</p>'
    else:
        verdict = (f'<p style="{tint("error")}"><b>Rejected</b> at <code>{error.rule}</code>: '
                   f"{html.escape(error.reason)}</p>")
    if audit.has_next:
        following = audit.index + 1
        if audit.next_error is None:
            verdict += f"<p>Block {following} still accepts this block as its parent.</p>"
        else:
            verdict += (f'<p style="{tint("error")}">Block {following} no longer follows: '
                        f"<code>{audit.next_error.rule}</code>: {html.escape(audit.next_error.reason)}</p>")
    head = "<tr><th>#</th><th>rule</th><th>asks</th><th>on its own</th><th>verdict</th><th>detail</th></tr>"
    return (f'<div class="labkit-audit">{verdict}<table style="border-collapse:collapse;font-size:90%">'
            f"{head}{''.join(body)}</table></div>")
