"""The state store: journal written before apply, results, objects, WAL, crash safety.

The store's behaviour runs on both backends (``store_backend``: SQLite, then PostgreSQL);
what is SQLite's own (WAL, fsync levels, file modes, POSIX locks) on SQLite alone.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.name
import pytest
import sqlalchemy as sa

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Create, Delete, Update
from dnsauto.plugin.errors import DnsautoError, ProviderError
from dnsauto.plugin.registry import Registry
from dnsauto.state.store import (
    DB_FILE,
    PAGE_CACHE_KIB,
    SCHEMA_VERSION,
    StateStore,
    schema_version,
)
from dnsauto.sync.engine import DomainResult, Engine, domain_jobs
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider
from tests.store_backends import OPEN_FROM_ARGV, StoreBackend

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.test.")
    fresh.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


@pytest.fixture
def store(store_backend: StoreBackend) -> Any:
    with store_backend.open() as opened:
        yield opened


def make_config(tmp_path: Path, registry: Registry, backend: StoreBackend | None = None) -> Config:
    managed = {"@type": "Automatic", "dnsServerId": "mem"}
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory"}},
        "domain": {"example.org": {"dnsManagement": managed}},
        "daemon": backend.daemon_table() if backend else {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


async def sync(config: Config, registry: Registry, store: StateStore) -> list[DomainResult]:
    async with Engine(config, registry, store=store) as engine:
        return await engine.run(domain_jobs(config), apply=True)


def dmarc(value: str, ttl: int = 300) -> Any:
    return make_rrset("_dmarc.example.test.", "TXT", ttl, f'"{value}"')


# --- journal ---------------------------------------------------------------------------------


async def test_a_batch_is_journaled_as_pending_before_the_provider_is_called(
    host: MemoryHost,
    tmp_path: Path,
    registry: Registry,
    store: StateStore,
    store_backend: StoreBackend,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[list[tuple[str, str]]] = []
    original = MemoryProvider.apply

    async def look_first(self: MemoryProvider, zone: Any, changes: Any) -> None:
        with store_backend.open() as other:  # another connection, as a crash would
            entries = other.journal(domain=str(zone).rstrip("."))
        seen.append([(e.name, e.status) for e in entries if e.status == "pending"])
        await original(self, zone, changes)

    monkeypatch.setattr(MemoryProvider, "apply", look_first)
    await sync(make_config(tmp_path, registry), registry, store)
    assert seen
    for batch, pending in zip(host.apply_calls, seen, strict=True):
        assert sorted(name for name, _ in pending) == sorted(c.name.to_text() for c in batch)
    assert {e.status for e in store.journal()} == {"applied"}


@contextlib.contextmanager
def synchronous_of_journal_inserts() -> Iterator[list[int]]:
    """The ``PRAGMA synchronous`` in force on each commit that inserted journal rows (2 is
    FULL: the commit is fsynced), as sqlite3 ran the statements: through SQLAlchemy or straight
    on sqlite3 (:mod:`dnsauto.state.direct`)."""
    levels: list[int] = []

    def on_connect(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        level = dbapi_connection.execute("PRAGMA synchronous").fetchone()[0]
        state = {"level": level, "inserted": False}

        def trace(statement: str) -> None:
            text = " ".join(statement.upper().split())
            if text.startswith("PRAGMA SYNCHRONOUS ="):
                state["level"] = {"FULL": 2, "NORMAL": 1, "OFF": 0}[text.split("=")[1].strip()]
            elif text.startswith("INSERT INTO JOURNAL"):
                state["inserted"] = True
            elif text == "COMMIT" and state["inserted"]:
                levels.append(int(state["level"]))
                state["inserted"] = False

        dbapi_connection.set_trace_callback(trace)

    sa.event.listen(sa.pool.Pool, "connect", on_connect)
    try:
        yield levels
    finally:
        sa.event.remove(sa.pool.Pool, "connect", on_connect)


def test_the_before_apply_commit_is_fsynced_even_after_commits_that_are_not(
    tmp_path: Path,
) -> None:
    """The journal's promise (an entry committed before the provider call survives a power
    cut) needs ``synchronous=FULL`` for that commit, also on a connection whose previous
    commits (marking a batch applied, a domain's result) used ``NORMAL``."""
    with synchronous_of_journal_inserts() as levels, StateStore(tmp_path) as store:
        for attempt in range(3):
            ids = store.journal_before_apply(
                f"run{attempt}", "example.test", "example.test.", [Create(dmarc(f"v{attempt}"))]
            )
            store.journal_after_apply(ids, None)
            store.save_result(f"run{attempt}", DomainResult(domain="example.test", server_id="m"))
    assert levels == [2, 2, 2]


async def test_a_failed_batch_leaves_its_entries_marked_failed_with_the_error(
    host: MemoryHost,
    tmp_path: Path,
    registry: Registry,
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: MemoryProvider, zone: Any, changes: Any) -> None:
        raise ProviderError("quota exceeded", provider="mem", zone=str(zone))

    monkeypatch.setattr(MemoryProvider, "apply", refuse)
    results = await sync(make_config(tmp_path, registry), registry, store)
    assert all(r.error for r in results)
    entries = store.journal()
    assert entries
    assert {e.status for e in entries} == {"failed"}
    assert all(e.error and "quota exceeded" in e.error for e in entries)


async def test_an_interrupted_batch_is_marked_failed_saying_it_may_be_partly_applied(
    host: MemoryHost,
    tmp_path: Path,
    registry: Registry,
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def bug(self: MemoryProvider, zone: Any, changes: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(MemoryProvider, "apply", bug)
    results = await sync(make_config(tmp_path, registry), registry, store)
    assert all("internal error" in (r.error or "") for r in results)
    assert {e.error for e in store.journal()} == {"internal error: RuntimeError: boom"}


async def test_journal_lists_entries_by_domain_and_by_run(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    config = make_config(tmp_path, registry)
    first = await sync(config, registry, store)
    host.put(dmarc("v=DMARC1; p=none"))
    async with Engine(config, registry, store=store, run_id="second") as engine:
        await engine.run(domain_jobs(config, ["example.test"]), apply=True)

    everything = store.journal()
    by_domain = store.journal(domain="example.org")
    second = store.journal(run_id="second")
    assert {e.domain for e in by_domain} == {"example.org"}
    assert len(by_domain) == next(r.applied for r in first if r.domain == "example.org")
    assert [(e.name, e.action, e.old) for e in second] == [
        ("_dmarc.example.test.", "update", ['"v=DMARC1; p=none"'])
    ]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert store.journal(domain="EXAMPLE.ORG.") == by_domain


def test_journal_keeps_old_and_new_values_and_both_ttls(store: StateStore) -> None:
    changes = [
        Update(dmarc("v=DMARC1; p=none", ttl=60), dmarc("v=DMARC1; p=reject")),
        Create(make_rrset("mta-sts.example.test.", "CNAME", 300, "mail.example.test.")),
        Delete(make_rrset("old._domainkey.example.test.", "TXT", 120, '"v=DKIM1; p=x"')),
    ]
    ids = store.journal_before_apply("r1", "example.test", "example.test.", changes)
    store.journal_after_apply(ids, None)

    update, create, delete = store.journal(run_id="r1")
    assert (update.old, update.new, update.ttl, update.old_ttl) == (
        ['"v=DMARC1; p=none"'],
        ['"v=DMARC1; p=reject"'],
        300,
        60,
    )
    assert (create.action, create.old, create.old_ttl) == ("create", [], None)
    assert (delete.action, delete.new, delete.ttl, delete.old_ttl) == ("delete", [], 120, 120)
    assert update.time.tzinfo is UTC


def test_the_store_clock_times_the_entries(store_backend: StoreBackend) -> None:
    moment = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)
    with store_backend.open(clock=lambda: moment) as store:
        store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        (entry,) = store.journal()
    assert entry.time == moment


# --- results ---------------------------------------------------------------------------------


async def test_last_results_hold_each_domains_last_sync(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    config = make_config(tmp_path, registry)
    first = await sync(config, registry, store)
    async with Engine(config, registry, store=store, run_id="again") as engine:
        await engine.run(domain_jobs(config), apply=True)

    results = store.last_results()
    assert sorted(results) == ["example.org", "example.test"]
    status = results["example.test"]
    assert (status.run_id, status.ok, status.error, status.changes) == ("again", True, None, 0)
    assert status.zone == "example.test."
    assert status.finished_at.tzinfo is UTC
    assert all(r.applied > 0 for r in first)


async def test_results_are_saved_when_another_writer_holds_the_lock_as_the_syncs_end(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine saves a result from its event loop only when SQLite's write lock is free;
    held by another writer (a second process), the result waits for it in a worker thread."""
    config = make_config(tmp_path, registry)
    with StateStore(tmp_path / "state") as store:
        holder = sqlite3.connect(tmp_path / "state" / DB_FILE, isolation_level=None)
        refused: list[bool] = []
        at_once = store.save_results_at_once

        def lock_held_for_the_first(run_id: str, results: Any) -> bool:
            if not refused:  # the other writer takes the lock just before the first save
                holder.execute("BEGIN IMMEDIATE")
                saved = at_once(run_id, results)
                refused.append(saved)
                holder.execute("COMMIT")  # and lets go: the worker thread's save goes on
                return saved
            return at_once(run_id, results)

        monkeypatch.setattr(store, "save_results_at_once", lock_held_for_the_first)
        results = await sync(config, registry, store)
        holder.close()
        assert all(r.error is None for r in results)
        assert refused == [False]
        assert sorted(store.last_results()) == ["example.org", "example.test"]


def test_a_result_is_saved_at_once_on_sqlite_and_never_on_postgresql(store: StateStore) -> None:
    result = DomainResult(domain="example.test", server_id="m")
    saved = store.save_result_at_once("run1", result)
    assert saved is (store.dialect == "sqlite")
    assert sorted(store.last_results()) == (["example.test"] if saved else [])


async def test_a_plan_does_not_count_as_a_result(
    host: MemoryHost, tmp_path: Path, registry: Registry, store: StateStore
) -> None:
    config = make_config(tmp_path, registry)
    async with Engine(config, registry, store=store) as engine:
        await engine.run(domain_jobs(config), apply=False)
    assert store.last_results() == {}
    assert store.journal() == []


async def test_a_failed_sync_is_kept_as_the_domains_last_result(
    host: MemoryHost,
    tmp_path: Path,
    registry: Registry,
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(self: MemoryProvider, zone: Any, changes: Any) -> None:
        raise ProviderError("quota exceeded", provider="mem", zone=str(zone))

    monkeypatch.setattr(MemoryProvider, "apply", refuse)
    await sync(make_config(tmp_path, registry), registry, store)
    status = store.last_results()["example.org"]
    assert status.ok is False
    assert status.error == "quota exceeded (provider mem, zone example.org.)"
    assert status.propagated is False


async def test_the_engine_opens_and_closes_the_store_the_configuration_names(
    host: MemoryHost, tmp_path: Path, registry: Registry, store_backend: StoreBackend
) -> None:
    config = make_config(tmp_path, registry, store_backend)
    async with Engine(config, registry) as engine:
        await engine.run(domain_jobs(config), apply=True)
    with store_backend.open() as reopened:
        assert sorted(reopened.last_results()) == ["example.org", "example.test"]


# --- objects ---------------------------------------------------------------------------------


def test_objects_are_kept_by_kind_and_id(store: StateStore) -> None:
    store.put_object("DnsServer", "bind", {"@type": "Tsig", "host": "192.0.2.1"})
    store.put_object("DnsServer", "bind", {"@type": "Tsig", "host": "192.0.2.2"})
    store.put_object("Domain", "example.test", {"reportAddressUri": None})

    assert store.objects("DnsServer") == {"bind": {"@type": "Tsig", "host": "192.0.2.2"}}
    assert store.get_object("Domain", "example.test") == {"reportAddressUri": None}
    assert store.get_object("Domain", "example.org") is None
    assert store.delete_object("Domain", "example.test") is True
    assert store.delete_object("Domain", "example.test") is False
    assert store.objects("Domain") == {}


# --- the file --------------------------------------------------------------------------------


def test_the_store_uses_wal_and_synchronous_full(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.pragma("journal_mode") == "wal"
    assert store.pragma("synchronous") == 2  # FULL
    assert store.pragma("foreign_keys") == 1
    assert store.path is not None
    with sqlite3.connect(store.path) as plain:  # WAL is a property of the file itself
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_each_store_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    assert store.pragma("cache_size") == -PAGE_CACHE_KIB
    assert PAGE_CACHE_KIB < 2000  # SQLite's default, kept by every pooled connection
    store.close()


def test_database_files_are_0600_in_a_0700_directory(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with StateStore(state) as store:
        store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        files = [p for p in state.iterdir() if p.name.startswith(DB_FILE)]
        assert {p.name for p in files} >= {DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm"}
        for path in files:
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_an_existing_world_readable_database_file_is_made_0600(tmp_path: Path) -> None:
    path = tmp_path / DB_FILE
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    StateStore(tmp_path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_schema_is_made_on_open_and_kept_on_reopen(store_backend: StoreBackend) -> None:
    with store_backend.open() as store:
        assert store.schema_version() == SCHEMA_VERSION
        store.put_object("Bootstrap", "singleton", {"serverHostname": "mail.example.test"})
    with store_backend.open() as again:
        assert again.schema_version() == SCHEMA_VERSION
        assert again.get_object("Bootstrap", "singleton") == {"serverHostname": "mail.example.test"}


def test_a_store_of_schema_1_gains_the_skipped_column_and_keeps_its_results(
    tmp_path: Path,
) -> None:
    with StateStore(tmp_path) as store:
        store.save_result("run1", DomainResult(domain="example.test", server_id="m", applied=2))
    with sqlite3.connect(tmp_path / DB_FILE) as plain:  # as dnsauto before schema 2 left it
        plain.execute("ALTER TABLE results DROP COLUMN skipped")
        plain.execute("DROP TABLE zone_marks")
        plain.execute("DELETE FROM schema_version")
        plain.execute("INSERT INTO schema_version VALUES (1, '2026-01-01 00:00:00')")
    with StateStore(tmp_path) as again:
        assert again.schema_version() == SCHEMA_VERSION
        (kept,) = again.last_results().values()
        assert (kept.changes, kept.skipped) == (2, None)
        again.save_result("run2", DomainResult("example.test", "m", skipped="unchanged"))
        assert again.last_results()["example.test"].skipped == "unchanged"
        assert again.zone_marks(["example.test"]) == {}


def test_a_store_from_a_newer_dnsauto_is_refused(store_backend: StoreBackend) -> None:
    with store_backend.open() as store, store._engine.begin() as conn:
        newer = {"version": SCHEMA_VERSION + 1, "applied_at": datetime(2030, 1, 1, tzinfo=UTC)}
        conn.execute(schema_version.insert().values(**newer))
    with pytest.raises(DnsautoError, match="newer than this dnsauto knows"):
        store_backend.open()


def test_a_state_directory_that_cannot_be_made_is_a_dnsauto_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DnsautoError, match="cannot create the state store"):
        StateStore(blocker / "state")


def test_a_file_that_is_not_a_database_is_a_dnsauto_error(tmp_path: Path) -> None:
    (tmp_path / DB_FILE).write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(DnsautoError, match=r"state store .*dnsauto\.sqlite3"):
        StateStore(tmp_path)


# --- crash safety ----------------------------------------------------------------------------

WRITER = OPEN_FROM_ARGV + textwrap.dedent(
    """
    from dnsauto.plugin.changes import Create
    from dnsauto.testing import make_rrset

    batch = int(sys.argv[2])
    start = int(sys.argv[3])
    i = start
    while True:
        changes = [
            Create(make_rrset(f"r{i}-{j}.example.test.", "TXT", 300, f'"v{j}"'))
            for j in range(batch)
        ]
        ids = store.journal_before_apply(f"run{i}", "example.test", "example.test.", changes)
        print(i, flush=True)
        store.journal_after_apply(ids, None)
        i += 1
    """
)


def start_writer(backend: StoreBackend, batch: int, start: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, backend.argv(), str(batch), str(start)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill_after(process: subprocess.Popen[str], lines: int) -> int:
    """SIGKILL the writer once it has reported ``lines`` committed batches; the last one."""
    assert process.stdout is not None
    last = -1
    for _ in range(lines):
        last = int(process.stdout.readline())
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stdout.close()
    return last


@pytest.mark.slow
def test_a_sigkill_during_journal_writes_leaves_a_consistent_store(
    store_backend: StoreBackend,
) -> None:
    state, batch, rng = store_backend.state_dir, 7, random.Random(20260420)
    store_backend.open().close()
    next_run = 0
    for kills in range(1, 9):
        last = kill_after(start_writer(store_backend, batch, next_run), rng.randint(1, 40))
        if store_backend.name == "sqlite":
            with sqlite3.connect(state / DB_FILE) as plain:
                assert plain.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with store_backend.open() as store:
            entries = store.journal()
            sizes = Counter(e.run_id for e in entries)
            assert set(sizes.values()) == {batch}, "a batch was written in part"
            runs = sorted(int(r.removeprefix("run")) for r in sizes)
            assert runs == list(range(runs[-1] + 1)), "a committed batch went missing"
            assert runs[-1] >= last, "a batch reported as journaled is not in the store"
            assert {e.status for e in entries} <= {"applied", "pending"}
            pending_runs = {e.run_id for e in entries if e.status == "pending"}
            assert len(pending_runs) <= kills, "only a batch in flight at a kill is pending"
            assert [e.id for e in entries] == sorted(e.id for e in entries)
        next_run = runs[-1] + 1


@pytest.mark.slow
def test_two_processes_writing_at_once_both_get_every_batch_in(
    store_backend: StoreBackend,
) -> None:
    batch = 3
    store_backend.open().close()
    writers = [start_writer(store_backend, batch, start) for start in (0, 100_000)]
    last = [kill_after(w, 60) for w in writers]
    with store_backend.open() as store:
        sizes = Counter(e.run_id for e in store.journal())
    assert set(sizes.values()) == {batch}
    assert f"run{last[0]}" in sizes
    assert f"run{last[1]}" in sizes


def test_reopening_after_a_crash_finds_the_pending_entries(store_backend: StoreBackend) -> None:
    script = OPEN_FROM_ARGV + textwrap.dedent(
        """
        import os
        from dnsauto.plugin.changes import Create
        from dnsauto.testing import make_rrset

        change = Create(make_rrset("_dmarc.example.test.", "TXT", 300, '"v=DMARC1; p=none"'))
        store.journal_before_apply("crashed", "example.test", "example.test.", [change])
        os._exit(9)  # as if killed while the provider was being called
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, store_backend.argv()], cwd=ROOT, check=False
    )
    assert done.returncode == 9
    with store_backend.open() as store:
        (entry,) = store.journal(run_id="crashed")
    assert (entry.status, entry.name, entry.new) == (
        "pending",
        "_dmarc.example.test.",
        ['"v=DMARC1; p=none"'],
    )


def test_timestamps_come_back_in_utc_whatever_zone_they_were_given_in(
    store_backend: StoreBackend,
) -> None:
    eastern = datetime(2026, 4, 20, 8, 0, tzinfo=UTC) - timedelta(hours=4)
    with store_backend.open(clock=lambda: eastern.astimezone()) as store:
        store.journal_before_apply("r", "example.test", "example.test.", [Create(dmarc("x"))])
        (entry,) = store.journal()
    assert entry.time == eastern
    assert entry.time.tzinfo is UTC
    assert dns.name.from_text(entry.name) == dns.name.from_text("_dmarc.example.test.")


# --- one process, one store: SQLite's locks stay SQLite's ----------------------------------------

OPEN_AND_CLOSE = (
    "import sys; from dnsauto.state.store import StateStore; StateStore(sys.argv[1]).close()"
)


def deleted_wal_files(pid: int) -> list[str]:
    """The ``-wal`` files process ``pid`` holds open although they were deleted."""
    fd_dir = Path(f"/proc/{pid}/fd")
    targets = []
    for fd in fd_dir.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
    return [t for t in targets if t.endswith("-wal (deleted)")]


def test_a_second_open_in_a_process_leaves_the_first_stores_wal_in_place(tmp_path: Path) -> None:
    """Opening the store again in a process that holds it open (the daemon's reload did) must
    not drop the process's POSIX locks on the file: another process closing the store would
    then delete the ``-wal`` the first store goes on writing into (SQLite's "How To Corrupt
    Your Database", §2.2)."""
    state = tmp_path / "state"
    with StateStore(state) as store:
        store.put_object("Domain", "before.test", {"n": 1})
        StateStore(state).close()
        subprocess.run([sys.executable, "-c", OPEN_AND_CLOSE, str(state)], cwd=ROOT, check=True)
        assert deleted_wal_files(os.getpid()) == []
        store.put_object("Domain", "after.test", {"n": 2})
    with StateStore(state) as reopened:
        assert set(reopened.objects("Domain")) == {"before.test", "after.test"}
