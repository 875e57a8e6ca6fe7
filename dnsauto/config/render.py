"""The normalized configuration as TOML text (``dnsauto config check``)."""

from __future__ import annotations

from typing import Any

import tomli_w

__all__ = ["to_toml"]


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


def to_toml(document: dict[str, Any]) -> str:
    """TOML for a JSON-mode dump; unset (``None``) values are left out, as TOML has no null."""
    return tomli_w.dumps(_drop_none(document))
