"""A sync of many domains against the in-memory DNS host."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import dns.name
import pytest

from dnsauto.config.loader import load_config
from dnsauto.config.model import Config
from dnsauto.plugin.changes import Create
from dnsauto.plugin.errors import ConfigError, ProviderError
from dnsauto.plugin.registry import Registry
from dnsauto.state.store import DB_FILE, StateStore
from dnsauto.sync.engine import DomainResult, Engine, domain_jobs
from dnsauto.testing import make_rrset
from dnsauto.testing.memory import MemoryHost, MemoryProvider


@pytest.fixture
def host(monkeypatch: pytest.MonkeyPatch) -> MemoryHost:
    fresh = MemoryHost()
    fresh.add_zone("example.test.")
    fresh.add_zone("example.org.")
    monkeypatch.setattr(MemoryProvider, "host", fresh)
    return fresh


def make_config(tmp_path: Path, registry: Registry, **domains: Any) -> Config:
    document = {
        "bootstrap": {
            "serverHostname": "mail.example.test",
            "defaultDomain": "example.test",
            "dnsServer": {"@type": "Memory", "description": "memory"},
        },
        "dnsServer": {"mem": {"@type": "Memory", "description": "memory"}},
        "domain": domains,
        "daemon": {"stateDir": str(tmp_path / "state")},
    }
    return load_config(document, registry=registry)


async def sync(config: Config, registry: Registry, *, apply: bool = True) -> list[DomainResult]:
    async with Engine(config, registry) as engine:
        return await engine.run(domain_jobs(config), apply=apply)


def records_at(host: MemoryHost, zone: str) -> dict[tuple[str, str], set[str]]:
    return {
        (n.to_text(), t.name): {r.to_text() for r in rrset}
        for (n, t), rrset in host.zones[dns.name.from_text(zone)].items()
    }


async def test_first_sync_publishes_the_bootstrap_record_set(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    (result,) = await sync(make_config(tmp_path, registry), registry)
    assert result.error is None
    published = records_at(host, "example.test.")
    assert published[("_dmarc.example.test.", "TXT")] == {
        '"v=DMARC1; p=reject; rua=mailto:postmaster@example.test"'
    }
    assert ("example.test.", "MX") not in published
    assert result.applied == len(published)


async def test_second_sync_changes_nothing(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    config = make_config(tmp_path, registry)
    await sync(config, registry)
    calls = len(host.apply_calls)
    (again,) = await sync(config, registry)
    assert again.applied == 0
    assert again.changes == []
    assert len(host.apply_calls) == calls


async def test_foreign_records_survive_a_sync(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    host.put(make_rrset("example.test.", "TXT", 3600, '"google-site-verification=x"'))
    host.put(make_rrset("www.example.test.", "A", 3600, "192.0.2.1"))
    await sync(make_config(tmp_path, registry), registry)
    published = records_at(host, "example.test.")
    assert published[("example.test.", "TXT")] == {
        '"google-site-verification=x"',
        '"v=spf1 mx -all"',
    }
    assert published[("www.example.test.", "A")] == {"192.0.2.1"}


JournalView = dict[tuple[str, str], tuple[str, str, list[str], int | None]]


def committed_journal(state_dir: Path) -> JournalView:
    """The journal as another process sees it (a plain SQLite connection of its own, so only
    committed rows): (name, type) -> (action, status, old values, old TTL)."""
    query = "SELECT name, type, action, status, old, old_ttl FROM journal"
    with contextlib.closing(sqlite3.connect(state_dir / DB_FILE)) as plain:
        rows = plain.execute(query).fetchall()
    return {
        (name, rdtype): (action, status, json.loads(old), ttl)
        for name, rdtype, action, status, old, ttl in rows
    }


async def test_replaced_values_are_journaled_before_they_are_applied(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.put(make_rrset("_dmarc.example.test.", "TXT", 300, '"v=DMARC1; p=none"'))
    seen_at_apply: list[JournalView] = []
    original = MemoryProvider.apply

    async def look_at_the_journal_first(self: MemoryProvider, zone: Any, changes: Any) -> None:
        seen_at_apply.append(committed_journal(tmp_path / "state"))
        await original(self, zone, changes)

    monkeypatch.setattr(MemoryProvider, "apply", look_at_the_journal_first)
    await sync(make_config(tmp_path, registry), registry)

    assert seen_at_apply, "the provider was asked to apply something"
    for batch, journal in zip(host.apply_calls, seen_at_apply, strict=True):
        for change in batch:
            key = (change.name.to_text(), change.rdtype.name)
            assert journal[key][:2] == (change.action, "pending"), change
    (before, *_) = seen_at_apply
    dmarc = before[("_dmarc.example.test.", "TXT")]
    assert dmarc == ("update", "pending", ['"v=DMARC1; p=none"'], 300)
    with StateStore(tmp_path / "state") as store:
        entries = store.journal(domain="example.test")
    assert {e.status for e in entries} == {"applied"}


FOREIGN_SRV = [f"0 1 993 imap{n}.elsewhere.example." for n in range(12)]
"""Twelve SRV values dnsauto did not write, at a name whose RRset dnsauto replaces."""


async def test_a_sync_replacing_most_foreign_records_is_stopped(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    host.put(make_rrset("_imaps._tcp.example.test.", "SRV", 300, *FOREIGN_SRV))
    (result,) = await sync(make_config(tmp_path, registry), registry)
    assert result.error is not None
    assert "removes or replaces" in result.error
    assert host.apply_calls == []
    assert len(records_at(host, "example.test.")[("_imaps._tcp.example.test.", "SRV")]) == 12


async def test_force_applies_a_plan_the_unsafe_plan_stop_refuses(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    host.put(make_rrset("_imaps._tcp.example.test.", "SRV", 300, *FOREIGN_SRV))
    config = make_config(tmp_path, registry)
    async with Engine(config, registry) as engine:
        (result,) = await engine.run(domain_jobs(config), apply=True, force=True)
    assert result.error is None
    assert records_at(host, "example.test.")[("_imaps._tcp.example.test.", "SRV")] == {
        "0 1 993 mail.example.test."
    }


async def test_foreign_records_added_after_a_sync_are_still_protected_by_the_stop(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    config = make_config(tmp_path, registry)
    await sync(config, registry)
    host.put(
        make_rrset(
            "_imaps._tcp.example.test.", "SRV", 300, "0 1 993 mail.example.test.", *FOREIGN_SRV
        )
    )
    (result,) = await sync(config, registry)
    assert result.error is not None
    assert "dnsauto did not write" in result.error


async def test_a_server_hostname_change_replaces_dnsauto_own_records_without_a_stop(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    config = make_config(tmp_path, registry)
    await sync(config, registry)
    bootstrap = config.bootstrap.model_copy(update={"server_hostname": "mx.example.test"})
    (result,) = await sync(config.model_copy(update={"bootstrap": bootstrap}), registry)
    assert result.error is None
    replaced = sum(1 for change in result.changes if change.action == "update")
    assert replaced * 10 > 3 * len(records_at(host, "example.test."))  # the >30% case
    assert records_at(host, "example.test.")[("_imaps._tcp.example.test.", "SRV")] == {
        "0 1 993 mx.example.test."
    }


async def test_changes_are_applied_in_batches_of_the_provider_limit(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dnsauto.plugin.provider import Capabilities

    monkeypatch.setattr(MemoryProvider, "capabilities", Capabilities(max_changes_per_batch=4))
    (result,) = await sync(make_config(tmp_path, registry), registry)
    assert all(len(batch) <= 4 for batch in host.apply_calls)
    assert sum(len(b) for b in host.apply_calls) == result.applied


async def test_a_concurrent_change_makes_the_sync_read_and_plan_again(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MemoryProvider.list_rrsets
    sneaked = make_rrset("_dmarc.example.test.", "TXT", 300, '"v=DMARC1; p=none"')

    async def list_then_someone_writes(self: MemoryProvider, zone: Any, names: Any = None) -> Any:
        listed = await original(self, zone, names)
        if host.list_calls == 1:
            host.put(sneaked)
        return listed

    monkeypatch.setattr(MemoryProvider, "list_rrsets", list_then_someone_writes)
    (result,) = await sync(make_config(tmp_path, registry), registry)
    assert result.error is None
    assert host.list_calls == 2
    assert records_at(host, "example.test.")[("_dmarc.example.test.", "TXT")] == {
        '"v=DMARC1; p=reject; rua=mailto:postmaster@example.test"'
    }


async def test_a_failing_domain_does_not_stop_the_others(
    host: MemoryHost, tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = MemoryProvider.apply

    async def fail_for_org(self: MemoryProvider, zone: Any, changes: Any) -> None:
        if str(zone) == "example.org.":
            raise ProviderError("quota exceeded", provider="mem", zone=str(zone))
        await original(self, zone, changes)

    monkeypatch.setattr(MemoryProvider, "apply", fail_for_org)
    managed = {"@type": "Automatic", "dnsServerId": "mem"}
    config = make_config(tmp_path, registry, **{"example.org": {"dnsManagement": managed}})
    results = {r.domain: r for r in await sync(config, registry)}
    assert results["example.org"].error == "quota exceeded (provider mem, zone example.org.)"
    assert results["example.test"].error is None
    assert records_at(host, "example.test.")


async def test_a_domain_whose_zone_is_not_hosted_reports_an_error(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    managed = {"@type": "Automatic", "dnsServerId": "mem"}
    config = make_config(tmp_path, registry, **{"example.net": {"dnsManagement": managed}})
    results = {r.domain: r for r in await sync(config, registry)}
    assert "No zone at the DNS provider contains this name" in (results["example.net"].error or "")


async def test_origin_names_the_zone_of_a_subdomain(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    managed = {"@type": "Automatic", "dnsServerId": "mem", "origin": "example.org"}
    config = make_config(tmp_path, registry, **{"mail.example.org": {"dnsManagement": managed}})
    results = {r.domain: r for r in await sync(config, registry)}
    assert results["mail.example.org"].zone == "example.org."
    assert ("_dmarc.mail.example.org.", "TXT") in records_at(host, "example.org.")


async def test_plan_only_writes_nothing(
    host: MemoryHost, tmp_path: Path, registry: Registry
) -> None:
    (result,) = await sync(make_config(tmp_path, registry), registry, apply=False)
    assert result.changes
    assert all(isinstance(c, Create) for c in result.changes)
    assert host.apply_calls == []


def test_unknown_domain_option_is_a_config_error(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError, match=r"--domain example\.net: not a configured domain"):
        domain_jobs(make_config(tmp_path, registry), ["example.net"])


def test_domain_option_finds_a_domain_by_any_spelling(tmp_path: Path, registry: Registry) -> None:
    config = make_config(tmp_path, registry)
    (job,) = domain_jobs(config, ["\uff25xample.TEST."])
    assert job.domain == "example.test"
