"""The whole configuration document, assembled from the installed provider plugins."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Union, cast

from pydantic import Field, create_model, field_validator

from dnsauto.config.acme import AcmeChallengeType, AcmeProvider, AcmeSettings
from dnsauto.config.bootstrap import Bootstrap
from dnsauto.config.daemon import Daemon
from dnsauto.config.domain import (
    BOOTSTRAP_PUBLISH_RECORDS,
    AutomaticDkim,
    AutomaticDns,
    Domain,
    ManualDkim,
    ManualDns,
)
from dnsauto.config.ids import domain_id, id_problem
from dnsauto.config.mailserver import MailServer
from dnsauto.plugin.context import BOOTSTRAP_SERVER_ID
from dnsauto.plugin.errors import ConfigProblem
from dnsauto.plugin.names import HostName, check_hostname
from dnsauto.plugin.settings import DnsServerBase, ManualDnsServer
from dnsauto.plugin.types import Model, quoted

__all__ = [
    "BOOTSTRAP_ACME_ID",
    "BOOTSTRAP_SERVER_ID",
    "Config",
    "DomainTable",
    "build_config_model",
    "check_references",
]

BOOTSTRAP_ACME_ID = "bootstrap"
"""The AcmeProvider id the Bootstrap implies when ``requestTlsCertificate`` is set."""


class Config(Model):
    """A dnsauto configuration: the Bootstrap, DnsServers, Domains and the daemon's settings."""

    bootstrap: Bootstrap
    dns_server: dict[str, DnsServerBase] = Field(default_factory=dict)
    domain: dict[HostName, Domain] = Field(default_factory=dict)
    mail_server: MailServer = MailServer()
    acme_provider: dict[str, AcmeProvider] = Field(default_factory=dict)
    acme: AcmeSettings = AcmeSettings()
    daemon: Daemon = Daemon()

    @field_validator("domain", mode="before")
    @classmethod
    def _one_spelling_per_domain(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        spellings: dict[str, list[str]] = {}
        for key in value:
            with contextlib.suppress(ValueError, TypeError):
                spellings.setdefault(check_hostname(key), []).append(key)
        for name, keys in spellings.items():
            if len(keys) > 1:
                shown = " and ".join(quoted(k) for k in keys)
                raise ValueError(f"{name} is spelled twice: {shown}; keep one")
        return value

    @field_validator("domain", mode="after")
    @classmethod
    def _alike_domains_share_one_object(cls, value: dict[str, Domain]) -> dict[str, Domain]:
        """Domains whose settings are the same share one Domain (immutable): a fleet of
        thousands of domains set up alike keeps one copy of their settings, not 2.3 KB each.
        What was set and what was left to its default is part of "the same"."""
        shared: dict[tuple[str, str], Domain] = {}
        return {
            name: shared.setdefault(
                (settings.model_dump_json(), settings.model_dump_json(exclude_unset=True)),
                settings,
            )
            for name, settings in value.items()
        }

    @property
    def servers(self) -> dict[str, DnsServerBase]:
        """Every DnsServer by id, the Bootstrap's own included as ``bootstrap``."""
        return {BOOTSTRAP_SERVER_ID: self.bootstrap.dns_server, **self.dns_server}

    @property
    def acme_providers(self) -> dict[str, AcmeProvider]:
        """Every AcmeProvider by id; with ``requestTlsCertificate``, the Bootstrap's as
        ``bootstrap`` (as Stalwart's Bootstrap creates it), unless a table of that id replaces it.
        """
        implied: dict[str, AcmeProvider] = {}
        if self.bootstrap.request_tls_certificate:
            manual = isinstance(self.bootstrap.dns_server, ManualDnsServer)
            implied[BOOTSTRAP_ACME_ID] = AcmeProvider.model_validate(
                {
                    "directory": self.mail_server.acme.directory,
                    "challengeType": (
                        AcmeChallengeType.TLS_ALPN01 if manual else AcmeChallengeType.DNS01
                    ).value,
                }
            )
        return {**implied, **self.acme_provider}

    @property
    def domains(self) -> DomainTable:
        """Every domain to publish: the Bootstrap's default domain, then the declared ones.

        A ``[domain.<name>]`` table for the default domain replaces the one Bootstrap implies.
        A view, made in constant time: callers look names up in it inside loops over every
        domain, and a copy per call made those loops quadratic.
        """
        return DomainTable(self)

    def published_domains(self) -> dict[str, Domain]:
        """The domains whose records are published: every enabled domain, then each alias of
        one, with the domain's settings (a disabled domain and its aliases are left out)."""
        enabled = {name: d for name, d in self.domains.items() if d.is_enabled}
        result = dict(enabled)
        for domain in enabled.values():
            for alias in domain.aliases:
                if alias not in result:
                    result[alias] = domain.model_copy(update={"name": alias, "aliases": ()})
        return result

    def bootstrap_domain(self) -> Domain:
        """The Domain that Stalwart's Bootstrap ``set`` creates for the default domain."""
        dns: ManualDns | AutomaticDns
        if isinstance(self.bootstrap.dns_server, ManualDnsServer):
            dns = ManualDns.model_validate({"@type": "Manual"})
        else:
            dns = AutomaticDns.model_validate(
                {
                    "@type": "Automatic",
                    "dnsServerId": BOOTSTRAP_SERVER_ID,
                    "publishRecords": [r.value for r in BOOTSTRAP_PUBLISH_RECORDS],
                }
            )
        dkim: AutomaticDkim | ManualDkim = (
            AutomaticDkim.model_validate({"@type": "Automatic"})
            if self.bootstrap.generate_dkim_keys
            else ManualDkim.model_validate({"@type": "Manual"})
        )
        certificate: dict[str, str] = (
            {"@type": "Automatic", "acmeProviderId": BOOTSTRAP_ACME_ID}
            if self.bootstrap.request_tls_certificate
            else {"@type": "Manual"}
        )
        return Domain.model_validate(
            {
                "dnsManagement": dns.model_dump(by_alias=True),
                "dkimManagement": dkim.model_dump(by_alias=True),
                "certificateManagement": certificate,
            }
        )


@cache
def _build(models: tuple[type[DnsServerBase], ...]) -> type[Config]:
    server_models = tuple(dict.fromkeys((ManualDnsServer, *models)))
    union: Any = (
        server_models[0]
        if len(server_models) == 1
        else Annotated[Union[server_models], Field(discriminator="type")]  # noqa: UP007
    )
    bootstrap = create_model(
        "Bootstrap",
        __base__=Bootstrap,
        __module__=Bootstrap.__module__,
        dns_server=(
            union,
            Field(
                default_factory=lambda: ManualDnsServer.model_validate({"@type": "Manual"}),
                description=Bootstrap.model_fields["dns_server"].description,
            ),
        ),
    )
    model = create_model(
        "Config",
        __base__=Config,
        __module__=Config.__module__,
        bootstrap=(bootstrap, ...),
        dns_server=(dict[str, union], Field(default_factory=dict)),
    )
    return cast(type[Config], model)


def build_config_model(server_models: Sequence[type[DnsServerBase]]) -> type[Config]:
    """The Config model whose DnsServer fields accept exactly these variants (and ``Manual``)."""
    return _build(tuple(server_models))


def check_references(config: Config) -> list[ConfigProblem]:
    """Problems a single object's model cannot see: bad domain names, dangling server ids."""
    problems: list[ConfigProblem] = []
    servers = config.servers
    for name, domain in config.domain.items():
        path = f"domain.{_quote_key(name)}"
        try:
            check_hostname(name)
        except ValueError as exc:
            problems.append(ConfigProblem(path, str(exc)))
        if domain.name is not None and domain.name != _canonical(name):
            problems.append(
                ConfigProblem(
                    f"{path}.name", f"{quoted(domain.name)} is not the table's name {quoted(name)}"
                )
            )
        dns = domain.dns_management
        if isinstance(dns, AutomaticDns) and dns.dns_server_id not in servers:
            known = ", ".join(sorted(servers))
            problems.append(
                ConfigProblem(
                    f"{path}.dnsManagement.dnsServerId",
                    f"no DnsServer {quoted(dns.dns_server_id)} (defined: {known})",
                )
            )
    providers = config.acme_providers
    for name, domain in config.domain.items():
        certificate = domain.certificate_management
        provider_id = getattr(certificate, "acme_provider_id", None)
        if config.acme.obtain_certificates and provider_id and provider_id not in providers:
            known = ", ".join(sorted(providers)) or "none"
            problems.append(
                ConfigProblem(
                    f"domain.{_quote_key(name)}.certificateManagement.acmeProviderId",
                    f"no AcmeProvider {quoted(provider_id)} (defined: {known})",
                )
            )
    problems += _alias_collisions(config)
    for server_id in config.dns_server:
        why = id_problem(server_id)
        if why is not None:
            problems.append(
                ConfigProblem(
                    f"dnsServer.{_quote_key(server_id)}",
                    f"{quoted(server_id)} cannot be a DnsServer's id: {why}; rename the table "
                    "(and the dnsServerId that names it)",
                )
            )
    problems += _domain_id_collisions(config)
    if BOOTSTRAP_SERVER_ID in config.dns_server:
        problems.append(
            ConfigProblem(
                f"dnsServer.{BOOTSTRAP_SERVER_ID}",
                "this id is reserved for bootstrap.dnsServer; choose another",
            )
        )
    return problems


def _domain_id_collisions(config: Config) -> list[ConfigProblem]:
    """Two domains whose ids (64 bits of a hash of the name) are the same: not expected to
    happen, but an id must name one object."""
    seen: dict[str, str] = {}
    problems = []
    for name in config.domains:
        other = seen.setdefault(domain_id(name), name)
        if other != name:
            problems.append(
                ConfigProblem(
                    f"domain.{_quote_key(name)}",
                    f"its API id {domain_id(name)} is the id of domain {other} too",
                )
            )
    return problems


def _alias_collisions(config: Config) -> list[ConfigProblem]:
    """An alias must not be another domain's name or alias (Stalwart's primaryKeyViolation)."""
    owner: dict[str, str] = {_canonical(name): name for name in config.domains}
    problems = []
    for name, domain in config.domains.items():
        for alias in domain.aliases:
            other = owner.get(alias)
            if alias == _canonical(name):
                continue
            if other is not None and other != name:
                what = "the name" if _canonical(other) == alias else "an alias"
                problems.append(
                    ConfigProblem(
                        f"domain.{_quote_key(name)}.aliases",
                        f"{alias} is {what} of domain {other}",
                    )
                )
            owner.setdefault(alias, name)
    return problems


def _canonical(name: str) -> str:
    try:
        return check_hostname(name)
    except ValueError:
        return name


def _quote_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'


class DomainTable(Mapping[str, Domain]):
    """:attr:`Config.domains`: the declared Domain table with the Bootstrap's default domain in
    front, read through without copying; the default's implied Domain is made once, if asked."""

    __slots__ = ("_config", "_declared", "_default", "_implied")

    def __init__(self, config: Config) -> None:
        self._config = config
        self._declared = config.domain
        self._default = config.bootstrap.default_domain
        self._implied: Domain | None = None

    def __getitem__(self, name: str) -> Domain:
        declared = self._declared.get(name)
        if declared is not None:
            return declared
        if name != self._default:
            raise KeyError(name)
        if self._implied is None:
            self._implied = self._config.bootstrap_domain()
        return self._implied

    def __contains__(self, name: object) -> bool:
        return name in self._declared or name == self._default

    def __iter__(self) -> Iterator[str]:
        yield self._default
        yield from (name for name in self._declared if name != self._default)

    def __len__(self) -> int:
        return len(self._declared) + (self._default not in self._declared)
