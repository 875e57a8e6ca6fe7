"""The state store's busiest SQLite writes, run straight on sqlite3.

A sync of a domain writes three small transactions (its journal entries before the provider
call, their applied mark after it, its result). On SQLite, in the same process, SQLAlchemy's
execution of a statement (a checked-out ``Connection``, its events, an execution context, a
result object, type processing) cost five times what sqlite3 takes to run it: a tenth of a
publish of many domains. So these writes take a pooled connection's sqlite3 connection and
run the statements SQLAlchemy compiled for them, with SQLAlchemy's own bind processors: the
rows are stored exactly as through SQLAlchemy, and read back through it. PostgreSQL, where a
round trip to the server outweighs all of that, keeps SQLAlchemy's path.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.compiler import SQLCompiler

__all__ = [
    "DirectStatement",
    "WriteLockHeld",
    "begin_sqlite",
    "direct_rows",
    "direct_statement",
    "direct_write",
]


@dataclass(frozen=True)
class DirectStatement:
    """A Core statement compiled for SQLite: its SQL, its parameters' names in order, and the
    bind processor of each (``None`` where the value is passed as it is)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """The positional parameters for ``values``, processed as SQLAlchemy would bind them."""
        return tuple(
            value if process is None else process(value)
            for process, value in zip(self.processors, (values[n] for n in self.names), strict=True)
        )

    def parameter_rows(self, rows: Iterable[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        """:meth:`parameters` of each of ``rows``, each value processed once: a batch's rows
        share their times (a datetime's processing is most of a journal row's)."""
        done: list[dict[Any, Any]] = [{} for _ in self.names]
        return [
            tuple(
                value if process is None else _processed_once(done[index], process, value)
                for index, (process, value) in enumerate(
                    zip(self.processors, (row[n] for n in self.names), strict=True)
                )
            )
            for row in rows
        ]

    def run(self, connection: sqlite3.Connection, values: Mapping[str, Any]) -> sqlite3.Cursor:
        return connection.execute(self.sql, self.parameters(values))


def _processed_once(done: dict[Any, Any], process: Callable[[Any], Any], value: Any) -> Any:
    if not isinstance(value, datetime):  # a list (JSON) is not hashable; others are cheap
        return process(value)
    found = done.get(value)
    if found is None:
        found = done[value] = process(value)
    return found


@functools.cache
def direct_statement(
    statement: sa.ClauseElement, dialect: sa.Dialect, columns: tuple[str, ...] = ()
) -> DirectStatement:
    """``statement`` compiled once for ``dialect`` (SQLite's ``qmark`` style); an INSERT's or
    UPDATE's ``columns``: those its rows give (as for an ``execute`` with such rows)."""
    compiled = cast(
        SQLCompiler, statement.compile(dialect=dialect, column_keys=list(columns) or None)
    )
    names = tuple(compiled.positiontup or ())
    binds = {bind.key: bind for bind in compiled.binds.values()}
    processors = tuple(
        binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    )
    return DirectStatement(compiled.string, names, processors)


def direct_rows(conn: Connection, statement: sa.Select[Any]) -> list[dict[str, Any]]:
    """The rows of ``statement`` (its ``IN`` lists expanded), read in ``conn``'s transaction
    on its sqlite3 connection: each a dict by column name, its values processed as
    SQLAlchemy's result processors process them (a timezone-aware datetime, say). A window of
    a run's zone marks and DKIM keys is read so: SQLAlchemy's rows and their mappings were
    most of that read."""
    dialect = conn.dialect
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    values = compiled.construct_params()
    binds = compiled.binds  # by the names the SQL gives its parameters
    parameters = []
    for name in compiled.positiontup or ():
        bind = binds.get(name) or binds[name.rpartition("_")[0]]  # an IN list's n-th value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        parameters.append(values[name] if process is None else process(values[name]))
    columns = list(statement.selected_columns)
    names = [str(column.key) for column in columns]
    processors = [
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
    ]
    driver = cast(sqlite3.Connection, conn.connection.driver_connection)
    try:
        rows = driver.execute(compiled.string, parameters).fetchall()
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(compiled.string, parameters, exc, sqlite3.Error) from exc
    return [
        {
            name: value if process is None else process(value)
            for name, process, value in zip(names, processors, row, strict=True)
        }
        for row in rows
    ]


def begin_sqlite(
    connection: sqlite3.Connection, info: dict[Any, Any], *, immediate: bool, durable: bool
) -> None:
    """``BEGIN`` (``IMMEDIATE`` for a write, fsynced at commit when ``durable``: a write's
    durability is the connection's ``synchronous`` setting when it commits). ``info``: the
    pooled connection's, which remembers that setting."""
    if immediate:
        level = "FULL" if durable else "NORMAL"
        if info.get("synchronous") != level:
            connection.execute(f"PRAGMA synchronous = {level}")
            info["synchronous"] = level
    connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")


class WriteLockHeld(Exception):
    """Another connection holds the database's write lock, and the write was not to wait."""


@contextlib.contextmanager
def direct_write(
    engine: Engine, *, durable: bool, wait_ms: int | None = None, busy_timeout_ms: int
) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction on a pooled connection's sqlite3 connection,
    committed on success and rolled back otherwise. A sqlite3 error is raised as SQLAlchemy's
    (:class:`sqlalchemy.exc.DBAPIError`), so the store names it as it names any other.

    ``wait_ms``: how long the ``BEGIN`` waits for another writer's lock (else the
    connection's ``busy_timeout``: ``busy_timeout_ms``, the store's for every connection, set
    back after); :class:`WriteLockHeld` when that ran out.
    """
    pooled = engine.raw_connection()
    try:
        connection: sqlite3.Connection = pooled.driver_connection  # type: ignore[assignment]
        try:
            with _busy_timeout(connection, wait_ms, busy_timeout_ms):
                try:
                    begin_sqlite(connection, pooled.info, immediate=True, durable=durable)
                except sqlite3.OperationalError as exc:
                    if wait_ms is not None and exc.sqlite_errorcode == sqlite3.SQLITE_BUSY:
                        raise WriteLockHeld from None
                    raise
            try:
                yield connection
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.Error as exc:
            if connection.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    connection.execute("ROLLBACK")
            raise sa.exc.DBAPIError.instance(None, None, exc, sqlite3.Error) from exc
    finally:
        pooled.close()


@contextlib.contextmanager
def _busy_timeout(
    connection: sqlite3.Connection, wait_ms: int | None, usual_ms: int
) -> Iterator[None]:
    if wait_ms is None:
        yield
        return
    connection.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
    try:
        yield
    finally:
        connection.execute(f"PRAGMA busy_timeout = {int(usual_ms)}")
