"""Styled tables for notebooks: a validation table with rejected blocks in red, and state diffs.

``labkit.teaching.tables`` turns the chain and the VM state into plain DataFrames;
this module returns pandas ``Styler`` objects built on them, which display
themselves in a notebook. Each highlight is also a CSS class on its cell
(``labkit-invalid``, ``labkit-new``, ``labkit-changed``), so tests and the
browser tests can find it without reading colours, and each styled table
keeps the boolean mask it was drawn from (``styler.labkit_mask``).

pandas (and jinja2, which Styler needs) are imported when a table is asked for.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pandas.io.formats.style import Styler

    from ..block import Block
    from ..chain import BlockReport, Chain
    from ..network import Network
    from ..peer import Peer

__all__ = [
    "COLORS",
    "verdicts_table",
    "validation_table",
    "chain_table",
    "changes_frame",
    "changes_table",
    "state_diff_tables",
    "peers_table",
]

COLORS = {
    "invalid": "background-color: #fce8e6; color: #a50e0e",  # a rejected block
    "valid": "background-color: #e6f4ea",                    # the verdict cell of an accepted block
    "new": "background-color: #e6f4ea",                      # a row that was not there before
    "changed": "background-color: #fff3c4; font-weight: bold",  # a cell whose value changed
}
_MONO = "font-family: monospace"
_HEX_COLUMNS = ("hash", "prev_hash")


# --- validation -------------------------------------------------------------------


def verdicts_table(frame: "pd.DataFrame") -> "Styler":
    """Colour every row whose ``valid`` column is False red; hashes in monospace.

    ``frame`` is a table from ``labkit.teaching.tables.chain_frame`` or ``report_frame``.
    """
    import pandas as pd

    if "valid" not in frame.columns:
        raise ValueError("the table needs a boolean 'valid' column (see labkit.teaching.tables)")
    invalid = ~frame["valid"].astype(bool)
    mask = pd.DataFrame({c: invalid for c in frame.columns}, index=frame.index)

    def css(_: "pd.DataFrame") -> "pd.DataFrame":
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        out.loc[invalid.values, :] = COLORS["invalid"]
        out.loc[~invalid.values, "valid"] = COLORS["valid"]
        return out

    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes.loc[invalid.values, :] = "labkit-invalid"
    styler = frame.style.apply(css, axis=None).set_td_classes(classes)
    hex_columns = [c for c in _HEX_COLUMNS if c in frame.columns]
    if hex_columns:
        styler = styler.set_properties(subset=hex_columns, **{"font-family": "monospace"})
    styler.labkit_mask = mask  # type: ignore[attr-defined]
    return styler


def validation_table(blocks: "list[Block]", reports: "Iterable[BlockReport]", network: "Network") -> "Styler":
    """One row per block with its verdict, the rule it broke and the reason; rejected rows in red."""
    from .tables import report_frame

    return verdicts_table(report_frame(blocks, list(reports), network))


def chain_table(chain: "Chain") -> "Styler":
    """A valid chain as a styled table (every row passes, so none is red)."""
    from .tables import chain_frame

    return verdicts_table(chain_frame(chain))


# --- state diffs --------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _same(a: Any, b: Any) -> bool:
    """Cell equality where a missing value equals a missing value (NaN != NaN otherwise)."""
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays, whose == is elementwise
        return repr(a) == repr(b)


def changes_frame(before: "pd.DataFrame", after: "pd.DataFrame") -> "pd.DataFrame":
    """A DataFrame shaped like ``after``: "new" for cells of new rows, "changed" for changed cells, "" otherwise.

    Rows are matched by index (the record ids of ``labkit.teaching.tables``); a column
    that was not there before counts as changed where it holds a value.
    """
    import pandas as pd

    marks = pd.DataFrame("", index=after.index, columns=after.columns)
    for row in after.index:
        if row not in before.index:
            marks.loc[row, :] = "new"
            continue
        for column in after.columns:
            old = before.at[row, column] if column in before.columns else None
            if not _same(old, after.at[row, column]):
                marks.at[row, column] = "changed"
    return marks


def changes_table(before: "pd.DataFrame", after: "pd.DataFrame", *, caption: str | None = None) -> "Styler":
    """``after`` with new rows in green and changed cells in bold yellow; removed rows named in the caption."""
    marks = changes_frame(before, after)
    css = marks.replace({"new": COLORS["new"], "changed": COLORS["changed"]})
    classes = marks.replace({"new": "labkit-new", "changed": "labkit-changed"})
    styler = after.style.apply(lambda _: css, axis=None).set_td_classes(classes).format(na_rep="")
    new_rows = set(after.index) - set(before.index)
    styler = styler.apply_index(lambda labels: [COLORS["new"] if label in new_rows else "" for label in labels])
    removed = [str(row) for row in before.index if row not in after.index]
    notes = [caption] if caption else []
    if removed:
        notes.append("removed: " + ", ".join(removed))
    if notes:
        styler = styler.set_caption(" · ".join(notes))
    styler.labkit_mask = marks != ""  # type: ignore[attr-defined]
    styler.labkit_marks = marks  # type: ignore[attr-defined]
    return styler


def state_diff_tables(before: dict, after: dict, network: "Network | None" = None) -> "dict[str, Styler]":
    """The four state tables of ``after``, each highlighting what changed since ``before``.

    ``before`` and ``after`` are VM states (``OISC.state`` or ``OISC.snapshot()``).
    """
    from .tables import state_frames

    old, new = state_frames(before, network), state_frames(after, network)
    return {name: changes_table(old[name], new[name]) for name in new}


# --- peers --------------------------------------------------------------------------


def peers_table(peers: "Iterable[Peer]") -> "Styler":
    """One row per peer: its chain's height and tip, and its state digest; digests that differ from the most common one in red."""
    import pandas as pd
    from collections import Counter

    peers = list(peers)
    rows = [{"peer": p.name, "address": p.wallet.short_address if p.wallet else "(no wallet)", "blocks": len(p.chain),
             "tip": p.chain.tip.hash[:12] if p.chain.tip else "", "digest": p.digest()} for p in peers]
    frame = pd.DataFrame(rows, columns=["peer", "address", "blocks", "tip", "digest"]).set_index("peer")
    common = Counter(frame["digest"]).most_common(1)[0][0] if len(frame) else None
    odd = frame["digest"] != common
    mask = pd.DataFrame(False, index=frame.index, columns=frame.columns)
    mask["digest"] = odd

    def css(_: "pd.DataFrame") -> "pd.DataFrame":
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        out["digest"] = [COLORS["invalid"] if bad else COLORS["valid"] for bad in odd]
        return out

    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes["digest"] = ["labkit-invalid" if bad else "" for bad in odd]
    styler = (frame.style.apply(css, axis=None).set_td_classes(classes)
              .set_properties(subset=["tip", "digest"], **{"font-family": "monospace"}))
    styler.labkit_mask = mask  # type: ignore[attr-defined]
    return styler
