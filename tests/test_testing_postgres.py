"""The PostgreSQL test server: it answers, with the password, as an unprivileged user, and
comes back after a restart on the same port with the same data (fixtures: tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest

from dnsauto.testing.servers.postgres import PostgresServer


def test_answers_with_the_password_on_loopback(
    postgres_server: PostgresServer, postgres_database: str
) -> None:
    with psycopg.connect(postgres_server.dsn(postgres_database)) as conn:
        row = conn.execute(
            "SELECT current_database(), current_user, inet_server_addr()::text, "
            "inet_server_port(), current_setting('server_version_num')::int"
        ).fetchone()
    assert row is not None
    database, user, address, port, version = row
    assert (database, user, port) == (postgres_database, "dnsauto", postgres_server.port)
    assert address.split("/")[0] == "127.0.0.1"
    assert version >= 150000


def test_a_wrong_password_is_refused(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.dsn().replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn)


def test_runs_as_an_unprivileged_user(postgres_server: PostgresServer) -> None:
    assert postgres_server.process is not None
    status = Path(f"/proc/{postgres_server.process.pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    assert uid == (os.geteuid() if os.geteuid() != 0 else postgres_server.run_as.uid)


def test_restart_keeps_the_data_and_breaks_open_connections(
    private_postgres_server: PostgresServer,
) -> None:
    server = private_postgres_server
    conn = psycopg.connect(server.dsn(), autocommit=True)
    conn.execute("CREATE TABLE kept (value int)")
    conn.execute("INSERT INTO kept VALUES (42)")
    port = server.port
    server.restart()
    with pytest.raises(psycopg.OperationalError):
        conn.execute("SELECT 1")
    conn.close()
    assert server.port == port
    with psycopg.connect(server.dsn()) as again:
        assert again.execute("SELECT value FROM kept").fetchall() == [(42,)]
