"""The learner's own code: each function exercise that passes is saved, so the capstone can run it.

When ``Exercises.check_against`` passes (notebooks 00-08), it calls
``keep(name, function)``: the function's source is written to
``<mine_dir()>/<name>.py`` together with what it needs from the notebook
(the modules and labkit names it uses, its helper functions, plain
constants), so the file runs on its own. ``load(name)`` runs that file and
returns the learner's function, or None when the learner has not passed
that exercise yet. The capstone (notebook 11) and the grader use ``load``;
the other notebooks never do: they import labkit's reference, so one wrong
answer does not break the rest of the course.

The folder is ``mine`` in labkit's work folder (``data.work_dir``: a
notebook's kernel runs in ``notebooks/``, so ``notebooks/work/mine``,
git-ignored; on a shared install where that cannot be written, a folder of
the learner's own), or the folder the environment variable
``LABKIT_MINE_DIR`` names (tests and the grader point it elsewhere).

The exercises that are kept (``KEPT``, the rows of :mod:`labkit.course.registry`
marked kept), with the signature of the function ``load(name)`` returns and
labkit's reference for it (this list is ``registry.kept_list()``):

.. kept

- hash_chain (00): ``hash_chain(lines: list[str]) -> list[str]``: h0 = 64 zeros, h(i+1) =
  sha256_hex(h(i) + line(i)), one per line; labkit's answer:
  ``labkit.course.cases.hash_chain_reference``
- modular_inverse (01): ``modular_inverse(e: int, phi: int) -> int``: d with e * d = 1 modulo phi;
  labkit's answer: ``labkit.course.cases.modular_inverse_reference``
- verify_hs256 (02): ``verify_hs256(token: str, secret: bytes) -> bool``: the token's HS256 MAC is
  right (False, never an error, for a token that does not split into three base64url parts);
  labkit's answer: ``labkit.course.cases.verify_hs256_reference``
- mine_nonce (03): ``mine_nonce(template: tokens.Payload, secret: bytes, difficulty: int) -> int``:
  the first nonce from ``template.nonce`` up whose token's sha256 meets difficulty; labkit's answer:
  ``labkit.course.cases.mine_nonce_reference``
- check_block (04): ``check_block(block: Block, parent: Entry | None, network: Network) -> str |
  None``: the first of the rules "index", "link", "pow" (in that order) the block breaks, None if it
  breaks none of them (other rules not asked); labkit's answer:
  ``labkit.course.cases.check_block_reference``
- bencode (05): ``bencode(value: int | str | bytes | list | dict) -> bytes``: BEP 3's encoding, str
  as UTF-8, dict keys sorted as bytes; TypeError for anything else; labkit's answer:
  ``labkit.course.cases.bencode_reference``
- transfer_nft (06): ``transfer_nft(state: dict, instruction: dict, context: operations.Context) ->
  None``: a VM operation, changes ``state["nfts"]`` or raises ContractError; labkit's answer:
  ``labkit.course.cases.transfer_nft_reference``
- fork_choice (07): ``fork_choice(blocks: dict[str, tuple[str | None, int]]) -> str``: blocks maps a
  block's hash to (its parent's hash or None, its work); the tip with the most total work, a tie
  going to the smaller hash (labkit.forks.rank); labkit's answer:
  ``labkit.course.cases.fork_choice_reference``
- attacker_success (08): ``attacker_success(q: float, z: int) -> float``: the chance an attacker
  with share q of the hash power ever catches up from z blocks behind (Nakamoto, section 11);
  labkit's answer: ``labkit.lessons.race.nakamoto_probability``

.. end-kept

For example, in the capstone::

    from labkit.course import saved
    check_block = saved.load("check_block")  # None: not passed yet, use labkit's
"""

from __future__ import annotations

import builtins
import dis
import inspect
import os
import re
import textwrap
import types
from pathlib import Path
from typing import Any, Callable

from ..errors import SavedCodeError
from ..files import atomic_write
from ..lessons.data import work_dir
from .registry import EXERCISES

__all__ = ["MINE_ENV", "KEPT", "mine_dir", "keep", "load", "names", "module_source", "code_names"]

MINE_ENV = "LABKIT_MINE_DIR"
# The names whose code the capstone may load, in course order (the list above).
KEPT = tuple(e.name for e in EXERCISES if e.kept)
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN = (int, float, str, bytes, bool, type(None))


def mine_dir() -> Path:
    """Where the learner's functions are saved: $LABKIT_MINE_DIR, or ``mine`` in labkit's work folder."""
    if os.environ.get(MINE_ENV):
        return Path(os.environ[MINE_ENV])
    return work_dir("mine")


def _path(name: str) -> Path:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SavedCodeError(str(name), "a saved exercise is named like a Python function (letters, digits, _)")
    return mine_dir() / f"{name}.py"


def _is_plain(value: Any) -> bool:
    if isinstance(value, _PLAIN):
        return True
    if isinstance(value, (tuple, list, frozenset, set)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_plain(k) and _is_plain(v) for k, v in value.items())
    return False


def code_names(code: types.CodeType) -> tuple[set[str], set[str]]:
    """The global names a function's code (and the code nested in it) reads, and the attribute names it reads."""
    globals_read: set[str] = set()
    attributes: set[str] = set()
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            globals_read.add(instruction.argval)
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            attributes.add(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner_globals, inner_attributes = code_names(const)
            globals_read |= inner_globals
            attributes |= inner_attributes
    return globals_read, attributes


def _names(code: types.CodeType) -> set[str]:
    """Global names a function's code (and the code nested in it) reads; attribute names are not globals."""
    return code_names(code)[0]


def _importable(value: Any) -> str | None:
    """``from module import name`` for a value a module defines, or None."""
    module, qualname = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not qualname or module == "__main__" or "." in qualname or "<" in qualname:
        return None
    try:
        imported = __import__(module, fromlist=[qualname])
    except ImportError:
        return None
    return f"from {module} import {qualname}" if getattr(imported, qualname, None) is value else None


def module_source(function: Callable) -> str:
    """A module that defines ``function`` and what it uses from its notebook, so it runs on its own.

    Modules and names imported from packages become imports, the notebook's
    own functions and classes it calls are copied (and what they use), plain
    constants (numbers, strings, and lists or dicts of them) are written out.
    Anything else is named in a comment: calling the saved function then
    fails with a NameError that says which name.
    """
    imports: list[str] = []
    constants: list[str] = []
    missing: list[str] = []
    definitions: list[str] = []
    seen: set[int] = set()
    todo = [function]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        try:
            definitions.append(textwrap.dedent(inspect.getsource(current)))
        except (OSError, TypeError) as exc:
            raise SavedCodeError(getattr(function, "__name__", "?"), f"no source for {current!r}: {exc}") from exc
        code = getattr(current, "__code__", None)
        if code is None:  # a class: the names its methods read
            names = set().union(*(_names(m.__code__) for m in vars(current).values() if hasattr(m, "__code__")))
        else:
            names = _names(code)
        namespace = getattr(current, "__globals__", None) or vars(inspect.getmodule(current) or builtins)
        for name in sorted(names):
            if name not in namespace or name == function.__name__ or name.startswith("__"):
                continue
            value = namespace[name]
            if isinstance(value, types.ModuleType):
                line = f"import {value.__name__}" + ("" if value.__name__ == name else f" as {name}")
                imports.append(line)
            elif (isinstance(value, (types.FunctionType, type))
                  and getattr(value, "__module__", None) == getattr(current, "__module__", None)
                  and _importable(value) is None):
                todo.append(value)  # the notebook's own helper: copy it too
            elif (statement := _importable(value)) is not None:
                imports.append(statement + ("" if value.__qualname__ == name else f" as {name}"))
            elif _is_plain(value):
                constants.append(f"{name} = {value!r}")
            else:
                missing.append(f"# {name}: a {type(value).__name__} from the notebook, not saved")
    parts = [
        f'"""{function.__name__}: the learner\'s code, saved when its exercise passed (labkit.course.saved)."""',
        "from __future__ import annotations  # annotations name things the notebook imported",
        "\n".join(sorted(set(imports))), "\n".join(sorted(set(constants))), "\n".join(missing),
        *reversed(definitions),
    ]
    return "\n\n".join(part.rstrip() for part in parts if part.strip()) + "\n"


def keep(name: str, function: Callable) -> Path:
    """Save ``function`` as the learner's answer to exercise ``name``; returns the file written."""
    path = _path(name)
    source = module_source(function)
    if function.__name__ != name:
        source += f"\n{name} = {function.__name__}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new temporary file of a unique name (O_EXCL: never one that is there, a symlink above all),
    # then renamed over the saved file: a half-written file is never loaded, and no write follows a link
    return atomic_write(path, source.encode("utf-8"))


def names() -> list[str]:
    """The names of the exercises whose code is saved, in course order (others after, sorted)."""
    folder = mine_dir()
    found = {p.stem for p in folder.glob("*.py")} if folder.is_dir() else set()
    return [n for n in KEPT if n in found] + sorted(found - set(KEPT))


def load(name: str) -> Callable | None:
    """The learner's saved function for exercise ``name``, or None if it was never saved.

    Raises SavedCodeError if the saved file does not run or defines no such function.
    """
    path = _path(name)
    if not path.is_file():
        return None
    namespace: dict[str, Any] = {"__name__": f"labkit_mine_{name}", "__file__": str(path)}
    try:
        exec(compile(path.read_text(encoding="utf-8"), str(path), "exec"), namespace)
    except KeyboardInterrupt:
        raise  # the learner stopping the kernel, not a fault of the file
    except BaseException as exc:  # the file may fail in any way, sys.exit() included; say which file and why
        raise SavedCodeError(name, f"{path} does not run: {type(exc).__name__}: {exc}") from exc
    function = namespace.get(name)
    if not callable(function):
        raise SavedCodeError(name, f"{path} defines no function {name!r}")
    return function
