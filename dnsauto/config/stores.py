"""Bootstrap's storage, directory and tracer objects, as Stalwart v0.16 defines them.

Each union below is one of Stalwart's multi-variant objects, told apart by ``@type``; each class
is one Stalwart struct, with Stalwart's property names, defaults, bounds and descriptions
(https://stalw.art/docs/ref/object/bootstrap and the DataStore, BlobStore, SearchStore,
InMemoryStore and Tracer pages it links to).

Sets (Stalwart's ``String[]``, ``Uri[]`` and ``EventType[]``) are written as arrays, as the
reference shows them; Stalwart's JMAP wire form ``{"value": true}`` is accepted as well. Lists of
objects (``readReplicas``, ``stores``) are arrays too; the wire form ``{"0": {...}}`` is accepted.
Fields whose description ends in "(enterprise)" only take effect with an Enterprise licence.

Accepted for paste-compatibility, not acted on: dnsauto keeps its state in its own store
(``daemon.stateDir``) and traces with its own logs, so these objects are validated (a Stalwart
configuration pasted whole loads, and a typo in it is reported) and then ignored. Nothing outside
:mod:`dnsauto.config` reads them; they are kept in this module so the models that matter
(:mod:`~dnsauto.config.bootstrap`, :mod:`~dnsauto.config.domain`, :mod:`dnsauto.plugin.settings`)
read on their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, Field

from dnsauto.plugin.types import (
    Duration,
    Model,
    OptionalDuration,
    SecretKey,
    SecretKeyOptional,
    StalwartSet,
    Tagged,
)

__all__ = [
    "AzureStore",
    "BlobStore",
    "BlobStoreBase",
    "DataStore",
    "DefaultStore",
    "DirectoryBootstrap",
    "ElasticSearchStore",
    "EventPolicy",
    "FileSystemStore",
    "FoundationDbStore",
    "HttpAuth",
    "HttpAuthBasic",
    "HttpAuthBearer",
    "HttpAuthUnauthenticated",
    "InMemoryStore",
    "InMemoryStoreBase",
    "InternalDirectory",
    "JournalTracer",
    "LdapDirectory",
    "LogRotateFrequency",
    "LogTracer",
    "MeilisearchStore",
    "MySqlSettings",
    "MySqlStore",
    "OidcDirectory",
    "OtelGrpcTracer",
    "OtelHttpTracer",
    "PostgreSqlRecyclingMethod",
    "PostgreSqlSettings",
    "PostgreSqlStore",
    "RedisClusterStore",
    "RedisProtocol",
    "RedisSentinelStore",
    "RedisStore",
    "RocksDbStore",
    "S3CustomRegion",
    "S3Region",
    "S3Store",
    "S3StoreRegion",
    "SearchStore",
    "ShardedBlobStore",
    "ShardedInMemoryStore",
    "SqlAuthStore",
    "SqlDirectory",
    "SqliteStore",
    "StdoutTracer",
    "Tracer",
    "TracingLevel",
    "default_blob_store",
    "default_data_store",
    "default_directory",
    "default_in_memory_store",
    "default_search_store",
    "default_tracer",
]


# --- value types ------------------------------------------------------------------------------


def _list_from_map(value: object) -> object:
    """Stalwart's wire form of a list, ``{"0": {...}, "1": {...}}``, as ``[{...}, {...}]``."""
    if not isinstance(value, Mapping):
        return value
    indexed = []
    for key, item in value.items():
        if not (str(key).isascii() and str(key).isdigit()):
            raise ValueError("a list written as an object has the positions 0, 1, 2... as keys")
        indexed.append((int(key), item))
    indexed.sort(key=lambda pair: pair[0])
    return [item for _, item in indexed]


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


NonEmptyText = Annotated[str, Field(min_length=1)]
Uri = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9+.-]*://\S+$")]
"""Stalwart's ``Uri``: an absolute URL such as ``ldap://localhost:389``."""
EventId = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$")]
"""Stalwart's ``EventType``: ``<subsystem>.<name>``, e.g. ``acme.auth-start``."""
TenantId = Annotated[str, Field(min_length=1)]
"""Stalwart's ``Id<Tenant>``."""

StringSet = Annotated[tuple[NonEmptyText, ...], StalwartSet(), AfterValidator(_unique)]
UriSet = Annotated[tuple[Uri, ...], StalwartSet(), AfterValidator(_unique)]
EventSet = Annotated[tuple[EventId, ...], StalwartSet(), AfterValidator(_unique)]
"""Stalwart's sets (``Map<T>``): objects of ``true``, or arrays (:class:`StalwartSet`)."""

Port = Annotated[int, Field(ge=1, le=65535)]
PoolSize = Annotated[int, Field(ge=1, le=8192)]
WorkerCount = Annotated[int, Field(ge=1, le=64)]
BlobRetryCount = Annotated[int, Field(ge=1, le=10)]
TransactionRetryLimit = Annotated[int, Field(ge=1, le=1000)]
RetryCount = Annotated[int, Field(ge=1, le=1024)]


# --- enums ------------------------------------------------------------------------------------


class PostgreSqlRecyclingMethod(StrEnum):
    """How the PostgreSQL connection pool recycles connections."""

    FAST = "fast"
    VERIFIED = "verified"
    CLEAN = "clean"


class RedisProtocol(StrEnum):
    """The Redis protocol version."""

    RESP2 = "resp2"
    RESP3 = "resp3"


class LogRotateFrequency(StrEnum):
    """How often a log file is rotated."""

    DAILY = "daily"
    HOURLY = "hourly"
    MINUTELY = "minutely"
    NEVER = "never"


class TracingLevel(StrEnum):
    """The logging level of a tracer."""

    ERROR = "error"
    WARN = "warn"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


class EventPolicy(StrEnum):
    """How a tracer's ``events`` list is interpreted."""

    INCLUDE = "include"
    EXCLUDE = "exclude"


# --- HTTP authentication ----------------------------------------------------------------------


class HttpAuthUnauthenticated(Tagged):
    """Anonymous HTTP requests."""

    type: Literal["Unauthenticated"] = Field(alias="@type")


class HttpAuthBasic(Tagged):
    """HTTP Basic authentication credentials."""

    type: Literal["Basic"] = Field(alias="@type")
    username: Annotated[NonEmptyText, Field(description="Username for HTTP Basic Authentication")]
    secret: Annotated[SecretKey, Field(description="Password for HTTP Basic Authentication")]


class HttpAuthBearer(Tagged):
    """HTTP Bearer token authentication."""

    type: Literal["Bearer"] = Field(alias="@type")
    bearer_token: Annotated[
        SecretKey, Field(description="Bearer token for HTTP Bearer Authentication")
    ]


HttpAuth = Annotated[
    HttpAuthUnauthenticated | HttpAuthBasic | HttpAuthBearer, Field(discriminator="type")
]
"""The HTTP authentication method to use for HTTP requests."""

_HttpAuthField = Annotated[HttpAuth, Field(description="The type of HTTP authentication to use")]
_HttpHeaders = Annotated[
    dict[str, str], Field(description="Additional headers to include in HTTP requests")
]


# --- SQL and key-value stores shared by several unions ----------------------------------------

_DbHost = Annotated[NonEmptyText, Field(description="Hostname of the database server")]
_DbPort = Annotated[Port, Field(description="Port of the database server")]
_DbName = Annotated[NonEmptyText, Field(description="Name of the database")]
_DbUsername = Annotated[str | None, Field(description="Username to connect to the store")]
_DbSecret = Annotated[SecretKeyOptional, Field(description="Password to connect to the store")]
_DbOptions = Annotated[str | None, Field(description="Additional connection options")]
_DbTimeout = Annotated[OptionalDuration, Field(description="Connection timeout to the database")]
_DbUseTls = Annotated[bool, Field(description="Use TLS to connect to the store")]
_DbAllowInvalidCerts = Annotated[
    bool, Field(description="Allow invalid TLS certificates when connecting to the store")
]
_DbPoolMax = Annotated[
    PoolSize | None, Field(description="Maximum number of connections to the store")
]
_PoolWorkers = Annotated[
    WorkerCount | None,
    Field(
        description="Number of worker threads to use for the store, defaults to the number of cores"
    ),
]


class PostgreSqlSettings(Model):
    """PostgreSQL connection settings (a read replica)."""

    host: _DbHost
    port: _DbPort = 5432
    database: _DbName = "stalwart"
    auth_username: _DbUsername = "stalwart"
    auth_secret: _DbSecret
    options: _DbOptions = None


class PostgreSqlStore(Tagged):
    """PostgreSQL data store."""

    type: Literal["PostgreSql"] = Field(alias="@type")
    timeout: _DbTimeout = timedelta(seconds=15)
    use_tls: _DbUseTls = False
    allow_invalid_certs: _DbAllowInvalidCerts = False
    pool_max_connections: _DbPoolMax = 10
    pool_recycling_method: Annotated[
        PostgreSqlRecyclingMethod,
        Field(description="Method to use when recycling connections in the pool"),
    ] = PostgreSqlRecyclingMethod.FAST
    read_replicas: Annotated[
        tuple[PostgreSqlSettings, ...],
        BeforeValidator(_list_from_map),
        Field(description="List of read replicas for the store (enterprise)"),
    ] = ()
    host: _DbHost
    port: _DbPort = 5432
    database: _DbName = "stalwart"
    auth_username: _DbUsername = "stalwart"
    auth_secret: _DbSecret
    options: _DbOptions = None


class MySqlSettings(Model):
    """MySQL connection settings (a read replica)."""

    host: _DbHost
    port: _DbPort = 3306
    database: _DbName = "stalwart"
    auth_username: _DbUsername = "stalwart"
    auth_secret: _DbSecret


class MySqlStore(Tagged):
    """MySQL data store."""

    type: Literal["MySql"] = Field(alias="@type")
    timeout: _DbTimeout = timedelta(seconds=15)
    use_tls: _DbUseTls = False
    allow_invalid_certs: _DbAllowInvalidCerts = False
    max_allowed_packet: Annotated[
        int | None,
        Field(ge=1024, le=1_073_741_824, description="Maximum size of a packet in bytes"),
    ] = None
    pool_max_connections: _DbPoolMax = 10
    pool_min_connections: Annotated[
        PoolSize | None, Field(description="Minimum number of connections to the store")
    ] = 5
    read_replicas: Annotated[
        tuple[MySqlSettings, ...],
        BeforeValidator(_list_from_map),
        Field(description="List of read replicas for the store (enterprise)"),
    ] = ()
    host: _DbHost
    port: _DbPort = 3306
    database: _DbName = "stalwart"
    auth_username: _DbUsername = "stalwart"
    auth_secret: _DbSecret


class SqliteStore(Tagged):
    """SQLite embedded data store."""

    type: Literal["Sqlite"] = Field(alias="@type")
    path: Annotated[NonEmptyText, Field(description="Path to the SQLite data directory")]
    pool_workers: _PoolWorkers = None
    pool_max_connections: Annotated[
        PoolSize, Field(description="Maximum number of connections to the store")
    ] = 10


class FoundationDbStore(Tagged):
    """FoundationDB data store."""

    type: Literal["FoundationDb"] = Field(alias="@type")
    cluster_file: Annotated[
        str | None, Field(description="Path to the cluster file for the FoundationDB cluster")
    ] = None
    datacenter_id: Annotated[str | None, Field(description="Data center ID (optional)")] = None
    machine_id: Annotated[
        str | None, Field(description="Machine ID in the FoundationDB cluster (optional)")
    ] = None
    transaction_retry_delay: Annotated[
        OptionalDuration, Field(description="Transaction maximum retry delay")
    ] = None
    transaction_retry_limit: Annotated[
        TransactionRetryLimit | None, Field(description="Transaction retry limit")
    ] = None
    transaction_timeout: Annotated[OptionalDuration, Field(description="Transaction timeout")] = (
        None
    )


class DefaultStore(Tagged):
    """Use the data store."""

    type: Literal["Default"] = Field(alias="@type")


# --- DataStore --------------------------------------------------------------------------------


class RocksDbStore(Tagged):
    """RocksDB data store."""

    type: Literal["RocksDb"] = Field(alias="@type")
    path: Annotated[NonEmptyText, Field(description="Path to the RocksDB data directory")]
    blob_size: Annotated[
        int,
        Field(
            ge=1024,
            le=1_048_576,
            description=(
                "Minimum size of a blob to store in the blob store, smaller blobs are stored "
                "in the metadata store"
            ),
        ),
    ] = 16834
    buffer_size: Annotated[
        int,
        Field(
            ge=8192,
            le=1_073_741_824,
            description="Size of the write buffer in bytes, used to batch writes to the store",
        ),
    ] = 134_217_728
    pool_workers: _PoolWorkers = None


DataStore = Annotated[
    RocksDbStore | SqliteStore | FoundationDbStore | PostgreSqlStore | MySqlStore,
    Field(discriminator="type"),
]
"""Where structured data is kept: email metadata, calendars, contacts, mailbox state, settings."""


# --- BlobStore --------------------------------------------------------------------------------


class S3Region(Tagged):
    """One of Stalwart's predefined S3 regions."""

    type: Literal[
        "UsEast1", "UsEast2", "UsWest1", "UsWest2", "CaCentral1", "AfSouth1", "ApEast1",
        "ApSouth1", "ApNortheast1", "ApNortheast2", "ApNortheast3", "ApSoutheast1",
        "ApSoutheast2", "CnNorth1", "CnNorthwest1", "EuNorth1", "EuCentral1", "EuCentral2",
        "EuWest1", "EuWest2", "EuWest3", "IlCentral1", "MeSouth1", "SaEast1",
        "DoNyc3", "DoAms3", "DoSgp1", "DoFra1",
        "Yandex",
        "WaUsEast1", "WaUsEast2", "WaUsCentral1", "WaUsWest1", "WaCaCentral1", "WaEuCentral1",
        "WaEuCentral2", "WaEuWest1", "WaEuWest2", "WaApNortheast1", "WaApNortheast2",
        "WaApSoutheast1", "WaApSoutheast2",
    ] = Field(alias="@type")  # fmt: skip


class S3CustomRegion(Tagged):
    """Custom S3-compatible endpoint."""

    type: Literal["Custom"] = Field(alias="@type")
    custom_endpoint: Annotated[Uri, Field(description="Endpoint URL")]
    custom_region: Annotated[NonEmptyText, Field(description="Region name")]


S3StoreRegion = Annotated[S3Region | S3CustomRegion, Field(discriminator="type")]
"""An S3 region: a predefined one, or a custom endpoint."""

_BlobRetries = Annotated[
    BlobRetryCount,
    Field(
        description="The maximum number of times to retry failed requests. "
        "Set to 0 to disable retries"
    ),
]
_BlobKeyPrefix = Annotated[
    str | None,
    Field(
        description="A prefix that will be added to the keys of all objects stored in the blob "
        "store"
    ),
]


class S3Store(Tagged):
    """S3-compatible blob store."""

    type: Literal["S3"] = Field(alias="@type")
    region: Annotated[S3StoreRegion, Field(description="The S3 region where the bucket resides")]
    bucket: Annotated[
        NonEmptyText,
        Field(
            description="The S3 bucket where blobs (e-mail messages, Sieve scripts, etc.) will "
            "be stored"
        ),
    ]
    access_key: Annotated[str | None, Field(description="Identifies the S3 account")] = None
    secret_key: Annotated[SecretKeyOptional, Field(description="The secret key for the S3 account")]
    security_token: Annotated[
        SecretKeyOptional, Field(description="Security token for temporary credentials")
    ]
    session_token: Annotated[
        SecretKeyOptional, Field(description="Temporary session token for the S3 account")
    ]
    profile: Annotated[
        str | None,
        Field(
            description="Used when retrieving credentials from a shared credentials file. If "
            "specified, the server will use the access key ID, secret access key, and session "
            "token (if available) associated with the given profile"
        ),
    ] = None
    timeout: Annotated[Duration, Field(description="Connection timeout to the S3 service")] = (
        timedelta(seconds=30)
    )
    max_retries: _BlobRetries = 3
    key_prefix: _BlobKeyPrefix = None
    allow_invalid_certs: Annotated[
        bool, Field(description="Allow invalid TLS certificates when connecting to the S3 service")
    ] = False
    verify_after_write: Annotated[
        bool,
        Field(
            description="After each successful write, verify the object is readable on the "
            "backend. Defends against the rare case where an S3-compatible backend returns "
            "success but does not actually persist the data. Adds one extra request per write."
        ),
    ] = True


class AzureStore(Tagged):
    """Azure Blob Storage store."""

    type: Literal["Azure"] = Field(alias="@type")
    storage_account: Annotated[
        NonEmptyText,
        Field(
            description="The Azure Storage Account where blobs (e-mail messages, Sieve scripts, "
            "etc.) will be stored"
        ),
    ]
    container: Annotated[
        NonEmptyText, Field(description="The name of the container in the Storage Account")
    ]
    access_key: Annotated[
        SecretKeyOptional, Field(description="The access key for the Azure Storage Account")
    ]
    sas_token: Annotated[
        SecretKeyOptional,
        Field(description="SAS Token, when not using accessKey based authentication"),
    ]
    timeout: Annotated[Duration, Field(description="Connection timeout to the database")] = (
        timedelta(seconds=30)
    )
    max_retries: _BlobRetries = 3
    key_prefix: _BlobKeyPrefix = None


class FileSystemStore(Tagged):
    """Filesystem blob store."""

    type: Literal["FileSystem"] = Field(alias="@type")
    path: Annotated[
        NonEmptyText, Field(description="Where to store the data in the server's filesystem")
    ]
    depth: Annotated[int, Field(ge=0, le=5, description="Maximum depth of nested directories")] = 2


BlobStoreBase = Annotated[
    S3Store | AzureStore | FileSystemStore | FoundationDbStore | PostgreSqlStore | MySqlStore,
    Field(discriminator="type"),
]
"""Base blob store backends: the ones a sharded blob store spreads blobs over."""


class ShardedBlobStore(Tagged):
    """Sharded blob store."""

    type: Literal["Sharded"] = Field(alias="@type")
    stores: Annotated[
        tuple[BlobStoreBase, ...],
        BeforeValidator(_list_from_map),
        Field(min_length=2, description="Stores to use for sharding"),
    ]


BlobStore = Annotated[
    DefaultStore
    | ShardedBlobStore
    | S3Store
    | AzureStore
    | FileSystemStore
    | FoundationDbStore
    | PostgreSqlStore
    | MySqlStore,
    Field(discriminator="type"),
]
"""Where the raw content of messages, attachments and other large files is stored."""


# --- SearchStore ------------------------------------------------------------------------------

_SearchTimeout = Annotated[Duration, Field(description="Timeout for HTTP requests")]
_SearchAllowInvalidCerts = Annotated[
    bool, Field(description="Whether to allow invalid SSL certificates")
]


class ElasticSearchStore(Tagged):
    """ElasticSearch full-text search store."""

    type: Literal["ElasticSearch"] = Field(alias="@type")
    url: Annotated[Uri, Field(description="URL of the ElasticSearch server")]
    num_replicas: Annotated[
        int, Field(ge=0, le=2048, description="Number of replicas for the index")
    ] = 0
    num_shards: Annotated[
        int, Field(ge=1, le=1_048_576, description="Number of shards for the index")
    ] = 3
    include_source: Annotated[
        bool, Field(description="Whether to index the full source document")
    ] = False
    timeout: _SearchTimeout = timedelta(seconds=30)
    allow_invalid_certs: _SearchAllowInvalidCerts = False
    http_auth: _HttpAuthField
    http_headers: _HttpHeaders = Field(default_factory=dict)


class MeilisearchStore(Tagged):
    """Meilisearch full-text search store."""

    type: Literal["Meilisearch"] = Field(alias="@type")
    url: Annotated[Uri, Field(description="URL of the store")]
    poll_interval: Annotated[
        Duration, Field(description="Interval between polling for task status")
    ] = timedelta(milliseconds=500)
    max_retries: Annotated[
        RetryCount,
        Field(description="Number of times to poll for task status before giving up"),
    ] = 120
    fail_on_timeout: Annotated[
        bool,
        Field(
            description="Whether to fail the operation if the task does not complete within "
            "the polling retries"
        ),
    ] = True
    timeout: _SearchTimeout = timedelta(seconds=30)
    allow_invalid_certs: _SearchAllowInvalidCerts = False
    http_auth: _HttpAuthField
    http_headers: _HttpHeaders = Field(default_factory=dict)


SearchStore = Annotated[
    DefaultStore
    | ElasticSearchStore
    | MeilisearchStore
    | FoundationDbStore
    | PostgreSqlStore
    | MySqlStore,
    Field(discriminator="type"),
]
"""Where the full-text search index is kept."""


# --- InMemoryStore ----------------------------------------------------------------------------

_RedisTimeout = Annotated[Duration, Field(description="Connection timeout to the database")]
_RedisPoolMax = Annotated[PoolSize, Field(description="Maximum number of connections to the store")]
_RedisPoolCreate = Annotated[
    OptionalDuration, Field(description="Timeout for creating a new connection")
]
_RedisPoolWait = Annotated[
    OptionalDuration, Field(description="Timeout for waiting for a connection from the pool")
]
_RedisPoolRecycle = Annotated[
    OptionalDuration, Field(description="Timeout for recycling a connection")
]
_RedisProtocolField = Annotated[RedisProtocol, Field(description="Protocol Version")]


class RedisStore(Tagged):
    """Redis/Valkey store."""

    type: Literal["Redis"] = Field(alias="@type")
    url: Annotated[Uri, Field(description="URL of the Redis server")] = "redis://127.0.0.1"
    timeout: _RedisTimeout = timedelta(seconds=10)
    pool_max_connections: _RedisPoolMax = 10
    pool_timeout_create: _RedisPoolCreate = timedelta(seconds=30)
    pool_timeout_wait: _RedisPoolWait = timedelta(seconds=30)
    pool_timeout_recycle: _RedisPoolRecycle = timedelta(seconds=30)


class RedisClusterStore(Tagged):
    """Redis Cluster store."""

    type: Literal["RedisCluster"] = Field(alias="@type")
    urls: Annotated[UriSet, Field(description="URL(s) of the Redis server(s)")] = (
        "redis://127.0.0.1",
    )
    timeout: _RedisTimeout = timedelta(seconds=10)
    auth_username: _DbUsername = "stalwart"
    auth_secret: _DbSecret
    # Stalwart lists "min: 1, max: 1024" for both waits without saying in which unit a
    # Duration's bounds are counted, so they are not enforced here.
    max_retry_wait: Annotated[
        OptionalDuration, Field(description="Maximum time to wait between retries")
    ] = None
    min_retry_wait: Annotated[
        OptionalDuration, Field(description="Minimum time to wait between retries")
    ] = None
    max_retries: Annotated[
        RetryCount | None,
        Field(description="Number of retries to connect to the Redis cluster"),
    ] = None
    read_from_replicas: Annotated[bool, Field(description="Whether to read from replicas")] = True
    protocol_version: _RedisProtocolField = RedisProtocol.RESP2
    pool_max_connections: _RedisPoolMax = 10
    pool_timeout_create: _RedisPoolCreate = timedelta(seconds=30)
    pool_timeout_wait: _RedisPoolWait = timedelta(seconds=30)
    pool_timeout_recycle: _RedisPoolRecycle = timedelta(seconds=30)


class RedisSentinelStore(Tagged):
    """Redis Sentinel store."""

    type: Literal["RedisSentinel"] = Field(alias="@type")
    urls: Annotated[UriSet, Field(description="Address(es) of the Sentinel node(s)")] = (
        "redis://127.0.0.1:26379",
    )
    service_name: Annotated[
        NonEmptyText,
        Field(description="Name of the monitored master (service) to query via the Sentinels"),
    ] = "mymaster"
    timeout: _RedisTimeout = timedelta(seconds=10)
    auth_username: Annotated[
        str | None, Field(description="Username to connect to the data nodes")
    ] = "stalwart"
    auth_secret: Annotated[
        SecretKeyOptional, Field(description="Password to connect to the data nodes")
    ]
    sentinel_username: Annotated[
        str | None, Field(description="Username to connect to the Sentinel nodes")
    ] = None
    sentinel_secret: Annotated[
        SecretKeyOptional, Field(description="Password to connect to the Sentinel nodes")
    ]
    protocol_version: _RedisProtocolField = RedisProtocol.RESP2
    pool_max_connections: _RedisPoolMax = 10
    pool_timeout_create: _RedisPoolCreate = timedelta(seconds=30)
    pool_timeout_wait: _RedisPoolWait = timedelta(seconds=30)
    pool_timeout_recycle: _RedisPoolRecycle = timedelta(seconds=30)


InMemoryStoreBase = Annotated[
    RedisStore | RedisClusterStore | RedisSentinelStore, Field(discriminator="type")
]
"""In-memory store backends: the ones a sharded in-memory store spreads keys over."""


class ShardedInMemoryStore(Tagged):
    """Sharded in-memory store."""

    type: Literal["Sharded"] = Field(alias="@type")
    stores: Annotated[
        tuple[InMemoryStoreBase, ...],
        BeforeValidator(_list_from_map),
        Field(min_length=2, description="Stores to use for sharding"),
    ]


InMemoryStore = Annotated[
    DefaultStore | ShardedInMemoryStore | RedisStore | RedisClusterStore | RedisSentinelStore,
    Field(discriminator="type"),
]
"""Where short-lived data lives: session caches, rate-limit counters, temporary tokens."""


# --- DirectoryBootstrap -----------------------------------------------------------------------

_DirectoryDescription = Annotated[
    NonEmptyText, Field(description="Short description of this directory")
]
_DirectoryTenant = Annotated[
    TenantId | None,
    Field(description="Identifier for the tenant this directory belongs to (enterprise)"),
]


class InternalDirectory(Tagged):
    """Use the internal directory."""

    type: Literal["Internal"] = Field(alias="@type")


class LdapDirectory(Tagged):
    """LDAP directory connection and mapping settings."""

    type: Literal["Ldap"] = Field(alias="@type")
    description: _DirectoryDescription
    url: Annotated[Uri, Field(description="URL of the LDAP server")] = "ldap://localhost:389"
    timeout: Annotated[Duration, Field(description="Connection timeout to the server")] = timedelta(
        seconds=30
    )
    allow_invalid_certs: Annotated[
        bool, Field(description="Allow invalid TLS certificates when connecting to the server")
    ] = False
    use_tls: Annotated[bool, Field(description="Use TLS to connect to the remote server")] = False
    base_dn: Annotated[
        NonEmptyText,
        Field(description="The base distinguished name (DN) from where searches should begin"),
    ]
    bind_dn: Annotated[
        str | None,
        Field(
            description="The distinguished name of the account that the server will bind as to "
            "connect to the LDAP directory"
        ),
    ] = None
    bind_secret: Annotated[
        SecretKeyOptional, Field(description="The password or secret for the bind DN account")
    ]
    bind_authentication: Annotated[
        bool,
        Field(
            description="Whether to use bind authentication. When enabled, the server will use "
            "the filterLogin to search for the user account and then attempt to bind as that "
            "account using the provided password. When disabled, the server will use the bind "
            "DN and secret to connect to the LDAP server and obtain the secret from the account "
            "entry using the attrSecret attribute."
        ),
    ] = True
    filter_login: Annotated[
        NonEmptyText,
        Field(description="Searches for user accounts by e-mail address during authentication"),
    ] = "(&(objectClass=inetOrgPerson)(mail=?))"
    filter_mailbox: Annotated[
        NonEmptyText,
        Field(
            description="Searches for users or groups matching a recipient e-mail address or alias"
        ),
    ] = (
        "(|(&(objectClass=inetOrgPerson)(|(mail=?)(mailAlias=?)))"
        "(&(objectClass=groupOfNames)(|(mail=?)(mailAlias=?))))"
    )
    filter_member_of: Annotated[
        str | None,
        Field(
            description="Searches for groups that an account is member of. Use when the group "
            "membership is not provided in the account entry. The ? in the filter will be "
            "replaced with the account DN."
        ),
    ] = "(&(objectClass=groupOfNames)(member=?))"
    attr_class: Annotated[
        StringSet,
        Field(
            description="LDAP attribute for the user's account type, if missing defaults to "
            "individual."
        ),
    ] = ("objectClass",)
    attr_description: Annotated[
        StringSet, Field(description="LDAP attributes used to store the user's description")
    ] = ("description",)
    attr_email: Annotated[
        StringSet, Field(description="LDAP attribute for the user's primary email address")
    ] = ("mail",)
    attr_email_alias: Annotated[
        StringSet, Field(description="LDAP attribute for the user's email alias(es)")
    ] = ("mailAlias",)
    attr_member_of: Annotated[
        StringSet,
        Field(
            description="LDAP attributes for the groups that a user belongs to. Used when "
            "filterMemberOf is not configured or when the group membership is also provided in "
            "the account entry."
        ),
    ] = ("memberOf",)
    attr_secret: Annotated[
        StringSet,
        Field(
            description="LDAP attribute for the user's password hash. This setting is required "
            "when binding as a service user. When using bind authentication, configure the "
            "secret-changed attribute instead."
        ),
    ] = ("userPassword",)
    attr_secret_changed: Annotated[
        StringSet,
        Field(
            description="LDAP attribute that provides a password change hash or a timestamp "
            "indicating when the password was last changed. When using bind authentication, "
            "this attribute is used to determine when to invalidate OAuth tokens."
        ),
    ] = ("pwdChangeTime",)
    group_class: Annotated[
        NonEmptyText, Field(description="LDAP object class used to identify group entries")
    ] = "groupOfNames"
    pool_max_connections: Annotated[
        int,
        Field(
            ge=0,
            le=8192,
            description="Maximum number of connections that can be maintained simultaneously "
            "in the connection pool",
        ),
    ] = 10
    pool_timeout_create: Annotated[
        Duration,
        Field(
            description="Maximum amount of time that the connection pool will wait for a new "
            "connection to be created"
        ),
    ] = timedelta(seconds=30)
    pool_timeout_recycle: Annotated[
        Duration,
        Field(
            description="Maximum amount of time that the connection pool manager will wait for "
            "a connection to be recycled"
        ),
    ] = timedelta(seconds=30)
    pool_timeout_wait: Annotated[
        Duration,
        Field(
            description="Maximum amount of time that the connection pool will wait for a "
            "connection to become available"
        ),
    ] = timedelta(seconds=30)
    member_tenant_id: _DirectoryTenant = None


SqlAuthStore = Annotated[
    DefaultStore | PostgreSqlStore | MySqlStore | SqliteStore, Field(discriminator="type")
]
"""The SQL database that holds a SQL directory's accounts and groups (Default: the data store)."""


class SqlDirectory(Tagged):
    """SQL database directory settings."""

    type: Literal["Sql"] = Field(alias="@type")
    description: _DirectoryDescription
    store: Annotated[
        SqlAuthStore, Field(description="Storage backend where accounts and groups are stored")
    ]
    column_email: Annotated[
        NonEmptyText,
        Field(
            description="Column name for e-mail address. Optional, you can use instead a query "
            "to obtain the account's addresses."
        ),
    ] = "name"
    column_secret: Annotated[
        NonEmptyText, Field(description="Column name for the account password.")
    ] = "secret"
    column_class: Annotated[str | None, Field(description="Column name for account type")] = "type"
    column_description: Annotated[
        str | None, Field(description="Column name for account full name or description")
    ] = "description"
    query_login: Annotated[
        NonEmptyText,
        Field(description="Query to obtain the account details by login e-mail address."),
    ] = "SELECT name, secret, description, type FROM accounts WHERE name = $1"
    query_recipient: Annotated[
        NonEmptyText,
        Field(
            description="Query to obtain the account details by recipient e-mail address or alias."
        ),
    ] = "SELECT name, secret, description, type FROM accounts WHERE name = $1 AND active = true"
    query_member_of: Annotated[
        str | None, Field(description="Query to obtain the groups an account is member of.")
    ] = "SELECT member_of FROM group_members WHERE name = $1"
    query_email_aliases: Annotated[
        str | None, Field(description="Query to obtain the e-mail aliases of an account.")
    ] = "SELECT address FROM emails WHERE name = $1"
    member_tenant_id: _DirectoryTenant = None


class OidcDirectory(Tagged):
    """OpenID Connect directory settings."""

    type: Literal["Oidc"] = Field(alias="@type")
    description: _DirectoryDescription
    issuer_url: Annotated[
        Uri,
        Field(
            description="The base URL of the OpenID Connect provider (e.g. "
            "https://sso.example.com/realms/myrealm). Stalwart will use this URL to "
            "automatically discover the provider's endpoints, including the token validation "
            "and user info endpoints."
        ),
    ]
    require_audience: Annotated[
        str | None,
        Field(
            description="If set, Stalwart will reject any token whose aud (audience) claim does "
            "not include this value. Set this to the client ID or resource identifier registered "
            "for Stalwart in your identity provider to ensure tokens issued for other "
            "applications are not accepted."
        ),
    ] = "stalwart"
    require_scopes: Annotated[
        StringSet,
        Field(
            description="If set, Stalwart will reject any token that does not include all of the "
            "specified scopes. Useful for ensuring that only tokens explicitly granted access to "
            "the mail server are accepted."
        ),
    ] = ("openid", "email")
    claim_username: Annotated[
        NonEmptyText,
        Field(
            description="The claim name used to retrieve the user's login name from the token or "
            "user info response. Common values are preferred_username, email, or sub depending "
            "on your provider's configuration. If the claim value is not an email address and "
            "usernameDomain is set, the domain will be appended automatically (e.g. john becomes "
            "john@example.com). If the claim value already contains an @, it is used as-is. If "
            "the claim value is not an email address and no usernameDomain is configured, "
            "Stalwart will fall back to the email claim. If neither yields a valid email "
            "address, authentication will be rejected."
        ),
    ] = "preferred_username"
    username_domain: Annotated[
        str | None,
        Field(
            description="The domain name to append to the username when the value of "
            "claimUsername does not contain an @ symbol (e.g. setting this to example.com will "
            "turn john into john@example.com). If not set, Stalwart will fall back to the email "
            "claim when the username claim does not contain a valid email address."
        ),
    ] = None
    claim_name: Annotated[
        str | None,
        Field(
            description="The claim name used to retrieve the user's display name from the token "
            "or user info response. Common values are name or display_name. If not set, the "
            "display name will not be populated."
        ),
    ] = "name"
    claim_groups: Annotated[
        str | None,
        Field(
            description="The claim name used to retrieve the user's group memberships from the "
            "token or user info response. Common values are groups or roles depending on your "
            "provider's configuration. If not set, group information will not be populated. "
            "Note that some providers omit group claims from the token to keep its size small "
            "and only return them via the user info endpoint, if group information is missing, "
            "ensure your provider is configured to include it."
        ),
    ] = None
    member_tenant_id: _DirectoryTenant = None


DirectoryBootstrap = Annotated[
    InternalDirectory | LdapDirectory | SqlDirectory | OidcDirectory,
    Field(discriminator="type"),
]
"""Where user accounts and credentials come from."""


# --- Tracer -----------------------------------------------------------------------------------

_TracerEnable = Annotated[bool, Field(description="Enable or disable the tracer")]
_TracerLevel = Annotated[TracingLevel, Field(description="The logging level for this tracer")]
_TracerLossy = Annotated[bool, Field(description="Whether to drop log entries if there is backlog")]
_TracerEvents = Annotated[
    EventSet, Field(description="List of events to include or exclude based on filter mode")
]
_TracerEventsPolicy = Annotated[EventPolicy, Field(description="How to interpret the events list")]
_TracerAnsi = Annotated[bool, Field(description="Whether to use ANSI colors in logs")]
_TracerMultiline = Annotated[
    bool, Field(description="Whether to write log entries as a single line or multiline")
]
_OtelLogExporter = Annotated[bool, Field(description="Whether to export logs to OpenTelemetry")]
_OtelSpanExporter = Annotated[bool, Field(description="Whether to export spans to OpenTelemetry")]
_OtelThrottle = Annotated[
    Duration,
    Field(
        description="The minimum amount of time that must pass between each request to the "
        "OpenTelemetry endpoint"
    ),
]
_OtelTimeout = Annotated[
    Duration,
    Field(
        description="Maximum amount of time that Stalwart will wait for a response from the "
        "OpenTelemetry endpoint"
    ),
]


class _TracerCommon(Tagged):
    """Stalwart's ``TracerCommon``: the settings every tracer has."""

    enable: _TracerEnable = True
    level: _TracerLevel = TracingLevel.INFO
    lossy: _TracerLossy = False
    events: _TracerEvents = ()
    events_policy: _TracerEventsPolicy = EventPolicy.EXCLUDE


class LogTracer(_TracerCommon):
    """Log file tracer."""

    type: Literal["Log"] = Field(alias="@type")
    path: Annotated[NonEmptyText, Field(description="The path to the log file")]
    prefix: Annotated[NonEmptyText, Field(description="The prefix for the log file")] = "stalwart"
    rotate: Annotated[
        LogRotateFrequency, Field(description="The frequency to rotate the log file")
    ] = LogRotateFrequency.DAILY
    ansi: _TracerAnsi = True
    multiline: _TracerMultiline = False


class StdoutTracer(_TracerCommon):
    """Console tracer."""

    type: Literal["Stdout"] = Field(alias="@type")
    buffered: Annotated[
        bool, Field(description="Whether to buffer log entries before writing to console")
    ] = True
    ansi: _TracerAnsi = False
    multiline: _TracerMultiline = False


class JournalTracer(_TracerCommon):
    """Systemd journal tracer (Stalwart's ``TracerCommon`` settings)."""

    type: Literal["Journal"] = Field(alias="@type")


class OtelHttpTracer(_TracerCommon):
    """OpenTelemetry tracer over HTTP."""

    type: Literal["OtelHttp"] = Field(alias="@type")
    endpoint: Annotated[Uri, Field(description="The endpoint for Open Telemetry")]
    enable_log_exporter: _OtelLogExporter = True
    enable_span_exporter: _OtelSpanExporter = True
    throttle: _OtelThrottle = timedelta(seconds=1)
    timeout: _OtelTimeout = timedelta(seconds=10)
    http_auth: _HttpAuthField
    http_headers: _HttpHeaders = Field(default_factory=dict)


class OtelGrpcTracer(_TracerCommon):
    """OpenTelemetry tracer over gRPC."""

    type: Literal["OtelGrpc"] = Field(alias="@type")
    endpoint: Annotated[Uri | None, Field(description="The endpoint for Open Telemetry")] = None
    enable_log_exporter: _OtelLogExporter = True
    enable_span_exporter: _OtelSpanExporter = True
    throttle: _OtelThrottle = timedelta(seconds=1)
    timeout: _OtelTimeout = timedelta(seconds=10)
    http_auth: _HttpAuthField
    http_headers: _HttpHeaders = Field(default_factory=dict)


Tracer = Annotated[
    LogTracer | StdoutTracer | JournalTracer | OtelHttpTracer | OtelGrpcTracer,
    Field(discriminator="type"),
]
"""Where the server writes log messages, traces and diagnostic events."""


# --- Bootstrap's defaults ---------------------------------------------------------------------


def default_data_store() -> RocksDbStore:
    """``{"@type":"RocksDb","path":"/var/lib/stalwart/"}``"""
    return RocksDbStore.model_validate({"@type": "RocksDb", "path": "/var/lib/stalwart/"})


def default_blob_store() -> DefaultStore:
    """``{"@type":"Default"}``: blobs are kept in the data store."""
    return DefaultStore.model_validate({"@type": "Default"})


def default_search_store() -> DefaultStore:
    """``{"@type":"Default"}``: the search index is kept in the data store."""
    return DefaultStore.model_validate({"@type": "Default"})


def default_in_memory_store() -> DefaultStore:
    """``{"@type":"Default"}``: short-lived data is kept in the data store."""
    return DefaultStore.model_validate({"@type": "Default"})


def default_directory() -> InternalDirectory:
    """``{"@type":"Internal"}``"""
    return InternalDirectory.model_validate({"@type": "Internal"})


def default_tracer() -> LogTracer:
    """``{"@type":"Log","path":"/var/log/stalwart/"}``"""
    return LogTracer.model_validate({"@type": "Log", "path": "/var/log/stalwart/"})
