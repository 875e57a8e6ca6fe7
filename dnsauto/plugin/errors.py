"""The errors dnsauto raises, all rooted at :class:`DnsautoError`.

::

    DnsautoError
    ├── ConfigError               the configuration is wrong; carries every problem found
    │   └── SecretError           a secret cannot be resolved (variable unset, file unreadable)
    ├── PluginError               a provider plugin is missing, broken or registered twice
    ├── ProviderError             a provider call failed; names provider, zone, name and type
    │   ├── AuthenticationError   the provider refused our credentials
    │   ├── ZoneNotFoundError     no zone at the provider contains the name
    │   ├── ConflictError         someone else changed the records between read and write
    │   ├── TransientError        worth retrying later (rate limit, SERVFAIL, timeout)
    │   ├── PartialApplyError     a batch failed part way; says which changes went through
    │   └── UnsupportedError      the provider cannot hold this record type or value
    └── UnsafePlanError           a plan would replace or delete too much of a zone

A class's docstring is its default message. Messages never contain secret values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dnsauto.plugin.changes import Change

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConfigProblem",
    "ConflictError",
    "DnsautoError",
    "PartialApplyError",
    "PluginError",
    "ProviderError",
    "SecretError",
    "TransientError",
    "UnsafePlanError",
    "UnsupportedError",
    "ZoneNotFoundError",
]


class DnsautoError(Exception):
    """dnsauto failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong in a configuration document, at a dotted path."""

    path: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        parts = [p for p in (self.source, self.path) if p]
        return ": ".join([*parts, self.message])


class ConfigError(DnsautoError):
    """The configuration is not valid."""

    def __init__(self, problems: list[ConfigProblem] | str, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(path="", message=problems, source=source)]
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class SecretError(ConfigError):
    """A secret cannot be resolved."""


class PluginError(DnsautoError):
    """A provider plugin cannot be used."""


class ProviderError(DnsautoError):
    """The DNS provider reported an error."""

    transient: bool = False
    """Whether retrying later can help; a permanent error needs a person to act."""

    def __init__(
        self,
        message: str | None = None,
        *,
        provider: str = "",
        zone: str = "",
        name: str = "",
        rdtype: str = "",
    ) -> None:
        self.provider = provider
        self.zone = zone
        self.name = name
        self.rdtype = rdtype
        base = message or (self.__doc__ or "").strip()
        where = ", ".join(
            f"{label} {value}"
            for label, value in (
                ("provider", provider),
                ("zone", zone),
                ("name", name),
                ("type", rdtype),
            )
            if value
        )
        super().__init__(f"{base} ({where})" if where else base)


class AuthenticationError(ProviderError):
    """The DNS provider refused the credentials."""


class ZoneNotFoundError(ProviderError):
    """No zone at the DNS provider contains this name."""


class ConflictError(ProviderError):
    """The records changed at the provider between reading and writing them."""


class TransientError(ProviderError):
    """The DNS provider failed in a way that may pass; retry later."""

    transient = True
    retry_after: float | None = None
    """Seconds the provider asked us to wait before trying again, when it said."""


class PartialApplyError(ProviderError):
    """A batch of changes failed after some of its provider calls had gone through.

    Raised by a provider whose ``apply`` makes several calls (chunks, or one call per record)
    when a later call fails: ``applied`` are the changes whose every call went through,
    ``partly_applied`` those with some calls through, ``not_applied`` those with none. The
    engine journals each group as it is. Retrying helps exactly when the ``cause`` is transient.
    """

    def __init__(
        self,
        cause: ProviderError,
        *,
        applied: Sequence[Change],
        partly_applied: Sequence[Change],
        not_applied: Sequence[Change],
    ) -> None:
        self.cause = cause
        self.applied = tuple(applied)
        self.partly_applied = tuple(partly_applied)
        self.not_applied = tuple(not_applied)
        self.transient = cause.transient
        total = len(self.applied) + len(self.partly_applied) + len(self.not_applied)
        partly = f", {len(self.partly_applied)} partly" if self.partly_applied else ""
        counts = f"{len(self.applied)} of {total} changes applied{partly}"
        super().__init__(f"{cause.message} ({counts})")
        self.provider, self.zone = cause.provider, cause.zone
        self.name, self.rdtype = cause.name, cause.rdtype


class UnsupportedError(ProviderError):
    """The DNS provider cannot hold this record."""


class UnsafePlanError(DnsautoError):
    """The plan would change too much of a zone; rerun with --force to apply it."""
