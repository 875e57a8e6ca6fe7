"""The state store on PostgreSQL: chosen by ``[daemon.store]``, migrated once under a lock by
nodes starting together, back after a PostgreSQL restart, its password never shown, and read
by ``dnsauto journal``, ``status``, ``restore`` and the API's objects from any node.

The store's behaviour itself runs on both backends in ``test_state.py``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
import tomli_w
from click.testing import CliRunner

from dnsauto.cli import cli
from dnsauto.cli import options as cli_module
from dnsauto.config.daemon import Daemon
from dnsauto.config.loader import load_config_file
from dnsauto.config.overlay import load_effective
from dnsauto.plugin.changes import Create
from dnsauto.plugin.errors import ConfigError, DnsautoError, TransientError
from dnsauto.state.store import (
    MIGRATION_LOCK,
    SCHEMA_VERSION,
    PostgresLocation,
    StoreUnavailableError,
)
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider, memory_registry
from dnsauto.testing.servers.postgres import PostgresServer
from tests.store_backends import OPEN_FROM_ARGV, StoreBackend

ROOT = Path(__file__).resolve().parent.parent
WAIT = 60.0


def dmarc(value: str) -> Any:
    return make_rrset("_dmarc.example.test.", "TXT", 300, f'"{value}"')


def pg_backend(server: PostgresServer, tmp_path: Path, node: str = "a") -> StoreBackend:
    return StoreBackend("postgresql", tmp_path / node, server, server.create_database())


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` (a query of PostgreSQL's own view) until it holds, or fail."""
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# --- configuration -----------------------------------------------------------------------------


def test_daemon_store_selects_postgresql_with_stalwarts_fields(tmp_path: Path) -> None:
    daemon = Daemon.model_validate(
        {
            "stateDir": str(tmp_path),
            "store": {
                "@type": "PostgreSql",
                "host": "db.example.test",
                "port": 6432,
                "database": "dnsauto",
                "authUsername": "node",
                "authSecret": {"@type": "Value", "secret": "s3cret-pw"},
                "timeout": "3s",
                "useTls": True,
                "allowInvalidCerts": False,
                "poolMaxConnections": 4,
                "options": "-c search_path=dnsauto",
            },
        }
    )
    location = daemon.store_database()
    assert location == PostgresLocation(
        host="db.example.test",
        port=6432,
        database="dnsauto",
        user="node",
        password="s3cret-pw",
        connect_timeout=3.0,
        use_tls=True,
        allow_invalid_certs=False,
        pool_max_connections=4,
        options="-c search_path=dnsauto",
    )
    assert isinstance(location, PostgresLocation)
    assert "s3cret-pw" not in repr(location) + location.display + repr(daemon)
    assert location.display == "postgresql://node@db.example.test:6432/dnsauto"


def test_daemon_store_sqlite_keeps_the_file_in_its_path(tmp_path: Path) -> None:
    daemon = Daemon.model_validate(
        {"stateDir": str(tmp_path / "state"), "store": {"@type": "Sqlite", "path": str(tmp_path)}}
    )
    with daemon.open_store() as store:
        assert store.dialect == "sqlite"
        assert store.path == tmp_path / "dnsauto.sqlite3"
        assert store.state_dir == tmp_path / "state"
    assert Daemon.model_validate({"stateDir": str(tmp_path)}).store_database() is None


def test_read_replicas_are_refused_naming_the_field(tmp_path: Path) -> None:
    document = f"""
[bootstrap]
serverHostname = "mail.example.test"
defaultDomain = "example.test"

[daemon]
stateDir = "{tmp_path}"

[daemon.store]
"@type" = "PostgreSql"
host = "127.0.0.1"
authSecret = {{ "@type" = "None" }}
readReplicas = [{{ host = "127.0.0.2", authSecret = {{ "@type" = "None" }} }}]
"""
    path = tmp_path / "config.toml"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        load_config_file(path, memory_registry())
    (problem,) = caught.value.problems
    assert problem.path == "daemon.store"
    assert "readReplicas is not supported" in problem.message


def test_an_unreadable_auth_secret_is_a_problem_of_daemon_store_auth_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DNSAUTO_TEST_PG_PASSWORD", raising=False)
    daemon = Daemon.model_validate(
        {
            "stateDir": str(tmp_path),
            "store": {
                "@type": "PostgreSql",
                "host": "127.0.0.1",
                "authSecret": {
                    "@type": "EnvironmentVariable",
                    "variableName": "DNSAUTO_TEST_PG_PASSWORD",
                },
            },
        }
    )
    with pytest.raises(ConfigError) as caught:
        daemon.open_store()
    assert [p.path for p in caught.value.problems] == ["daemon.store.authSecret"]


# --- schema and migrations ---------------------------------------------------------------------


def test_the_schema_uses_postgresqls_types(postgres_server: PostgresServer, tmp_path: Path) -> None:
    backend = pg_backend(postgres_server, tmp_path)
    with backend.open() as store:
        assert store.dialect == "postgresql"
        ids = store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        assert len(ids) == 1
    with psycopg.connect(postgres_server.dsn(backend.database)) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = 'public'"
            ).fetchall()
        )
    assert types["journal.new"] == "jsonb"
    assert types["journal.time"] == "timestamp with time zone"
    assert types["dkim_keys.created"] == "timestamp with time zone"
    assert types["journal.id"] == "integer"


def test_an_acme_account_key_is_kept_once_on_postgresql(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    with pg_backend(postgres_server, tmp_path).open() as store:
        first = store.add_acme_account("https://acme.test/directory", "KEY-1")
        second = store.add_acme_account("https://acme.test/directory", "KEY-2")
    assert (first.key_pem, second.key_pem) == ("KEY-1", "KEY-1")  # the one kept wins


MIGRATE = OPEN_FROM_ARGV + "print(store.schema_version(), flush=True)\nstore.close()\n"


def test_two_nodes_starting_at_once_migrate_once_under_the_advisory_lock(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """Two processes open a new database while the migration lock is held elsewhere: both
    wait on it, nothing is made meanwhile, and once it is released one migrates and the other
    finds the schema made (one schema_version row per step, no error)."""
    backend = pg_backend(postgres_server, tmp_path)
    dsn = postgres_server.dsn(backend.database)
    with psycopg.connect(dsn, autocommit=True) as holder, psycopg.connect(dsn) as watcher:
        holder.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
        nodes = [
            subprocess.Popen(
                [sys.executable, "-c", MIGRATE, backend.argv()],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]

        def waiting() -> int:
            row = watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ).fetchone()
            watcher.rollback()
            return int(row[0]) if row else 0

        wait_for(lambda: waiting() == 2 or any(n.poll() is not None for n in nodes), "2 waiters")
        assert [n.poll() for n in nodes] == [None, None], "a node did not wait on the lock"
        tables = watcher.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchone()
        watcher.rollback()
        assert tables == (0,), "a table was made while another process held the lock"
        holder.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
        outputs = [n.communicate(timeout=WAIT) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == [str(SCHEMA_VERSION)] * 2
    with psycopg.connect(dsn) as conn:
        versions = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]


# --- restarts and lost connections ------------------------------------------------------------


def test_the_store_reconnects_after_a_postgresql_restart(
    private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    server = private_postgres_server
    backend = pg_backend(server, tmp_path)
    with backend.open() as store:
        store.put_object("Domain", "before.test", {"n": 1})
        server.restart()  # every pooled connection is now closed by the server
        store.put_object("Domain", "after.test", {"n": 2})
        assert set(store.objects("Domain")) == {"before.test", "after.test"}


def test_a_call_while_postgresql_is_down_is_transient_and_passes_once_it_is_back(
    private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    server = private_postgres_server
    backend = pg_backend(server, tmp_path)
    with backend.open() as store:
        store.put_object("Domain", "kept.test", {"n": 1})
        server.shutdown()
        with pytest.raises(StoreUnavailableError) as caught:
            store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        assert isinstance(caught.value, TransientError)
        assert caught.value.transient
        assert caught.value.message.startswith(f"state store {store.location}: ")
        assert server.password not in caught.value.message
        server.start()
        ids = store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        store.journal_after_apply(ids, None)
        assert [e.status for e in store.journal(run_id="r")] == ["applied"]
        assert set(store.objects("Domain")) == {"kept.test"}


def test_opening_while_postgresql_is_down_is_transient(
    private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    backend = pg_backend(private_postgres_server, tmp_path)
    private_postgres_server.shutdown()
    with pytest.raises(StoreUnavailableError, match="state store postgresql://dnsauto@"):
        backend.open()


# --- the password ------------------------------------------------------------------------------


def test_a_wrong_password_is_a_permanent_error_that_never_shows_a_password(
    postgres_server: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend = pg_backend(postgres_server, tmp_path)
    wrong = "wrong-" + postgres_server.password[:8]
    table = backend.daemon_table()
    table["store"]["authSecret"]["secret"] = wrong
    caplog.set_level(logging.DEBUG)
    with pytest.raises(DnsautoError) as caught:
        Daemon.model_validate(table).open_store()
    assert not isinstance(caught.value, TransientError)
    assert "password authentication failed" in caught.value.message
    for text in (caught.value.message, caplog.text, repr(caught.value)):
        assert wrong not in text
        assert postgres_server.password not in text


def test_the_password_is_in_no_repr_url_or_log(
    postgres_server: PostgresServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = pg_backend(postgres_server, tmp_path)
    with backend.open() as store:
        store.put_object("Domain", "example.test", {"n": 1})
        shown = [
            repr(store),
            store.location,
            repr(store.postgres),
            str(store._engine.url),
            repr(store._engine.url),
            store._engine.url.render_as_string(hide_password=False),
            repr(store._engine),
        ]
    assert store._engine.url.password is None
    for text in [*shown, caplog.text]:
        assert postgres_server.password not in text


def test_a_failed_statement_shows_no_parameters(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    """An object set over the API holds provider credentials: a failed write must not print
    the statement's parameters."""
    backend = pg_backend(postgres_server, tmp_path)
    with backend.open() as store:
        with store._engine.begin() as conn:
            conn.execute(
                sa.text("ALTER TABLE objects ADD CONSTRAINT short CHECK (length(json) < 40)")
            )
        with pytest.raises(DnsautoError) as caught:
            store.put_object("DnsServer", "cf", {"secret": "provider-token-0123456789abcdef"})
    assert "provider-token" not in caught.value.message
    assert "violates check constraint" in caught.value.message


# --- any node reads the shared store ----------------------------------------------------------


NODE_CONFIG = {
    "bootstrap": {
        "serverHostname": "mail.example.test",
        "defaultDomain": "example.test",
        "dnsServer": {"@type": "Memory", "description": "memory"},
    },
}


@pytest.fixture
def nodes(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, Path]:
    """Two nodes' configuration files: their own stateDir, one PostgreSQL database."""
    monkeypatch.setattr(cli_module, "load_registry", memory_registry)
    host = MemoryHost()
    host.add_zone("example.test.")
    host.add_zone("other.test.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    database = postgres_server.create_database()
    paths = []
    for node in ("a", "b"):
        document = {
            **NODE_CONFIG,
            "daemon": {
                "stateDir": str(tmp_path / node),
                "store": postgres_server.store_config(database),
            },
        }
        path = tmp_path / f"{node}.toml"
        path.write_text(tomli_w.dumps(document))
        paths.append(path)
    return paths[0], paths[1]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_journal_status_and_restore_read_the_shared_store_from_another_node(
    nodes: tuple[Path, Path],
) -> None:
    node_a, node_b = map(str, nodes)
    status, out, err = run("sync", "-c", node_a, "--json", "--no-wait")
    assert status == 0, err
    (synced,) = json.loads(out)["domains"]
    assert synced["changes"] > 0

    status, out, _ = run("journal", "-c", node_b, "--json")
    assert status == 0
    entries = json.loads(out)
    assert len(entries) == synced["changes"]
    assert {e["status"] for e in entries} == {"applied"}
    (run_id,) = {e["run"] for e in entries}

    status, out, _ = run("status", "-c", node_b, "--json")
    assert status == 0
    (domain,) = json.loads(out)["domains"]
    assert (domain["domain"], domain["lastRun"], domain["ok"]) == ("example.test", run_id, True)

    status, out, err = run("restore", "-c", node_b, "--run", run_id, "--json")
    assert status == 0, err
    restored = json.loads(out)
    assert restored["run"] == run_id
    status, out, _ = run("journal", "-c", node_a, "--run", restored["restoreRun"], "--json")
    undone = json.loads(out)
    assert len(undone) == len(entries)
    assert {e["action"] for e in undone} == {"delete"}


def test_an_object_set_over_the_api_of_one_node_is_seen_by_another(
    nodes: tuple[Path, Path],
) -> None:
    from dnsauto.config.overlay import Workspace

    node_a, node_b = nodes
    registry = memory_registry()
    config = load_config_file(node_a, registry)
    with config.daemon.open_store() as store:
        workspace = Workspace(config, store, registry)
        managed = {"@type": "Automatic", "dnsServerId": "bootstrap"}
        workspace.create_domain({"name": "other.test", "dnsManagement": managed})
        workspace.save()
    seen = load_effective(node_b, registry)
    assert "other.test" in seen.domains
    with seen.daemon.open_store() as store:
        assert "other.test" in store.objects("Domain")
        assert store.state_dir == node_b.parent / "b"


async def test_a_sync_while_postgresql_is_down_fails_transiently_and_the_next_one_succeeds(
    private_postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The domain is retried by the daemon (not left needing attention), and the next run, on
    the same store, reconnects and publishes."""
    from dnsauto.config.loader import load_config
    from dnsauto.sync.engine import Engine, domain_jobs

    host = MemoryHost()
    host.add_zone("example.test.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    registry = memory_registry()
    backend = pg_backend(private_postgres_server, tmp_path)
    config = load_config({**NODE_CONFIG, "daemon": backend.daemon_table()}, registry=registry)
    with backend.open() as store:
        private_postgres_server.shutdown()
        async with Engine(config, registry, store=store) as engine:
            (down,) = await engine.run(domain_jobs(config), apply=True)
        assert isinstance(down.exception, StoreUnavailableError)
        assert down.needs_attention is False
        assert host.apply_calls == [], "nothing is sent that could not be journaled first"
        private_postgres_server.start()
        async with Engine(config, registry, store=store) as engine:
            (back,) = await engine.run(domain_jobs(config), apply=True)
        assert back.error is None
        assert back.applied > 0
        assert len(store.journal()) == back.applied
