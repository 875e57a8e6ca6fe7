"""An unchanged re-sync asks one question (the zone's SOA serial), against a real BIND.

Every message the engine sends goes through a counting loopback proxy
(:class:`~dnsauto.testing.servers.proxy.WireProxy`); a hand change is made with ``nsupdate``
straight to BIND, as a person would.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dns.message
import dns.query
import dns.rdatatype
import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.registry import Registry, load_registry
from dnsauto.state.store import StateStore
from dnsauto.sync.desired import DesiredInputs
from dnsauto.sync.engine import DomainResult, Engine, domain_jobs
from dnsauto.sync.resync import SKIPPED_UNCHANGED
from dnsauto.testing.servers import RunningServer
from dnsauto.testing.servers.fixtures import bind_server  # noqa: F401
from dnsauto.testing.servers.proxy import WireProxy
from tests.sqlite_trace import is_select, traced_statements

pytestmark = pytest.mark.servers

DOMAIN = "sub.example.test"
DMARC = f"_dmarc.{DOMAIN}."


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def proxy(bind_server: RunningServer) -> AsyncIterator[WireProxy]:  # noqa: F811
    counting = await WireProxy(upstream=(bind_server.host, bind_server.port)).start()
    yield counting
    await counting.stop()


@pytest.fixture
def registry() -> Registry:
    return load_registry()


def make_config(
    tmp_path: Path,
    server: RunningServer,
    proxy: WireProxy,
    registry: Registry,
    domains: tuple[str, ...] = (DOMAIN,),
    policy_id: str = "20260101",
    **fields: Any,
) -> Config:
    key = server.key("hmac-sha256")
    document = {
        "bootstrap": {"serverHostname": f"mail.{DOMAIN}", "defaultDomain": DOMAIN},
        "dnsServer": {
            "bind": {
                "@type": "Tsig",
                "description": "BIND through the counting proxy",
                "host": proxy.upstream[0],
                "port": proxy.port,
                "keyName": key.name,
                "key": {"@type": "Value", "secret": key.secret},
                "tsigAlgorithm": key.algorithm,
                "timeout": "5s",
                **fields,
            }
        },
        "domain": {
            d: {"dnsManagement": {"@type": "Automatic", "dnsServerId": "bind"}} for d in domains
        },
        "mailServer": {"mtaStsPolicyId": policy_id},
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


async def sync(
    config: Config, registry: Registry, store: StateStore, run_id: str | None = None
) -> DomainResult:
    async with Engine(config, registry, store=store, run_id=run_id) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True)
    assert result.error is None, result.error
    return result


def messages(proxy: WireProxy) -> dict[str, int]:
    counts = {"QUERY": 0, "UPDATE": 0}
    for (_, opcode), n in proxy.seen.items():
        counts[opcode] = counts.get(opcode, 0) + n
    proxy.seen.clear()
    return counts


def by_hand(server: RunningServer, *lines: str) -> None:
    """Change the zone with nsupdate, as a person would (straight to BIND)."""
    key = server.key("hmac-sha256")
    script = "\n".join([f"server {server.host} {server.port}", f"zone {DOMAIN}.", *lines, "send"])
    done = subprocess.run(
        ["nsupdate", "-y", f"hmac-sha256:{key.name}:{key.secret}"],
        input=script + "\n",
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr


def served(server: RunningServer, name: str, rdtype: str) -> set[str]:
    query = dns.message.make_query(name, rdtype)
    answer = dns.query.tcp(query, server.host, port=server.port, timeout=5)
    return {r.to_text() for rrset in answer.answer for r in rrset}


@pytest.fixture
def store(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "state", clock=Clock())


async def published(
    tmp_path: Path, server: RunningServer, proxy: WireProxy, registry: Registry, store: StateStore
) -> Config:
    """The domain synced once (read in full, whatever the zone held before)."""
    config = make_config(tmp_path, server, proxy, registry)
    first = await sync(config, registry, store, run_id="first")
    assert first.skipped is None
    messages(proxy)
    return config


async def test_an_unchanged_resync_asks_one_question_and_writes_nothing(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    for _ in range(3):
        again = await sync(config, registry, store)
        assert again.skipped == SKIPPED_UNCHANGED
        assert again.applied == 0
        assert messages(proxy) == {"QUERY": 1, "UPDATE": 0}
    status = store.last_results()[DOMAIN]
    assert status.ok
    assert status.skipped == SKIPPED_UNCHANGED


async def test_an_unchanged_resync_does_not_build_the_desired_records(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    built: list[str] = []
    build = DesiredInputs.build

    def counted(inputs: DesiredInputs) -> Any:
        built.append(inputs.domain)
        return build(inputs)

    monkeypatch.setattr(DesiredInputs, "build", counted)
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED
    assert built == []
    by_hand(bind_server, f'update add {DMARC} 300 TXT "v=DMARC1; p=none"')
    assert (await sync(config, registry, store)).skipped is None
    assert built == [DOMAIN]


async def test_a_record_changed_by_hand_is_noticed_by_the_next_sync(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    if shutil.which("nsupdate") is None:
        pytest.fail("nsupdate (bind9-dnsutils) is needed")
    config = await published(tmp_path, bind_server, proxy, registry, store)
    wanted = served(bind_server, DMARC, "TXT")
    by_hand(
        bind_server, f"update delete {DMARC} TXT", f'update add {DMARC} 300 TXT "v=DMARC1; p=none"'
    )
    assert served(bind_server, DMARC, "TXT") == {'"v=DMARC1; p=none"'}
    noticed = await sync(config, registry, store)
    assert noticed.skipped is None
    assert [(c.action, c.name.to_text()) for c in noticed.changes] == [("update", DMARC)]
    assert served(bind_server, DMARC, "TXT") == wanted
    messages(proxy)
    # The mark now holds the serial the repair left: the next sync is one question again.
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED
    assert messages(proxy) == {"QUERY": 1, "UPDATE": 0}


async def test_a_restore_or_a_configuration_change_forces_a_full_read(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED
    # The DnsServer's settings changed (a longer timeout): the digest differs.
    changed = make_config(tmp_path, bind_server, proxy, registry, timeout="7s")
    messages(proxy)
    full = await sync(changed, registry, store)
    assert full.skipped is None
    assert full.applied == 0
    assert messages(proxy) == {"QUERY": 1, "UPDATE": 0}  # the zone transfer
    assert (await sync(changed, registry, store)).skipped == SKIPPED_UNCHANGED
    # Undoing the first run (it published this state's new DKIM keys) puts back what it
    # replaced and forgets the mark; the next sync reads the zone in full and repairs it.
    async with Engine(changed, registry, store=store) as engine:
        undone = await engine.restore("first")
    assert [r.error for r in undone] == [None]
    assert undone[0].applied > 0
    assert store.zone_mark(DOMAIN) is None
    again = await sync(changed, registry, store)
    assert again.skipped is None
    assert again.applied == undone[0].applied


async def test_a_change_of_what_the_records_are_built_from_is_published_at_the_next_sync(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED
    # The MTA-STS policy id (a mailServer field, not the domain's) is in the _mta-sts TXT.
    changed = make_config(tmp_path, bind_server, proxy, registry, policy_id="20261203")
    full = await sync(changed, registry, store)
    assert full.skipped is None
    assert [(c.action, c.name.to_text()) for c in full.changes] == [
        ("update", f"_mta-sts.{DOMAIN}.")
    ]
    assert served(bind_server, f"_mta-sts.{DOMAIN}.", "TXT") == {'"v=STSv1; id=20261203"'}
    assert (await sync(changed, registry, store)).skipped == SKIPPED_UNCHANGED


async def test_the_scheduled_full_read_comes_after_full_read_interval(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    clock = store.clock
    assert isinstance(clock, Clock)
    interval = config.daemon.full_read_interval
    clock.now += interval - timedelta(seconds=1)
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED
    clock.now += timedelta(seconds=1)
    messages(proxy)
    full = await sync(config, registry, store)
    assert full.skipped is None
    assert messages(proxy)["QUERY"] == 1  # the zone transfer that read it (and its serial)
    assert (await sync(config, registry, store)).skipped == SKIPPED_UNCHANGED


async def test_a_failed_sync_forgets_the_mark(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = await published(tmp_path, bind_server, proxy, registry, store)
    assert store.zone_mark(DOMAIN) is not None
    await proxy.stop()  # the server is gone: the sync fails
    async with Engine(config, registry, store=store) as engine:
        (failed,) = await engine.run(domain_jobs(config), apply=True)
    assert failed.error is not None
    assert store.zone_mark(DOMAIN) is None


async def test_a_run_of_many_domains_asks_one_question_per_zone(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
) -> None:
    config = make_config(tmp_path, bind_server, proxy, registry, ("example.test", DOMAIN))
    for expected in (None, SKIPPED_UNCHANGED):
        async with Engine(config, registry, store=store) as engine:
            results = await engine.run(domain_jobs(config), apply=True)
        assert [(r.error, r.skipped) for r in results] == [(None, expected)] * 2
        counts = messages(proxy)
    assert counts == {"QUERY": 2, "UPDATE": 0}


@pytest.mark.parametrize("table", ["zone_marks", "dkim_keys"])
async def test_a_streamed_run_of_many_domains_reads_their_marks_and_keys_in_one_query_each(
    tmp_path: Path,
    bind_server: RunningServer,  # noqa: F811
    proxy: WireProxy,
    registry: Registry,
    store: StateStore,
    table: str,
) -> None:
    config = make_config(tmp_path, bind_server, proxy, registry, ("example.test", DOMAIN))
    async with Engine(config, registry, store=store) as engine:
        first = await engine.run(domain_jobs(config), apply=True)
    # The session's BIND holds what earlier tests published, this store nothing of it.
    assert [r.error for r in first] == [None, None]

    def selects_of_table(statement: str) -> bool:
        return table in statement and is_select(statement)

    with traced_statements(store, selects_of_table) as statements:
        async with Engine(config, registry, store=store) as engine:
            results = [r async for _, r in engine.stream(domain_jobs(config), apply=True)]

    assert sorted(r.domain for r in results) == ["example.test", DOMAIN]
    assert len(statements) == 1
