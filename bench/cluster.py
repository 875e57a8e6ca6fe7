"""Several ``dnsauto run`` nodes on one state store (``[daemon.cluster]``), one BIND.

Every node keeps its state in one PostgreSQL (Debian's, started by the benchmark on loopback,
a fresh database per measurement); each has a state directory of its own.

Sync time
    1,000 empty zones on a BIND of its own (TSIG); 1, 2 and 3 nodes started together,
    3-second leases, 8 domains at once per node. The
    time runs from the first lease claimed to the last domain's successful result (both read
    from the store, so the interpreters' start-up is left out); the first sync of every
    domain, waiting for propagation at BIND.
Takeover latency
    3 nodes, 60 domains, all synced; one node is SIGKILLed, and the latency runs from the kill
    to the moment the last of its domains is claimed by another node (the claim's time in the
    store). 10 trials (3 with ``--quick``), the killed node started again between trials.
    Expected: the lease (3 s) plus at most one heartbeat (1 s). Target: max <= lease + 2
    heartbeats.

A provider's rate limit shared through the store
    3 node processes on one PostgreSQL each send requests to one fake API as fast as a limit
    of 50 requests per second (burst 50), kept in the store, lets them: 100 each (40 with
    ``--quick``), all told to go at once. The rate is the requests past the burst over the
    time from the go to the last arrival: at most the limit however many nodes share it
    (each sends no sooner than its token is due). Target: <= 50/s. The cost of a token is the
    median time of one take from the store (one transaction), 200 takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import Figure
from bench._bind import KEY_NAME, ZoneServer
from dnsauto.plugin.ratelimits import RateLimit
from dnsauto.state.ratelimits import StoreRateLimits
from dnsauto.testing.servers.postgres import PostgresServer, start_postgres
from tests.cluster_helpers import send_from_nodes
from tests.store_backends import StoreBackend

__all__ = ["TITLE", "run"]

TITLE = (
    "cluster: 1,000 domains with 1, 2, 3 nodes; takeover after SIGKILL; a provider's limit "
    "shared by 3 nodes"
)

ROOT = Path(__file__).resolve().parent.parent
LEASE = 3.0

CONFIG = """\
[bootstrap]
serverHostname = "mail.z0.bench.test"
defaultDomain = "z0.bench.test"
generateDkimKeys = false

[dnsServer.bench]
"@type" = "Tsig"
description = "The benchmark's BIND"
host = "127.0.0.1"
port = {port}
keyName = "{key_name}"
key = {{ "@type" = "File", filePath = "{secret_file}" }}
tsigAlgorithm = "hmac-sha256"
pollingInterval = "100ms"
timeout = "2s"

[mailServer]
mtaStsPolicyId = "20260101"

[daemon]
stateDir = "{state}"
triggerDelay = "10ms"
retryInitialDelay = "200ms"
maxConcurrentDomains = 8

[daemon.dns]
authoritativeServers = ["127.0.0.1:{port}"]

[daemon.cluster]
enabled = true
nodeId = "{node}"
leaseSeconds = {lease}

[daemon.store]
"@type" = "PostgreSql"
host = "127.0.0.1"
port = {pg_port}
database = "{pg_database}"
authUsername = "{pg_user}"
authSecret = {{ "@type" = "Value", secret = "{pg_password}" }}
"""

DOMAIN = (
    '[domain."{name}"]\n'
    'dnsManagement = {{ "@type" = "Automatic", dnsServerId = "bench" }}\n'
    'dkimManagement = {{ "@type" = "Manual" }}\n'
)


@dataclass(frozen=True)
class Settings:
    domains: int = 1000
    node_counts: tuple[int, ...] = (1, 2, 3)
    takeover_domains: int = 60
    trials: int = 10
    timeout: float = 900.0
    limited_requests: int = 100
    """Requests each of 3 nodes sends under the shared limit."""

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            domains=60, node_counts=(1, 2), takeover_domains=30, trials=3, limited_requests=40
        )


def run(quick: bool) -> list[Figure]:
    settings = Settings.quick() if quick else Settings()
    postgres = start_postgres()
    try:
        return measure(settings, postgres)
    finally:
        postgres.stop()


def measure(settings: Settings, postgres: PostgresServer) -> list[Figure]:
    figures = []
    for count in settings.node_counts:
        seconds = sync_seconds(settings, count, postgres)
        print(f"cluster: {settings.domains} domains, {count} node(s): {seconds:.1f}s", flush=True)
        figures.append(
            Figure(
                f"cluster.sync_{count}_nodes_s",
                round(seconds, 1),
                "s",
                f"first sync of {settings.domains} domains by {count} node(s), one BIND",
            )
        )
    figures += shared_limit_figures(settings, postgres)
    latencies = takeover_latencies(settings, postgres)
    target = LEASE + 2 * LEASE / 3
    figures += [
        Figure(
            "cluster.takeover_median_s",
            round(statistics.median(latencies), 2),
            "s",
            f"SIGKILL to the last of its domains claimed elsewhere, {len(latencies)} trials",
        ),
        Figure(
            "cluster.takeover_max_s",
            round(max(latencies), 2),
            "s",
            f"the same, worst trial (lease {LEASE:g} s)",
            f"<= {target:g}",
            max(latencies) <= target,
        ),
    ]
    return figures


SHARED_LIMIT = RateLimit(50, 1.0)


def shared_limit_figures(settings: Settings, postgres: PostgresServer) -> list[Figure]:
    with tempfile.TemporaryDirectory() as work:
        database = postgres.create_database()
        nodes = [
            StoreBackend("postgresql", Path(work) / f"n{i}", postgres, database) for i in range(3)
        ]
        sent = asyncio.run(send_from_nodes(nodes, SHARED_LIMIT, settings.limited_requests))
        with nodes[0].open() as store:
            limits = StoreRateLimits(store)
            takes = []
            for _ in range(200):
                started = time.perf_counter()
                limits.take("bench/take", RateLimit(1_000_000, 1.0))
                takes.append(time.perf_counter() - started)
    if sent.exit_codes != [0] * len(nodes):
        raise RuntimeError(f"a node sending under the shared limit failed: {sent.exit_codes}")
    past_burst = len(sent.arrivals) - SHARED_LIMIT.requests
    rate = past_burst / (max(sent.arrivals) - sent.started)
    take_ms = statistics.median(takes) * 1000
    print(f"cluster: 3 nodes under a shared {SHARED_LIMIT.requests}/s: {rate:.1f}/s", flush=True)
    return [
        Figure(
            "cluster.shared_limit_rate_per_s",
            round(rate, 1),
            "requests/s",
            f"3 nodes, {len(sent.arrivals)} requests under one limit of "
            f"{SHARED_LIMIT.requests}/s kept in the store, past its burst",
            f"<= {SHARED_LIMIT.per_second:g}",
            rate <= SHARED_LIMIT.per_second,
        ),
        Figure(
            "cluster.shared_limit_take_ms",
            round(take_ms, 2),
            "ms",
            "one token taken from the store's bucket (median of 200)",
        ),
    ]


class Nodes:
    """N ``dnsauto run`` processes on one state directory."""

    def __init__(
        self,
        server: ZoneServer,
        work: Path,
        names: Sequence[str],
        postgres: PostgresServer,
        database: str,
    ) -> None:
        self.server = server
        self.work = work
        self.postgres = postgres
        self.database = database
        self.secret = work / "tsig.secret"
        self.secret.write_text(server.key.secret + "\n")
        self.secret.chmod(0o600)
        self.names = names
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def config(self, node: str) -> Path:
        path = self.work / f"{node}.toml"
        text = CONFIG.format(
            port=self.server.port,
            key_name=KEY_NAME,
            secret_file=self.secret,
            state=self.work / f"state-{node}",
            node=node,
            lease=LEASE,
            pg_port=self.postgres.port,
            pg_database=self.database,
            pg_user=self.postgres.user,
            pg_password=self.postgres.password,
        )
        path.write_text(
            text + "\n" + "".join(DOMAIN.format(name=z.rstrip(".")) for z in self.names)
        )
        return path

    def start(self, node: str) -> None:
        log = (self.work / f"{node}.log").open("ab")
        self.processes[node] = subprocess.Popen(
            [sys.executable, "-m", "dnsauto", "run", "-c", str(self.config(node))],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
        log.close()

    def kill(self, node: str) -> None:
        process = self.processes.pop(node)
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        import psycopg

        try:
            with psycopg.connect(self.postgres.dsn(self.database)) as conn:
                return list(conn.execute(sql.replace("?", "%s"), args).fetchall())
        except psycopg.Error:  # no such table yet
            return []

    def scalar(self, sql: str, *args: object) -> object:
        rows = self.query(sql, *args)
        return rows[0][0] if rows else None


def _time(value: object) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC).timestamp()


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:g}s")
        time.sleep(0.05)


@contextlib.contextmanager
def _cluster(count: int, domains: int, postgres: PostgresServer) -> Iterator[Nodes]:
    server = ZoneServer(domains)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="dnsauto-bench-cluster-") as work_dir:
            database = postgres.create_database()
            nodes = Nodes(server, Path(work_dir), server.zones, postgres, database)
            try:
                for i in range(1, count + 1):
                    nodes.start(f"n{i}")
                yield nodes
            finally:
                nodes.stop_all()
    finally:
        server.close()


def sync_seconds(settings: Settings, count: int, postgres: PostgresServer) -> float:
    """From the first lease claimed to the last successful result, ``count`` nodes."""
    with _cluster(count, settings.domains, postgres) as nodes:
        total = settings.domains

        def done() -> bool:
            return nodes.scalar("SELECT count(*) FROM results WHERE ok") == total

        _wait(done, settings.timeout, f"{total} domains synced by {count} nodes")
        first = nodes.scalar("SELECT min(acquired_at) FROM leases WHERE token = 1")
        last = nodes.scalar("SELECT max(finished_at) FROM results")
        return _time(last) - _time(first)


def takeover_latencies(settings: Settings, postgres: PostgresServer) -> list[float]:
    """Seconds from a SIGKILL to the last of the killed node's domains claimed elsewhere."""
    latencies = []
    with _cluster(3, settings.takeover_domains, postgres) as nodes:
        total = settings.takeover_domains

        def settled() -> bool:
            held = nodes.query("SELECT owner, count(*) FROM leases GROUP BY owner")
            owners = {str(o): int(str(n)) for o, n in held if o is not None}
            synced = nodes.scalar("SELECT count(*) FROM results WHERE ok") == total
            return synced and len(owners) == 3 and sum(owners.values()) == total

        for trial in range(settings.trials):
            _wait(settled, settings.timeout, "3 nodes holding every domain")
            victim = f"n{trial % 3 + 1}"
            held = [
                str(r[0]) for r in nodes.query("SELECT domain FROM leases WHERE owner = ?", victim)
            ]
            nodes.kill(victim)
            killed = time.time()
            marks = ",".join("?" * len(held))

            _wait(functools.partial(_moved, nodes, held, victim), 60, f"{victim} taken over")
            last = nodes.scalar(
                f"SELECT max(acquired_at) FROM leases WHERE domain IN ({marks})",
                *held,
            )
            latencies.append(_time(last) - killed)
            print(f"cluster: takeover trial {trial + 1}: {latencies[-1]:.2f}s", flush=True)
            nodes.start(victim)
    return latencies


def _moved(nodes: Nodes, held: Sequence[str], victim: str) -> bool:
    """Every one of ``held`` is claimed by a node other than ``victim``."""
    marks = ",".join("?" * len(held))
    rows = nodes.query(
        f"SELECT count(*) FROM leases WHERE domain IN ({marks}) "
        "AND owner IS NOT NULL AND owner != ?",
        *held,
        victim,
    )
    return bool(rows) and rows[0][0] == len(held)
