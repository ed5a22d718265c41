"""Text for a terminal: user-controlled text is shown, never obeyed.

A member name, a contract id or a file name can hold an escape sequence
(ESC [ 2 J clears the screen, OSC 8 makes a link, a carriage return
overwrites a line) or a bidirectional override that shows text reversed.
``printable`` writes every such character as a visible escape (``\\x1b``,
``\\u202e``), and the bytes of a non-UTF-8 file name (decoded by Python
with surrogateescape) as ``\\xff``. The command line passes every piece of
user-controlled text through it before printing.
"""

from __future__ import annotations

import unicodedata

__all__ = ["printable"]

# Bidirectional formatting characters (Unicode TR 9): they reorder what follows them on the line.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _escape(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def printable(text: object, *, newlines: bool = False) -> str:
    """``str(text)`` with control, bidi-override, line-separator and surrogate characters escaped.

    With ``newlines=True`` a "\\n" is kept (for multi-line text such as a table); everything else is escaped.
    """
    text = str(text)
    if text.isprintable() and not _BIDI.intersection(text):
        return text  # the common case, without a loop over every character
    out = []
    for ch in text:
        if ch == "\n" and newlines:
            out.append(ch)
        elif ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(_escape(ch))
        else:
            out.append(ch)
    return "".join(out)
