"""Leases on the state store (SQLite here, a clock the tests move): claims, fencing tokens that
only grow, expiry and takeover, the fence checked in the journal's transaction, and the even
spread of domains over live nodes by rendezvous hashing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Change, Create
from dnsauto.plugin.context import ProviderContext
from dnsauto.plugin.provider import Zone
from dnsauto.plugin.registry import Registry
from dnsauto.state.leases import (
    LeaseLostError,
    LeaseStore,
    TriggerQueue,
    preferred_node,
    spread,
)
from dnsauto.state.store import DB_FILE, SCHEMA_VERSION, StateStore, StoreUnavailableError
from dnsauto.sync.apply import apply_changes
from dnsauto.sync.engine import DomainJob, DomainResult, Engine, domain_jobs
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider
from tests.cluster_helpers import Clock
from tests.store_backends import StoreBackend, commit_fails_once


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def stores(store_backend: StoreBackend, clock: Clock) -> Iterator[tuple[StateStore, StateStore]]:
    """Two connections to one store (SQLite, then PostgreSQL), as two nodes would have."""
    with store_backend.open(clock) as a, store_backend.open(clock) as b:
        yield a, b


def nodes(
    stores: tuple[StateStore, StateStore], lease: float = 30
) -> tuple[LeaseStore, LeaseStore]:
    a, b = stores
    return LeaseStore(a, "node-a", lease_seconds=lease), LeaseStore(
        b, "node-b", lease_seconds=lease
    )


# --- claims, tokens, expiry -------------------------------------------------------------------


def test_a_free_domain_is_claimed_with_token_1_and_no_other_node_gets_it(
    stores: tuple[StateStore, StateStore],
) -> None:
    a, b = nodes(stores)
    assert a.acquire(["example.org"]) == {"example.org": 1}
    assert b.acquire(["example.org"]) == {}
    owner, token, _ = a.leases()["example.org"]
    assert (owner, token) == ("node-a", 1)


def test_renewing_keeps_the_token_and_pushes_the_expiry(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, b = nodes(stores)
    a.acquire(["example.org"])
    clock.advance(20)
    assert a.acquire(["example.org"]) == {"example.org": 1}
    clock.advance(20)  # 40 s after the claim, 20 after the renewal: still held
    assert b.acquire(["example.org"]) == {}
    assert a.leases()["example.org"][2] == clock.now + timedelta(seconds=10)


def test_an_expired_lease_is_taken_over_with_a_higher_token_and_the_old_holder_is_fenced(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, b = nodes(stores)
    a.acquire(["example.org"])
    clock.advance(31)
    assert b.acquire(["example.org"]) == {"example.org": 2}
    with stores[0].write_transaction() as conn, pytest.raises(LeaseLostError, match="lost"):
        a.guard(conn, "example.org", 5)
    assert a.held() == {}  # it no longer believes it holds it
    assert a.acquire(["example.org"]) == {}  # and cannot take it back while b holds it
    clock.advance(31)
    assert a.acquire(["example.org"]) == {"example.org": 3}  # tokens only grow


def test_a_lease_that_ran_out_but_was_not_taken_is_renewed_with_the_same_token(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, _ = nodes(stores)
    a.acquire(["example.org"])
    clock.advance(60)  # a slow node: nobody claimed it meanwhile
    assert a.confirm("example.org", 5) == ("node-a", 1)
    assert a.acquire(["example.org"]) == {"example.org": 1}


def test_a_released_lease_is_claimed_at_once_with_the_next_token(
    stores: tuple[StateStore, StateStore],
) -> None:
    a, b = nodes(stores)
    a.acquire(["example.org", "example.net"])
    a.release(["example.org"])
    assert a.held() == {"example.net": 1}
    assert b.acquire(["example.org", "example.net"]) == {"example.org": 2}


def test_claims_whose_transaction_failed_are_not_held(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes(stores)
    commit_fails_once(stores[0], monkeypatch)
    with pytest.raises(StoreUnavailableError):
        a.acquire(["example.org", "example.net"])
    assert a.held() == {}
    assert b.acquire(["example.org"]) == {"example.org": 1}


def test_a_takeover_whose_transaction_failed_keeps_the_old_token_and_holds_nothing(
    stores: tuple[StateStore, StateStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = nodes(stores)
    a.acquire(["example.org", "example.net"])
    a.release(["example.org", "example.net"])
    commit_fails_once(stores[1], monkeypatch)
    with pytest.raises(StoreUnavailableError):
        b.acquire(["example.org", "example.net"])
    assert b.held() == {}
    assert b.acquire(["example.org", "example.net"]) == {"example.org": 2, "example.net": 2}


def test_a_restarted_node_with_the_same_id_claims_its_old_leases_with_a_new_token(
    stores: tuple[StateStore, StateStore],
) -> None:
    a, _ = nodes(stores)
    a.acquire(["example.org"])
    again = LeaseStore(stores[1], "node-a", lease_seconds=30)
    assert again.acquire(["example.org"]) == {"example.org": 2}
    with stores[0].write_transaction() as conn, pytest.raises(LeaseLostError):
        a.guard(conn, "example.org", 5)  # the earlier run of node-a is fenced too


def test_the_guard_renews_a_lease_that_would_end_before_the_provider_call(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, b = nodes(stores, lease=10)
    a.acquire(["example.org"])
    clock.advance(8)  # 2 s left; the call may take 30
    assert a.confirm("example.org", 30) == ("node-a", 1)
    assert a.leases()["example.org"][2] == clock.now + timedelta(seconds=30)
    clock.advance(29)
    assert b.acquire(["example.org"]) == {}  # not taken while the call may still run


# --- heartbeats ---------------------------------------------------------------------------------


def test_a_node_is_live_while_its_heartbeat_is_younger_than_the_lease(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, b = nodes(stores)
    a.heartbeat("host-a", 100)
    b.heartbeat("host-b", 200)
    assert a.live_nodes() == ["node-a", "node-b"]
    clock.advance(20)
    a.heartbeat("host-a", 100)
    clock.advance(15)
    assert b.live_nodes() == ["node-a"]
    a.heartbeat("host-a", 100, stopped=True)
    assert b.live_nodes() == []
    rows = {n.node_id: n for n in b.nodes()}
    assert rows["node-b"].host == "host-b"
    assert rows["node-a"].stopped


# --- the fence in the journal's transaction ---------------------------------------------------


def config_for(tmp_path: Path, registry: Registry, domains: list[str]) -> Config:
    managed = {"@type": "Automatic", "dnsServerId": "mem"}
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory", "timeout": "5s"}},
        "domain": {d: {"dnsManagement": managed} for d in domains},
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


def job_for(tmp_path: Path, registry: Registry) -> DomainJob:
    jobs = domain_jobs(config_for(tmp_path, registry, ["example.org"]))
    return next(j for j in jobs if j.domain == "example.org")


def creates(count: int) -> list[Change]:
    return [Create(make_rrset(f"r{i}.example.org.", "TXT", 300, f'"v{i}"')) for i in range(count)]


async def test_a_batch_after_the_lease_was_taken_is_never_sent(
    stores: tuple[StateStore, StateStore],
    clock: Clock,
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = MemoryHost()
    host.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    a, b = nodes(stores)
    a.acquire(["example.org"])
    original = MemoryProvider.apply

    async def paused_after_first_batch(self: MemoryProvider, zone: Zone, batch: Any) -> None:
        await original(self, zone, batch)
        if len(host.apply_calls) == 1:  # node a "pauses" past its lease; b takes over
            clock.advance(60)
            assert b.acquire(["example.org"]) == {"example.org": 2}

    monkeypatch.setattr(MemoryProvider, "apply", paused_after_first_batch)
    job = job_for(tmp_path, registry)
    provider = MemoryProvider(job.server, ProviderContext(server_id="mem"))  # type: ignore[arg-type]
    result = DomainResult(job.domain, job.server_id)
    with pytest.raises(LeaseLostError):
        await apply_changes(
            stores[0],
            "run1",
            provider,
            job,
            Zone(name=_name("example.org.")),
            creates(120),
            result,
            fence=a,
        )
    assert len(host.apply_calls) == 1
    assert result.applied == 50
    entries = stores[1].journal(domain="example.org")
    assert len(entries) == 50
    assert {(e.node_id, e.fence_token, e.status) for e in entries} == {("node-a", 1, "applied")}
    assert len(result.not_applied) == 70


async def test_every_journal_row_names_the_node_and_its_token(
    stores: tuple[StateStore, StateStore],
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = MemoryHost()
    host.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    a, _ = nodes(stores)
    a.acquire(["example.org"])
    job = job_for(tmp_path, registry)
    provider = MemoryProvider(job.server, ProviderContext(server_id="mem"))  # type: ignore[arg-type]
    result = DomainResult(job.domain, job.server_id)
    await apply_changes(
        stores[0],
        "run1",
        provider,
        job,
        Zone(name=_name("example.org.")),
        creates(70),
        result,
        fence=a,
    )
    assert result.applied == 70
    assert {(e.node_id, e.fence_token) for e in stores[0].journal()} == {("node-a", 1)}


async def test_without_a_fence_nothing_changes(
    stores: tuple[StateStore, StateStore],
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = MemoryHost()
    host.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    job = job_for(tmp_path, registry)
    provider = MemoryProvider(job.server, ProviderContext(server_id="mem"))  # type: ignore[arg-type]
    result = DomainResult(job.domain, job.server_id)
    await apply_changes(
        stores[0], "run1", provider, job, Zone(name=_name("example.org.")), creates(3), result
    )
    assert {(e.node_id, e.fence_token) for e in stores[0].journal()} == {(None, None)}


# --- the fence in the result's transaction ----------------------------------------------------


def test_a_result_is_saved_only_while_its_node_holds_the_lease(
    stores: tuple[StateStore, StateStore], clock: Clock
) -> None:
    a, b = nodes(stores)
    a.acquire(["example.org"])
    stores[0].save_result("run-a1", DomainResult("example.org", "mem", applied=2), guard=a.guard)
    clock.advance(31)
    assert b.acquire(["example.org"]) == {"example.org": 2}
    stores[1].save_result("run-b", DomainResult("example.org", "mem"), guard=b.guard)
    with pytest.raises(LeaseLostError, match="lost"):
        stores[0].save_result("run-a2", DomainResult("example.org", "mem"), guard=a.guard)
    assert stores[1].last_results()["example.org"].run_id == "run-b"
    assert a.held() == {}


async def test_a_sync_that_ends_after_another_node_took_the_lease_leaves_that_node_s_result(
    stores: tuple[StateStore, StateStore],
    clock: Clock,
    tmp_path: Path,
    registry: Registry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = MemoryHost()
    host.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", host)
    a, b = nodes(stores)
    a.acquire(["example.org"])
    original = MemoryProvider.apply

    async def paused_in_the_last_batch(self: MemoryProvider, zone: Zone, batch: Any) -> None:
        await original(self, zone, batch)  # node a "pauses" past its lease; b takes over
        clock.advance(60)
        assert b.acquire(["example.org"]) == {"example.org": 2}
        stores[1].save_result("run-b", DomainResult("example.org", "mem"), guard=b.guard)

    monkeypatch.setattr(MemoryProvider, "apply", paused_in_the_last_batch)
    config = config_for(tmp_path, registry, ["example.org"])
    jobs = domain_jobs(config, ["example.org"])
    async with Engine(config, registry, store=stores[0], fence=a, run_id="run-a") as engine:
        (result,) = await engine.run(jobs, apply=True)
    assert result.applied > 0
    assert stores[1].last_results()["example.org"].run_id == "run-b"


def _name(text: str) -> Any:
    import dns.name

    return dns.name.from_text(text)


# --- the spread ---------------------------------------------------------------------------------


def test_domains_spread_evenly_over_the_live_nodes() -> None:
    domains = [f"d{i}.example" for i in range(3000)]
    shares = spread(domains, ["n1", "n2", "n3"])
    assert sum(len(s) for s in shares.values()) == 3000
    for share in shares.values():
        assert 850 <= len(share) <= 1150, {k: len(v) for k, v in shares.items()}


def test_only_the_joining_node_s_share_moves_on_a_join_and_only_the_leaver_s_on_a_leave() -> None:
    domains = [f"d{i}.example" for i in range(2000)]
    before = {d: preferred_node(d, ["n1", "n2", "n3"]) for d in domains}
    joined = {d: preferred_node(d, ["n1", "n2", "n3", "n4"]) for d in domains}
    moved = [d for d in domains if before[d] != joined[d]]
    assert all(joined[d] == "n4" for d in moved)
    assert 350 <= len(moved) <= 650  # about a quarter
    left = {d: preferred_node(d, ["n1", "n3"]) for d in domains}
    assert all(before[d] == "n2" for d in domains if before[d] != left[d])
    assert preferred_node("x", []) is None


# --- forwarded runs -------------------------------------------------------------------------------


def test_a_forwarded_run_is_read_once_by_the_other_nodes(
    stores: tuple[StateStore, StateStore],
) -> None:
    asking = TriggerQueue(stores[0], "node-a")
    owner = TriggerQueue(stores[1], "node-b")
    asking.forward(["example.org", "example.net"], "api", reload=True)
    got = owner.take_new()
    assert [(t.domain, t.reason, t.reload, t.origin) for t in got] == [
        ("example.org", "api", True, "node-a"),
        ("example.net", "api", True, "node-a"),
    ]
    assert owner.take_new() == []
    assert asking.take_new() == []  # its own are not its to run


# --- the schema -----------------------------------------------------------------------------------


def test_a_version_1_store_gains_the_journal_s_node_and_token_columns(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with StateStore(state):
        pass
    with sqlite3.connect(state / DB_FILE) as conn:  # as dnsauto 1 left it
        conn.execute("ALTER TABLE journal DROP COLUMN node_id")
        conn.execute("ALTER TABLE journal DROP COLUMN fence_token")
        conn.execute("DELETE FROM schema_version WHERE version > 1")
        for table in ("cluster_nodes", "leases", "cluster_triggers"):
            conn.execute(f"DROP TABLE {table}")
    with StateStore(state) as store:
        assert store.schema_version() == SCHEMA_VERSION
        store.journal_before_apply("r", "example.org", "example.org.", creates(1))
        assert store.journal()[0].node_id is None
