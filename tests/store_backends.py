"""The state store's two backends for the tests: SQLite in a temporary state directory, and a
database of its own on the session's PostgreSQL (``postgres_server``).

A test takes the ``store_backend`` fixture (``tests/conftest.py``), parametrized over both,
and opens the store through the configuration (``[daemon.store]``) as dnsauto does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dnsauto.config.daemon import Daemon
from dnsauto.state.store import StateStore
from dnsauto.testing.servers.postgres import PostgresServer

__all__ = ["BACKENDS", "OPEN_FROM_ARGV", "StoreBackend"]

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
