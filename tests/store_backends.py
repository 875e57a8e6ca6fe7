"""The state store's two backends for the tests: SQLite in a temporary state directory, and a
database of its own on the session's PostgreSQL (``postgres_server``).

A test takes the ``store_backend`` fixture (``tests/conftest.py``), parametrized over both,
and opens the store through the configuration (``[daemon.store]``) as dnsauto does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.daemon import Daemon
from dnsauto.state.store import StateStore, StoreUnavailableError
from dnsauto.testing.servers.postgres import PostgresServer

__all__ = ["BACKENDS", "OPEN_FROM_ARGV", "StoreBackend", "commit_fails_once"]

BACKENDS = ("sqlite", "postgresql")

OPEN_FROM_ARGV = (
    "import json, sys\n"
    "from dnsauto.config.daemon import Daemon\n"
    "store = Daemon.model_validate(json.loads(sys.argv[1])).open_store()\n"
)
"""Lines a test's child process starts with: ``store`` opened from the ``[daemon]`` table
given as JSON in ``argv[1]`` (:meth:`StoreBackend.argv`)."""


@dataclass
class StoreBackend:
    name: str
    state_dir: Path
    postgres: PostgresServer | None = None
    database: str | None = None

    def daemon_table(self) -> dict[str, Any]:
        """The ``[daemon]`` table (camelCase) whose ``store`` is this backend."""
        table: dict[str, Any] = {"stateDir": str(self.state_dir)}
        if self.postgres is not None:
            table["store"] = self.postgres.store_config(self.database)
        return table

    def open(self, clock: Callable[[], datetime] | None = None) -> StateStore:
        return Daemon.model_validate(self.daemon_table()).open_store(clock=clock)

    def argv(self) -> str:
        return json.dumps(self.daemon_table())


def commit_fails_once(store: StateStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next write transaction of ``store`` runs its statements, then fails as a commit
    cut off by a PostgreSQL restart does: rolled back, :class:`StoreUnavailableError`."""
    real = store.write_transaction

    @contextlib.contextmanager
    def failing() -> Iterator[Any]:
        monkeypatch.setattr(store, "write_transaction", real)
        with real() as conn:
            yield conn
            raise StoreUnavailableError("state store: server closed the connection unexpectedly")

    monkeypatch.setattr(store, "write_transaction", failing)
