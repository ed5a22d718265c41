"""labkit.terminal: user-controlled text is shown, never obeyed."""

from __future__ import annotations

import pytest

from labkit.terminal import printable


@pytest.mark.parametrize("text, shown", [
    ("alice", "alice"),
    ("Zoë 名前 🎓", "Zoë 名前 🎓"),
    ("\x1b[2Jgone", "\\x1b[2Jgone"),
    ("\x1b]8;;http://evil\x07link\x1b]8;;\x07", "\\x1b]8;;http://evil\\x07link\\x1b]8;;\\x07"),
    ("over\rwrite", "over\\x0dwrite"),
    ("two\nlines", "two\\x0alines"),
    ("evil\u202egnp.exe", "evil\\u202egnp.exe"),
    ("\x9b31m", "\\x9b31m"),  # the one-byte CSI of C1
    ("bad\udcffname", "bad\\xffname"),  # a byte that was not UTF-8, as Python decodes argv
    ("line\u2028sep", "line\\u2028sep"),
    ("\x7f", "\\x7f"),
])
def test_printable(text, shown):
    assert printable(text) == shown
    assert printable(shown) == shown  # escaping is idempotent on its own output


def test_printable_may_keep_newlines():
    assert printable("a\nb\x1b", newlines=True) == "a\nb\\x1b"
