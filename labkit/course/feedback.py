"""What a failed check says beyond "expected X, got Y": the claim that differs, the fact that matters.

A block's or a token's repr is long and its claims are base64url: two
printed reprs cut at the same length can look identical while the claims
differ. :func:`differences` decodes both values (the claims of a token are
read without its secret, as the inspector reads a forger's) and names each
field or claim that differs. :func:`fact` adds what an exercise's failure
turns on, for the exercises where one fact decides it (``FACTS``: two tips
that tie at equal work). :func:`uses_answer` finds a learner's function that
calls labkit's own answer instead of doing the work.
"""

from __future__ import annotations

import dataclasses
import json
import types
from typing import Any, Callable, Iterable

__all__ = ["differences", "fact", "FACTS", "uses_answer", "brief"]


def _claims(value: Any) -> dict | None:
    """The claims of a Block, a token or a Payload, as a dict; None for anything else.

    A token's claims are read as plain JSON, unchecked: feedback shows what a
    learner's token says even where labkit's decoder would refuse it.
    """
    from ..block import Block
    from ..errors import LabkitError
    from ..tokens import Payload, split_token

    if isinstance(value, Block):
        value = value.token
    if isinstance(value, Payload):
        return value.to_claims()
    if isinstance(value, str) and value.count(".") == 2:
        try:
            claims = json.loads(split_token(value).body)
        except (LabkitError, ValueError):
            return None
        return claims if isinstance(claims, dict) else None
    return None


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _field_differences(expected: dict, got: dict, kind: str) -> list[str]:
    def shown(fields: dict, key: str) -> str:
        return _short(fields[key]) if key in fields else "(none)"

    keys = [*expected, *(k for k in got if k not in expected)]
    return [f"{kind} {key}: expected {shown(expected, key)}, got {shown(got, key)}"
            for key in keys if (key in expected, expected.get(key)) != (key in got, got.get(key))]


def differences(expected: Any, got: Any) -> list[str]:
    """Each field or claim in which ``got`` differs from ``expected``, decoded; [] where that says nothing new."""
    from ..block import Block

    found: list[str] = []
    want, have = _claims(expected), _claims(got)
    if want is not None and have is not None:
        if type(expected) is not type(got):
            found.append(f"expected a {type(expected).__name__}, got a {type(got).__name__}")
        found += _field_differences(want, have, "claim")
    elif want is not None and have is None:
        return [f"expected a {type(expected).__name__}, got a {type(got).__name__} whose claims cannot be read"]
    if isinstance(expected, Block) and isinstance(got, Block):
        if expected.signer != got.signer:
            found.append(f"signer: expected {_short(expected.signer)}, got {_short(got.signer)}")
        if expected.signature != got.signature and not found:
            found.append("signature: the claims agree, the signature does not (sign the token with the wallet)")
        elif expected.signature != got.signature:
            found.append("signature differs too (it covers the token, so it follows the claims)")
    elif dataclasses.is_dataclass(expected) and type(expected) is type(got) and want is None:
        found += _field_differences(dataclasses.asdict(expected), dataclasses.asdict(got), "field")
    return found


def brief(value: Any, limit: int = 60) -> str:
    """A value as the feedback shows it: a list of blocks as their indexes, anything else as a short repr."""
    from ..block import Block

    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Block) for v in value):
        indexes = [(_claims(v) or {}).get("index") for v in value]
        return f"[{len(value)} blocks, indexes {', '.join(str(i) for i in indexes)}]"
    if isinstance(value, (list, tuple)) and not value:
        return repr(value)
    if isinstance(value, Block):
        return f"Block(index {(_claims(value) or {}).get('index')}, hash {value.hash[:12]}…)"
    return _short(value, limit)


# --- the fact an exercise's failure turns on ------------------------------------------------------------


def _fork_choice_fact(args: tuple, expected: Any, got: Any) -> str:
    from .cases import tip_totals

    (blocks,) = args
    if not isinstance(blocks, dict) or got not in blocks or expected not in blocks:
        return ""
    totals = tip_totals(blocks)
    tips = sorted(totals)
    if got not in tips:
        return f"{got} is not a tip: another block names it as its parent ({len(tips)} tips: {', '.join(tips)})"
    if totals[got] == totals[expected]:
        return (f"the tips {expected} and {got} tie at equal total work ({totals[got]:,} each): "
                "a tie goes to the smaller hash")
    return f"tip {expected} has total work {totals[expected]:,}; tip {got} has {totals[got]:,}"


def _dissenters_fact(args: tuple, expected: Any, got: Any) -> str:
    from collections import Counter

    (digests,) = args
    counts = Counter(digests.values()).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return f"two digests tie at {counts[0][1]} peers each: with no majority, every peer is listed"
    return f"the majority digest is held by {counts[0][1]} of {len(digests)} peers" if counts else ""


def _rewrite_attempts_fact(args: tuple, expected: Any, got: Any) -> str:
    difficulties, position = args
    redone = list(difficulties[position:])
    return (f"{len(redone)} blocks are re-mined (block {position} and the {len(redone) - 1} after it), "
            f"at difficulties {redone}: {' + '.join(f'{16 ** d:,}' for d in redone)} attempts on average")


FACTS: dict[str, Callable[[tuple, Any, Any], str]] = {
    "fork_choice": _fork_choice_fact,
    "dissenters": _dissenters_fact,
    "rewrite_attempts": _rewrite_attempts_fact,
}


def fact(exercise: str, args: tuple, expected: Any, got: Any) -> str:
    """The fact a failed case of ``exercise`` turns on (a tie, a total), or ''."""
    explain = FACTS.get(exercise)
    if explain is None:
        return ""
    try:
        return explain(args, expected, got)
    except (TypeError, ValueError, KeyError, RecursionError):  # a case the fact does not fit: say nothing
        return ""


# --- a function that calls labkit's answer --------------------------------------------------------------


def _same(value: Any, answer: Callable) -> bool:
    if value is answer:
        return True
    module, name = getattr(answer, "__module__", None), getattr(answer, "__qualname__", None)
    return (module is not None and getattr(value, "__module__", None) == module
            and getattr(value, "__qualname__", None) == name)


def uses_answer(function: Callable, answers: Iterable[Callable]) -> str:
    """The name through which ``function`` (or a helper it calls from its notebook) reaches one of ``answers``.

    Reads the names the function's bytecode loads (labkit.course.saved.code_names):
    a global bound to an answer (``mine_block(...)``), or an attribute of a
    global module that is one (``chain.mine_block(...)``). '' when it uses none.
    """
    from .saved import code_names

    answers = [a for a in answers if a is not None]
    if not answers:
        return ""
    seen: set[int] = set()

    def search(fn: Any) -> str:
        code = getattr(fn, "__code__", None)
        if code is None or id(code) in seen:
            return ""
        seen.add(id(code))
        scope = getattr(fn, "__globals__", {})
        globals_read, attributes = code_names(code)
        for name in sorted(globals_read):
            value = scope.get(name)
            if value is None:
                continue
            if any(_same(value, a) for a in answers):
                return name
            if isinstance(value, types.ModuleType):
                for attribute in sorted(attributes):
                    if any(_same(getattr(value, attribute, None), a) for a in answers):
                        return f"{name}.{attribute}"
            elif isinstance(value, types.FunctionType) and value.__module__ == fn.__module__:
                found = search(value)  # a helper from the same notebook
                if found:
                    return found
        return ""

    return search(function)
