"""dnsauto's own settings: ``[daemon]`` and its ``dns``, ``metrics`` and ``api`` tables."""

from __future__ import annotations

import ipaddress
import math
import os
import string
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field, field_validator

from dnsauto.config.cluster import ClusterSettings
from dnsauto.config.stores import PostgreSqlStore, SqliteStore
from dnsauto.plugin.errors import ConfigProblem, SecretError
from dnsauto.plugin.types import Duration, Model, OptionalDuration, SecretKey, quoted

if TYPE_CHECKING:
    from dnsauto.state.store import PostgresLocation, StateStore

__all__ = [
    "MIN_API_KEY_BITS",
    "ApiKey",
    "ApiPermission",
    "ApiSettings",
    "ApiTls",
    "Daemon",
    "DaemonStore",
    "DnsSettings",
    "HostPort",
    "MetricsSettings",
    "api_key_strength_problem",
    "parse_host_port",
]


def parse_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """Split ``"192.0.2.1:5353"``, ``"[2001:db8::1]:53"``, ``"192.0.2.1"`` or ``"::1"``."""
    text = value.strip()
    host, port_text = text, ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise ValueError(f"{quoted(value)} is not host:port")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"{quoted(value)} does not start with an IP address") from None
    port = default_port
    if port_text:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"{quoted(value)} has no valid port (1-65535)")
        port = int(port_text)
    return str(address), port


def _check_host_port(value: str) -> str:
    parse_host_port(value)
    return value


HostPort = Annotated[str, AfterValidator(_check_host_port)]


def _check_listen(value: str) -> str:
    if parse_host_port(value, default_port=0)[1] == 0:
        raise ValueError(f"{quoted(value)} has no port: write host:port, e.g. 127.0.0.1:9153")
    return value


ListenAddress = Annotated[str, AfterValidator(_check_listen)]


class DnsSettings(Model):
    """How dnsauto itself asks DNS questions."""

    resolvers: Annotated[
        tuple[HostPort, ...],
        Field(description="Recursive resolvers as host:port; empty for the system's"),
    ] = ()
    authoritative_port: Annotated[int, Field(ge=1, le=65535)] = 53
    authoritative_servers: Annotated[
        tuple[HostPort, ...],
        Field(
            description="Ask these (host:port) instead of the zone's NS set: split horizon, tests"
        ),
    ] = ()


class MetricsSettings(Model):
    """Prometheus metrics over HTTP (``GET /metrics``)."""

    listen: Annotated[
        ListenAddress | None,
        Field(description="host:port to serve /metrics on; unset: no metrics endpoint"),
    ] = None


class ApiPermission(StrEnum):
    """What an API key may do: Stalwart's permission names, one per method and operation."""

    BOOTSTRAP_GET = "sysBootstrapGet"
    BOOTSTRAP_UPDATE = "sysBootstrapUpdate"
    DNS_SERVER_GET = "sysDnsServerGet"
    DNS_SERVER_CREATE = "sysDnsServerCreate"
    DNS_SERVER_UPDATE = "sysDnsServerUpdate"
    DNS_SERVER_DESTROY = "sysDnsServerDestroy"
    DNS_SERVER_QUERY = "sysDnsServerQuery"
    DOMAIN_GET = "sysDomainGet"
    DOMAIN_CREATE = "sysDomainCreate"
    DOMAIN_UPDATE = "sysDomainUpdate"
    DOMAIN_DESTROY = "sysDomainDestroy"
    DOMAIN_QUERY = "sysDomainQuery"
    TASK_GET = "sysTaskGet"


class ApiKey(Model):
    """A key for the JMAP API: ``Authorization: Bearer <secret>``."""

    name: Annotated[str, Field(min_length=1, description="Who holds the key (shown in logs)")]
    secret: Annotated[
        SecretKey, Field(description="The bearer token (Value, EnvironmentVariable or File)")
    ]
    permissions: Annotated[
        tuple[ApiPermission, ...], Field(description="The methods and operations it may use")
    ] = ()
    expires_at: Annotated[
        datetime | None,
        Field(description="When the key stops working (UTC when no offset); unset: never"),
    ] = None

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("permissions")
    @classmethod
    def _no_repeats(cls, value: tuple[ApiPermission, ...]) -> tuple[ApiPermission, ...]:
        return tuple(dict.fromkeys(value))


MIN_API_KEY_BITS = 128
"""An API key's least strength: guessing it is hopeless however many wrong keys are tried."""

_KEY_ALPHABETS = (
    (frozenset(string.digits), 10),
    (frozenset(string.hexdigits), 16),
    (frozenset(string.ascii_lowercase), 26),
    (frozenset(string.ascii_uppercase), 26),
    (frozenset(string.ascii_lowercase + string.digits), 36),
    (frozenset(string.ascii_uppercase + string.digits), 36),
    # Mixed-case letters alone count as base64: a random base64 key of 22 characters has
    # none of its other 12 characters one time in a hundred (as 52 letters: 125 bits).
    (frozenset(string.ascii_letters + string.digits + "-_+/="), 64),
    (frozenset(string.printable), 95),
)


def _key_bits(secret: str) -> float:
    """The strength of a random secret written in the smallest alphabet it fits in (hex
    digits, base64, printable ASCII; any other character counts as 8 bits of UTF-8)."""
    characters = set(secret)
    for alphabet, size in _KEY_ALPHABETS:
        if characters <= alphabet:
            return len(secret) * math.log2(size)
    return len(secret.encode("utf-8")) * 8.0


def api_key_strength_problem(name: str, secret: str) -> str | None:
    """Why the secret of the API key ``name`` is too weak, or None (never shows the secret)."""
    bits = _key_bits(secret)
    if bits >= MIN_API_KEY_BITS:
        return None
    return (
        f"the API key {name!r} is too weak: about {int(bits)} bits, at least "
        f"{MIN_API_KEY_BITS} bits are needed (32 hex digits or 22 base64 characters of random: "
        "openssl rand -hex 16)"
    )


def _check_optional_listen(value: str) -> str:
    return _check_listen(value) if value.strip() else ""


def _check_public_url(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, sep, rest = value.partition("://")
    if not sep or scheme not in ("http", "https") or not rest or rest.startswith("/"):
        raise ValueError(f"{quoted(value)} is not an http:// or https:// URL with a host")
    if any(c in value for c in "?#") or any(c.isspace() for c in value):
        raise ValueError(f"{quoted(value)} must have no query, fragment or spaces")
    return value.rstrip("/")


def _check_network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError(f"{quoted(value)} is not an IP address or network") from None


def _check_origin(value: str) -> str:
    if value != "*" and _check_public_url(value) != value:
        raise ValueError(f'{quoted(value)} is not an origin (scheme://host[:port]) or "*"')
    return value


class ApiTls(Model):
    """HTTPS served directly (``[daemon.api.tls]``): PEM files read when the API starts."""

    certificate: Annotated[
        str, Field(min_length=1, description="The certificate chain, PEM (absolute path)")
    ]
    private_key: Annotated[
        str, Field(min_length=1, description="Its private key, PEM (absolute path)")
    ]

    @field_validator("certificate", "private_key")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError(f"{quoted(value)} must be an absolute path")
        return value


class ApiSettings(Model):
    """The JMAP management API (``POST /api``), served by ``dnsauto run``."""

    listen: Annotated[
        str,
        AfterValidator(_check_optional_listen),
        Field(description='host:port of the API; "" turns it off. Served only when keys exist'),
    ] = "127.0.0.1:8053"
    max_request_bytes: Annotated[
        int, Field(ge=1024, le=1 << 30, description="maxSizeRequest: the largest request body")
    ] = 10_000_000
    max_response_bytes: Annotated[
        int,
        Field(
            ge=1024,
            le=1 << 30,
            description="The largest response, and the most the result references of one "
            "request may expand to",
        ),
    ] = 10_000_000
    max_calls_in_request: Annotated[
        int, Field(ge=1, le=10_000, description="maxCallsInRequest: method calls per request")
    ] = 16
    max_concurrent_requests: Annotated[
        int, Field(ge=1, le=10_000, description="maxConcurrentRequests: requests at once")
    ] = 64
    max_objects: Annotated[
        int, Field(ge=1, le=100_000, description="maxObjectsInGet and maxObjectsInSet")
    ] = 1000
    max_connections: Annotated[
        int,
        Field(
            ge=1,
            le=100_000,
            description="Connections open at once (at most half the open-files limit); more "
            "get 503",
        ),
    ] = 256
    header_timeout: Annotated[
        Duration,
        Field(description="A new connection's request, or a request begun, has its headers in"),
    ] = timedelta(seconds=10)
    body_timeout: Annotated[
        Duration, Field(description="A request's body arrives within this of its headers (408)")
    ] = timedelta(seconds=30)
    keep_alive_timeout: Annotated[
        Duration, Field(description="An idle connection is closed this long after a response")
    ] = timedelta(seconds=30)
    max_auth_failures: Annotated[
        int,
        Field(
            ge=1,
            le=1_000_000,
            description="Wrong keys from one address within authFailureWindow before 429",
        ),
    ] = 10
    auth_failure_window: Annotated[
        Duration, Field(description="The window maxAuthFailures counts in")
    ] = timedelta(minutes=1)
    keys: Annotated[
        tuple[ApiKey, ...], Field(description="The API keys ([[daemon.api.keys]])")
    ] = ()
    public_url: Annotated[
        str | None,
        AfterValidator(_check_public_url),
        Field(
            description="The URL clients reach the API at (https://mail.example.org:8053); "
            "the session's URLs are built on it. Unset: from the connection (and the "
            "X-Forwarded-* headers of trustedProxies)"
        ),
    ] = None
    trusted_proxies: Annotated[
        tuple[Annotated[str, AfterValidator(_check_network)], ...],
        Field(
            description="Addresses or networks of reverse proxies whose X-Forwarded-Proto, "
            "-Host and -For are believed; empty: those headers are ignored"
        ),
    ] = ()
    allowed_origins: Annotated[
        tuple[Annotated[str, AfterValidator(_check_origin)], ...],
        Field(
            description='Web origins (https://admin.example.org, or "*") that may call the '
            "API from a browser (CORS); empty: none"
        ),
    ] = ()
    tls: Annotated[
        ApiTls | None, Field(description="Serve HTTPS with this certificate and key")
    ] = None
    allowed_secret_directories: Annotated[
        tuple[str, ...],
        Field(
            description="Folders (absolute) whose files File secrets set over the API may "
            "name; empty: File secrets are refused over the API"
        ),
    ] = ()
    allowed_secret_variable_prefixes: Annotated[
        tuple[Annotated[str, Field(min_length=1)], ...],
        Field(
            description="Name prefixes of the environment variables EnvironmentVariable "
            "secrets set over the API may name; empty: refused over the API"
        ),
    ] = ()

    @field_validator("keys")
    @classmethod
    def _unique_names(cls, value: tuple[ApiKey, ...]) -> tuple[ApiKey, ...]:
        names = [key.name for key in value]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"key names must be unique: {', '.join(repeated)}")
        return value

    @field_validator("allowed_secret_directories")
    @classmethod
    def _absolute_directories(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        relative = [path for path in value if not os.path.isabs(path)]
        if relative:
            raise ValueError(f"must be absolute paths: {', '.join(map(repr, relative))}")
        return value

    @field_validator("auth_failure_window", "header_timeout", "body_timeout", "keep_alive_timeout")
    @classmethod
    def _positive_window(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be greater than zero")
        return value

    @property
    def enabled(self) -> bool:
        """Whether ``dnsauto run`` serves the API: an address and at least one key."""
        return bool(self.listen) and bool(self.keys)


def _no_read_replicas(value: SqliteStore | PostgreSqlStore) -> SqliteStore | PostgreSqlStore:
    if isinstance(value, PostgreSqlStore) and value.read_replicas:
        raise ValueError(
            "readReplicas is not supported for dnsauto's store: every node reads and writes "
            "the one database"
        )
    return value


DaemonStore = Annotated[
    SqliteStore | PostgreSqlStore,
    Field(discriminator="type"),
    AfterValidator(_no_read_replicas),
]
"""``[daemon.store]``: Stalwart's ``DataStore`` shapes dnsauto keeps its state in."""

DEFAULT_STORE_TIMEOUT = timedelta(seconds=15)


class Daemon(Model):
    """The service's own settings."""

    state_dir: Annotated[
        str, Field(min_length=1, description="DKIM keys, journal and status live here")
    ] = "/var/lib/dnsauto"
    sync_interval: Annotated[
        Duration, Field(description="How often `dnsauto run` reconciles every domain")
    ] = timedelta(hours=1)
    sync_jitter: Annotated[
        OptionalDuration,
        Field(
            description="Random delay added to each periodic reconcile; unset: a tenth of "
            "syncInterval"
        ),
    ] = None
    trigger_delay: Annotated[
        Duration,
        Field(description="Triggers for a domain within this time make one run"),
    ] = timedelta(seconds=1)
    max_concurrent_domains: Annotated[
        int, Field(ge=1, le=1000, description="Domains synced at the same time")
    ] = 8
    retry_initial_delay: Annotated[
        Duration, Field(description="Wait before retrying a failed domain; doubles each time")
    ] = timedelta(seconds=30)
    retry_max_delay: Annotated[
        Duration, Field(description="The longest wait between retries of a failed domain")
    ] = timedelta(minutes=30)
    full_read_interval: Annotated[
        Duration,
        Field(
            description="Read each zone in full at least this often; in between, a sync of a "
            "zone whose change marker (SOA serial) and desired records are those of its last "
            "successful sync reads only the marker. 0s: read in full every time"
        ),
    ] = timedelta(hours=6)
    dkim_check_interval: Annotated[
        Duration, Field(description="How often DKIM keys are checked for rotation")
    ] = timedelta(hours=1)
    shutdown_timeout: Annotated[
        Duration,
        Field(description="On SIGTERM, how long runs in flight may take before they are cut"),
    ] = timedelta(seconds=30)
    store: Annotated[
        DaemonStore | None,
        Field(
            description="Where the state (journal, results, DKIM key stages, API objects) is "
            "kept: Sqlite (the default, a file in stateDir) or PostgreSql (one database the "
            "nodes of a cluster share)"
        ),
    ] = None
    dns: DnsSettings = DnsSettings()
    metrics: MetricsSettings = MetricsSettings()
    api: ApiSettings = ApiSettings()
    cluster: ClusterSettings = ClusterSettings()

    @field_validator("sync_interval", "dkim_check_interval")
    @classmethod
    def _at_least_a_second(cls, value: timedelta) -> timedelta:
        if value < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    def store_database(self) -> str | PostgresLocation | None:
        """Where :meth:`open_store` keeps the state: ``None`` for SQLite in ``stateDir``, the
        ``Sqlite`` store's directory, or the ``PostgreSql`` store's database (its secret
        read now; a :class:`SecretError` names ``daemon.store.authSecret``)."""
        store = self.store
        if store is None:
            return None
        if isinstance(store, SqliteStore):
            return store.path
        from dnsauto.state.store import PostgresLocation

        try:
            password = store.auth_secret.resolve()
        except SecretError as exc:
            raise SecretError(
                [
                    ConfigProblem("daemon.store.authSecret", p.message, p.source)
                    for p in exc.problems
                ]
            ) from None
        timeout = store.timeout if store.timeout is not None else DEFAULT_STORE_TIMEOUT
        return PostgresLocation(
            host=store.host,
            port=store.port,
            database=store.database,
            user=store.auth_username,
            password=password,
            connect_timeout=timeout.total_seconds(),
            use_tls=store.use_tls,
            allow_invalid_certs=store.allow_invalid_certs,
            pool_max_connections=store.pool_max_connections or 10,
            options=store.options,
        )

    def store_exists(self) -> bool:
        """Whether there is a store to read without making one (PostgreSQL: always)."""
        from dnsauto.state.store import DB_FILE

        database = self.store_database()
        if database is None:
            return (Path(self.state_dir) / DB_FILE).exists()
        if isinstance(database, str):
            return (Path(database) / DB_FILE).exists()
        return True

    def open_store(self, *, clock: Callable[[], datetime] | None = None) -> StateStore:
        """The state store ``[daemon.store]`` names, opened (and migrated) for this process
        (which keeps it: one store per process)."""
        from dnsauto.state.store import StateStore, utc_now

        return StateStore(self.state_dir, database=self.store_database(), clock=clock or utc_now)

    @property
    def jitter(self) -> timedelta:
        """The periodic reconcile's jitter: ``syncJitter``, or a tenth of ``syncInterval``."""
        return self.sync_jitter if self.sync_jitter is not None else self.sync_interval / 10
