"""A cluster node's pass (:class:`dnsauto.service.cluster.Cluster`) on a SQLite store with a
clock the test moves: the share of each node, hand-over on join, takeover on death, a clean
leave, and runs forwarded to the holder."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dnsauto.config.cluster import ClusterSettings
from dnsauto.service.cluster import Cluster, Listener
from dnsauto.state.leases import LeaseStore, preferred_node
from dnsauto.state.store import StateStore, StoreUnavailableError
from dnsauto.testing.servers.postgres import PostgresServer
from tests.cluster_helpers import Clock
from tests.store_backends import StoreBackend, commit_fails_once

DOMAINS = sorted(f"d{i}.example" for i in range(90))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[StateStore]:
    with StateStore(tmp_path / "state", clock=clock) as opened:
        yield opened


def node(store: StateStore, name: str, busy: set[str] | None = None) -> Cluster:
    settings = ClusterSettings(enabled=True, nodeId=name, leaseSeconds=3)
    busy = busy if busy is not None else set()
    return Cluster(settings, store, domains=lambda: DOMAINS, busy=lambda: busy)


def test_a_lone_node_holds_everything_and_a_joining_node_gets_its_share(
    store: StateStore, clock: Clock
) -> None:
    a = node(store, "a")
    first = a._tick()
    assert first.gained == DOMAINS
    b = node(store, "b")
    b._tick()  # b is live now, holds nothing yet: a still does
    clock.advance(1)
    handed = a._tick()
    share_b = sorted(d for d in DOMAINS if preferred_node(d, ["a", "b"]) == "b")
    assert handed.released == share_b
    assert b._tick().gained == share_b
    assert sorted(a.held() + b.held()) == DOMAINS
    assert 30 <= len(share_b) <= 60


def test_a_domain_syncing_now_is_handed_over_only_once_its_sync_is_done(
    store: StateStore, clock: Clock
) -> None:
    busy: set[str] = set()
    a = node(store, "a", busy)
    a._tick()
    b = node(store, "b")
    b._tick()
    share_b = sorted(d for d in DOMAINS if preferred_node(d, ["a", "b"]) == "b")
    busy.add(share_b[0])
    clock.advance(1)
    assert share_b[0] not in a._tick().released
    assert share_b[0] not in b._tick().gained
    busy.clear()
    clock.advance(1)
    assert a._tick().released == [share_b[0]]
    assert b._tick().gained == [share_b[0]]


def test_a_dead_node_s_domains_are_taken_over_after_its_lease_with_higher_tokens(
    store: StateStore, clock: Clock
) -> None:
    a, b = node(store, "a"), node(store, "b")
    a._tick()
    b._tick()
    clock.advance(1)
    a._tick()
    b._tick()
    held_by_b = b.leases.held()
    clock.advance(2)  # b dies: no heartbeat, no renewal
    assert a._tick().gained == []  # b still live, its leases still valid
    clock.advance(1.5)
    taken = a._tick()
    assert taken.gained == sorted(held_by_b)
    assert taken.live == ["a"]
    assert all(a.leases.held()[d] == t + 1 for d, t in held_by_b.items())


def test_a_node_that_leaves_cleanly_hands_everything_over_at_once(
    store: StateStore, clock: Clock
) -> None:
    a, b = node(store, "a"), node(store, "b")
    a._tick()
    b._tick()
    clock.advance(1)
    a._tick()
    b._tick()
    assert b.held()
    b._leave()
    clock.advance(0.1)
    assert a._tick().gained  # no lease to wait for
    assert a.held() == DOMAINS


def test_a_run_forwarded_by_another_node_reaches_every_other_node(store: StateStore) -> None:
    a, b = node(store, "a"), node(store, "b")
    a.forward(["d1.example"], "api", reload=True)
    forwarded = b._tick().forwarded
    assert [(t.domain, t.reason, t.reload, t.origin) for t in forwarded] == [
        ("d1.example", "api", True, "a")
    ]
    assert a._tick().forwarded == []


async def test_on_postgresql_a_forwarded_run_wakes_the_listening_node_at_once(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    backend = StoreBackend(
        "postgresql", tmp_path / "state", postgres_server, postgres_server.create_database()
    )
    with backend.open() as asking_store, backend.open() as owner_store:
        woken = asyncio.Event()
        listener = Listener(owner_store, asyncio.get_running_loop(), woken.set, retry=0.5)
        listener.start()
        try:
            await asyncio.to_thread(listener.listening.wait, 30)
            asker = node(asking_store, "a")
            owner = node(owner_store, "b")
            await asyncio.to_thread(asker.forward, ["d1.example"], "api", reload=False)
            await asyncio.wait_for(woken.wait(), 30)
            forwarded = await owner.take_forwarded()
            assert [(t.domain, t.origin) for t in forwarded] == [("d1.example", "a")]
        finally:
            listener.stop()
            await asyncio.to_thread(listener.join, 5)


def test_status_lists_the_nodes_with_their_heartbeat_and_domains_held(
    store: StateStore, clock: Clock, tmp_path: Path
) -> None:
    from dnsauto.cli.service import status_document

    a, b = node(store, "a"), node(store, "b")
    a._tick()
    b._tick()
    b._leave()
    rows = {n.node_id: n for n in a.leases.nodes()}
    assert rows["a"].domains_held == len(DOMAINS)
    document = status_document(str(tmp_path / "state"), DOMAINS)
    nodes = {n["id"]: n for n in document["nodes"]}
    assert nodes["a"]["domainsHeld"] == len(DOMAINS)
    assert nodes["b"]["stopped"]
    assert not nodes["b"]["live"]
    assert nodes["a"]["host"]
    assert nodes["a"]["lastHeartbeat"].startswith("2026-12-02T12:00:00")


async def test_a_node_whose_store_is_out_of_reach_as_it_joins_joins_at_its_first_pass(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = node(store, "a")
    heartbeat = LeaseStore.heartbeat

    def restarting(self: LeaseStore, *args: Any, **kwargs: Any) -> None:
        monkeypatch.setattr(LeaseStore, "heartbeat", heartbeat)  # back after one failure
        raise StoreUnavailableError("state store: server closed the connection unexpectedly")

    monkeypatch.setattr(LeaseStore, "heartbeat", restarting)
    await a.join()  # told, not raised: the node goes on starting
    assert [n.node_id for n in a.leases.nodes()] == []

    first = await a.tick()

    assert [n.node_id for n in a.leases.nodes()] == ["a"]
    assert first.gained == DOMAINS


def test_domains_claimed_in_a_pass_whose_commit_failed_are_gained_by_the_next_pass(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = node(store, "a")
    a._tick()  # joined, and its first claims made
    a.leases.release_all()
    commit_fails_once(store, monkeypatch)  # the claims' commit, cut off by a restart
    with pytest.raises(StoreUnavailableError):
        a._tick()
    assert a._tick().gained == DOMAINS  # so each is synced under its claim


def queue_read_fails_once(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next read of the forwarded runs fails, as at a PostgreSQL restart: a step of the
    pass after its claims' commit."""
    take_new = cluster.triggers.take_new

    def cut_off() -> Any:
        monkeypatch.setattr(cluster.triggers, "take_new", take_new)
        raise StoreUnavailableError("the store went away")

    monkeypatch.setattr(cluster.triggers, "take_new", cut_off)


def test_domains_claimed_in_a_pass_that_failed_after_its_claims_committed_are_gained_next(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a PostgreSQL restart just after the claims' commit: a later step of the same pass fails,
    # so the daemon never learns of the claims; the next pass must still hand them over
    a = node(store, "a")
    queue_read_fails_once(a, monkeypatch)
    with pytest.raises(StoreUnavailableError):
        a._tick()
    assert sorted(a.leases.held()) == DOMAINS  # claimed and committed
    assert a._tick().gained == DOMAINS  # so each is synced under its claim


def test_domains_given_up_in_a_pass_that_failed_are_reported_at_the_next(
    store: StateStore, monkeypatch: pytest.MonkeyPatch, clock: Clock
) -> None:
    a = node(store, "a")
    a._tick()
    node(store, "b")._tick()
    clock.advance(1)
    queue_read_fails_once(a, monkeypatch)
    with pytest.raises(StoreUnavailableError):
        a._tick()  # hands b's share over, then fails
    given_up = set(DOMAINS) - set(a.leases.held())
    assert given_up
    after = a._tick()
    assert given_up <= set(after.released) | set(after.lost)
