"""Styled tables for notebooks: a validation table with rejected blocks in red, and state diffs.

``labkit.lessons.tables`` turns the chain and the VM state into plain DataFrames;
this module returns pandas ``Styler`` objects built on them, which display
themselves in a notebook. Each highlight is also a CSS class on its cell
(``labkit-invalid``, ``labkit-new``, ``labkit-changed``), so tests and the
browser tests can find it without reading colours, and each styled table
keeps the boolean mask it was drawn from (``styler.labkit_mask``).

Every table goes through one helper, :func:`frame_table`, so all look alike in any
theme: no default row numbers, text left-aligned and never cut, whole numbers
without decimals, tiny probabilities in scientific notation, missing values empty.
Highlights are tints of JupyterLab's theme colours (``--jp-success-color1``...)
mixed into its background (``--jp-layout-color0``), with the text in the theme's own
colour, so they stay readable in the light and the dark theme; outside JupyterLab
(nbviewer, plain HTML) the fallbacks are the light theme's.

pandas (and jinja2, which Styler needs) are imported when a table is asked for.
"""

from __future__ import annotations

import math
import re
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
    "tint",
    "cell_text",
    "frame_table",
    "verdicts_table",
    "validation_table",
    "chain_table",
    "changes_frame",
    "changes_table",
    "state_diff_tables",
    "peers_table",
]

_THEME = {  # a tint's theme variable and its fallback (the light theme's value)
    "success": ("--jp-success-color1", "#388e3c"),
    "error": ("--jp-error-color1", "#d32f2f"),
    "warn": ("--jp-warn-color1", "#f57c00"),
}
_FALLBACK_BACKGROUND = {"success": "#e6f4ea", "error": "#fce8e6", "warn": "#fef7e0"}


def tint(kind: str, share: int = 22) -> str:
    """CSS for a highlighted background: ``share`` % of the theme's ``kind`` colour in its page colour.

    ``kind`` is "success", "error" or "warn". The text keeps the theme's colour
    (white in the dark theme, black in the light one): it stays readable in both.
    """
    variable, fallback = _THEME[kind]
    mixed = f"color-mix(in srgb, var({variable}, {fallback}) {share}%, var(--jp-layout-color0, white))"
    return f"background-color: {_FALLBACK_BACKGROUND[kind]}; background-color: {mixed}"


COLORS = {
    "invalid": tint("error"),                            # a rejected block
    "valid": tint("success"),                            # the verdict cell of an accepted block
    "new": tint("success"),                              # a row that was not there before
    "changed": tint("warn", 30) + "; font-weight: bold",  # a cell whose value changed
}
_HEX = re.compile(r"[0-9a-f]{8,}…?")  # a hash or a short hash, shown in monospace
_TEXT_STYLE = [("text-align", "left"), ("white-space", "normal"), ("max-width", "36em")]
_CELL_PADDING = (("padding", "0.25em 0.75em"),)  # every table's cells, in an output or in a widget


# --- every table ------------------------------------------------------------------


def cell_text(value: Any, *, missing: str = "") -> str:
    """A cell as the workbook shows it: missing values as ``missing``, whole numbers without decimals
    (grouped from 10,000 up),
    probabilities below 0.001 in scientific notation (never ``0.0000``), functions by their full name."""
    import numbers

    if value is None or value is getattr(_pandas(), "NA", None) or (isinstance(value, float) and math.isnan(value)):
        return missing
    if isinstance(value, bool) or hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "b":
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return _whole(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return missing
        if number.is_integer() and abs(number) < 1e15:
            return _whole(int(number))
        if abs(number) < 1e-3:
            return f"{number:.2e}"
        return _whole(round(number)) if abs(number) >= 1000 else f"{number:.4g}"
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', None) or 'builtins'}.{value.__qualname__}"
    return str(value)


def _whole(number: int) -> str:
    """Digits grouped from 10,000 up (65,536 attempts, 1,048,576 bytes); 623 and 4096 as they are."""
    return f"{number:,}" if abs(number) >= 10_000 else str(number)


def _pandas():
    import pandas as pd

    return pd


def frame_table(frame: "pd.DataFrame", *, caption: str | None = None, missing: str = "") -> "Styler":
    """Any DataFrame styled as the workbook's tables: the helper every ``*_table`` goes through.

    An unnamed integer index (row numbers: 0, 1, 2...) is hidden, a named one kept; text columns
    are left-aligned and wrap instead of being cut; hashes are in monospace;
    numbers read as :func:`cell_text` writes them. The table carries the class
    ``labkit-table``.
    """
    pd = _pandas()

    styler = frame.style.format(lambda value: cell_text(value, missing=missing)).format_index(
        lambda value: cell_text(value, missing=missing))
    if frame.index.name is None and frame.index.nlevels == 1 and pd.api.types.is_integer_dtype(frame.index):
        styler = styler.hide(axis="index")  # row numbers, left over from building or filtering the frame
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])
            or pd.api.types.is_bool_dtype(frame[c])]
    hexes = [c for c in text if len(frame) and all(isinstance(v, str) and _HEX.fullmatch(v) for v in frame[c])]
    # The padding is the table's own: a notebook's output area pads table cells, a widget's HTML does not,
    # and without it a widget's columns run together ("0000715d1bb5 12,288" reads as one string).
    styles = [{"selector": "", "props": [("border-collapse", "collapse")]},
              {"selector": "th", "props": [("text-align", "left")]},
              {"selector": "th, td", "props": list(_CELL_PADDING)}]
    if text:
        styler = styler.set_properties(subset=text, **dict(_TEXT_STYLE))
    if hexes:
        styler = styler.set_properties(subset=hexes, **{"font-family": "monospace", "white-space": "nowrap"})
    styler = styler.set_table_styles(styles, overwrite=False).set_table_attributes('class="labkit-table"')
    return styler.set_caption(caption) if caption else styler


# --- validation -------------------------------------------------------------------


def verdicts_table(frame: "pd.DataFrame") -> "Styler":
    """Colour every row whose ``valid`` column is False red; hashes in monospace.

    ``frame`` is a table from ``labkit.lessons.tables.chain_frame`` or ``report_frame``.
    """
    import pandas as pd

    if "valid" not in frame.columns:
        raise ValueError("the table needs a boolean 'valid' column (see labkit.lessons.tables)")
    invalid = ~frame["valid"].astype(bool)
    mask = pd.DataFrame({c: invalid for c in frame.columns}, index=frame.index)

    def css(_: "pd.DataFrame") -> "pd.DataFrame":
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        out.loc[invalid.values, :] = COLORS["invalid"]
        out.loc[~invalid.values, "valid"] = COLORS["valid"]
        return out

    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes.loc[invalid.values, :] = "labkit-invalid"
    styler = frame_table(frame, missing="?").apply(css, axis=None).set_td_classes(classes)
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

    Rows are matched by index (the record ids of ``labkit.lessons.tables``); a column
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
    styler = frame_table(after).apply(lambda _: css, axis=None).set_td_classes(classes)
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
    """One row per peer: its chain's height and tip, and its state digest (its first 16 hex digits);
    digests that differ from the most common one in red."""
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
    # 16 hex digits tell the digests apart and fit the coloured cell on a projector (64 ran past it)
    frame["digest"] = [f"{digest[:16]}…" for digest in frame["digest"]]

    def css(_: "pd.DataFrame") -> "pd.DataFrame":
        out = pd.DataFrame("", index=frame.index, columns=frame.columns)
        out["digest"] = [COLORS["invalid"] if bad else COLORS["valid"] for bad in odd]
        return out

    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    classes["digest"] = ["labkit-invalid" if bad else "" for bad in odd]
    styler = frame_table(frame).apply(css, axis=None).set_td_classes(classes)
    styler.labkit_mask = mask  # type: ignore[attr-defined]
    return styler
