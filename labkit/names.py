"""Names and ids people type: one spelling for what looks the same, and nothing invisible.

Ids and names in contracts (a student's id, a proposal's id, an NFT's name)
and members' names must not come in look-alike pairs: "Café" typed with a
composed é and with e + a combining accent are one name, and "P1" followed by
a zero-width space is not a second proposal P1. ``check_text`` therefore

* normalises to NFC, so both spellings of "Café" become the same id;
* refuses control characters (escape sequences among them), format
  characters (zero-width spaces and joiners, bidirectional overrides and
  isolates, the invisible tag characters), surrogates, private-use code
  points, line and paragraph separators and noncharacters;
* refuses text that is empty, all blank, or starts or ends with a blank.

Ids go one step further (``check_id``): they are compared, and stored, in
NFKC, the compatibility form, so the fullwidth "Ｓ００１", "S00¹" with a
superscript one and "S001" are one id, as are the ligature "ﬁ" and "fi".
NFKC joins characters Unicode itself calls another form of the same
character; it does not fold case ("s001" and "S001" look different to
anyone reading them) and it cannot join letters of different scripts that
merely look alike (Latin "C" and Cyrillic "С"): that needs Unicode's
confusables table (UTS #39), which changes with every Unicode version.
Names and descriptions stay in NFC: they are shown, not compared, and NFKC
would rewrite "½" as "1⁄2".

These are consensus rules (the contract rule of ``labkit.rules`` applies
them), so they must not depend on the Unicode version of the running
Python (3.10 ships Unicode 13.0, 3.13 Unicode 15.1): normalisation and
character categories come from ``unicodedata.ucd_3_2_0``, the Unicode 3.2
database every CPython carries unchanged, and the format characters added
after Unicode 3.2, or filed elsewhere by 3.2, are listed below by hand
(``LATER_FORMAT``, checked against the running Python's Unicode by
tests/test_names.py). Characters assigned after 3.2 (most emoji) are
allowed as they are; NFC leaves them unchanged on every Python.
"""

from __future__ import annotations

import unicodedata

from .errors import BadText

__all__ = ["check_text", "check_id", "LATER_FORMAT"]

_UCD = unicodedata.ucd_3_2_0  # the same database on every Python version

# Format characters Unicode 3.2 does not call format characters, up to Unicode 15.1:
# the soft hyphen and the zero-width space (3.2 files them under Pd and Zs), and code
# points assigned later (ucd_3_2_0 calls them unassigned): Arabic number signs, the
# Arabic letter mark, the invisible plus, the bidirectional isolates, Kaithi and
# Egyptian format controls, shorthand format controls.
LATER_FORMAT: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD), (0x200B, 0x200B), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x0890, 0x0891), (0x08E2, 0x08E2),
    (0x2064, 0x2064), (0x2066, 0x2069), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
    (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3),
)
_REFUSED_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}


def _problem(char: str) -> str | None:
    cp = ord(char)
    if any(low <= cp <= high for low, high in LATER_FORMAT):
        return "an invisible format character"
    category = _UCD.category(char)
    if category in _REFUSED_CATEGORIES:
        return _REFUSED_CATEGORIES[category]
    if 0xFDD0 <= cp <= 0xFDEF or cp & 0xFFFE == 0xFFFE:
        return "a noncharacter"
    return None


def check_text(value: str, what: str, *, max_length: int | None = None) -> str:
    """``value`` in NFC; raises BadText naming ``what`` if it is empty, blank-edged, too long or hides characters."""
    return _checked(value, what, "NFC", max_length)


def check_id(value: str, what: str, *, max_length: int | None = None) -> str:
    """``value`` in NFKC, the form ids are compared and stored in (look-alike forms collide); as check_text."""
    return _checked(value, what, "NFKC", max_length)


def _checked(value: str, what: str, form: str, max_length: int | None) -> str:
    if not isinstance(value, str):
        raise BadText(f"{what} must be a non-empty string")
    for position, char in enumerate(value):
        problem = _problem(char)
        if problem is not None:
            raise BadText(f"{what} holds {problem} (U+{ord(char):04X}) at position {position}")
    text = _UCD.normalize(form, value)
    if not text or all(_UCD.category(c) == "Zs" for c in text):
        raise BadText(f"{what} must be a non-empty string, not blank")
    if _UCD.category(text[0]) == "Zs" or _UCD.category(text[-1]) == "Zs":
        raise BadText(f"{what} must not start or end with a space")
    if max_length is not None and len(text) > max_length:
        raise BadText(f"{what} is too long ({len(text)} characters), at most {max_length}")
    return text
