"""Placeholder until the DANE-safe TLSA rollover module lands (branch acme-hook replaces this
file with the real one, of the same signatures): a staged certificate may always be put in
place."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable, Callable
from pathlib import Path

from dnsauto.config.model import Config
from dnsauto.sync.propagation import PropagationChecker

__all__ = ["Served", "may_deploy", "tlsa_served"]

Served = Callable[[str], Awaitable[bool | None]]
"""Given the hex SHA-256 of a key's SubjectPublicKeyInfo: whether every authoritative
nameserver serves its ``3 1 1`` record (None: no domain publishes one)."""


async def may_deploy(
    directory: Path, *, ttl: float, now: datetime.datetime, served: Served
) -> bool:
    """Whether the renewed certificate staged in ``directory`` may replace the current one."""
    return True


def tlsa_served(config: Config, checker: PropagationChecker | None = None) -> Served:
    """The check of the nameservers :func:`may_deploy` is normally given."""

    async def served(digest: str) -> bool | None:
        return None

    return served
