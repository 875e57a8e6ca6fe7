"""The state store's busiest SQLite writes run straight on sqlite3 (dnsauto.state.direct): they
store exactly what SQLAlchemy stores, are one transaction each, and fail as the store fails."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dnsauto.plugin.changes import Create, Update
from dnsauto.plugin.errors import DnsautoError
from dnsauto.state import store as store_module
from dnsauto.state.store import (
    BUSY_TIMEOUT_MS,
    DB_FILE,
    DkimKeyRow,
    StateStore,
    ZoneMark,
    _upsert,
    dkim_table,
    journal_table,
    marks_table,
    results_table,
)
from dnsauto.sync.engine import DomainResult
from dnsauto.testing import make_rrset

WHEN = datetime(2026, 12, 4, 5, 6, 7, 891011, tzinfo=UTC)


def clock() -> datetime:
    return WHEN


def raw_rows(path: Path, table: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path / DB_FILE) as connection:
        return connection.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()


def changes() -> list[Any]:
    txt = make_rrset("_dmarc.example.test.", "TXT", 300, '"v=DMARC1; p=none"')
    mx = make_rrset("example.test.", "MX", 3600, "10 mx.example.test.")
    new_mx = make_rrset("example.test.", "MX", 600, "10 mx2.example.test.")
    return [Create(txt), Update(mx, new_mx)]


def test_journal_rows_written_straight_are_the_rows_sqlalchemy_writes(tmp_path: Path) -> None:
    direct, through = tmp_path / "direct", tmp_path / "sqlalchemy"
    with StateStore(direct, clock=clock) as store:
        ids = store.journal_before_apply("run1", "example.test", "example.test.", changes())
        store.journal_after_apply(ids, None)
    with StateStore(through, clock=clock) as store, store.write_transaction() as conn:
        rows = [
            {
                "run_id": "run1",
                "time": WHEN,
                "domain": "example.test",
                "zone": "example.test.",
                "name": "_dmarc.example.test.",
                "type": "TXT",
                "action": "create",
                "ttl": 300,
                "old_ttl": None,
                "old": [],
                "new": ['"v=DMARC1; p=none"'],
                "status": "applied",
                "error": None,
                "finished_at": WHEN,
            },
            {
                "run_id": "run1",
                "time": WHEN,
                "domain": "example.test",
                "zone": "example.test.",
                "name": "example.test.",
                "type": "MX",
                "action": "update",
                "ttl": 600,
                "old_ttl": 3600,
                "old": ["10 mx.example.test."],
                "new": ["10 mx2.example.test."],
                "status": "applied",
                "error": None,
                "finished_at": WHEN,
            },
        ]
        conn.execute(journal_table.insert(), rows)
    assert ids == [1, 2]
    assert raw_rows(direct, "journal") == raw_rows(through, "journal")


def test_a_result_and_its_mark_written_straight_are_the_rows_sqlalchemy_writes(
    tmp_path: Path,
) -> None:
    direct, through = tmp_path / "direct", tmp_path / "sqlalchemy"
    mark = ZoneMark("example.test", "example.test.", "2026120401", "digest", WHEN)
    result = DomainResult(domain="example.test", server_id="m", zone="example.test.")
    result.seconds = 0.25
    with StateStore(direct, clock=clock) as store:
        store.save_result("run1", result, zone_mark=mark)
    with StateStore(through, clock=clock) as store, store.write_transaction() as conn:
        values = {
            "run_id": "run1",
            "finished_at": WHEN,
            "ok": True,
            "error": None,
            "changes": 0,
            "propagated": False,
            "seconds": 0.25,
            "zone": "example.test.",
            "skipped": None,
        }
        _upsert(conn, results_table, {"domain": "example.test"}, values)
        marks = {k: v for k, v in vars(mark).items() if k != "domain"}
        _upsert(conn, marks_table, {"domain": "example.test"}, marks)
    assert raw_rows(direct, "results") == raw_rows(through, "results")
    assert raw_rows(direct, "zone_marks") == raw_rows(through, "zone_marks")


def test_a_failed_result_drops_the_domain_s_mark(tmp_path: Path) -> None:
    mark = ZoneMark("example.test", "example.test.", "1", "digest", WHEN)
    with StateStore(tmp_path, clock=clock) as store:
        store.save_result(
            "run1", DomainResult(domain="example.test", server_id="m"), zone_mark=mark
        )
        failed = DomainResult(domain="example.test", server_id="m", error="refused")
        store.save_result("run2", failed, zone_mark=mark)
        assert store.zone_mark("example.test") is None
        assert store.last_results()["example.test"].error == "refused"


def test_a_direct_write_that_fails_names_the_store_and_leaves_nothing_of_itself(
    tmp_path: Path,
) -> None:
    mark = ZoneMark("example.test", "example.test.", "1", "digest", WHEN)
    with StateStore(tmp_path, clock=clock) as store:
        with sqlite3.connect(tmp_path / DB_FILE) as plain:
            plain.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON zone_marks "
                "BEGIN SELECT RAISE(ABORT, 'no marks today'); END"
            )
        with pytest.raises(DnsautoError, match=r"state store .*: no marks today"):
            store.save_result(
                "run1", DomainResult(domain="example.test", server_id="m"), zone_mark=mark
            )
        assert store.last_results() == {}
        # The connection went back to the pool with no transaction open: the next write works.
        store.save_result("run2", DomainResult(domain="example.test", server_id="m"))
        assert store.last_results()["example.test"].run_id == "run2"


def test_results_saved_together_are_each_domain_s_result_and_mark_in_one_transaction(
    tmp_path: Path,
) -> None:
    ok, failed = "ok.test", "failed.test"
    marks = {d: ZoneMark(d, f"{d}.", "1", "digest", WHEN) for d in (ok, failed)}
    with StateStore(tmp_path, clock=clock) as store:
        for domain, mark in marks.items():
            store.save_result("run1", DomainResult(domain=domain, server_id="m"), zone_mark=mark)
        with sqlite3.connect(tmp_path / DB_FILE) as plain:
            plain.execute(
                f"CREATE TRIGGER refuse BEFORE UPDATE ON results WHEN NEW.domain = '{failed}' "
                "BEGIN SELECT RAISE(ABORT, 'not this one'); END"
            )
        batch = [
            (DomainResult(domain=ok, server_id="m"), marks[ok]),
            (DomainResult(domain=failed, server_id="m", error="refused"), None),
        ]
        with pytest.raises(DnsautoError, match="not this one"):
            store.save_results("run2", batch)
        assert {d: r.run_id for d, r in store.last_results().items()} == {
            ok: "run1",
            failed: "run1",
        }
        with sqlite3.connect(tmp_path / DB_FILE) as plain:
            plain.execute("DROP TRIGGER refuse")
        assert store.save_results_at_once("run3", batch) is True
        assert {d: r.run_id for d, r in store.last_results().items()} == {
            ok: "run3",
            failed: "run3",
        }
        assert (store.zone_mark(ok), store.zone_mark(failed)) == (marks[ok], None)


def test_results_are_not_saved_together_at_once_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    with StateStore(tmp_path, clock=clock) as store:
        holder = hold_write_lock(tmp_path)
        try:
            batch = [(DomainResult(domain="example.test", server_id="m"), None)]
            assert store.save_results_at_once("run1", batch) is False
        finally:
            holder.rollback()
            holder.close()
        assert store.last_results() == {}


def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another connection (another process, say) in the middle of a write transaction."""
    holder = sqlite3.connect(path / DB_FILE, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_result_is_saved_at_once_when_the_write_lock_is_free(tmp_path: Path) -> None:
    with StateStore(tmp_path, clock=clock) as store:
        saved = store.save_result_at_once(
            "run1", DomainResult(domain="example.test", server_id="m")
        )
        assert saved is True
        assert store.last_results()["example.test"].run_id == "run1"


def test_a_result_is_not_saved_at_once_while_another_connection_writes(tmp_path: Path) -> None:
    """The engine saves results from its event loop only where that cannot wait: with the
    lock held it is told so (rather than waiting out busy_timeout there), and saves later."""
    with StateStore(tmp_path, clock=clock) as store:
        holder = hold_write_lock(tmp_path)
        result = DomainResult(domain="example.test", server_id="m")
        assert store.save_result_at_once("run1", result) is False
        holder.execute("COMMIT")
        holder.close()
        assert store.last_results() == {}
        assert store.pragma("busy_timeout") == BUSY_TIMEOUT_MS  # restored for the next waits
        store.save_result("run1", result)
        assert store.last_results()["example.test"].run_id == "run1"


def test_a_result_under_a_lease_guard_is_never_saved_at_once(tmp_path: Path) -> None:
    def guard(conn: Any, domain: str, seconds: float) -> tuple[str, int]:
        raise AssertionError("a guarded save runs in the caller's worker thread")

    with StateStore(tmp_path, clock=clock) as store:
        result = DomainResult(domain="example.test", server_id="m")
        assert store.save_result_at_once("run1", result, guard=guard) is False
        assert store.last_results() == {}


def test_a_batch_is_marked_applied_at_once_only_while_the_write_lock_is_free(
    tmp_path: Path,
) -> None:
    with StateStore(tmp_path, clock=clock) as store:
        first = store.journal_before_apply("run1", "example.test", "example.test.", changes())
        holder = hold_write_lock(tmp_path)
        assert store.journal_after_apply_at_once(first, None) is False
        holder.execute("COMMIT")
        holder.close()
        assert {e.status for e in store.journal()} == {"pending"}
        assert store.journal_after_apply_at_once(first, None) is True
        assert {e.status for e in store.journal()} == {"applied"}


def test_a_batch_is_journaled_at_once_when_the_write_lock_is_free(tmp_path: Path) -> None:
    with StateStore(tmp_path, clock=clock) as store:
        ids = store.journal_before_apply_at_once("run1", "example.test", "example.test.", changes())
        assert ids == [1, 2]
        assert [(e.id, e.status) for e in store.journal()] == [(1, "pending"), (2, "pending")]


def test_a_batch_is_not_journaled_at_once_while_another_connection_writes(
    tmp_path: Path,
) -> None:
    with StateStore(tmp_path, clock=clock) as store:
        holder = hold_write_lock(tmp_path)
        at_once = store.journal_before_apply_at_once(
            "run1", "example.test", "example.test.", changes()
        )
        holder.execute("COMMIT")
        holder.close()
        assert at_once is None
        assert store.journal() == []
        assert store.pragma("busy_timeout") == BUSY_TIMEOUT_MS


def test_a_batch_is_not_journaled_at_once_once_the_store_s_durable_commits_are_slow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller of the at-once write waits for its fsync: on a disk where a durable commit
    takes milliseconds, the event loop would stop that long for each batch."""
    ticks = iter(range(1000))
    monkeypatch.setattr(store_module, "_elapsed", lambda: next(ticks) * 0.05)  # 50 ms a commit
    with StateStore(tmp_path, clock=clock) as store:
        store.journal_before_apply("run1", "example.test", "example.test.", changes())
        again = store.journal_before_apply_at_once(
            "run2", "example.test", "example.test.", changes()
        )
        assert again is None
        assert {e.run_id for e in store.journal()} == {"run1"}


def test_marks_and_dkim_keys_read_straight_are_what_sqlalchemy_reads(tmp_path: Path) -> None:
    later = datetime(2026, 12, 4, 20, 40, 1, 250000, tzinfo=UTC)
    domains = [f"d{n}.test" for n in range(3)]
    with StateStore(tmp_path, clock=clock) as store:
        for domain in domains[:2]:
            store.save_result(
                "run1",
                DomainResult(domain=domain, server_id="m"),
                zone_mark=ZoneMark(domain, f"{domain}.", "7", "digest", later),
            )
        key = DkimKeyRow(
            domain="d1.test",
            selector="s1",
            algorithm="Dkim1Ed25519Sha256",
            stage="retired",
            public_value="v=DKIM1; k=ed25519; p=AAAA",
            created=WHEN,
            active_at=WHEN,
            retired_at=later,
            position=1,
            private_pem="PEM",
        )
        store.save_dkim_keys(add=[key])

        marks = store.zone_marks(domains)
        keys = store.dkim_keys_of(domains)
        with store.read_transaction() as conn:
            through_marks = {
                row.domain: ZoneMark(**dict(row._mapping))
                for row in conn.execute(sa.select(marks_table))
            }
            (through_key,) = [
                DkimKeyRow(**dict(row._mapping)) for row in conn.execute(sa.select(dkim_table))
            ]

    assert marks == through_marks
    assert marks["d0.test"].full_read_at == later  # aware, in UTC, to the microsecond
    assert keys["d1.test"] == [through_key]
    assert (through_key.created, through_key.retired_at) == (WHEN, later)
