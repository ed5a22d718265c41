"""The environment check of notebook 00: can this kernel import everything the workbook needs?

Each requirement the kernel uses is imported for real (an installed but
broken libtorrent fails here, not halfway through notebook 05); JupyterLab
runs in the server, not the kernel, so it is only looked up (importing it
takes seconds). Each version is compared with
the range ``pyproject.toml`` asks for, and a failing row says how to fix it.
``check_environment`` returns the table; it never prints and never installs.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["Requirement", "REQUIREMENTS", "PYTHON_RANGE", "version_tuple", "check_requirement", "check_environment"]

PYTHON_RANGE = ((3, 10), (3, 14))  # libtorrent publishes wheels for CPython 3.10 to 3.13
FIX_ALL = "run `make lab` (it installs everything into .venv), then pick that kernel and restart it"


@dataclass(frozen=True)
class Requirement:
    module: str  # what `import` needs
    distribution: str  # what pip installs
    minimum: str
    below: str | None  # first version not supported, if any
    needed_for: str
    kernel: bool = True  # imported by notebooks; False: only looked up, not imported

    @property
    def spec(self) -> str:
        return f">={self.minimum}" + (f",<{self.below}" if self.below else "")

    @property
    def fix(self) -> str:
        return f"{sys.executable} -m pip install '{self.distribution}{self.spec}' and restart the kernel (or {FIX_ALL})"


REQUIREMENTS = (
    Requirement("rsa", "rsa", "4.9", None, "01 wallets: RSA key objects, n, e and d"),
    Requirement("cryptography", "cryptography", "42", None, "01 wallets: fast key generation and signing"),
    Requirement("jwt", "pyjwt", "2.13", None, "02 blocks as JSON Web Tokens"),
    Requirement("pandas", "pandas", "2.0", None, "tables in every notebook"),
    Requirement("libtorrent", "libtorrent", "2.0.11", "2.2", "05 and 07: sharing blocks over BitTorrent"),
    Requirement("ipywidgets", "ipywidgets", "8.0", None, "02, 03, 06 widgets: inspector, difficulty, contracts"),
    Requirement("matplotlib", "matplotlib", "3.7", None, "03 and 05 plots"),
    Requirement("jupyterlab", "jupyterlab", "4.0", None, "the workbook's front end", kernel=False),
)


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
    have = version_tuple(version)
    if have < version_tuple(requirement.minimum):
        row["fix"] = f"version {version} is too old; {requirement.fix}"
    elif requirement.below and have >= version_tuple(requirement.below):
        row["fix"] = f"version {version} is too new for labkit; {requirement.fix}"
    else:
        row["ok"] = True
    return row


def _python_row() -> dict:
    low, high = PYTHON_RANGE
    version = ".".join(map(str, sys.version_info[:3]))
    ok = low <= sys.version_info[:2] < high
    return {"package": "python", "needed for": f"this kernel: {sys.executable}",
            "required": f">={low[0]}.{low[1]},<{high[0]}.{high[1]}", "installed": version, "ok": ok,
            "fix": "" if ok else f"libtorrent has no wheels for Python {version}; {FIX_ALL}"}


def check_environment(requirements: tuple[Requirement, ...] = REQUIREMENTS) -> "pd.DataFrame":
    """A table with one row per requirement (and Python itself): version, ok, and how to fix it."""
    import pandas as pd

    rows = [_python_row()] + [check_requirement(r) for r in requirements]
    return pd.DataFrame(rows).set_index("package")
