"""DKIM selector templates, as Stalwart renders them: ``v{version}-{algorithm}-{date-%Y%m%d}``.

Variables: ``{algorithm}`` (``rsa`` or ``ed25519``), ``{hash}`` (``sha256``), ``{version}``
(``1`` or ``2``), ``{date-<strftime>}``, ``{epoch}`` and ``{random}`` (8 lowercase
alphanumerics). Characters other than ``[A-Za-z0-9._-]`` are dropped from the result.
"""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime

__all__ = ["check_selector_template", "render_selector"]

_VARIABLE = re.compile(r"\{([^{}]*)\}")
_FIXED = {"algorithm", "hash", "version", "epoch", "random"}
_ALLOWED = re.compile(r"[^A-Za-z0-9._-]")


def _check_variable(name: str) -> None:
    if name in _FIXED or name.startswith("date-"):
        return
    raise ValueError(
        f"unknown selector variable {{{name}}}; known: "
        + ", ".join(
            ["{algorithm}", "{hash}", "{version}", "{date-<strftime>}", "{epoch}", "{random}"]
        )
    )


def check_selector_template(template: str) -> None:
    """Raise ``ValueError`` for an unclosed brace, an unknown variable or an empty result."""
    rest = _VARIABLE.sub("", template)
    if "{" in rest or "}" in rest:
        raise ValueError("unbalanced '{' or '}' in selector template")
    for name in _VARIABLE.findall(template):
        _check_variable(name)
    sample = render_selector(template, algorithm="rsa", version=1, now=datetime(2026, 1, 1))
    if not sample:
        raise ValueError("the selector template renders to an empty selector")


def render_selector(template: str, *, algorithm: str, version: int, now: datetime) -> str:
    """The selector for a key made at ``now``."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "algorithm":
            return algorithm
        if name == "hash":
            return "sha256"
        if name == "version":
            return str(version)
        if name == "epoch":
            return str(int(now.timestamp()))
        if name == "random":
            alphabet = string.ascii_lowercase + string.digits
            return "".join(secrets.choice(alphabet) for _ in range(8))
        if name.startswith("date-"):
            return now.strftime(name[5:])
        _check_variable(name)
        return ""

    return _ALLOWED.sub("", _VARIABLE.sub(value, template))
