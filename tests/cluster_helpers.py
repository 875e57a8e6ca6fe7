"""What the cluster tests and the cluster benchmark share: N ``dnsauto run`` nodes on one
state store, a BIND with many zones over TSIG, and reads of the leases and the journal."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import web

from dnsauto.plugin.ratelimits import RateLimit
from dnsauto.state.store import DB_FILE
from dnsauto.testing.fake_http import FakeApi
from dnsauto.testing.servers import RunningServer
from dnsauto.testing.servers.postgres import PostgresServer
from tests.daemon_helpers import ROOT, DaemonProcess, config_text, domain_table
from tests.store_backends import OPEN_FROM_ARGV, StoreBackend

LEASE_SECONDS = 3.0


class Clock:
    """A clock a test moves (the store's and the leases' time)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


PUBLISH = '["spf", "mx", "dmarc", "tlsRpt", "mtaSts"]'


def _toml(value: object) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def store_table(postgres: PostgresServer) -> str:
    """``[daemon.store]`` of ``postgres``."""
    fields = postgres.store_config()
    return "\n[daemon.store]\n" + "".join(f'"{k}" = {_toml(v)}\n' for k, v in fields.items())


def cluster_config(
    server: RunningServer,
    directory: Path,
    state: Path,
    domains: Sequence[str],
    node_id: str,
    *,
    lease_seconds: float = LEASE_SECONDS,
    concurrency: int = 8,
    postgres: PostgresServer | None = None,
) -> Path:
    """A node's configuration: ``domains`` through ``server`` (their DKIM keys by hand, so
    that a sync makes no keys: tests/test_cluster_dkim.py has the keys on a cluster), the
    store on ``postgres`` when given."""
    secret = directory / "tsig.key"
    secret.write_text(server.key().secret)
    config = directory / f"{node_id}.toml"
    text = config_text(
        server,
        state,
        domains[:1],
        secret_file=secret,
        daemon=f"maxConcurrentDomains = {concurrency}\n",
    )
    text = text.replace(domain_table(domains[0], "bind"), "")
    tables = "".join(
        f'[domain."{d}"]\n'
        f'dnsManagement = {{ "@type" = "Automatic", dnsServerId = "bind", '
        f"publishRecords = {PUBLISH} }}\n"
        'dkimManagement = { "@type" = "Manual" }\n'
        for d in domains
    )
    text = text.replace("\n[mailServer]", "\n" + tables + "\n[mailServer]", 1)
    if postgres is not None:
        text += store_table(postgres)
    # a provider call shorter than the lease: a batch never needs the lease extended past it
    text = text.replace("[dnsServer.bind]\n", '[dnsServer.bind]\ntimeout = "2s"\n', 1)
    text += (
        "\n[daemon.cluster]\nenabled = true\n"
        f'nodeId = "{node_id}"\nleaseSeconds = {lease_seconds}\n'
    )
    config.write_text(text)
    return config


@dataclass
class Cluster:
    """``count`` nodes ``n1``... on one state directory (one SQLite store)."""

    server: RunningServer
    directory: Path
    domains: Sequence[str]
    count: int = 3
    lease_seconds: float = LEASE_SECONDS
    postgres: PostgresServer | None = None
    nodes: dict[str, DaemonProcess] = field(default_factory=dict)

    @property
    def state(self) -> Path:
        """The SQLite store's directory (every node's, without ``postgres``)."""
        return self.directory / "state"

    def state_of(self, node_id: str) -> Path:
        return self.state if self.postgres is None else self.directory / f"state-{node_id}"

    def start(self, node_id: str) -> DaemonProcess:
        config = cluster_config(
            self.server,
            self.directory,
            self.state_of(node_id),
            self.domains,
            node_id,
            lease_seconds=self.lease_seconds,
            postgres=self.postgres,
        )
        process = DaemonProcess(config, self.server.key().secret).start()
        self.nodes[node_id] = process
        return process

    def start_all(self) -> None:
        for i in range(1, self.count + 1):
            self.start(f"n{i}")

    def stop_all(self) -> None:
        for process in self.nodes.values():
            with contextlib.suppress(Exception):
                process.stop()

    # --- reading the store --------------------------------------------------------------------

    def query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        if self.postgres is not None:
            return self._pg_query(sql, *args)
        path = self.state / DB_FILE
        if not path.exists():
            return []
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as db:
            try:
                return db.execute(sql, args).fetchall()
            except sqlite3.OperationalError:  # no such table yet
                return []

    def _pg_query(self, sql: str, *args: object) -> list[tuple[object, ...]]:
        import psycopg

        assert self.postgres is not None
        try:
            with psycopg.connect(self.postgres.dsn()) as conn:
                return list(conn.execute(sql.replace("?", "%s"), args).fetchall())  # type: ignore[arg-type]
        except psycopg.errors.UndefinedTable:
            return []
        except psycopg.OperationalError:  # restarting
            return []

    def owners(self) -> dict[str, tuple[str | None, int, str]]:
        """domain -> (owner, token, acquired_at)."""
        rows = self.query("SELECT domain, owner, token, acquired_at FROM leases")
        return {
            str(d): (o if o is None else str(o), int(t), _stamp(a))  # type: ignore[call-overload]
            for d, o, t, a in rows
        }

    def expiries(self, domains: Sequence[str]) -> dict[str, datetime]:
        """When the leases of ``domains`` run out, as the store has it now."""
        rows = self.query("SELECT domain, expires_at FROM leases")
        wanted = set(domains)
        return {str(d): _time(e) for d, e in rows if d in wanted}

    def held_by(self, node: str) -> list[str]:
        return sorted(d for d, (owner, _, _) in self.owners().items() if owner == node)

    def ok_since(self, since: datetime) -> int:
        rows = self.query("SELECT finished_at FROM results WHERE ok")
        return sum(1 for (finished,) in rows if _time(finished) >= since)

    def journal(self) -> list[tuple[int, str, str, str, str, str, str | None, int | None]]:
        """(id, domain, name, type, new, status, node, token), in journal order."""
        return self.query(  # type: ignore[return-value]
            "SELECT id, domain, name, type, new, status, node_id, fence_token FROM journal "
            "ORDER BY id"
        )

    def journaled_by(self, node: str) -> int:
        rows = self.query("SELECT count(*) FROM journal WHERE node_id = ?", node)
        return int(rows[0][0]) if rows else 0  # type: ignore[call-overload]

    def busy_node(self) -> str | None:
        """A node in the middle of its sync: it journaled some batches, and some of the
        domains it holds have no result yet (the one with most of those)."""
        synced = {str(r[0]) for r in self.query("SELECT domain FROM results WHERE ok")}
        best: tuple[int, str] | None = None
        for node in self.nodes:
            if self.journaled_by(node) < 3:
                continue
            pending = len([d for d in self.held_by(node) if d not in synced])
            if pending >= 5 and (best is None or pending > best[0]):
                best = (pending, node)
        return None if best is None else best[1]

    def rows_under(self, node: str, tokens: dict[str, int]) -> int:
        """How many journal rows ``node`` wrote under the given tokens of their domains."""
        return sum(1 for row in self.journal() if row[6] == node and tokens.get(row[1]) == row[7])


def _stamp(value: object) -> str:
    """A store time as ISO text in UTC, without the offset (SQLite's text, PostgreSQL's
    timestamptz)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return str(value)


def _time(value: object) -> datetime:
    return datetime.fromisoformat(_stamp(value)).replace(tzinfo=UTC)


def fencing_problems(
    journal: Sequence[tuple[int, str, str, str, str, str, str | None, int | None]],
) -> list[str]:
    """What breaks the journal's promises on a cluster: every row names its node and token;
    per domain, tokens never go down in journal order (no write under a lost lease); one
    token is one node's; no change is applied twice."""
    problems = []
    last: dict[str, int] = {}
    token_node: dict[tuple[str, int], str] = {}
    applied: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for entry_id, domain, name, rdtype, new, status, node, token in journal:
        if node is None or token is None:
            problems.append(f"row {entry_id} ({domain}) names no node or token")
            continue
        if token < last.get(domain, 0):
            problems.append(
                f"row {entry_id} ({domain}) by {node} has token {token} after {last[domain]}"
            )
        last[domain] = max(token, last.get(domain, 0))
        if token_node.setdefault((domain, token), node) != node:
            problems.append(f"token {token} of {domain} used by two nodes")
        if status == "applied":
            values = new if isinstance(new, str) else json.dumps(new)  # PostgreSQL: a list
            applied[(domain, name, rdtype, values)] += 1
    problems += [f"{key} applied {n} times" for key, n in applied.items() if n > 1]
    return problems


SEND_UNDER_SHARED_LIMIT = OPEN_FROM_ARGV + (
    "import asyncio\n"
    "from dnsauto.plugin.http import HttpClient\n"
    "from dnsauto.plugin.ratelimits import RateLimit\n"
    "from dnsauto.state.ratelimits import StoreRateLimits\n"
    "async def main():\n"
    "    client = HttpClient(\n"
    "        base_url=sys.argv[2], provider='Fake', server_id='fake', timeout=10,\n"
    "        rate_limit=RateLimit(int(sys.argv[3]), float(sys.argv[4])),\n"
    "        shared_limits=StoreRateLimits(store),\n"
    "    )\n"
    "    print('ready', flush=True)\n"
    "    sys.stdin.readline()\n"
    "    try:\n"
    "        for _ in range(int(sys.argv[5])):\n"
    "            await client.get('/zones')\n"
    "    finally:\n"
    "        await client.aclose()\n"
    "asyncio.run(main())\n"
    "store.close()\n"
)
"""A node's process: once told to go (a line on stdin), ``argv[5]`` requests to the fake
API at ``argv[2]`` under the limit ``argv[3]`` per ``argv[4]`` s, shared in its store."""


class TimedApi(FakeApi):
    """A provider's API that notes when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def routes(self, router: web.UrlDispatcher) -> None:
        router.add_get("/zones", self._zones)

    async def _zones(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.time())
        return web.json_response([])


@dataclass
class Sent:
    """What the nodes of :func:`send_from_nodes` sent: when they were told to go, when each
    request reached the API, how each node's process ended."""

    started: float
    arrivals: list[float]
    exit_codes: list[int]


async def send_from_nodes(nodes: Sequence[StoreBackend], limit: RateLimit, per_node: int) -> Sent:
    """Each of ``nodes`` (a process each, on its store) sends ``per_node`` requests to one
    fake API under ``limit``, shared in their store; all start together, once all are ready."""
    nodes[0].open().close()  # the schema made once, before the nodes start
    async with TimedApi() as api:
        processes = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                SEND_UNDER_SHARED_LIMIT,
                node.argv(),
                api.base_url,
                str(limit.requests),
                str(limit.seconds),
                str(per_node),
                cwd=ROOT,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            for node in nodes
        ]
        for process in processes:
            assert process.stdout is not None
            assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
        started = time.time()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            await process.stdin.drain()
        codes = [await asyncio.wait_for(p.wait(), 600) for p in processes]
    return Sent(started, api.arrivals, codes)


def _thread_dump(node: DaemonProcess) -> str:
    """The stacks a live node writes to its log on SIGUSR1 (waited for, at most 5 s)."""
    if node.process is None or node.process.poll() is not None:
        return ""
    before = len(node.log())
    node.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        dumped = node.log()[before:]
        if "Current thread" in dumped or "Thread 0x" in dumped:
            time.sleep(0.2)  # the rest of the dump
            return node.log()[before:]
        time.sleep(0.05)
    return ""


@contextlib.contextmanager
def running(cluster: Cluster) -> Iterator[Cluster]:
    try:
        yield cluster
    except BaseException:
        # what a failure in CI shows of the nodes: each one's last log lines, then what each
        # live node's threads are doing (SIGUSR1: the daemon's faulthandler dump)
        for name, node in cluster.nodes.items():
            tail = "\n".join(node.log().splitlines()[-120:])
            print(f"--- {name}'s last log lines ---\n{tail}")
            dumped = _thread_dump(node)
            if dumped:
                print(f"--- {name}'s threads ---\n{dumped}")
        raise
    finally:
        cluster.stop_all()
