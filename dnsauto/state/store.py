"""The state store: journal, last result per domain, DKIM key metadata, API objects, ACME.

Through SQLAlchemy Core, on one of two databases (``[daemon.store]``):

* SQLite, the embedded default: one file, ``<stateDir>/dnsauto.sqlite3`` (or the ``Sqlite``
  store's ``path`` directory), for one machine;
* PostgreSQL (psycopg 3), :class:`PostgresLocation`: one database that several nodes share, so
  that ``dnsauto journal``, ``status``, ``restore`` and the API of any node read the same
  state. Every transaction is ``READ COMMITTED`` and commits durably (the server's
  ``synchronous_commit``); pooled connections are checked before use (``pool_pre_ping``), so
  after a PostgreSQL restart the next call reconnects; a call cut by a lost connection raises
  :class:`StoreUnavailableError`, a :class:`~dnsauto.plugin.TransientError` (the daemon retries
  the domain). The password is handed to the driver only, never put in the URL, a message or
  a ``repr``.

SQLite, so that a crash at any point leaves it consistent and a change is on disk before the
provider is asked to make it:

* WAL journal mode: readers (``dnsauto journal``, ``dnsauto status``) never block the daemon's
  writes, and a commit is one append to the WAL.
* ``synchronous=FULL``: a commit is fsynced before it returns. With ``NORMAL`` a WAL
  database stays consistent but may lose its last commits on power loss, and the journal's
  promise is exactly that an entry committed before a provider call survives; one fsync per
  batch is small beside the provider's round trip. Two writes that come after a provider call
  commit with ``NORMAL`` instead: marking a batch applied or failed, and a domain's last result.
  Losing them to a power cut leaves the batch ``pending`` (which a restore treats as maybe
  applied, checking what is served) and ``dnsauto status`` one run behind; the next fsynced
  commit makes them durable too (a WAL is written in order). Each fsync blocks the event loop,
  and two more per domain were a tenth of a sync of many domains.
* Every write is one ``BEGIN IMMEDIATE`` transaction: it takes the write lock up front, so two
  processes (daemon and CLI) wait on each other (``busy_timeout``) instead of failing a lock
  upgrade halfway through.
* The file and its ``-wal``/``-shm`` companions are 0600 in a 0700 directory: the objects set
  over the API will hold provider credentials.

The calls are synchronous and short (one transaction each); the engine makes them from the
event loop, which keeps "journaled before the provider call" a plain sequence of statements.

The schema is made and migrated on open by dnsauto itself: :data:`MIGRATIONS` are numbered
steps, ``schema_version`` holds one row per step run. The check and the steps are one
transaction under a lock, so two processes (two nodes) opening at once never both migrate:
SQLite's write lock (``BEGIN IMMEDIATE``), PostgreSQL's ``pg_advisory_xact_lock`` on
:data:`MIGRATION_LOCK`, released by the commit (PostgreSQL's DDL is transactional: a step
that fails leaves nothing behind). A store whose version is newer than this dnsauto's is
refused.
Version 2 added the ACME tables: ``acme_accounts``, the account key per CA directory, made
once, and ``acme_certificates``, each certificate's last order, failures and next attempt;
version 3 the re-sync's ``zone_marks`` and ``results.skipped``; 4 the journal's ``node_id`` and
``fence_token``; 5 the cluster's ``cluster_nodes``, ``leases`` and ``cluster_triggers``; 6 the
DKIM keys' ``private_pem`` and ``changed_at``, and their unique ``(domain, position)``; 7 the
cluster's shared ``rate_buckets``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from dnsauto.plugin.changes import Change, rrset_values
from dnsauto.plugin.errors import DnsautoError, TransientError
from dnsauto.state.direct import (
    WriteLockHeld,
    begin_sqlite,
    direct_rows,
    direct_statement,
    direct_write,
)

__all__ = [
    "DB_FILE",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "SCHEMA_VERSION",
    "AcmeAccountRow",
    "CertificateStatus",
    "DkimKeyRaceError",
    "DkimKeyRow",
    "DomainStatus",
    "JournalEntry",
    "JournalGuard",
    "JournalStatus",
    "PostgresLocation",
    "StateStore",
    "StoreUnavailableError",
    "SyncOutcome",
    "ZoneMark",
    "dialect_insert",
    "utc_now",
]

DB_FILE = "dnsauto.sqlite3"
BUSY_TIMEOUT_MS = 15_000
QUICK_DURABLE_COMMIT = 0.002
"""Seconds: while this store's durable commits (an fsync each) take less on average, a batch
is journaled from the event loop when the write lock is free
(:meth:`StateStore.journal_before_apply_at_once`); a slower disk would hold the loop."""
_DURABLE_WEIGHT = 0.2
"""The weight of the last durable commit in their running average."""
_elapsed = time.perf_counter
MIGRATION_LOCK = 0x646E_7361_7574_6F01
"""The ``pg_advisory_xact_lock`` key the schema check and migrations run under ("dnsauto" 1)."""

JournalStatus = Literal["pending", "applied", "failed"]
Clock = Callable[[], datetime]


class JournalGuard(Protocol):
    """Checked inside the transaction that journals a batch, before any row is written: the
    lease the node holds on ``domain`` lasts ``seconds`` more (:mod:`dnsauto.state.leases`).
    Returns the node id and fencing token the rows record; raises when the lease is lost."""

    def __call__(self, conn: Connection, domain: str, seconds: float) -> tuple[str, int]: ...


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


class StoreUnavailableError(TransientError):
    """The state store cannot be reached now (PostgreSQL restarting, the connection lost)."""


@dataclass(frozen=True)
class PostgresLocation:
    """A PostgreSQL database to keep the state in (``[daemon.store]`` of ``@type PostgreSql``).

    ``password`` is never shown: not in ``repr``, :attr:`display`, the engine's URL or errors.
    """

    host: str
    port: int = 5432
    database: str = "stalwart"
    user: str | None = "stalwart"
    password: str | None = field(default=None, repr=False)
    connect_timeout: float = 15.0
    """Seconds to wait for a connection (libpq ``connect_timeout``, the pool's wait)."""
    use_tls: bool = False
    allow_invalid_certs: bool = False
    """With ``use_tls``: encrypt without checking the certificate (``sslmode=require``); else
    the certificate and host name are verified (``verify-full``)."""
    pool_max_connections: int = 10
    options: str | None = None
    """libpq ``options`` sent to the server at connection start, e.g. ``-c search_path=x``."""

    @property
    def display(self) -> str:
        """Where the store is, for messages: ``postgresql://user@host:port/database``."""
        user = f"{self.user}@" if self.user else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"postgresql://{user}{host}:{self.port}/{self.database}"


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime: SQLite's naive text (which sorts by time), PostgreSQL's
    ``timestamp with time zone``. A naive value is taken as UTC."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        return dialect.type_descriptor(sa.DateTime(timezone=dialect.name == "postgresql"))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if dialect.name == "postgresql":
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _Json(sa.types.TypeDecorator[Any]):
    """JSON: SQLite's JSON text, PostgreSQL's ``jsonb``. The PostgreSQL dialect is imported
    only by a store that is on PostgreSQL (it is a sixth of SQLAlchemy's import time, and a
    one-shot sync on SQLite pays that at each start)."""

    impl = sa.JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(sa.JSON())


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", UtcDateTime, nullable=False),
)

journal_table = sa.Table(
    "journal",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String, nullable=False, index=True),
    sa.Column("time", UtcDateTime, nullable=False),
    sa.Column("domain", sa.String, nullable=False, index=True),
    sa.Column("zone", sa.String, nullable=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("type", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("ttl", sa.Integer, nullable=False),
    sa.Column("old_ttl", sa.Integer, nullable=True),
    sa.Column("old", _Json, nullable=False),
    sa.Column("new", _Json, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("error", sa.String, nullable=True),
    sa.Column("finished_at", UtcDateTime, nullable=True),
    sa.Column("node_id", sa.String, nullable=True),
    sa.Column("fence_token", sa.BigInteger, nullable=True),
    sqlite_autoincrement=True,
)

results_table = sa.Table(
    "results",
    metadata,
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("run_id", sa.String, nullable=False),
    sa.Column("finished_at", UtcDateTime, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error", sa.String, nullable=True),
    sa.Column("changes", sa.Integer, nullable=False),
    sa.Column("propagated", sa.Boolean, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("zone", sa.String, nullable=True),
    sa.Column("skipped", sa.String, nullable=True),
)

marks_table = sa.Table(
    "zone_marks",
    metadata,
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("zone", sa.String, nullable=False),
    sa.Column("marker", sa.String, nullable=False),
    sa.Column("digest", sa.String, nullable=False),
    sa.Column("full_read_at", UtcDateTime, nullable=False),
)

dkim_table = sa.Table(
    "dkim_keys",
    metadata,
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("selector", sa.String, primary_key=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("algorithm", sa.String, nullable=False),
    sa.Column("stage", sa.String, nullable=False),
    sa.Column("public_value", sa.String, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("active_at", UtcDateTime, nullable=True),
    sa.Column("retiring_at", UtcDateTime, nullable=True),
    sa.Column("retired_at", UtcDateTime, nullable=True),
    sa.Column("key_deleted_at", UtcDateTime, nullable=True),
    sa.Column("private_pem", sa.Text, nullable=True),
    sa.Column("changed_at", UtcDateTime, nullable=True, index=True),
    sa.UniqueConstraint("domain", "position", name="dkim_keys_domain_position"),
)

objects_table = sa.Table(
    "objects",
    metadata,
    sa.Column("kind", sa.String, primary_key=True),
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("json", sa.Text, nullable=False),
    sa.Column("updated_at", UtcDateTime, nullable=False),
)

acme_accounts_table = sa.Table(
    "acme_accounts",
    metadata,
    sa.Column("directory", sa.String, primary_key=True),
    sa.Column("key_pem", sa.Text, nullable=False),
    sa.Column("account_uri", sa.String, nullable=True),
    sa.Column("created", UtcDateTime, nullable=False),
)

acme_certificates_table = sa.Table(
    "acme_certificates",
    metadata,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("domain", sa.String, nullable=False),
    sa.Column("provider_id", sa.String, nullable=False),
    sa.Column("names", sa.JSON, nullable=False),
    sa.Column("issuer", sa.String, nullable=True),
    sa.Column("not_before", UtcDateTime, nullable=True),
    sa.Column("not_after", UtcDateTime, nullable=True),
    sa.Column("renew_at", UtcDateTime, nullable=True),
    sa.Column("renew_source", sa.String, nullable=True),
    sa.Column("issued_at", UtcDateTime, nullable=True),
    sa.Column("last_attempt", UtcDateTime, nullable=True),
    sa.Column("last_error", sa.String, nullable=True),
    sa.Column("needs_attention", sa.Boolean, nullable=False, default=False),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt", UtcDateTime, nullable=True),
    sa.Column("requests", sa.Integer, nullable=False, default=0),
    sa.Column("seconds", sa.Float, nullable=False, default=0.0),
    sa.Column("staged", sa.Boolean, nullable=False, default=False),
)


# --- the cluster's tables (dnsauto.state.leases uses them) -------------------------------------

nodes_table = sa.Table(
    "cluster_nodes",
    metadata,
    sa.Column("node_id", sa.String, primary_key=True),
    sa.Column("host", sa.String, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("started_at", UtcDateTime, nullable=False),
    sa.Column("heartbeat_at", UtcDateTime, nullable=False),
    sa.Column("domains_held", sa.Integer, nullable=False),
    sa.Column("stopped", sa.Boolean, nullable=False),
)

leases_table = sa.Table(
    "leases",
    metadata,
    sa.Column("domain", sa.String, primary_key=True),
    sa.Column("owner", sa.String, nullable=True),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("acquired_at", UtcDateTime, nullable=False),
)

triggers_table = sa.Table(
    "cluster_triggers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("domain", sa.String, nullable=False),
    sa.Column("reason", sa.String, nullable=False),
    sa.Column("reload", sa.Boolean, nullable=False),
    sa.Column("origin", sa.String, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
    sqlite_autoincrement=True,
)


rate_buckets_table = sa.Table(
    "rate_buckets",
    metadata,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
"""A provider's rate limit shared by the nodes (:mod:`dnsauto.state.ratelimits`): the tokens
left (below 0: reserved ahead) at ``updated_at`` (Unix time)."""


def _create_tables(*tables: sa.Table) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        metadata.create_all(conn, tables=list(tables))

    return step


def _add_columns(table: sa.Table, *names: str) -> Callable[[Connection], None]:
    """Add the columns ``names`` of ``table`` to a store made before them. A store made since
    has them already: its first step made the table as ``metadata`` has it now."""

    def step(conn: Connection) -> None:
        present = {column["name"] for column in sa.inspect(conn).get_columns(table.name)}
        for name in names:
            if name not in present:
                kind = table.c[name].type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {kind}")

    return step


def _create_index(
    name: str, table: sa.Table, *columns: str, unique: bool = False
) -> Callable[[Connection], None]:
    """Add an index (or a unique constraint, as a unique index) to a store made before it; a
    store made since has it from its first step."""

    def step(conn: Connection) -> None:
        inspector = sa.inspect(conn)
        present = {i["name"] for i in inspector.get_indexes(table.name)}
        present |= {c["name"] for c in inspector.get_unique_constraints(table.name)}
        if name not in present:  # as SQL: an sa.Index would join the table in ``metadata``
            kind = "UNIQUE INDEX" if unique else "INDEX"
            conn.exec_driver_sql(f"CREATE {kind} {name} ON {table.name} ({', '.join(columns)})")

    return step


def _steps(*steps: Callable[[Connection], None]) -> Callable[[Connection], None]:
    def step(conn: Connection) -> None:
        for one in steps:
            one(conn)

    return step


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_tables(schema_version, journal_table, results_table, dkim_table, objects_table),
    2: _create_tables(acme_accounts_table, acme_certificates_table),
    3: _steps(_create_tables(marks_table), _add_columns(results_table, "skipped")),
    4: _add_columns(journal_table, "node_id", "fence_token"),
    5: _create_tables(nodes_table, leases_table, triggers_table),
    6: _steps(
        _add_columns(dkim_table, "private_pem", "changed_at"),
        _create_index("ix_dkim_keys_changed_at", dkim_table, "changed_at"),
        _create_index("dkim_keys_domain_position", dkim_table, "domain", "position", unique=True),
    ),
    7: _create_tables(rate_buckets_table),
}
"""The schema's steps by version, run in order in one transaction (see the module docstring).

A later version adds a step here (its tables in ``metadata``, made by the step, never by
``create_all`` of everything), and never changes an earlier one: stores made by an older
dnsauto run only the steps they have not run.
"""
SCHEMA_VERSION = max(MIGRATIONS)


# The statements made for every domain of a sync, built once: building and compiling a
# statement again for each call cost more than running it.
_JOURNAL_INSERT = journal_table.insert().returning(journal_table.c.id)
_JOURNAL_INSERT_ORDERED = journal_table.insert().returning(
    journal_table.c.id, sort_by_parameter_order=True
)
_JOURNAL_FINISH_ONE = (
    journal_table.update()
    .where(journal_table.c.id == sa.bindparam("entry_id"))
    .values(
        status=sa.bindparam("new_status"),
        error=sa.bindparam("new_error"),
        finished_at=sa.bindparam("finished", type_=UtcDateTime()),
    )
)
_MARK_DELETE = marks_table.delete().where(marks_table.c.domain == sa.bindparam("domain"))
_JOURNAL_FINISH = (
    journal_table.update()
    .where(journal_table.c.id.in_(sa.bindparam("entry_ids", expanding=True)))
    .values(
        status=sa.bindparam("new_status"),
        error=sa.bindparam("new_error"),
        finished_at=sa.bindparam("finished", type_=UtcDateTime()),
    )
)


@dataclass(frozen=True)
class JournalEntry:
    """One RRset change as it was journaled: what it replaced (``old``) and wrote (``new``)."""

    id: int
    run_id: str
    time: datetime
    domain: str
    zone: str
    name: str
    type: str
    action: str
    """``create``, ``update`` or ``delete``."""
    ttl: int
    """The TTL written (the old one for a delete)."""
    old: list[str]
    new: list[str]
    status: JournalStatus
    """``pending`` until the provider answered (or forever, after a crash mid-call)."""
    error: str | None
    old_ttl: int | None = None
    """The TTL of the replaced RRset; a restore puts it back too."""
    node_id: str | None = None
    """The cluster node that sent the batch (None without ``[daemon.cluster]``)."""
    fence_token: int | None = None
    """The fencing token of the node's lease on the domain when it sent the batch."""


@dataclass(frozen=True)
class AcmeAccountRow:
    """The ACME account dnsauto holds at one CA: its key (PEM) and, once registered, its URL."""

    directory: str
    key_pem: str
    account_uri: str | None
    created: datetime

    def __repr__(self) -> str:  # the key never shows
        return f"AcmeAccountRow(directory={self.directory!r}, account_uri={self.account_uri!r})"


@dataclass
class CertificateStatus:
    """One certificate dnsauto obtains: what is in place, when it renews, how the last order
    went (``dnsauto certs``, ``dnsauto status``, the metrics and the API's Task)."""

    name: str
    domain: str
    provider_id: str
    names: list[str]
    issuer: str | None = None
    not_before: datetime | None = None
    not_after: datetime | None = None
    renew_at: datetime | None = None
    renew_source: str | None = None
    """``lifetime`` (the AcmeProvider's renewBefore share) or ``ari`` (RFC 9773)."""
    issued_at: datetime | None = None
    last_attempt: datetime | None = None
    last_error: str | None = None
    needs_attention: bool = False
    failures: int = 0
    next_attempt: datetime | None = None
    requests: int = 0
    """ACME HTTP requests of the last order."""
    seconds: float = 0.0
    """How long the last order took."""
    staged: bool = False
    """A renewed certificate waits in ``next-fullchain.pem`` for the TLSA rollover."""


@dataclass(frozen=True)
class DomainStatus:
    """The outcome of the last sync of one domain."""

    domain: str
    run_id: str
    finished_at: datetime
    ok: bool
    error: str | None
    changes: int
    propagated: bool
    seconds: float
    zone: str | None
    skipped: str | None = None
    """Why the sync skipped reading and planning the zone (``unchanged``), if it did."""


@dataclass(frozen=True)
class ZoneMark:
    """What the last successful sync of a domain saw: the zone's change marker (its SOA
    serial, say) after the sync, the digest of the desired records and settings it synced,
    and when it last read the zone in full (a sync that skipped the read keeps that time)."""

    domain: str
    zone: str
    marker: str
    digest: str
    full_read_at: datetime


_MARK_COLUMNS = tuple(f.name for f in fields(ZoneMark) if f.name != "domain")
"""A zone mark's columns besides its key, in the order ``vars`` of a ZoneMark gives them."""


@dataclass(frozen=True)
class DkimKeyRow:
    """What the store keeps of a DKIM key, its private key included (never in ``repr``): the
    state of every node, which writes the ``.pem`` files its MTA reads from it."""

    domain: str
    selector: str
    algorithm: str
    stage: str
    public_value: str
    created: datetime
    active_at: datetime | None = None
    retiring_at: datetime | None = None
    retired_at: datetime | None = None
    key_deleted_at: datetime | None = None
    """When the private key was deleted (``deleteAfter`` past retirement)."""
    position: int = 0
    """Order of creation within the domain (stable listing), unique in the domain: a process
    adds a key at the position after the last it read, so of two that add keys from the same
    read only the first commits (:class:`DkimKeyRaceError` for the other)."""
    private_pem: str | None = field(default=None, repr=False)
    """The private key; None once deleted, or for a key kept before version 6 until its file
    is read into the store."""
    changed_at: datetime | None = None
    """When the row was last written (the nodes write the files of the keys changed since)."""


_DKIM_FIELDS = (
    "stage",
    "public_value",
    "active_at",
    "retiring_at",
    "retired_at",
    "key_deleted_at",
)


class DkimKeyRaceError(DnsautoError):
    """Another process added keys to the domain first (the domain's next position was taken):
    nothing of this save was written; read the keys again and use theirs."""


class SyncOutcome(Protocol):
    """What the store keeps of a domain's sync (the sync stage's ``DomainResult`` is one)."""

    @property
    def domain(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def applied(self) -> int: ...
    @property
    def propagated(self) -> bool: ...
    @property
    def seconds(self) -> float: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def skipped(self) -> str | None: ...


class StateStore:
    """dnsauto's state; see the module docstring.

    ``state_dir`` is the node's own directory (DKIM key files live there, beside the store);
    ``database`` is where the state is kept: ``None`` for SQLite in ``state_dir``, a directory
    for SQLite there (the ``Sqlite`` store's ``path``), or a :class:`PostgresLocation`. A
    process opens one store and keeps it (see :func:`_prepare_files`).
    """

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        *,
        clock: Clock = utc_now,
        database: str | os.PathLike[str] | PostgresLocation | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.clock = clock
        self.postgres: PostgresLocation | None = None
        self.path: Path | None = None
        """The SQLite file; ``None`` on PostgreSQL."""
        if isinstance(database, PostgresLocation):
            self.postgres = database
            self.location = database.display
            self._secret = database.password
            self._engine = _make_postgres_engine(database)
        else:
            directory = self.state_dir if database is None else Path(database)
            self.path = directory / DB_FILE
            self.location = str(self.path)
            self._secret = None
            _prepare_files(directory, self.path)
            self._engine = _make_engine(self.path)
        self._direct = self.dialect == "sqlite"
        self._durable_commit_seconds = 0.0
        """The running average of the direct durable commits' time (see QUICK_DURABLE_COMMIT)."""
        try:
            self._migrate()
        except sa.exc.SQLAlchemyError as exc:
            self._engine.dispose()
            raise self._error(exc) from None
        except BaseException:
            self._engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._engine.dialect.name

    def __repr__(self) -> str:
        return f"StateStore({self.location!r})"

    def close(self) -> None:
        """Close every connection (the WAL is checkpointed by the last one to close)."""
        self._engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- transactions ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[Connection]:
        """One write transaction, committed on success. SQLite: ``BEGIN IMMEDIATE``, fsynced
        when ``durable`` (``synchronous=FULL``), else with ``NORMAL`` (see the module
        docstring). PostgreSQL: one ``READ COMMITTED`` transaction."""
        try:
            with self._engine.connect() as conn:
                conn.execution_options(sqlite_immediate=True, sqlite_durable=durable)
                with conn.begin():
                    yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None

    @contextlib.contextmanager
    def _direct_write(
        self, *, durable: bool = True, wait_ms: int | None = None
    ) -> Iterator[sqlite3.Connection]:
        """:meth:`_write` on sqlite3 itself, for the busiest writes (:mod:`dnsauto.state.direct`);
        SQLite only. ``wait_ms``: see :func:`~dnsauto.state.direct.direct_write`."""
        try:
            with direct_write(
                self._engine, durable=durable, wait_ms=wait_ms, busy_timeout_ms=BUSY_TIMEOUT_MS
            ) as connection:
                yield connection
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None

    @contextlib.contextmanager
    def _read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot on SQLite, never blocking writers."""
        try:
            with self._engine.connect() as conn, conn.begin():
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None

    def driver_connection(self) -> Any:
        """A connection of the store's pool for a caller to keep (PostgreSQL ``LISTEN``): the
        pool's proxy, whose ``driver_connection`` is psycopg's; ``invalidate()`` it when done."""
        try:
            return self._engine.raw_connection()
        except sa.exc.SQLAlchemyError as exc:
            raise self._error(exc) from None

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[Connection]:
        """A durable write transaction, for the modules that keep their own tables here."""
        with self._write() as conn:
            yield conn

    @contextlib.contextmanager
    def read_transaction(self) -> Iterator[Connection]:
        """A read transaction (one snapshot), for the modules that keep their own tables here."""
        with self._read() as conn:
            yield conn

    def _error(self, exc: sa.exc.SQLAlchemyError) -> DnsautoError:
        """The store's error for ``exc``: :class:`StoreUnavailableError` when the connection
        was lost or could not be made (retrying may help), else a :class:`DnsautoError`; the
        password is never part of it."""
        original = getattr(exc, "orig", None) or exc
        # PostgreSQL's DETAIL may quote the row ("Failing row contains ..."), which can hold
        # an API object's credentials: only the primary message is shown.
        diag = getattr(original, "diag", None)
        primary = getattr(diag, "message_primary", None) if diag is not None else None
        text = str(primary or original).strip()
        if self._secret:
            text = text.replace(self._secret, "***")
        message = f"state store {self.location}: {text}"
        if self.postgres is not None and _connection_lost(exc):
            return StoreUnavailableError(message)
        return DnsautoError(message)

    def _migrate(self) -> None:
        """Make the schema or bring it to :data:`SCHEMA_VERSION`, in one locked transaction."""
        with self._engine.connect() as conn:
            conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(MIGRATION_LOCK)))
                current = _current_version(conn)
                if current is not None and current > SCHEMA_VERSION:
                    raise DnsautoError(
                        f"state store {self.location} has schema version {current}, newer than "
                        f"this dnsauto knows ({SCHEMA_VERSION}); upgrade dnsauto"
                    )
                for version in range((current or 0) + 1, SCHEMA_VERSION + 1):
                    MIGRATIONS[version](conn)
                    conn.execute(
                        schema_version.insert().values(version=version, applied_at=self.clock())
                    )

    def schema_version(self) -> int:
        with self._read() as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar_one())

    def pragma(self, name: str) -> Any:
        """A PRAGMA's value on a store connection (for checks and tests); SQLite only."""
        if self.dialect != "sqlite":
            raise DnsautoError(f"state store {self.location}: PRAGMA is SQLite's")
        if not name.replace("_", "").isalnum():
            raise ValueError(f"not a pragma name: {name!r}")
        with self._read() as conn:
            return conn.exec_driver_sql(f"PRAGMA {name}").scalar()

    # --- journal --------------------------------------------------------------------------------

    def journal_before_apply(
        self,
        run_id: str,
        domain: str,
        zone: str,
        changes: Sequence[Change],
        *,
        guard: JournalGuard | None = None,
        guard_seconds: float = 0.0,
    ) -> list[int]:
        """Record a batch as ``pending``, durably, before the provider is asked to apply it.

        ``guard``: checked first in the same transaction (a cluster node's lease, which must
        last ``guard_seconds`` more); its node id and fencing token go into every row."""
        rows = self._journal_rows(run_id, domain, zone, changes)
        if not rows:
            return []
        if guard is None and self._direct:
            return self._journal_direct(rows)
        # Through SQLAlchemy, one multi-row INSERT ... RETURNING for the batch: a statement per
        # row cost more than the UPDATE itself. RETURNING lists the rows in no promised order,
        # but the ids of one statement's rows (AUTOINCREMENT, under the write lock) rise in the
        # order of its VALUES, so sorted they are the changes' ids in order.
        # PostgreSQL's sequence promises no order within a statement: SQLAlchemy's
        # sort_by_parameter_order returns the ids in the order of the rows given.
        with self._write() as conn:
            if guard is not None:
                node_id, token = guard(conn, domain, guard_seconds)
                for row in rows:
                    row["node_id"] = node_id
                    row["fence_token"] = token
            if self.dialect == "postgresql":
                return [int(row[0]) for row in conn.execute(_JOURNAL_INSERT_ORDERED, rows)]
            inserted = conn.execute(_JOURNAL_INSERT, rows)
            return sorted(int(row[0]) for row in inserted)

    def journal_before_apply_at_once(
        self, run_id: str, domain: str, zone: str, changes: Sequence[Change]
    ) -> list[int] | None:
        """:meth:`journal_before_apply` (without a guard), where it cannot wait (see
        :meth:`save_result_at_once`), and only while this store's durable commits are quick
        (:data:`QUICK_DURABLE_COMMIT`), since the caller waits for the fsync. None, with
        nothing written, where it would wait or they are not: then call
        :meth:`journal_before_apply` from a worker thread. From the event loop, while a
        worker journaled a batch, every other write there found the lock held and went to a
        worker too: three hand-offs a domain where a publish needs none."""
        if not self._direct or self._durable_commit_seconds >= QUICK_DURABLE_COMMIT:
            return None
        rows = self._journal_rows(run_id, domain, zone, changes)
        if not rows:
            return []
        try:
            return self._journal_direct(rows, wait_ms=0)
        except WriteLockHeld:
            return None

    def _journal_rows(
        self, run_id: str, domain: str, zone: str, changes: Sequence[Change]
    ) -> list[dict[str, Any]]:
        now = self.clock()
        return [
            {
                "run_id": run_id,
                "time": now,
                "domain": domain,
                "zone": zone,
                "name": change.name.to_text(),
                "type": change.rdtype.name,
                "action": change.action,
                "ttl": (change.new if change.new is not None else change.old).ttl,
                "old_ttl": change.old.ttl if change.old is not None else None,
                "old": rrset_values(change.old),
                "new": rrset_values(change.new),
                "status": "pending",
                "error": None,
                "node_id": None,
                "fence_token": None,
            }
            for change in changes
        ]

    def _journal_direct(self, rows: list[dict[str, Any]], wait_ms: int | None = None) -> list[int]:
        """The batch's rows inserted straight on sqlite3 (durably), the commit's time noted:
        a statement per row, each row's id in order (sqlite3 keeps the statement prepared)."""
        insert = direct_statement(_JOURNAL_INSERT, self._engine.dialect, tuple(rows[0]))
        each = insert.parameter_rows(rows)
        with self._direct_write(wait_ms=wait_ms) as connection:
            ids = [int(connection.execute(insert.sql, row).fetchone()[0]) for row in each]
            committing = _elapsed()
        took = _elapsed() - committing
        average = self._durable_commit_seconds
        self._durable_commit_seconds = average + _DURABLE_WEIGHT * (took - average)
        return ids

    def journal_after_apply(self, entry_ids: Sequence[int], error: str | None) -> None:
        """Mark a journaled batch ``applied``, or ``failed`` with the provider's error."""
        if not entry_ids:
            return
        status: JournalStatus = "applied" if error is None else "failed"
        parameters = {
            "entry_ids": list(entry_ids),
            "new_status": status,
            "new_error": error,
            "finished": self.clock(),
        }
        if self._direct:
            self._finish_direct(parameters)
            return
        with self._write(durable=False) as conn:
            conn.execute(_JOURNAL_FINISH, parameters)

    def journal_after_apply_at_once(self, entry_ids: Sequence[int], error: str | None) -> bool:
        """:meth:`journal_after_apply`, where it cannot wait (see :meth:`save_result_at_once`):
        False, with nothing written, on PostgreSQL or while another connection holds SQLite's
        write lock; then call :meth:`journal_after_apply` from a worker thread."""
        if not self._direct:
            return False
        if not entry_ids:
            return True
        parameters = {
            "new_status": "applied" if error is None else "failed",
            "new_error": error,
            "finished": self.clock(),
        }
        try:
            self._finish_direct({"entry_ids": list(entry_ids), **parameters}, wait_ms=0)
        except WriteLockHeld:
            return False
        return True

    def _finish_direct(self, parameters: dict[str, Any], *, wait_ms: int | None = None) -> None:
        finish = direct_statement(_JOURNAL_FINISH_ONE, self._engine.dialect)
        ids = parameters["entry_ids"]
        each = finish.parameter_rows({**parameters, "entry_id": i} for i in ids)
        with self._direct_write(durable=False, wait_ms=wait_ms) as connection:
            connection.executemany(finish.sql, each)

    def journal(
        self, *, domain: str | None = None, run_id: str | None = None
    ) -> list[JournalEntry]:
        """The journal, oldest first; only one domain's or one run's entries when given."""
        query = sa.select(journal_table).order_by(journal_table.c.id)
        if domain is not None:
            query = query.where(journal_table.c.domain == domain.rstrip(".").lower())
        if run_id is not None:
            query = query.where(journal_table.c.run_id == run_id)
        with self._read() as conn:
            return [_journal_entry(row._mapping) for row in conn.execute(query)]

    # --- results --------------------------------------------------------------------------------

    def save_result(
        self,
        run_id: str,
        result: SyncOutcome,
        *,
        zone_mark: ZoneMark | None = None,
        guard: JournalGuard | None = None,
    ) -> None:
        """Keep ``result`` as the domain's last result (the one ``dnsauto status`` shows), and
        its zone mark in the same transaction: a result with an error drops the domain's mark
        (its next sync reads the zone in full), a success keeps ``zone_mark`` when given.

        ``guard``: checked first in the same transaction, as :meth:`journal_before_apply`'s (a
        cluster node's lease, for no longer than the transaction); when it raises, nothing is
        written, so a node that lost the lease never hides its new holder's result."""
        if guard is None:
            self.save_results(run_id, [(result, zone_mark)])
            return
        with self._write(durable=False) as conn:
            guard(conn, result.domain, 0.0)
            _save_result_rows(conn, result, self._result_values(run_id, result), zone_mark)

    def save_results(
        self, run_id: str, results: Sequence[tuple[SyncOutcome, ZoneMark | None]]
    ) -> None:
        """:meth:`save_result` of each of ``results`` (with its zone mark), without a guard,
        in one transaction: a run's engine saves the results that came in meanwhile so
        (:class:`dnsauto.sync.writes.Batches`), a commit for many rather than each."""
        rows = [(result, self._result_values(run_id, result), mark) for result, mark in results]
        if self._direct:
            self._save_results_direct(rows)
            return
        with self._write(durable=False) as conn:
            for result, values, mark in rows:
                _save_result_rows(conn, result, values, mark)

    def save_result_at_once(
        self,
        run_id: str,
        result: SyncOutcome,
        *,
        zone_mark: ZoneMark | None = None,
        guard: JournalGuard | None = None,
    ) -> bool:
        """:meth:`save_result`, where it cannot wait: on SQLite without a ``guard``, when no
        other connection holds the write lock. False, with nothing written, where it would
        wait (PostgreSQL, a guard, the lock held): then call :meth:`save_result`, which waits,
        from a worker thread. The engine saves a domain's result from the event loop so: a
        hand-off to a worker thread and back cost five times the write (a tenth of an
        unchanged re-sync), and an uncontended write of a result is not fsynced."""
        if guard is not None:
            return False
        return self.save_results_at_once(run_id, [(result, zone_mark)])

    def save_results_at_once(
        self, run_id: str, results: Sequence[tuple[SyncOutcome, ZoneMark | None]]
    ) -> bool:
        """:meth:`save_results` where it cannot wait, as :meth:`save_result_at_once`: False,
        with nothing written, on PostgreSQL or when another connection holds the lock."""
        if not self._direct:
            return False
        rows = [(result, self._result_values(run_id, result), mark) for result, mark in results]
        try:
            self._save_results_direct(rows, wait_ms=0)
        except WriteLockHeld:
            return False
        return True

    def _result_values(self, run_id: str, result: SyncOutcome) -> dict[str, Any]:
        return {
            "run_id": run_id,
            "finished_at": self.clock(),
            "ok": result.error is None,
            "error": result.error,
            "changes": result.applied,
            "propagated": result.propagated,
            "seconds": result.seconds,
            "zone": result.zone,
            "skipped": result.skipped,
        }

    def _save_results_direct(
        self,
        rows: Sequence[tuple[SyncOutcome, dict[str, Any], ZoneMark | None]],
        *,
        wait_ms: int | None = None,
    ) -> None:
        """:meth:`save_results`'s statements, on sqlite3 itself (:mod:`dnsauto.state.direct`)."""
        if not rows:
            return
        dialect = self._engine.dialect
        columns = tuple(rows[0][1])  # every result's values have the same keys
        upsert = direct_statement(
            _upsert_statement("sqlite", results_table, ("domain",), columns),
            dialect,
            ("domain", *columns),
        )
        mark_upsert = direct_statement(
            _upsert_statement("sqlite", marks_table, ("domain",), _MARK_COLUMNS),
            dialect,
            ("domain", *_MARK_COLUMNS),
        )
        mark_delete = direct_statement(_MARK_DELETE, dialect)
        with self._direct_write(durable=False, wait_ms=wait_ms) as connection:
            for result, values, zone_mark in rows:
                upsert.run(connection, {"domain": result.domain, **values})
                if result.error is not None:
                    mark_delete.run(connection, {"domain": result.domain})
                elif zone_mark is not None:
                    mark_upsert.run(connection, vars(zone_mark))

    def last_results(self) -> dict[str, DomainStatus]:
        """The last result of every domain ever synced, by domain."""
        with self._read() as conn:
            rows = conn.execute(sa.select(results_table).order_by(results_table.c.domain))
            return {
                row.domain: DomainStatus(
                    domain=row.domain,
                    run_id=row.run_id,
                    finished_at=row.finished_at,
                    ok=bool(row.ok),
                    error=row.error,
                    changes=row.changes,
                    propagated=bool(row.propagated),
                    seconds=row.seconds,
                    zone=row.zone,
                    skipped=row.skipped,
                )
                for row in rows
            }

    # --- zone marks (see dnsauto.sync.resync) ---------------------------------------------------

    def zone_mark(self, domain: str) -> ZoneMark | None:
        """The mark the domain's last successful sync left, if any."""
        return self.zone_marks([domain]).get(domain)

    def zone_marks(self, domains: Sequence[str]) -> dict[str, ZoneMark]:
        """The marks of ``domains``, by domain (one query for a window of a run of many)."""
        query = sa.select(marks_table).where(marks_table.c.domain.in_(domains))
        with self._read() as conn:
            return {row["domain"]: ZoneMark(**row) for row in self._rows(conn, query)}

    def forget_zone_mark(self, domain: str) -> None:
        """Drop the domain's mark: its next sync reads the zone in full."""
        with self._write(durable=False) as conn:
            conn.execute(marks_table.delete().where(marks_table.c.domain == domain))

    # --- DKIM keys ------------------------------------------------------------------------------

    def dkim_keys(self, domain: str) -> list[DkimKeyRow]:
        """Every key kept for ``domain``, in the order they were made, in any stage."""
        return self.dkim_keys_of([domain]).get(domain, [])

    def dkim_keys_of(self, domains: Sequence[str]) -> dict[str, list[DkimKeyRow]]:
        """The keys of ``domains``, each domain's in the order they were made (one query for
        a window of a run of many)."""
        query = (
            sa.select(dkim_table)
            .where(dkim_table.c.domain.in_(domains))
            .order_by(dkim_table.c.domain, dkim_table.c.position, dkim_table.c.selector)
        )
        keys: dict[str, list[DkimKeyRow]] = {}
        with self._read() as conn:
            for row in self._rows(conn, query):
                key = DkimKeyRow(**row)
                keys.setdefault(key.domain, []).append(key)
        return keys

    def _rows(self, conn: Connection, query: sa.Select[Any]) -> list[dict[str, Any]]:
        """The rows of ``query`` as dicts by column: read on sqlite3 itself on SQLite
        (:func:`~dnsauto.state.direct.direct_rows`), else through SQLAlchemy's results."""
        if self._direct:
            return direct_rows(conn, query)
        return [dict(row._mapping) for row in conn.execute(query)]

    def dkim_domains(self) -> list[str]:
        """Every domain with a DKIM key in the store."""
        query = sa.select(dkim_table.c.domain).distinct().order_by(dkim_table.c.domain)
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def dkim_keys_changed(self, since: datetime | None) -> list[str]:
        """The domains with a key written at or after ``since`` (None: every domain)."""
        query = sa.select(dkim_table.c.domain).distinct().order_by(dkim_table.c.domain)
        if since is not None:
            query = query.where(dkim_table.c.changed_at >= since)
        with self._read() as conn:
            return list(conn.execute(query).scalars())

    def save_dkim_keys(
        self, *, add: Sequence[DkimKeyRow] = (), update: Sequence[DkimKeyRow] = ()
    ) -> None:
        """Add new keys and write the stage and stage times of others, in one transaction.

        A new key goes at its ``position`` (0: after the domain's last); a position taken
        meanwhile by another process raises :class:`DkimKeyRaceError` and writes nothing. An
        update that marks a key deleted drops its private key; an update of a key kept
        before version 6 can bring its ``private_pem`` (read from its file).
        """
        now = self.clock()
        try:
            with self._write() as conn:
                for row in add:
                    self._add_dkim_key(conn, row, now)
                for row in update:
                    values: dict[str, Any] = {f: getattr(row, f) for f in _DKIM_FIELDS}
                    values["changed_at"] = now
                    if row.key_deleted_at is not None:
                        values["private_pem"] = None
                    elif row.private_pem is not None:
                        values["private_pem"] = row.private_pem
                    conn.execute(
                        dkim_table.update()
                        .where(dkim_table.c.domain == row.domain)
                        .where(dkim_table.c.selector == row.selector)
                        .values(**values)
                    )
        except _KeyTaken as taken:
            raise DkimKeyRaceError(
                f"state store {self.location}: another process added DKIM keys of "
                f"{taken.domain} first"
            ) from None

    def _add_dkim_key(self, conn: Connection, row: DkimKeyRow, now: datetime) -> None:
        position = row.position
        if not position:
            last = conn.execute(
                sa.select(sa.func.max(dkim_table.c.position)).where(
                    dkim_table.c.domain == row.domain
                )
            ).scalar()
            position = (last or 0) + 1
        values = {k: v for k, v in vars(row).items() if k not in ("position", "changed_at")}
        try:
            conn.execute(dkim_table.insert().values(**values, position=position, changed_at=now))
        except sa.exc.IntegrityError:
            raise _KeyTaken(row.domain) from None

    # --- ACME: account keys and certificate status ----------------------------------------------

    def acme_account(self, directory: str) -> AcmeAccountRow | None:
        query = sa.select(acme_accounts_table).where(acme_accounts_table.c.directory == directory)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else AcmeAccountRow(**dict(row))

    def add_acme_account(self, directory: str, key_pem: str) -> AcmeAccountRow:
        """Keep a new account key for ``directory``, unless one is there: the one kept wins
        (two processes making a key at once end up with one account)."""
        with self._write() as conn:
            conn.execute(
                dialect_insert(conn.dialect.name)(acme_accounts_table)
                .values(directory=directory, key_pem=key_pem, created=self.clock())
                .on_conflict_do_nothing()
            )
        row = self.acme_account(directory)
        assert row is not None
        return row

    def set_acme_account_uri(self, directory: str, account_uri: str) -> None:
        with self._write() as conn:
            conn.execute(
                acme_accounts_table.update()
                .where(acme_accounts_table.c.directory == directory)
                .values(account_uri=account_uri)
            )

    def certificate_status(self, name: str) -> CertificateStatus | None:
        query = sa.select(acme_certificates_table).where(acme_certificates_table.c.name == name)
        with self._read() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else CertificateStatus(**dict(row))

    def certificate_statuses(self) -> list[CertificateStatus]:
        query = sa.select(acme_certificates_table).order_by(acme_certificates_table.c.name)
        with self._read() as conn:
            return [CertificateStatus(**dict(r)) for r in conn.execute(query).mappings()]

    def save_certificate_status(self, status: CertificateStatus) -> None:
        values = dict(vars(status))
        with self._write() as conn:
            _upsert(conn, acme_certificates_table, {"name": values.pop("name")}, values)

    # --- objects (Bootstrap, DnsServer, Domain set over the API) ---------------------------------

    def put_object(self, kind: str, object_id: str, value: Mapping[str, Any]) -> None:
        """Create or replace the object ``(kind, id)`` with a JSON document."""
        document = json.dumps(value, sort_keys=True)
        with self._write() as conn:
            _upsert(
                conn,
                objects_table,
                {"kind": kind, "id": object_id},
                {"json": document, "updated_at": self.clock()},
            )

    def put_objects(self, objects: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Create or replace several ``(kind, id, document)`` objects in one transaction."""
        if not objects:
            return
        with self._write() as conn:
            for kind, object_id, value in objects:
                _upsert(
                    conn,
                    objects_table,
                    {"kind": kind, "id": object_id},
                    {"json": json.dumps(value, sort_keys=True), "updated_at": self.clock()},
                )

    def get_object(self, kind: str, object_id: str) -> dict[str, Any] | None:
        query = sa.select(objects_table.c.json).where(
            objects_table.c.kind == kind, objects_table.c.id == object_id
        )
        with self._read() as conn:
            text = conn.execute(query).scalar()
        return None if text is None else _json_object(text)

    def objects(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every object of ``kind``, by id."""
        query = (
            sa.select(objects_table.c.id, objects_table.c.json)
            .where(objects_table.c.kind == kind)
            .order_by(objects_table.c.id)
        )
        with self._read() as conn:
            return {row.id: _json_object(row.json) for row in conn.execute(query)}

    def delete_object(self, kind: str, object_id: str) -> bool:
        """Remove ``(kind, id)``; whether it existed."""
        with self._write() as conn:
            deleted = conn.execute(
                objects_table.delete().where(
                    objects_table.c.kind == kind, objects_table.c.id == object_id
                )
            )
            return deleted.rowcount > 0


class _KeyTaken(Exception):
    """Inside :meth:`StateStore.save_dkim_keys`: a key's (domain, position) or (domain,
    selector) was taken; not an SQLAlchemy error, so the transaction's wrapper lets it by."""

    def __init__(self, domain: str) -> None:
        super().__init__(domain)
        self.domain = domain


def _journal_entry(row: RowMapping) -> JournalEntry:
    return JournalEntry(
        id=row["id"],
        run_id=row["run_id"],
        time=row["time"],
        domain=row["domain"],
        zone=row["zone"],
        name=row["name"],
        type=row["type"],
        action=row["action"],
        ttl=row["ttl"],
        old=list(row["old"]),
        new=list(row["new"]),
        status=row["status"],
        error=row["error"],
        old_ttl=row["old_ttl"],
        node_id=row["node_id"],
        fence_token=row["fence_token"],
    )


def _json_object(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise DnsautoError("state store object is not a JSON object")
    return value


def _save_result_rows(
    conn: Connection, result: SyncOutcome, values: Mapping[str, Any], zone_mark: ZoneMark | None
) -> None:
    """A domain's result row, and its zone mark: dropped with an error, else kept when given."""
    _upsert(conn, results_table, {"domain": result.domain}, values)
    if result.error is not None:
        conn.execute(marks_table.delete().where(marks_table.c.domain == result.domain))
    elif zone_mark is not None:
        marks = {k: v for k, v in vars(zone_mark).items() if k != "domain"}
        _upsert(conn, marks_table, {"domain": zone_mark.domain}, marks)


def _upsert(
    conn: Connection, table: sa.Table, key: Mapping[str, Any], values: Mapping[str, Any]
) -> None:
    """Insert or replace the row with primary key ``key`` (``ON CONFLICT DO UPDATE``)."""
    statement = _upsert_statement(conn.dialect.name, table, tuple(key), tuple(values))
    conn.execute(statement, {**key, **values})


def dialect_insert(dialect: str) -> Callable[[sa.Table], Any]:
    """The dialect's ``INSERT`` construct, the one with ``ON CONFLICT`` (PostgreSQL's or
    SQLite's), imported when first used: a store on SQLite never imports PostgreSQL's dialect
    (a sixth of SQLAlchemy's import time, which a one-shot sync pays at each start)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


@functools.cache
def _upsert_statement(
    dialect: str, table: sa.Table, key: tuple[str, ...], columns: tuple[str, ...]
) -> sa.Executable:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET`` every one of ``columns``, in SQLite's or
    PostgreSQL's dialect (the same SQL, two constructs); built once."""
    statement = dialect_insert(dialect)(table)
    upsert: sa.Executable = statement.on_conflict_do_update(
        index_elements=list(key), set_={c: statement.excluded[c] for c in columns}
    )
    return upsert


def _current_version(conn: Connection) -> int | None:
    """The highest step run, or ``None`` for an empty database (no ``schema_version``)."""
    if not sa.inspect(conn).has_table(schema_version.name):
        return None
    current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
    return None if current is None else int(current)


def _connection_lost(exc: sa.exc.SQLAlchemyError) -> bool:
    """Whether ``exc`` says the database could not be reached or the connection broke."""
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection came free
        return True
    import psycopg

    original = getattr(exc, "orig", None)
    if isinstance(original, psycopg.errors.AdminShutdown | psycopg.errors.CannotConnectNow):
        return True
    # OperationalError without an SQLSTATE: libpq could not connect, or lost the connection;
    # unless the server refused who we are (password, role, database, pg_hba, certificate),
    # which no retry mends.
    if not isinstance(original, psycopg.OperationalError) or original.sqlstate is not None:
        return False
    text = str(original).lower()
    return not any(marker in text for marker in _REFUSALS)


_REFUSALS = (
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "permission denied",
    "certificate",
    "ssl",
)
"""Words of libpq's connection errors that say a retry cannot help."""


def _prepare_files(state_dir: Path, path: Path) -> None:
    """Make the state directory (0700 when new) and the database file (0600) before SQLite.

    SQLite gives its ``-wal`` and ``-shm`` files the database file's mode, so making the file
    first with 0600 covers all three. An existing file is never opened here: closing any
    descriptor of it would drop every POSIX lock this process holds on it through SQLite, and
    another process closing the store would then delete the ``-wal`` still in use (SQLite's
    "How To Corrupt Your Database", §2.2). Its mode is set by path; a new file is created with
    ``O_EXCL``, so the descriptor closed is always one of a file nobody had open.
    """
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            os.chmod(path, 0o600)
        else:
            os.close(fd)
    except OSError as exc:
        raise DnsautoError(f"cannot create the state store {path}: {exc.strerror}") from None


PAGE_CACHE_KIB = 512
"""The page cache of each SQLite connection, in KiB."""


def _make_engine(path: Path) -> Engine:
    """A SQLAlchemy engine whose connections use WAL, synchronous=FULL and explicit BEGINs.

    pysqlite's own transaction handling is switched off (``isolation_level=None``) and the
    ``begin`` event issues ``BEGIN`` or ``BEGIN IMMEDIATE``: SQLAlchemy's documented recipe for
    real SQLite transactions.
    """
    engine = sa.create_engine(f"sqlite:///{path}")

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise DnsautoError(f"state store {path}: cannot switch to WAL mode ({mode})")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
            # Each pooled connection keeps a page cache of its own (SQLite's default 2 MiB):
            # with a worker thread per sync in flight that grew with the store (+7 MB at
            # 5,000 domains); the pages are in the OS's cache behind it anyway.
            cursor.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
        finally:
            cursor.close()
        record.info["synchronous"] = "FULL"

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        options = conn.get_execution_options()
        # Straight to sqlite3: SQLAlchemy's execution of a statement (events, a context, a
        # result) cost more than the BEGIN itself, twice a write.
        begin_sqlite(
            conn.connection.dbapi_connection,  # type: ignore[arg-type]
            conn.info,
            immediate=options.get("sqlite_immediate", False),
            durable=options.get("sqlite_durable", True),
        )

    return engine


def _make_postgres_engine(location: PostgresLocation) -> Engine:
    """A pooled psycopg 3 engine: at most ``pool_max_connections``, each checked before use
    (``pool_pre_ping``: a connection PostgreSQL closed, by a restart, is replaced), the
    password in ``connect_args`` only (the URL has none, so no message can show it)."""
    url = sa.URL.create(
        "postgresql+psycopg",
        username=location.user or None,
        host=location.host,
        port=location.port,
        database=location.database,
    )
    connect_args: dict[str, Any] = {
        "connect_timeout": max(1, round(location.connect_timeout)),
        "sslmode": (
            ("require" if location.allow_invalid_certs else "verify-full")
            if location.use_tls
            else "disable"
        ),
        "application_name": "dnsauto",
    }
    if location.use_tls and not location.allow_invalid_certs:
        connect_args["sslrootcert"] = "system"  # the system's CAs (libpq 16+, psycopg-binary)
    if location.password is not None:
        connect_args["password"] = location.password
    if location.options:
        connect_args["options"] = location.options
    return sa.create_engine(
        url,
        connect_args=connect_args,
        pool_size=location.pool_max_connections,
        max_overflow=0,
        pool_timeout=location.connect_timeout,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
        hide_parameters=True,
    )
