"""Command-line values checked before anything is done: argparse types for every labkit command.

Each function here is an argparse ``type``: it returns the value checked or
raises ``argparse.ArgumentTypeError``, which the parser prints as one
``error:`` line before any file or folder is made. ``python -m labkit`` and
its ``node`` and ``share``/``fetch`` subcommands use these same types, so a
number, a path or an address means one thing wherever it is typed:

- numbers (:func:`whole_number`, :func:`seconds`) are ASCII digits only
  (``int()`` and ``float()`` would also take ``٣``, ``1_0``, ``nan``, ``inf``
  and ``1e999``) and within a stated range;
- paths are never empty (``Path('')`` is the current folder) and are checked
  without opening a FIFO or a device (:mod:`labkit.files`);
- addresses go through :mod:`labkit.sharing.addresses`, the one parser.

:func:`error_line` renders any message as the one line a refusal prints.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Callable

from .errors import LabkitError
from .terminal import printable

__all__ = [
    "error_line",
    "whole_number",
    "seconds",
    "checked",
    "input_file",
    "new_file",
    "output_file",
    "folder",
    "existing_folder",
    "path",
    "text",
    "peer",
    "listen",
]

# How a line break, a carriage return and a tab read in an error line (as in a Python string literal);
# every other control character is written by labkit.terminal.printable as \xNN.
_READABLE = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def error_line(message: object) -> str:
    """``message`` as one line for a terminal: line breaks as ``\\n``, other control characters escaped."""
    text = str(message)
    for char, shown in _READABLE.items():
        text = text.replace(char, shown)
    return printable(text)


# --- numbers -------------------------------------------------------------------------------------


def whole_number(low: int, high: int, what: str, *, unit: str = "") -> Callable[[str], int]:
    """An argparse type for a whole number from ``low`` to ``high``, written in ASCII digits."""
    digits = len(str(high))

    def convert(value: str) -> int:
        if not re.fullmatch(rf"[0-9]{{1,{digits}}}", value) or not low <= int(value) <= high:
            of = f" of {unit}" if unit else ""
            raise argparse.ArgumentTypeError(f"{what} must be a whole number{of} from {low:,} to {high:,}, "
                                             f"not {value!r}")
        return int(value)
    return convert


def seconds(low: float, high: float, what: str = "the time-out") -> Callable[[str], float]:
    """An argparse type for a duration from ``low`` to ``high`` seconds: ASCII digits and one point.

    Never nan, inf or a negative number (a time-out of nan never expires); no exponent.
    """
    def convert(value: str) -> float:
        if not re.fullmatch(r"[0-9]{1,9}(\.[0-9]{0,9})?|\.[0-9]{1,9}", value) or not low <= float(value) <= high:
            raise argparse.ArgumentTypeError(f"{what} is a number of seconds from {low:g} to {high:g}, "
                                             f"not {value!r}")
        return float(value)
    return convert


# --- paths and text ------------------------------------------------------------------------------


def checked(check, *, empty: str = "an empty path"):
    """An argparse type from a check that raises LabkitError (or OSError); the empty string is refused."""
    def convert(value: str):
        if value == "":
            raise argparse.ArgumentTypeError(empty)
        try:
            return check(value)
        except (LabkitError, OSError) as exc:
            from .files import describe

            raise argparse.ArgumentTypeError(describe(exc) if isinstance(exc, OSError) else str(exc)) from None
    return convert


def input_file(limit: int):
    """A regular file that exists, at most ``limit`` bytes (never a FIFO or a device)."""
    from .files import check_regular

    return checked(lambda value: str(check_regular(value, limit=limit)))


def new_file(value: str) -> str:
    """A file to create: it must not exist yet, and its folder must be writable."""
    from .files import check_new_file

    return str(checked(check_new_file)(value))


def output_file(value: str) -> Path:
    """A file to write, replaced if it exists (but never a folder, a FIFO or a device)."""
    from .files import check_new_file

    return checked(lambda v: check_new_file(v, overwrite=True))(value)


def folder(value: str) -> Path:
    """A folder to write in: one that exists, or one that can be made (nothing is made here)."""
    from .files import check_folder

    return checked(lambda v: check_folder(v, create=True))(value)


def existing_folder(value: str) -> Path:
    """A folder that exists."""
    from .files import check_folder

    return checked(check_folder)(value)


def path(value: str) -> Path:
    """Any path but the empty one (``Path('')`` would be the current folder); the command checks the rest."""
    return checked(Path)(value)


def text(value: str, *, what: str = "the value") -> str:
    """Text given on the command line must be UTF-8 (Python keeps other bytes as lone surrogates)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{what} {value!r} is not valid UTF-8") from None
    return value


# --- addresses -----------------------------------------------------------------------------------


def peer(value: str) -> tuple[str, int]:
    """A peer's (ip, port): ASCII digits, port 1-65535, one machine (not 0.0.0.0, broadcast or multicast)."""
    from .sharing.addresses import peer_address

    return checked(peer_address, empty="an empty address")(value)


def listen(value: str) -> str:
    """An address to listen on (an IP address or interface, and a port), returned as typed once checked."""
    from .sharing.addresses import listen_address

    checked(listen_address, empty="an empty address")(value)
    return value
