"""labkit.names: one spelling for look-alike ids, nothing invisible, the same on every Python."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import BadText
from labkit.names import check_id, check_text

INVISIBLE = ("Cf", "Cc", "Cs", "Co", "Zl", "Zp")


def test_everything_this_python_calls_invisible_is_refused():
    # The fixed list (LATER_FORMAT) must cover every format character of this Python's Unicode;
    # a newer Python with a newer Unicode that adds one makes this test fail, not a verdict differ.
    missed = [f"U+{cp:04X}" for cp in range(sys.maxunicode + 1)
              if unicodedata.category(chr(cp)) in INVISIBLE and _accepted("a" + chr(cp) + "b")]
    assert missed == [], f"Unicode {unicodedata.unidata_version}: add these to LATER_FORMAT: {missed}"


def _accepted(text: str) -> bool:
    try:
        check_text(text, "id")
    except BadText:
        return False
    return True


@pytest.mark.parametrize("text, words", [
    ("", "non-empty"), ("   ", "not blank"), (" P1", "start or end"), ("P1\u3000", "start or end"),
    ("P1\u200b", "invisible"), ("\u00adP1", "invisible"), ("P\u202e1", "invisible"), ("P1\x1b", "control"),
    ("P1\ud800", "surrogate"), ("P\ue0001", "private-use"), ("P1\uffff", "noncharacter"), ("P\u20281", "line separator"),
    (5, "non-empty string"),
])
def test_refusals_name_what_is_wrong(text, words):
    with pytest.raises(BadText, match=words):
        check_text(text, "proposal.id")


def test_nfc_by_the_fixed_database():
    assert check_text("Cafe\u0301", "id") == "Caf\u00e9"
    assert check_text("\u212b", "id") == "\u00c5"  # ANGSTROM SIGN becomes A WITH RING
    assert check_text("Ракета 🚀", "name") == "Ракета 🚀"


def test_length_is_counted_after_normalising():
    assert check_text("e\u0301" * 64, "id", max_length=64) == "\u00e9" * 64
    with pytest.raises(BadText, match="too long"):
        check_text("x" * 65, "id", max_length=64)


@given(st.text(max_size=20))
def test_normalising_is_idempotent(text):
    try:
        once = check_text(text, "id")
    except BadText:
        return
    assert check_text(once, "id") == once


# --- ids: NFKC, so look-alike forms of one character are one id ---------------------------------------


@pytest.mark.parametrize("typed, stored", [
    ("\uff33\uff10\uff10\uff11", "S001"),  # fullwidth Ｓ００１
    ("S00\u00b9", "S001"),  # a superscript one
    ("\ufb01le", "file"),  # the ligature ﬁ
    ("\u212a1", "K1"),  # the Kelvin sign
    ("Cafe\u0301", "Caf\u00e9"),  # composed, as NFC does
    ("s001", "s001"),  # case is seen, not folded
    ("\u0421001", "\u0421001"),  # a Cyrillic С stays itself: another script, not another form (UTS 39's job)
])
def test_ids_are_compared_in_nfkc(typed, stored):
    assert check_id(typed, "student.id") == stored


def test_names_keep_their_form_where_ids_do_not():
    assert check_text("\uff33\uff10\uff10\uff11", "name") == "\uff33\uff10\uff10\uff11"
    assert check_text("\u00bd cup", "name") == "\u00bd cup"  # NFKC would write 1⁄2


@pytest.mark.parametrize("text, words", [("S1\u200b", "invisible"), ("\u00a0S1", "start or end"),
                                         ("\u3000", "not blank"), ("\ufb03" * 22, "too long")])
def test_ids_are_refused_as_text_is_after_nfkc(text, words):
    with pytest.raises(BadText, match=words):
        check_id(text, "id", max_length=64)


def test_nfkc_never_makes_an_id_hide_characters():
    # every compatibility decomposition of the fixed database, in an id: what comes out is checked text
    for cp in range(sys.maxunicode + 1):
        char = chr(cp)
        if not unicodedata.ucd_3_2_0.decomposition(char).startswith("<"):
            continue
        try:
            out = check_id("a" + char + "b", "id")
        except BadText:
            continue
        assert check_text(out, "id") == out, f"U+{cp:04X}"


@given(st.text(max_size=20))
def test_ids_normalise_idempotently(text):
    try:
        once = check_id(text, "id")
    except BadText:
        return
    assert check_id(once, "id") == once

