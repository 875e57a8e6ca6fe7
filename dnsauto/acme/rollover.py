"""Placeholder until the DANE-safe TLSA rollover module lands (branch acme-hook replaces this
file): a staged certificate may always be put in place."""

from __future__ import annotations

import datetime
from typing import Any

__all__ = ["may_deploy"]


def may_deploy(*, files: Any, request: Any, now: datetime.datetime) -> bool:
    """Whether the renewed certificate staged in ``files`` may replace the current one now."""
    return True
