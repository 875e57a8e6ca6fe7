"""Three ``dnsauto run`` nodes share 200 domains on a real BIND (TSIG) through one state store
on PostgreSQL (started by the test), with 3-second leases: each domain is synced by one node,
a SIGKILLed node's domains are taken over once its leases expire, a node paused past its leases
(SIGSTOP) writes nothing after it resumes, and a PostgreSQL restart during the syncs loses
nothing and applies nothing twice. Two nodes on one SQLite store hand domains over on a join
and a clean stop. Every wait is on an event (journal rows, leases, results), never a sleep."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dnsauto.plugin.registry import load_registry
from dnsauto.service.daemon import load_checked
from dnsauto.sync.engine import Engine, domain_jobs
from dnsauto.testing.servers import RunningServer, ServerUnavailable
from dnsauto.testing.servers.postgres import PostgresServer
from tests.cluster_helpers import LEASE_SECONDS, Cluster, fencing_problems, running
from tests.daemon_helpers import poll, start_bind_zones

pytestmark = [pytest.mark.servers, pytest.mark.slow]

DOMAINS = [f"c{i}.test" for i in range(200)]
ZONES = [f"{d}." for d in DOMAINS]
INTERVAL = LEASE_SECONDS / 3


@pytest.fixture
def bind() -> Iterator[RunningServer]:
    try:
        server = start_bind_zones(ZONES)
    except ServerUnavailable as exc:
        pytest.skip(f"{exc}: install the Debian package bind9")
    try:
        yield server
    finally:
        server.stop()


def converged(cluster: Cluster, config: Path) -> list[str]:
    """The domains whose plan, made now from what BIND serves, still has changes."""
    registry = load_registry()
    loaded = load_checked(config, registry)

    async def plan() -> list[str]:
        with loaded.daemon.open_store() as store:
            async with Engine(loaded, registry, store=store) as engine:
                results = await engine.run(domain_jobs(loaded), apply=False)
        return sorted(
            r.domain for r in results if r.error is not None or (r.plan and r.plan.changes)
        )

    return asyncio.run(plan())


def _parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp).replace(tzinfo=UTC)


def test_a_killed_node_s_domains_are_taken_over_and_every_domain_converges_once(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cluster = Cluster(bind, tmp_path, DOMAINS, postgres=private_postgres_server)
    with running(cluster):
        started = datetime.now(UTC)
        cluster.start_all()
        poll(lambda: len(cluster.owners()) == len(DOMAINS), 300, "every domain leased")
        # a node in the middle of its sync: some of its batches are journaled, not all
        poll(lambda: cluster.busy_node() is not None, 120, "a node syncing")
        name = cluster.busy_node()
        assert name is not None
        snapshot = cluster.owners()  # one read: who holds what, with which token
        victim = sorted(d for d, (owner, _, _) in snapshot.items() if owner == name)
        tokens = {d: snapshot[d][1] for d in victim}
        cluster.nodes[name].signal(signal.SIGKILL)
        cluster.nodes[name].wait()
        # its leases as it left them: nobody may claim them before they run out
        expiries = cluster.expiries(victim)
        others = set(cluster.nodes) - {name}
        poll(
            lambda: all(cluster.owners()[d][0] in others for d in victim),
            120,
            "the killed node's domains taken over",
        )
        poll(lambda: cluster.ok_since(started) == len(DOMAINS), 180, "every domain synced")
        owners = cluster.owners()
        # taken over with a higher token once the lease ran out, by the next pass of a live
        # node (one interval; two more for that pass itself on a loaded machine). Store
        # times: the claim's acquired_at against the expiry the killed node left.
        late = []
        for domain in victim:
            _, token, acquired = owners[domain]
            assert token > tokens[domain]
            if expiries[domain] > _parse(acquired):
                late.append(f"{domain} claimed before its lease ran out")
            if _parse(acquired) > expiries[domain] + timedelta(seconds=3 * INTERVAL):
                late.append(f"{domain} claimed {_parse(acquired) - expiries[domain]} after expiry")
        assert late == []
        problems = fencing_problems(cluster.journal())
        assert problems == []
        assert name in {row[6] for row in cluster.journal()}
    survivor = sorted(others)[0]
    assert converged(cluster, cluster.nodes[survivor].config) == []


def test_a_node_paused_past_its_leases_writes_nothing_after_it_resumes(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cluster = Cluster(bind, tmp_path, DOMAINS, postgres=private_postgres_server)
    with running(cluster):
        started = datetime.now(UTC)
        cluster.start_all()
        poll(lambda: len(cluster.owners()) == len(DOMAINS), 300, "every domain leased")
        poll(lambda: cluster.busy_node() is not None, 120, "a node syncing")
        name = cluster.busy_node()
        assert name is not None
        node = cluster.nodes[name]
        others = set(cluster.nodes) - {name}
        snapshot = cluster.owners()
        paused = sorted(d for d, (owner, _, _) in snapshot.items() if owner == name)
        tokens = {d: snapshot[d][1] for d in paused}
        node.signal(signal.SIGSTOP)
        try:
            poll(
                lambda: all(cluster.owners()[d][0] in others for d in paused),
                120,
                "the paused node's domains taken over",
            )
            under_lost = cluster.rows_under(name, tokens)
        finally:
            node.signal(signal.SIGCONT)
        node.wait_log("lost", 60)  # it found out
        poll(lambda: cluster.ok_since(started) == len(DOMAINS), 180, "every domain synced")
        # it resumed believing it held them: not one more row under the tokens it lost
        assert cluster.rows_under(name, tokens) == under_lost
        assert fencing_problems(cluster.journal()) == []
    assert converged(cluster, cluster.nodes[sorted(others)[0]].config) == []


def test_a_node_that_joins_gets_its_share_and_a_node_that_stops_hands_its_domains_over(
    bind: RunningServer, tmp_path: Path
) -> None:
    cluster = Cluster(bind, tmp_path, DOMAINS[:60])
    with running(cluster):
        cluster.start("n1")
        poll(lambda: len(cluster.held_by("n1")) == 60, 120, "n1 holds everything")
        cluster.start("n2")
        poll(lambda: 15 <= len(cluster.held_by("n2")) <= 45, 120, "n2 gets its share")
        poll(lambda: len(cluster.held_by("n1")) + len(cluster.held_by("n2")) == 60, 60, "all")
        cluster.nodes["n2"].signal(signal.SIGTERM)
        assert cluster.nodes["n2"].wait(60) == 0
        poll(lambda: len(cluster.held_by("n1")) == 60, 60, "n1 holds everything again")
        assert fencing_problems(cluster.journal()) == []


def every_node_lives(cluster: Cluster) -> None:
    for process in cluster.nodes.values():
        assert process.process is not None
        assert process.process.poll() is None, process.log()[-2000:]


def test_a_postgresql_restart_as_the_nodes_start_stops_none_of_them(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cluster = Cluster(bind, tmp_path, DOMAINS, postgres=private_postgres_server)
    with running(cluster):
        started = datetime.now(UTC)
        cluster.start_all()
        poll(lambda: len(cluster.query("SELECT node_id FROM cluster_nodes")) == 3, 300, "nodes")
        private_postgres_server.restart()  # while they join and make their first claims
        poll(lambda: cluster.ok_since(started) == len(DOMAINS), 240, "every domain synced")
        every_node_lives(cluster)


def test_a_postgresql_restart_during_the_syncs_loses_nothing_and_applies_nothing_twice(
    bind: RunningServer, private_postgres_server: PostgresServer, tmp_path: Path
) -> None:
    cluster = Cluster(bind, tmp_path, DOMAINS, postgres=private_postgres_server)
    with running(cluster):
        started = datetime.now(UTC)
        cluster.start_all()
        # every node up (one that cannot reach its store at start would wait) and syncing
        poll(lambda: len(cluster.query("SELECT node_id FROM cluster_nodes")) == 3, 300, "nodes")
        poll(lambda: len(cluster.journal()) >= 30, 120, "the nodes syncing")
        private_postgres_server.restart()
        poll(lambda: cluster.ok_since(started) == len(DOMAINS), 240, "every domain synced")
        every_node_lives(cluster)
        assert fencing_problems(cluster.journal()) == []
        assert any(
            "cannot renew the leases" in p.log() or "state store" in p.log()
            for p in cluster.nodes.values()
        )
    assert converged(cluster, cluster.nodes["n1"].config) == []
