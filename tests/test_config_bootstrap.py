"""Bootstrap's storage, directory and tracer objects follow Stalwart's reference."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from dnsauto.config import stores
from dnsauto.config.loader import load_config
from dnsauto.plugin.errors import ConfigError
from dnsauto.plugin.types import REDACTED, iter_secrets, reveal

DATA_STORE: TypeAdapter[Any] = TypeAdapter(stores.DataStore)
BLOB_STORE: TypeAdapter[Any] = TypeAdapter(stores.BlobStore)
SEARCH_STORE: TypeAdapter[Any] = TypeAdapter(stores.SearchStore)
IN_MEMORY_STORE: TypeAdapter[Any] = TypeAdapter(stores.InMemoryStore)
DIRECTORY: TypeAdapter[Any] = TypeAdapter(stores.DirectoryBootstrap)
TRACER: TypeAdapter[Any] = TypeAdapter(stores.Tracer)

NO_SECRET = {"@type": "None"}
POSTGRES = {"@type": "PostgreSql", "host": "db.example.com", "authSecret": NO_SECRET}
MYSQL = {"@type": "MySql", "host": "db.example.com", "authSecret": NO_SECRET}
SQLITE = {"@type": "Sqlite", "path": "/var/lib/stalwart/sqlite"}
ROCKSDB = {"@type": "RocksDb", "path": "/var/lib/stalwart/"}
FOUNDATIONDB = {"@type": "FoundationDb", "clusterFile": "/etc/foundationdb/fdb.cluster"}
S3 = {
    "@type": "S3",
    "region": {"@type": "EuCentral1"},
    "bucket": "mail",
    "accessKey": "AKIAEXAMPLE",
    "secretKey": {"@type": "EnvironmentVariable", "variableName": "S3_SECRET"},
    "securityToken": NO_SECRET,
    "sessionToken": NO_SECRET,
}
AZURE = {
    "@type": "Azure",
    "storageAccount": "mailstore",
    "container": "blobs",
    "accessKey": {"@type": "File", "filePath": "/run/secrets/azure"},
    "sasToken": NO_SECRET,
}
FILESYSTEM = {"@type": "FileSystem", "path": "/var/lib/stalwart/blobs"}
ELASTICSEARCH = {
    "@type": "ElasticSearch",
    "url": "https://search.example.com:9200",
    "httpAuth": {
        "@type": "Basic",
        "username": "elastic",
        "secret": {"@type": "Value", "secret": "s"},
    },
}
MEILISEARCH = {
    "@type": "Meilisearch",
    "url": "http://127.0.0.1:7700",
    "httpAuth": {"@type": "Bearer", "bearerToken": {"@type": "Value", "secret": "t"}},
}
REDIS = {"@type": "Redis", "url": "redis://cache.example.com:6379"}
REDIS_CLUSTER = {
    "@type": "RedisCluster",
    "urls": ["redis://a:6379", "redis://b:6379"],
    "authSecret": NO_SECRET,
}
REDIS_SENTINEL = {"@type": "RedisSentinel", "authSecret": NO_SECRET, "sentinelSecret": NO_SECRET}
LDAP = {
    "@type": "Ldap",
    "description": "Company LDAP",
    "url": "ldaps://ldap.example.com:636",
    "baseDn": "dc=example,dc=com",
    "bindDn": "cn=stalwart,dc=example,dc=com",
    "bindSecret": {"@type": "Value", "secret": "bind-password"},
}
SQL_DIRECTORY = {"@type": "Sql", "description": "Accounts in SQL", "store": {"@type": "Default"}}
OIDC = {
    "@type": "Oidc",
    "description": "Keycloak",
    "issuerUrl": "https://sso.example.com/realms/myrealm",
}
OTEL_HTTP = {
    "@type": "OtelHttp",
    "endpoint": "https://otel.example.com/v1/logs",
    "httpAuth": {"@type": "Unauthenticated"},
    "httpHeaders": {"X-Tenant": "mail"},
}


def bootstrap(**fields: Any) -> dict[str, Any]:
    required = {"serverHostname": "mail.example.com", "defaultDomain": "example.com"}
    return {"bootstrap": required | fields}


def config_error(document: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(document)
    return caught.value.message


# --- defaults ---------------------------------------------------------------------------------


def test_bootstrap_store_defaults_are_stalwarts() -> None:
    b = load_config(bootstrap()).bootstrap

    def shown(obj: Any) -> Any:
        return obj.model_dump(mode="json", exclude_defaults=True)

    assert shown(b.data_store) == {"@type": "RocksDb", "path": "/var/lib/stalwart/"}
    assert shown(b.blob_store) == {"@type": "Default"}
    assert shown(b.search_store) == {"@type": "Default"}
    assert shown(b.in_memory_store) == {"@type": "Default"}
    assert shown(b.directory) == {"@type": "Internal"}
    assert shown(b.tracer) == {"@type": "Log", "path": "/var/log/stalwart/"}


def test_rocksdb_defaults() -> None:
    store = DATA_STORE.validate_python(ROCKSDB)
    assert (store.blob_size, store.buffer_size, store.pool_workers) == (16834, 134217728, None)


def test_postgresql_defaults() -> None:
    store = DATA_STORE.validate_python(POSTGRES)
    assert store.port == 5432
    assert (store.database, store.auth_username, store.options) == ("stalwart", "stalwart", None)
    assert store.timeout == timedelta(seconds=15)
    assert (store.use_tls, store.allow_invalid_certs) == (False, False)
    assert (store.pool_max_connections, store.pool_recycling_method) == (10, "fast")
    assert store.read_replicas == ()


def test_mysql_defaults() -> None:
    store = DATA_STORE.validate_python(MYSQL)
    assert (store.port, store.database, store.auth_username) == (3306, "stalwart", "stalwart")
    assert store.timeout == timedelta(seconds=15)
    assert (store.pool_max_connections, store.pool_min_connections) == (10, 5)
    assert store.max_allowed_packet is None


def test_sqlite_defaults() -> None:
    store = DATA_STORE.validate_python(SQLITE)
    assert (store.pool_workers, store.pool_max_connections) == (None, 10)


def test_blob_store_defaults() -> None:
    s3 = BLOB_STORE.validate_python(S3)
    assert (s3.timeout, s3.max_retries, s3.key_prefix) == (timedelta(seconds=30), 3, None)
    assert (s3.allow_invalid_certs, s3.verify_after_write, s3.profile) == (False, True, None)
    azure = BLOB_STORE.validate_python(AZURE)
    assert (azure.timeout, azure.max_retries) == (timedelta(seconds=30), 3)
    assert BLOB_STORE.validate_python(FILESYSTEM).depth == 2


def test_search_store_defaults() -> None:
    elastic = SEARCH_STORE.validate_python(ELASTICSEARCH)
    assert (elastic.num_replicas, elastic.num_shards, elastic.include_source) == (0, 3, False)
    assert (elastic.timeout, elastic.http_headers) == (timedelta(seconds=30), {})
    meili = SEARCH_STORE.validate_python(MEILISEARCH)
    assert (meili.poll_interval, meili.max_retries) == (timedelta(milliseconds=500), 120)
    assert meili.fail_on_timeout is True


def test_in_memory_store_defaults() -> None:
    redis = IN_MEMORY_STORE.validate_python({"@type": "Redis"})
    assert (redis.url, redis.timeout) == ("redis://127.0.0.1", timedelta(seconds=10))
    assert redis.pool_max_connections == 10
    assert redis.pool_timeout_create == redis.pool_timeout_wait == timedelta(seconds=30)
    cluster = IN_MEMORY_STORE.validate_python({"@type": "RedisCluster", "authSecret": NO_SECRET})
    assert cluster.urls == ("redis://127.0.0.1",)
    assert (cluster.auth_username, cluster.read_from_replicas) == ("stalwart", True)
    assert cluster.protocol_version == "resp2"
    sentinel = IN_MEMORY_STORE.validate_python(REDIS_SENTINEL)
    assert (sentinel.urls, sentinel.service_name) == (("redis://127.0.0.1:26379",), "mymaster")


def test_ldap_directory_defaults() -> None:
    ldap = DIRECTORY.validate_python(
        {
            "@type": "Ldap",
            "description": "d",
            "baseDn": "dc=example,dc=com",
            "bindSecret": NO_SECRET,
        }
    )
    assert ldap.url == "ldap://localhost:389"
    assert (ldap.timeout, ldap.allow_invalid_certs, ldap.use_tls) == (
        timedelta(seconds=30),
        False,
        False,
    )
    assert (ldap.bind_dn, ldap.bind_authentication) == (None, True)
    assert ldap.filter_login == "(&(objectClass=inetOrgPerson)(mail=?))"
    assert ldap.filter_member_of == "(&(objectClass=groupOfNames)(member=?))"
    assert (ldap.attr_class, ldap.attr_email, ldap.attr_email_alias) == (
        ("objectClass",),
        ("mail",),
        ("mailAlias",),
    )
    assert (ldap.attr_secret, ldap.attr_secret_changed) == (("userPassword",), ("pwdChangeTime",))
    assert (ldap.group_class, ldap.pool_max_connections) == ("groupOfNames", 10)
    assert ldap.pool_timeout_wait == timedelta(seconds=30)
    assert ldap.member_tenant_id is None


def test_sql_directory_defaults() -> None:
    sql = DIRECTORY.validate_python(SQL_DIRECTORY)
    assert (sql.column_email, sql.column_secret) == ("name", "secret")
    assert (sql.column_class, sql.column_description) == ("type", "description")
    assert sql.query_login == "SELECT name, secret, description, type FROM accounts WHERE name = $1"
    assert sql.query_member_of == "SELECT member_of FROM group_members WHERE name = $1"
    assert sql.query_email_aliases == "SELECT address FROM emails WHERE name = $1"


def test_oidc_directory_defaults() -> None:
    oidc = DIRECTORY.validate_python(OIDC)
    assert (oidc.require_audience, oidc.require_scopes) == ("stalwart", ("openid", "email"))
    assert (oidc.claim_username, oidc.claim_name) == ("preferred_username", "name")
    assert (oidc.username_domain, oidc.claim_groups) == (None, None)


def test_tracer_defaults() -> None:
    log = TRACER.validate_python({"@type": "Log", "path": "/var/log/stalwart/"})
    assert (log.prefix, log.rotate, log.ansi, log.multiline) == ("stalwart", "daily", True, False)
    assert (log.enable, log.level, log.lossy) == (True, "info", False)
    assert (log.events, log.events_policy) == ((), "exclude")
    stdout = TRACER.validate_python({"@type": "Stdout"})
    assert (stdout.buffered, stdout.ansi) == (True, False)
    otel = TRACER.validate_python(OTEL_HTTP)
    assert (otel.throttle, otel.timeout) == (timedelta(seconds=1), timedelta(seconds=10))
    assert (otel.enable_log_exporter, otel.enable_span_exporter) == (True, True)


# --- every variant ----------------------------------------------------------------------------

VARIANTS: list[tuple[TypeAdapter[Any], dict[str, Any]]] = [
    (DATA_STORE, ROCKSDB),
    (DATA_STORE, SQLITE),
    (DATA_STORE, FOUNDATIONDB),
    (DATA_STORE, POSTGRES),
    (DATA_STORE, MYSQL),
    (BLOB_STORE, {"@type": "Default"}),
    (BLOB_STORE, {"@type": "Sharded", "stores": [FILESYSTEM, S3]}),
    (BLOB_STORE, S3),
    (
        BLOB_STORE,
        S3
        | {
            "region": {
                "@type": "Custom",
                "customEndpoint": "https://minio.local",
                "customRegion": "local",
            }
        },
    ),
    (BLOB_STORE, AZURE),
    (BLOB_STORE, FILESYSTEM),
    (BLOB_STORE, FOUNDATIONDB),
    (BLOB_STORE, POSTGRES),
    (BLOB_STORE, MYSQL),
    (SEARCH_STORE, {"@type": "Default"}),
    (SEARCH_STORE, ELASTICSEARCH),
    (SEARCH_STORE, MEILISEARCH),
    (SEARCH_STORE, FOUNDATIONDB),
    (SEARCH_STORE, POSTGRES),
    (SEARCH_STORE, MYSQL),
    (IN_MEMORY_STORE, {"@type": "Default"}),
    (IN_MEMORY_STORE, {"@type": "Sharded", "stores": [REDIS, REDIS_CLUSTER]}),
    (IN_MEMORY_STORE, REDIS),
    (IN_MEMORY_STORE, REDIS_CLUSTER),
    (IN_MEMORY_STORE, REDIS_SENTINEL),
    (DIRECTORY, {"@type": "Internal"}),
    (DIRECTORY, LDAP),
    (DIRECTORY, SQL_DIRECTORY),
    (DIRECTORY, SQL_DIRECTORY | {"store": POSTGRES}),
    (DIRECTORY, SQL_DIRECTORY | {"store": MYSQL}),
    (DIRECTORY, SQL_DIRECTORY | {"store": SQLITE}),
    (DIRECTORY, OIDC),
    (TRACER, {"@type": "Log", "path": "/var/log/stalwart/", "rotate": "hourly"}),
    (TRACER, {"@type": "Stdout", "level": "debug"}),
    (TRACER, {"@type": "Journal", "events": ["acme.auth-start"], "eventsPolicy": "include"}),
    (TRACER, OTEL_HTTP),
    (TRACER, {"@type": "OtelGrpc", "httpAuth": {"@type": "Unauthenticated"}}),
]


@pytest.mark.parametrize(
    ("adapter", "example"),
    VARIANTS,
    ids=[f"{i}-{example['@type']}" for i, (_, example) in enumerate(VARIANTS)],
)
def test_variant_accepts_documented_example(
    adapter: TypeAdapter[Any], example: dict[str, Any]
) -> None:
    value = adapter.validate_python(example)
    assert value.type == example["@type"]
    assert example.keys() <= value.model_dump(mode="json").keys()


def test_every_variant_loads_through_the_bootstrap_table() -> None:
    b = load_config(
        bootstrap(
            dataStore=POSTGRES,
            blobStore=S3,
            searchStore=ELASTICSEARCH,
            inMemoryStore=REDIS,
            directory=LDAP,
            tracer=OTEL_HTTP,
        )
    ).bootstrap
    assert isinstance(b.data_store, stores.PostgreSqlStore)
    assert isinstance(b.blob_store, stores.S3Store)
    assert isinstance(b.search_store, stores.ElasticSearchStore)
    assert isinstance(b.in_memory_store, stores.RedisStore)
    assert isinstance(b.directory, stores.LdapDirectory)
    assert isinstance(b.tracer, stores.OtelHttpTracer)


def test_read_replicas_are_postgresql_settings() -> None:
    replica = {"host": "replica.example.com", "port": 5433, "authSecret": NO_SECRET}
    store = DATA_STORE.validate_python(POSTGRES | {"readReplicas": [replica]})
    assert store.read_replicas[0].host == "replica.example.com"
    assert store.read_replicas[0].database == "stalwart"


def test_recycling_method_accepts_only_stalwarts_values() -> None:
    for method in ("fast", "verified", "clean"):
        DATA_STORE.validate_python(POSTGRES | {"poolRecyclingMethod": method})
    with pytest.raises(ValidationError):
        DATA_STORE.validate_python(POSTGRES | {"poolRecyclingMethod": "lazy"})


# --- bounds -----------------------------------------------------------------------------------

OUT_OF_BOUNDS: list[tuple[TypeAdapter[Any], dict[str, Any], str, int]] = [
    (DATA_STORE, POSTGRES, "port", 0),
    (DATA_STORE, POSTGRES, "port", 65536),
    (DATA_STORE, POSTGRES, "poolMaxConnections", 0),
    (DATA_STORE, POSTGRES, "poolMaxConnections", 8193),
    (DATA_STORE, MYSQL, "port", 0),
    (DATA_STORE, MYSQL, "port", 65536),
    (DATA_STORE, MYSQL, "maxAllowedPacket", 1023),
    (DATA_STORE, MYSQL, "maxAllowedPacket", 1073741825),
    (DATA_STORE, MYSQL, "poolMinConnections", 0),
    (DATA_STORE, SQLITE, "poolWorkers", 0),
    (DATA_STORE, SQLITE, "poolWorkers", 65),
    (DATA_STORE, SQLITE, "poolMaxConnections", 0),
    (DATA_STORE, ROCKSDB, "blobSize", 1023),
    (DATA_STORE, ROCKSDB, "bufferSize", 1073741825),
    (DATA_STORE, FOUNDATIONDB, "transactionRetryLimit", 1001),
    (BLOB_STORE, S3, "maxRetries", 0),
    (BLOB_STORE, AZURE, "maxRetries", 11),
    (BLOB_STORE, FILESYSTEM, "depth", 6),
    (SEARCH_STORE, ELASTICSEARCH, "numShards", 0),
    (SEARCH_STORE, ELASTICSEARCH, "numReplicas", 2049),
    (SEARCH_STORE, MEILISEARCH, "maxRetries", 1025),
    (IN_MEMORY_STORE, REDIS, "poolMaxConnections", 0),
    (DIRECTORY, LDAP, "poolMaxConnections", 8193),
]


@pytest.mark.parametrize(
    ("adapter", "example", "key", "value"),
    OUT_OF_BOUNDS,
    ids=[f"{example['@type']}.{key}={value}" for _, example, key, value in OUT_OF_BOUNDS],
)
def test_out_of_bounds_value_is_refused(
    adapter: TypeAdapter[Any], example: dict[str, Any], key: str, value: int
) -> None:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(example | {key: value})
    assert caught.value.errors()[0]["loc"][-1] == key


@pytest.mark.parametrize("port", [1, 65535])
def test_port_bounds_are_inclusive(port: int) -> None:
    assert DATA_STORE.validate_python(POSTGRES | {"port": port}).port == port


def test_sharded_store_needs_two_stores() -> None:
    with pytest.raises(ValidationError):
        BLOB_STORE.validate_python({"@type": "Sharded", "stores": [FILESYSTEM]})


def test_url_must_be_absolute() -> None:
    with pytest.raises(ValidationError):
        DIRECTORY.validate_python(LDAP | {"url": "ldap.example.com"})


def test_tracer_events_must_be_event_identifiers() -> None:
    with pytest.raises(ValidationError):
        TRACER.validate_python({"@type": "Stdout", "events": ["Acme Auth Start"]})


def test_required_secret_must_be_given() -> None:
    with pytest.raises(ValidationError) as caught:
        DATA_STORE.validate_python({"@type": "PostgreSql", "host": "db.example.com"})
    assert caught.value.errors()[0]["loc"][-1] == "authSecret"


# --- unknown keys and types -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "example"),
    [
        (DATA_STORE, POSTGRES | {"password": "x"}),
        (DATA_STORE, POSTGRES | {"readReplicas": [{"host": "r", "authSecret": NO_SECRET, "x": 1}]}),
        (BLOB_STORE, {"@type": "Default", "path": "/tmp"}),
        (DIRECTORY, LDAP | {"bindPassword": "x"}),
        (TRACER, {"@type": "Journal", "path": "/var/log"}),
    ],
    ids=["variant", "read-replica", "field-less-variant", "directory", "tracer"],
)
def test_unknown_key_is_refused(adapter: TypeAdapter[Any], example: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(example)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_unknown_variant_is_refused() -> None:
    with pytest.raises(ValidationError):
        DATA_STORE.validate_python({"@type": "Cassandra", "path": "/var/lib/stalwart/"})


# --- secrets and durations --------------------------------------------------------------------


def test_postgresql_password_is_redacted_when_dumped() -> None:
    store = DATA_STORE.validate_python(
        POSTGRES | {"authSecret": {"@type": "Value", "secret": "hunter2"}}
    )
    dumped = store.model_dump(mode="json")
    assert dumped["authSecret"] == {"@type": "Value", "secret": REDACTED}
    assert "hunter2" not in json.dumps(dumped) + repr(store)
    assert reveal(store.auth_secret) == "hunter2"


def test_bootstrap_secrets_are_found_for_resolution() -> None:
    config = load_config(bootstrap(dataStore=POSTGRES, directory=LDAP, blobStore=S3))
    paths = [path for path, _ in iter_secrets(config)]
    assert "bootstrap.directory.bindSecret" in paths
    assert "bootstrap.blobStore.secretKey" in paths


@pytest.mark.parametrize("timeout", ["15s", 15000])
def test_duration_accepts_text_and_milliseconds(timeout: str | int) -> None:
    store = DATA_STORE.validate_python(POSTGRES | {"timeout": timeout})
    assert store.timeout == timedelta(seconds=15)
    assert store.model_dump(mode="json")["timeout"] == 15000


def test_optional_duration_accepts_null() -> None:
    assert DATA_STORE.validate_python(POSTGRES | {"timeout": None}).timeout is None


# --- Stalwart's JMAP wire forms ---------------------------------------------------------------


def test_set_accepts_stalwarts_object_form() -> None:
    ldap = DIRECTORY.validate_python(LDAP | {"attrEmail": {"mail": True, "email": False}})
    assert ldap.attr_email == ("mail",)


def test_list_accepts_stalwarts_object_form() -> None:
    first = {"host": "r1", "authSecret": NO_SECRET}
    second = {"host": "r2", "authSecret": NO_SECRET}
    store = DATA_STORE.validate_python(POSTGRES | {"readReplicas": {"1": second, "0": first}})
    assert [replica.host for replica in store.read_replicas] == ["r1", "r2"]


# --- errors through the loader ----------------------------------------------------------------


def test_error_names_the_dotted_path_of_a_bad_port() -> None:
    message = config_error(bootstrap(dataStore=POSTGRES | {"port": 0}))
    assert "bootstrap.dataStore.port" in message


def test_error_names_the_dotted_path_inside_a_nested_store() -> None:
    directory = SQL_DIRECTORY | {"store": MYSQL | {"port": 70000}}
    assert "bootstrap.directory.store.port" in config_error(bootstrap(directory=directory))


def test_error_reports_an_unknown_key_at_its_path() -> None:
    message = config_error(bootstrap(tracer={"@type": "Stdout", "colour": True}))
    assert "bootstrap.tracer.colour: unknown key" in message
