"""The unsafe-plan stop in the service: a refused plan waits for a person, who approves that
one plan (over the API or ``dnsauto approve``); it then runs once, and only that plan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

import dns.name
import dns.rdatatype
import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.registry import Registry
from dnsauto.service.daemon import STATUS_FILE, Daemon
from dnsauto.state.store import StateStore
from dnsauto.sync.engine import DomainJob, DomainResult, Engine
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider

DOMAIN = "example.test"
SRV = "_imaps._tcp.example.test."
SRV_TYPE = dns.rdatatype.SRV


def foreign_srv(prefix: str) -> list[str]:
    return [f"0 1 993 {prefix}{n}.elsewhere.example." for n in range(12)]


class EngineWithoutPropagation(Engine):
    """The real engine; the memory host has no nameservers to wait for."""

    async def run(
        self,
        jobs: Sequence[DomainJob],
        *,
        apply: bool,
        force: bool = False,
        wait: bool = False,
        approved: Mapping[str, str] | None = None,
    ) -> list[DomainResult]:
        return await super().run(jobs, apply=apply, force=force, approved=approved)


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone(f"{DOMAIN}.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


@pytest.fixture
async def daemon(
    tmp_path: Path, registry: Registry, host: MemoryHost
) -> AsyncIterator[tuple[Daemon, asyncio.Queue[DomainResult]]]:
    host.put(make_rrset(SRV, "SRV", 300, *foreign_srv("imap")))
    config: Config = load_config(
        {
            "bootstrap": {
                "serverHostname": f"mail.{DOMAIN}",
                "defaultDomain": DOMAIN,
                "generateDkimKeys": False,
                "dnsServer": {"@type": "Memory", "description": "memory"},
            },
            "daemon": {"stateDir": str(tmp_path / "state"), "triggerDelay": "10ms"},
        },
        registry=registry,
    )
    store = StateStore(tmp_path / "state")
    instance = Daemon(
        config,
        registry,
        store=store,
        engine_factory=lambda c, run_id: EngineWithoutPropagation(
            c, registry, run_id=run_id, store=store
        ),
    )
    results: asyncio.Queue[DomainResult] = asyncio.Queue()
    instance.result_listeners.append(lambda _run_id, result: results.put_nowait(result))
    await instance.start()
    yield instance, results
    await instance.stop()
    store.close()


async def test_a_refused_plan_waits_for_approval_and_is_not_retried(
    daemon: tuple[Daemon, asyncio.Queue[DomainResult]], tmp_path: Path
) -> None:
    instance, results = daemon
    refused = await results.get()
    assert refused.unsafe_plan is not None
    assert instance.awaiting_approval() == {DOMAIN: refused.unsafe_plan}
    upcoming = instance.next_runs()[DOMAIN]
    assert upcoming is None or "retry" not in upcoming[1]
    instance.write_status()
    status = json.loads((tmp_path / "state" / STATUS_FILE).read_text())
    assert status["domains"][DOMAIN]["awaitingApproval"] == refused.unsafe_plan


async def test_an_approval_lets_exactly_one_run_through(
    daemon: tuple[Daemon, asyncio.Queue[DomainResult]], host: MemoryHost
) -> None:
    instance, results = daemon
    refused = await results.get()
    instance.approve(DOMAIN, refused.unsafe_plan)
    approved = await results.get()
    assert approved.error is None
    assert srv_values(host) == {"0 1 993 mail.example.test."}
    host.put(make_rrset(SRV, "SRV", 300, "0 1 993 mail.example.test.", *foreign_srv("other")))
    instance.trigger([DOMAIN])
    again = await results.get()
    assert again.unsafe_plan is not None
    assert len(srv_values(host)) == 13


async def test_an_approval_of_another_plan_or_of_none_is_refused(
    daemon: tuple[Daemon, asyncio.Queue[DomainResult]],
) -> None:
    instance, results = daemon
    await results.get()
    with pytest.raises(DnsautoError, match="is not the one waiting"):
        instance.approve(DOMAIN, "0123456789abcdef")
    instance.approve(DOMAIN)
    assert (await results.get()).error is None
    with pytest.raises(DnsautoError, match=r"no plan of example\.test waits for approval"):
        instance.approve(DOMAIN)


def srv_values(host: MemoryHost) -> set[str]:
    rrset = host.zones[dns.name.from_text(f"{DOMAIN}.")][(dns.name.from_text(SRV), SRV_TYPE)]
    return {rdata.to_text() for rdata in rrset}
