"""The environment check of notebook 00: can this kernel import everything the workbook needs?

What is needed comes from labkit's installed metadata, that is from
``pyproject.toml``: its dependencies, the ``lab`` extra and ``requires-python``.
This module adds only what pyproject.toml cannot say: the import name where it
is not the distribution's, and what each package is for.
Each requirement the kernel uses is imported for real (an installed but
broken libtorrent fails here, not halfway through notebook 05); JupyterLab
runs in the server, not the kernel, so it is only looked up (importing it
takes seconds). Each version is compared with the range asked for, and a
failing row says how to fix it: with ``make lab`` in a checkout, and on a
JupyterHub (where the environment is shared and students cannot install into
it) by asking whoever runs the hub to add it to the image (``deploy/``).
``check_environment`` returns the table; it never prints and never installs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Requirement", "DISTRIBUTION", "EXTRAS", "NEEDED_FOR", "on_a_hub", "fix_all", "parse_requirement",
           "requirements", "version_tuple", "range_problem", "check_requirement", "check_environment"]

DISTRIBUTION = "labkit"
EXTRAS = ("lab",)  # what the notebooks need besides the dependencies; the test extra is for tests/
FIX_ALL = "run `make lab` (it installs everything into .venv), then pick that kernel and restart it"
FIX_ON_A_HUB = ("this is a JupyterHub, whose environment is shared: ask the person who runs it to install "
                "labkit[hub] in the image (labkit's deploy/ folder does), then restart your server "
                "(File > Hub Control Panel > Stop My Server, then Start)")
HUB_VARIABLES = ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN")  # JupyterHub sets them for every user's server


def on_a_hub(environ=None) -> bool:
    """Whether this kernel runs in a JupyterHub user's server."""
    environ = os.environ if environ is None else environ
    return any(environ.get(name) for name in HUB_VARIABLES)


def fix_all() -> str:
    """How to install everything the workbook needs, here: ``make lab``, or on a hub, the hub's image."""
    return FIX_ON_A_HUB if on_a_hub() else FIX_ALL

IMPORT_NAMES = {"pyjwt": "jwt"}  # where `import` takes another name than pip's
SERVER_ONLY = {"jupyterlab"}  # runs in the server, not the kernel: looked up, not imported
NEEDED_FOR = {
    "rsa": "01 wallets: RSA key objects, n, e and d",
    "cryptography": "01 wallets: fast key generation and signing",
    "pyjwt": "02 blocks as JSON Web Tokens",
    "pandas": "tables in every notebook",
    "numpy": "09 the fork-rate simulation",
    "libtorrent": "05, 07 and 09: sharing blocks over BitTorrent",
    "tqdm": "progress bars of python -m labkit",
    "jupyterlab": "the workbook's front end",
    "ipywidgets": "02, 03, 06 widgets: inspector, difficulty, contracts",
    "matplotlib": "03, 05 and 09 plots",
}


@dataclass(frozen=True)
class Requirement:
    module: str  # what `import` needs
    distribution: str  # what pip installs
    spec: str  # the version range, as pyproject.toml writes it: ">=2.0.11,<2.2"
    needed_for: str
    kernel: bool = True  # imported by notebooks; False: only looked up, not imported

    @property
    def fix(self) -> str:
        if on_a_hub():  # pip cannot write to the shared environment, and make lab would start a second server
            return f"'{self.distribution}{self.spec}' is missing from this hub's environment; {FIX_ON_A_HUB}"
        return f"{sys.executable} -m pip install '{self.distribution}{self.spec}' and restart the kernel (or {FIX_ALL})"


# --- reading the metadata ------------------------------------------------------------------------

# name, [extras], version range, ; marker  (the forms of PEP 508 that pyproject.toml's lists use)
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*\(?([^;()]*)\)?\s*(?:;\s*(.*))?$")
_EXTRA_MARKER = re.compile(r"""^extra\s*==\s*["']([^"']+)["']$""")


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _ordered(clauses: list[str]) -> str:
    """Lower bounds first, the way people write a range: ">=2.0.11,<2.2"."""
    return ",".join(sorted(clauses, key=lambda c: (not c.startswith((">", "~", "=")), c)))


def parse_requirement(text: str, extras: tuple[str, ...] = EXTRAS) -> tuple[str, str] | None:
    """(distribution, version range) of one ``Requires-Dist`` line, or None if its marker excludes it.

    ``packaging`` parses it when installed (it comes with JupyterLab); without it a small
    parser reads the forms pyproject.toml uses and keeps only ``extra == ...`` markers it can judge.
    """
    try:
        from packaging.requirements import Requirement as Parsed
    except ImportError:
        match = _REQUIREMENT.match(text)
        if match is None:
            raise ValueError(f"cannot read the requirement {text!r}") from None
        name, spec, marker = match.groups()
        extra = _EXTRA_MARKER.match(marker.strip()) if marker else None
        if extra and extra.group(1) not in extras:
            return None
        return _normalize(name), _ordered([c.strip().replace(" ", "") for c in spec.split(",") if c.strip()])
    parsed = Parsed(text)
    if parsed.marker is not None and not any(parsed.marker.evaluate({"extra": e}) for e in ("", *extras)):
        return None
    return _normalize(parsed.name), _ordered([str(s) for s in parsed.specifier])


def requirements(distribution: str = DISTRIBUTION, extras: tuple[str, ...] = EXTRAS) -> tuple[Requirement, ...]:
    """What the installed ``distribution`` asks for, with its ``extras``; raises PackageNotFoundError if absent."""
    rows = []
    for text in importlib.metadata.requires(distribution) or ():
        parsed = parse_requirement(text, extras)
        if parsed is None or parsed[0] == _normalize(distribution):  # labkit[lab] in the test extra
            continue
        name, spec = parsed
        rows.append(Requirement(IMPORT_NAMES.get(name, name.replace("-", "_")), name, spec,
                                NEEDED_FOR.get(name, "labkit"), kernel=name not in SERVER_ONLY))
    return tuple(rows)


# --- judging versions ----------------------------------------------------------------------------


def version_tuple(text: str) -> tuple[int, ...]:
    """The leading numbers of a version: "2.0.11.post1" -> (2, 0, 11)."""
    numbers = []
    for part in text.split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group()))
        if match.group() != part:
            break
    return tuple(numbers)


def _key(text: str) -> tuple[int, ...]:
    """A version to compare, where trailing zeros do not count: 2.0 == 2.0.0."""
    numbers = list(version_tuple(text))
    while numbers and numbers[-1] == 0:
        numbers.pop()
    return tuple(numbers)


_COMPARE = {  # operator -> (is the version in?, what to say when it is not)
    ">=": (lambda have, want: have >= want, "too old"),
    ">": (lambda have, want: have > want, "too old"),
    "<": (lambda have, want: have < want, "too new for labkit"),
    "<=": (lambda have, want: have <= want, "too new for labkit"),
    "==": (lambda have, want: have == want, "not the version labkit pins"),
    "!=": (lambda have, want: have != want, "a version labkit excludes"),
}


def range_problem(version: str, spec: str) -> str:
    """What keeps ``version`` out of ``spec`` ("too old", "too new for labkit"...); "" if nothing does."""
    for clause in filter(None, spec.split(",")):
        op = re.match(r"[<>=!~]*", clause).group()
        if op not in _COMPARE:  # ~=, ===, wildcards: pyproject.toml does not use them; say so loudly
            raise ValueError(f"envcheck cannot judge the version range {clause!r}")
        inside, problem = _COMPARE[op]
        if not inside(_key(version), _key(clause[len(op):])):
            return problem
    return ""


def _installed_version(requirement: Requirement, module: object) -> str | None:
    try:
        return importlib.metadata.version(requirement.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(module, "__version__", None)
        return str(version) if version is not None else None


def _find(name: str) -> object:
    """Look a module up without importing it; raises ImportError if it is not installed."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ImportError(f"No module named {name!r}")
    return spec


def check_requirement(requirement: Requirement, importer: Callable[[str], object] | None = None) -> dict:
    """One row of the table: import the module (or look it up), read its version, compare it with the range."""
    importer = importer or (importlib.import_module if requirement.kernel else _find)
    row = {"package": requirement.distribution, "needed for": requirement.needed_for,
           "required": requirement.spec, "installed": None, "ok": False, "fix": ""}
    try:
        module = importer(requirement.module)
    except ImportError as exc:  # also a present-but-broken install (a missing shared library)
        row["fix"] = f"cannot import {requirement.module} ({exc}); {requirement.fix}"
        return row
    version = _installed_version(requirement, module)
    row["installed"] = version
    if version is None:
        row["ok"] = True  # imports, and nothing says which version: trust it
        return row
    problem = range_problem(version, requirement.spec)
    if problem:
        row["fix"] = f"version {version} is {problem}; {requirement.fix}"
    else:
        row["ok"] = True
    return row


def _python_row(spec: str) -> dict:
    version = ".".join(map(str, sys.version_info[:3]))
    fix = f"labkit needs Python {spec} (libtorrent publishes wheels for those); {fix_all()}"
    problem = range_problem(version, spec)
    return {"package": "python", "needed for": f"this kernel: {sys.executable}",
            "required": spec, "installed": version, "ok": not problem, "fix": fix if problem else ""}


def check_environment(wanted: tuple[Requirement, ...] | None = None) -> "pd.DataFrame":
    """A table with one row for Python and one per requirement: version, ok, and how to fix it.

    ``wanted`` defaults to what labkit's installed metadata asks for.
    """
    import pandas as pd

    try:
        metadata = importlib.metadata.metadata(DISTRIBUTION)
        wanted = requirements() if wanted is None else wanted
    except importlib.metadata.PackageNotFoundError:
        row = {"package": DISTRIBUTION, "needed for": "everything", "required": "installed", "installed": None,
               "ok": False, "fix": f"labkit is not installed for {sys.executable}; {fix_all()}"}
        return pd.DataFrame([row]).set_index("package")
    rows = [_python_row(_ordered((metadata["Requires-Python"] or "").split(",")))]
    rows += [check_requirement(r) for r in wanted]
    return pd.DataFrame(rows).set_index("package")
