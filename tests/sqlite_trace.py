"""The statements a state store's connections run on sqlite3 itself, whether through
SQLAlchemy or straight on the driver (``dnsauto.state.direct``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa

from dnsauto.state.store import StateStore


@contextlib.contextmanager
def traced_statements(
    store: StateStore, keep: Callable[[str], bool] = lambda statement: True
) -> Iterator[list[str]]:
    """The statements run while inside (those ``keep`` accepts), on every connection the
    store checks out of its pool meanwhile."""
    seen: list[str] = []

    def note(statement: str) -> None:
        if keep(statement):
            seen.append(statement)

    def traced(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(note)

    def untraced(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(None)

    sa.event.listen(store._engine, "checkout", traced)
    sa.event.listen(store._engine, "checkin", untraced)
    try:
        yield seen
    finally:
        sa.event.remove(store._engine, "checkout", traced)
        sa.event.remove(store._engine, "checkin", untraced)


def is_select(statement: str) -> bool:
    return statement.lstrip().upper().startswith("SELECT")
