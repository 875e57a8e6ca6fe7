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
    │   └── UnsupportedError      the provider cannot hold this record type or value
    └── UnsafePlanError           a plan would replace or delete too much of a zone

A class's docstring is its default message. Messages never contain secret values.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AuthenticationError",
    "ConfigError",
    "ConfigProblem",
    "ConflictError",
    "DnsautoError",
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


class UnsupportedError(ProviderError):
    """The DNS provider cannot hold this record."""


class UnsafePlanError(DnsautoError):
    """The plan would change too much of a zone; rerun with --force to apply it."""
